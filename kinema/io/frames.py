"""Frames and model space: the one conversion between uint8 pictures and the tensors the models read.

    frames  uint8 (B, T, H, W, 3) or (T, H, W, 3), what files hold and people see
    model   float (B, 3, T, H, W) in [-1, 1], what every network reads and writes (B, C, T, H, W)
"""
from __future__ import annotations

import numpy as np
import torch


def to_model_space(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 frames (B, T, H, W, 3) or (T, H, W, 3) -> float (B, 3, T, H, W) in [-1, 1]."""
    x = torch.as_tensor(np.asarray(frames))
    if x.dim() == 4:
        x = x[None]
    return x.permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0


def to_frames(x: torch.Tensor) -> np.ndarray:
    """float (B, 3, T, H, W) in [-1, 1] -> uint8 frames (B, T, H, W, 3)."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 4, 1).cpu().numpy()
