"""A clip's layout: what each object of a prompt is and where it is in every frame (kinema.models.layout
says how the denoiser reads it, and how a shapes-world scene's is made). It travels with the prompt's
embedding (`TextEmbedding.layout`), so guidance, candidates and batching carry it as they carry the text.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Layout:
    phrases: torch.Tensor  # (B, K, D)
    boxes: torch.Tensor  # (B, K, T, S, 3)
    present: torch.Tensor  # (B, K) bool

    def __len__(self) -> int:
        return self.phrases.shape[0]

    def to(self, device, dtype=None) -> "Layout":
        return Layout(self.phrases.to(device, dtype), self.boxes.to(device, dtype), self.present.to(device))

    def index(self, idx) -> "Layout":
        return Layout(self.phrases[idx], self.boxes[idx], self.present[idx])

    def repeat(self, n: int) -> "Layout":
        return Layout(self.phrases.repeat_interleave(n, 0), self.boxes.repeat_interleave(n, 0),
                      self.present.repeat_interleave(n, 0))

    def empty_like(self, n: int) -> "Layout":
        """n clips with no objects, shaped like this layout's."""
        return Layout(self.phrases.new_zeros((n, *self.phrases.shape[1:])), self.boxes.new_zeros((n, *self.boxes.shape[1:])),
                      self.present.new_zeros((n, *self.present.shape[1:])))

    @staticmethod
    def cat(parts: list["Layout"]) -> "Layout":
        return Layout(torch.cat([p.phrases for p in parts]), torch.cat([p.boxes for p in parts]),
                      torch.cat([p.present for p in parts]))

    def drop(self, keep: torch.Tensor) -> "Layout":
        """Rows where keep (B,) is False lose their objects."""
        return Layout(self.phrases, self.boxes, self.present & keep[:, None].to(self.present.device))
