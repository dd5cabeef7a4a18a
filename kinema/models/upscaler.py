"""Upscaling: a model that doubles a clip's resolution, conditioned on the low-resolution clip.

    model(x) -> y        x: (B, C, T, H, W) in [-1, 1]; y: (B, C, T, 2H, 2W)

Each frame goes through residual 3x3 convolutions at the input resolution, then a sub-pixel
convolution (pixel shuffle, Shi et al. 2016, "ESPCN") adds a correction to the bicubic upsampling;
the output layer starts at zero, so an untrained model is bicubic (the baseline it must beat).
The result is then made consistent with the input: each 2x2 block is shifted by what its mean
misses of the input pixel (a projection onto the frames whose area-downsampling is the input; the
true frame is one of them, so the projection never moves the output away from it, as in iterative
back-projection, Irani & Peleg 1991). Area-downsampling the output gives the input back. A compressed
input is not a true frame's downsampling: projecting onto it keeps its blocks and its halved chroma, so a
`gated` upscaler predicts, per input pixel, how much of the projection to apply (a sigmoid gate that starts at
1, the ungated model): trained on h264 round trips, it learns to trust the input less where it was damaged. All
work happens at the low resolution, which keeps 128 -> 256 -> 512 cheap; a `fold`ed upscaler works at half of it
(the input's 2x2 blocks folded into channels, pixel unshuffle, and the output unfolded x4: ESPCN's sub-pixel idea
on both sides), 4 times cheaper a pixel with twice the reach, for the passes after the first, which have 4 times
the pixels of the one before (a model folder's `upscaler_light`, trained on the first pass's output). Larger factors apply the
model again (x4 = two passes), and `upscale_clip` reaches any size by passes of x2 and a final
area resize, in chunks of frames so memory stays flat. Trained with L1 on shapes-world scenes
rendered at two sizes and on real images (`kinema train-stage upscaler`, kinema.train.cascade).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from kinema.models.blocks import ResBlock


@dataclass(frozen=True)
class UpscalerConfig:
    channels: int = 32
    blocks: int = 5
    gated: bool = False  # a learned gate on the projection onto the input (for compressed footage)
    fold: int = 1  # the body works on the input folded f x f into channels (pixel unshuffle): f^2 times cheaper


UPSCALER_PRESETS = {"tiny": UpscalerConfig(channels=8, blocks=1), "small": UpscalerConfig(),
                    "small-gated": UpscalerConfig(gated=True),
                    "small-folded": UpscalerConfig(gated=True, fold=2)}  # the later passes' (4x cheaper a pixel)


class Upscaler(nn.Module):
    scale = 2

    def __init__(self, cfg: UpscalerConfig, channels: int = 3):
        super().__init__()
        self.config, c = cfg, cfg.channels
        f = cfg.fold
        self.inp = nn.Conv2d(channels * f * f, c, 3, padding=1)
        self.body = nn.Sequential(*(ResBlock(c) for _ in range(cfg.blocks)))
        self.out = nn.Conv2d(c, channels * (self.scale * f) ** 2, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        if cfg.gated:
            self.gate = nn.Conv2d(c, f * f, 3, padding=1)
            nn.init.zeros_(self.gate.weight)
            nn.init.constant_(self.gate.bias, 6.0)  # sigmoid(6) = 0.998: the full projection at first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        f = rearrange(x, "b c t h w -> (b t) c h w")  # each frame on its own
        base = F.interpolate(f, scale_factor=self.scale, mode="bicubic", align_corners=False)
        fold = self.config.fold
        h = self.body(self.inp(F.pixel_unshuffle(f, fold)))  # (BT, c, H/fold, W/fold)
        y = base + F.pixel_shuffle(self.out(h), self.scale * fold)  # (BT, C, 2H, 2W)
        miss = f - F.avg_pool2d(y, self.scale)  # (BT, C, H, W): what each block's mean misses
        if self.config.gated:
            miss = miss * torch.sigmoid(F.pixel_shuffle(self.gate(h), fold))  # (BT, 1, H, W): how far to trust each input pixel
        y = y + F.interpolate(miss, scale_factor=self.scale, mode="nearest")
        return rearrange(y, "(b t) c h w -> b c t h w", b=b)


def passes_for(size_in: int, size_out: int) -> int:
    """How many x2 passes take size_in to at least size_out."""
    n = 0
    while size_in * 2 ** n < size_out:
        n += 1
    return n


@torch.no_grad()
def upscale_clip(model: Upscaler, frames: np.ndarray, size: int, chunk: int = 8, callback=None,
                 later: Upscaler | None = None) -> np.ndarray:
    """uint8 frames (T, h, w, 3) -> (T, size, size', 3): x2 passes until the short side reaches `size`,
    then an area resize to exactly `size` on the short side (aspect kept). `chunk` frames at a time. `later`:
    the network for the passes after the first (a lighter one: each later pass has 4x the pixels of the one
    before; default `model` again)."""
    import cv2

    from kinema.io.frames import to_frames, to_model_space

    t, h, w = frames.shape[:3]
    short = min(h, w)
    n = passes_for(short, size)
    out_h, out_w = round(h * size / short), round(w * size / short)
    device = next(model.parameters()).device
    out = np.empty((t, out_h, out_w, 3), dtype=np.uint8)
    for i, a in enumerate(range(0, t, chunk)):
        x = to_model_space(frames[a:a + chunk]).to(device)  # (1, 3, k, h, w)
        for k in range(n):
            x = (model if k == 0 or later is None else later)(x).float().clamp(-1, 1)  # (float32 between passes)
        up = to_frames(x.cpu())[0]
        if up.shape[1:3] != (out_h, out_w):
            shrink = up.shape[1] > out_h
            up = np.stack([cv2.resize(f, (out_w, out_h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
                           for f in up])
        out[a:a + chunk] = up
        if callback:
            callback(i + 1, -(-t // chunk))
    return out
