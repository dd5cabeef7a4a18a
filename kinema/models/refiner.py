"""Refining: a text-conditioned model that restores the detail a latent clip loses in decoding.

    model(x, cond) -> y        x: (B, 3, T, H, W) in [-1, 1], the decoded clip; cond: its prompt's
                               TextEmbedding; y: the refined clip, same shape

At 64x64 the 4x8x8 autoencoder keeps a small object's place and colour but not its outline: a small
square comes back with round corners, a small triangle as a blob (`benchmarks/latent_ceiling.py`).
Which of those a blob was is in the prompt, so the refiner reads it, as the super-resolution stages of
cascaded text-to-image and text-to-video models do (Saharia et al. 2022, "Imagen"; Ho et al. 2022,
"Imagen Video"; Podell et al. 2023, SDXL's refiner).

A small U-Net over each frame (two 2x downsamplings), a temporal convolution at the lowest
resolution so neighbouring frames agree, FiLM from the pooled prompt in every residual block, and
cross-attention to the prompt's tokens at the lowest resolution, where each position sees 4x4
pixels and the tokens say which object is which. The output layer starts at zero, so an untrained
refiner returns its input. Trained with MSE against the rendered clip (`kinema train-stage refiner`,
kinema.train.cascade; pairs from kinema.data.refiner_pairs).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from kinema.models.denoiser import CrossAttention
from kinema.text.encoder import Regions, TextEmbedding


@dataclass(frozen=True)
class RefinerConfig:
    channels: int = 32  # at full resolution; 2x and 4x that after each downsampling
    heads: int = 4
    text_dim: int = 384


REFINER_PRESETS = {"tiny": RefinerConfig(channels=8, heads=2), "small": RefinerConfig()}


class FiLMBlock(nn.Module):
    """Residual block of two 3x3 convolutions; the pooled prompt scales and shifts the first one's output."""

    def __init__(self, c: int, text_dim: int):
        super().__init__()
        self.norm1, self.norm2 = nn.GroupNorm(min(8, c), c), nn.GroupNorm(min(8, c), c)
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        self.film = nn.Linear(text_dim, 2 * c)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:  # x (N, c, H, W), pooled (N, D)
        scale, shift = self.film(pooled)[:, :, None, None].chunk(2, dim=1)
        h = self.conv1(F.silu(self.norm1(x))) * (1 + scale) + shift
        return x + self.conv2(F.silu(self.norm2(h)))


class Refiner(nn.Module):
    def __init__(self, cfg: RefinerConfig, channels: int = 3):
        super().__init__()
        self.config = cfg
        c1, c2, c3 = cfg.channels, 2 * cfg.channels, 4 * cfg.channels
        self.inp = nn.Conv2d(channels, c1, 3, padding=1)
        self.down1 = nn.Conv2d(c1, c2, 4, stride=2, padding=1)
        self.enc2 = FiLMBlock(c2, cfg.text_dim)
        self.down2 = nn.Conv2d(c2, c3, 4, stride=2, padding=1)
        self.enc3 = FiLMBlock(c3, cfg.text_dim)
        self.temporal = nn.Conv1d(c3, c3, 3, padding=1)
        self.text = nn.Linear(cfg.text_dim, c3)
        self.norm_cross = nn.LayerNorm(c3)
        self.cross = CrossAttention(c3, cfg.heads)
        self.mid = FiLMBlock(c3, cfg.text_dim)
        self.up2 = nn.ConvTranspose2d(c3, c2, 4, stride=2, padding=1)
        self.dec2 = FiLMBlock(c2, cfg.text_dim)
        self.up1 = nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1)
        self.dec1 = FiLMBlock(c1, cfg.text_dim)
        self.out = nn.Conv2d(c1, channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, cond: TextEmbedding) -> torch.Tensor:
        b, _, t, h, w = x.shape
        if h % 4 or w % 4:
            raise ValueError(f"the refiner needs sizes divisible by 4, got {h}x{w}")
        f = rearrange(x, "b c t h w -> (b t) c h w")  # each frame through the U-Net
        pooled = cond.pooled.to(x.dtype).repeat_interleave(t, dim=0)  # (BT, D)
        h1 = self.inp(f)  # (BT, c, H, W)
        h2 = self.enc2(self.down1(h1), pooled)  # (BT, 2c, H/2, W/2)
        h3 = self.enc3(self.down2(h2), pooled)  # (BT, 4c, H/4, W/4)
        # frames meet: a temporal convolution over each position's sequence
        s = rearrange(h3, "(b t) c y x -> (b y x) c t", b=b)
        h3 = h3 + rearrange(self.temporal(F.silu(s)), "(b y x) c t -> (b t) c y x", b=b, y=h // 4)
        # the prompt's tokens: each position attends to them (B*T queries sets, one prompt per clip)
        q = rearrange(h3, "n c y x -> n (y x) c")  # (BT, HW/16, 4c)
        ctx = self.text(cond.tokens.to(x.dtype)).repeat_interleave(t, dim=0)  # (BT, L, 4c)
        mask = cond.mask.repeat_interleave(t, dim=0)
        q = q + self.cross(self.norm_cross(q), ctx, mask)
        h3 = self.mid(rearrange(q, "n (y x) c -> n c y x", y=h // 4), pooled)
        d2 = self.dec2(self.up2(h3) + h2, pooled)  # (BT, 2c, H/2, W/2)
        d1 = self.dec1(self.up1(d2) + h1, pooled)  # (BT, c, H, W)
        y = f + self.out(F.silu(d1))
        return rearrange(y, "(b t) c h w -> b c t h w", b=b)


def _refine_once(model: Refiner, x: torch.Tensor, cond: TextEmbedding | Regions) -> torch.Tensor:
    """One pass of the model over x (B, 3, T, H, W): under one prompt per clip, or each region under its own."""
    return model(x, cond) if isinstance(cond, TextEmbedding) else cond.compose(lambda prompt: model(x, prompt))


def _frames(cond: TextEmbedding | Regions, lo: int, hi: int) -> TextEmbedding | Regions:
    """The prompts of frames lo..hi: a clip's one prompt, or its regions there."""
    return cond if isinstance(cond, TextEmbedding) else cond.frames(lo, hi)


@torch.no_grad()
def refine_clip(model: Refiner, x: torch.Tensor, cond: TextEmbedding | Regions, chunk: int = 16,
                passes: int = 1) -> torch.Tensor:
    """Refine decoded clips (B, 3, T, H, W) in [-1, 1] with their prompts `cond` (B rows, or Regions: each
    region under its own), `chunk` frames at a time (the temporal convolution sees one frame past each side of
    a chunk), clamped to [-1, 1]; `passes` times, each pass over the last one's output (0: x as it is)."""
    t = x.shape[2]
    for _ in range(passes):
        parts = []
        for a in range(0, t, chunk):
            lo, hi = max(a - 1, 0), min(a + chunk + 1, t)
            y = _refine_once(model, x[:, :, lo:hi], _frames(cond, lo, hi))
            parts.append(y[:, :, a - lo:a - lo + min(chunk, t - a)])
        x = torch.cat(parts, dim=2).float().clamp(-1, 1)
    return x


def refine_pieces(model: Refiner, x: torch.Tensor, cond: TextEmbedding | Regions, passes: int,
                  cuts: list[int]) -> Iterator[torch.Tensor]:
    """refine_clip(model, x, cond, passes=passes) piece by piece as asked for: frames cuts[k]..cuts[k + 1] of the
    refined clip, each made from the frames within `passes` of it (the temporal convolution reaches one frame a
    pass), so the pieces are the whole clip's refinement however it is cut."""
    t = x.shape[2]
    for a, b in zip(cuts[:-1], cuts[1:]):
        lo, hi = max(a - passes, 0), min(b + passes, t)
        yield refine_clip(model, x[:, :, lo:hi], _frames(cond, lo, hi), passes=passes)[:, :, a - lo:b - lo]


def refine_frames(model: Refiner, frames: np.ndarray, cond: TextEmbedding, passes: int = 1) -> np.ndarray:
    """One clip's uint8 frames (T, H, W, 3), refined with its prompt `cond` (one row), `passes` times."""
    from kinema.io.frames import to_frames, to_model_space

    device = next(model.parameters()).device
    return to_frames(refine_clip(model, to_model_space(frames).to(device), cond.to(device), passes=passes).cpu())[0]
