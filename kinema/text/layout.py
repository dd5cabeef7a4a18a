"""A clip's layout: what each object of a prompt is and where it is in every frame (kinema.models.layout
says how the denoiser reads it, and how a shapes-world scene's is made). It travels with the prompt's
embedding (`TextEmbedding.layout`), so guidance, candidates and batching carry it as they carry the text.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch


@dataclass
class Layout:
    phrases: torch.Tensor  # (B, K, D)
    boxes: torch.Tensor  # (B, K, T, S, 3)
    present: torch.Tensor  # (B, K) bool
    shapes: torch.Tensor  # (B, K) long: each object's shape, an index into kinema.world.shapes.SHAPES

    def __len__(self) -> int:
        return self.phrases.shape[0]

    def _map(self, fn) -> "Layout":
        return Layout(*(fn(getattr(self, f.name)) for f in fields(self)))

    def to(self, device, dtype=None) -> "Layout":
        """On `device`; the float parts (phrases, boxes) in `dtype` where given."""
        return self._map(lambda v: v.to(device, dtype) if v.is_floating_point() else v.to(device))

    def index(self, idx) -> "Layout":
        return self._map(lambda v: v[idx])

    def repeat(self, n: int) -> "Layout":
        return self._map(lambda v: v.repeat_interleave(n, 0))

    def empty_like(self, n: int) -> "Layout":
        """n clips with no objects, shaped like this layout's."""
        return self._map(lambda v: v.new_zeros((n, *v.shape[1:])))

    @staticmethod
    def cat(parts: list["Layout"]) -> "Layout":
        return Layout(*(torch.cat([getattr(p, f.name) for p in parts]) for f in fields(Layout)))

    def drop(self, keep: torch.Tensor) -> "Layout":
        """Rows where keep (B,) is False lose their objects."""
        return Layout(self.phrases, self.boxes, self.present & keep[:, None].to(self.present.device), self.shapes)
