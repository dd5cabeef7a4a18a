"""The verifier: how well a clip follows a caption, as one score.

    verifier(video, text) -> score          video: (B, 3, T, S, S) in [-1, 1]; text: TextEmbedding of B captions
    verifier(video, text, which) -> score   clip which[k] against caption k (each clip encoded once)
    verifier(video, text, matrix=True)      every caption against every clip: (K captions, B clips)

It reads the keyframes at the denoiser's native size, so a pipeline can make several candidate clips
from one prompt (different noise) and keep the one the verifier scores highest before the cascade:
search over the sampler's starting noise with a learned verifier, as in "Inference-time scaling for
diffusion models beyond scaling denoising steps" (Ma et al., 2025). It is learned from captioned clips
like the denoiser, but as a discriminative task: picking the true clip for a caption among near misses
(kinema.world.near_misses) asks exactly for the attributes a caption names, which a denoiser's pixel loss
weighs by how many pixels they change.

The score is late interaction between token embeddings (ColBERT, Khattab & Zaharia 2020; FILIP, Yao
et al. 2021): every caption token finds its most similar video token, and the score is the mean of
those similarities (cosine, times a learned scale). So "red" can match the red region and "left" a
token whose context moved left, and a batch of clips and captions is scored all against all at the cost
of one pass of each, which makes every other clip of a training batch a negative for free.

Video tokens: a 3D convolution stack turns the clip into (T/2) x (S/8) x (S/8) tokens of width D with
learned absolute positions (time, row, column: "left" and "falling" are about where), then a transformer
encoder over them all, so a token knows its object's track. Caption tokens: MiniLM's token states,
projected to D and through a transformer encoder of their own.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from kinema.text.encoder import TextEmbedding


@dataclass(frozen=True)
class VerifierConfig:
    size: int = 32  # the clip size it reads (the keyframes' native size); a multiple of 8
    max_frames: int = 32  # the longest clip (frames) it reads
    channels: tuple[int, int, int] = (16, 32, 64)
    dim: int = 128
    video_depth: int = 2
    text_depth: int = 1
    heads: int = 4
    text_dim: int = 384

    def __post_init__(self) -> None:
        if self.size % 8:
            raise ValueError(f"verifier size must be a multiple of 8, got {self.size}")
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} must be divisible by heads {self.heads}")


def encoder(cfg: VerifierConfig, depth: int) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(cfg.dim, cfg.heads, 4 * cfg.dim, dropout=0.0, activation="gelu",
                                       batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)


class Verifier(nn.Module):
    def __init__(self, cfg: VerifierConfig):
        super().__init__()
        self.config = cfg
        c1, c2, c3 = cfg.channels
        d = cfg.dim

        def conv(a: int, b: int, stride) -> nn.Sequential:  # GroupNorm keeps the stack's scale
            return nn.Sequential(nn.Conv3d(a, b, 3, stride=stride, padding=1), nn.GroupNorm(4, b), nn.GELU())

        self.conv = nn.Sequential(  # (B, 3, T, S, S) -> (B, D, T/2, S/8, S/8)
            conv(3, c1, 1), conv(c1, c2, (1, 2, 2)), conv(c2, c3, (1, 2, 2)), conv(c3, c3, (2, 2, 2)),
            nn.Conv3d(c3, d, 3, padding=1))
        side = cfg.size // 8
        self.pos_t = nn.Parameter(torch.randn(cfg.max_frames // 2 + 1, d) * 0.02)
        self.pos_hw = nn.Parameter(torch.randn(side * side, d) * 0.02)
        self.video = encoder(cfg, cfg.video_depth)
        self.video_out = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d))
        self.text_in = nn.Linear(cfg.text_dim, d)
        self.text = encoder(cfg, cfg.text_depth)
        self.text_out = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d))
        self.log_scale = nn.Parameter(torch.tensor(math.log(10.0)))

    def check(self, shape: tuple[int, ...]) -> None:
        _, c, t, h, w = shape
        cfg = self.config
        if c != 3 or h != cfg.size or w != cfg.size:
            raise ValueError(f"the verifier reads 3-channel {cfg.size}x{cfg.size} clips, got {c} channels at {h}x{w}")
        if not 1 <= t <= cfg.max_frames:
            raise ValueError(f"the verifier reads 1 to {cfg.max_frames} frames, got {t}")

    def embed_video(self, video: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, S, S) in [-1, 1] -> unit-length video token embeddings (B, N, D)."""
        self.check(video.shape)
        v = self.conv(video.contiguous(memory_format=torch.channels_last_3d))  # (B, D, T', S/8, S/8); oneDNN's
        # channels-last convolutions run ~1.3x faster on CPU than the default layout, same result
        b, d, t, h, w = v.shape
        v = v.flatten(3).transpose(1, 3)  # (B, h*w, T', D)
        v = (v + self.pos_t[:t][None, None] + self.pos_hw[None, :, None]).reshape(b, h * w * t, d)
        return F.normalize(self.video_out(self.video(v)), dim=-1)

    def embed_text(self, text: TextEmbedding) -> torch.Tensor:
        """B captions -> unit-length token embeddings (B, L, D) (padding where text.mask is False)."""
        words = self.text(self.text_in(text.tokens.to(self.text_in.weight.dtype)), src_key_padding_mask=~text.mask.bool())
        return F.normalize(self.text_out(words), dim=-1)

    def similarity(self, clips: torch.Tensor, words: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Embedded clips (V, N, D) and captions (C, L, D) with mask (C, L) -> scores (C, V)."""
        sim = torch.einsum("cld,vnd->cvln", words, clips).amax(dim=-1)  # (C, V, L): each word's best token
        m = mask.to(sim.dtype)[:, None, :]
        return self.log_scale.exp() * (sim * m).sum(-1) / m.sum(-1).clamp(min=1)

    def forward(self, video: torch.Tensor, text: TextEmbedding, which: torch.Tensor | None = None,
                matrix: bool = False) -> torch.Tensor:
        """Scores (K,) of clip which[k] against caption k, for K captions (default: clip k, K = B); with
        `matrix`, every caption against every clip, (K, B)."""
        clips = self.embed_video(video)  # (B, N, D)
        words = self.embed_text(text)  # (K, L, D)
        if matrix:
            return self.similarity(clips, words, text.mask)
        if which is not None:
            clips = clips[which]
        sim = torch.einsum("kld,knd->kln", words, clips).amax(dim=-1)  # (K, L)
        m = text.mask.to(sim.dtype)
        return self.log_scale.exp() * (sim * m).sum(-1) / m.sum(-1).clamp(min=1)
