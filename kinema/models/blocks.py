"""Pieces the cascade's networks share."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class ResBlock(nn.Module):
    """x + conv(silu(conv(x))), 3x3 (2D: conv=nn.Conv2d) or 3x3x3 (3D: nn.Conv3d) at constant width; with
    `pre_activation`, silu(x) is what the first conv reads."""

    def __init__(self, c: int, conv: type = nn.Conv2d, pre_activation: bool = False):
        super().__init__()
        self.conv1 = conv(c, c, 3, padding=1)
        self.conv2 = conv(c, c, 3, padding=1)
        self.pre_activation = pre_activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.silu(self.conv1(F.silu(x) if self.pre_activation else x)))
