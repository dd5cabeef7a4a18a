"""Datasets of (clip, caption) pairs for training.

A dataset here is indexable: `ds[i] -> (frames, caption)` with frames uint8 (T, H, W, 3), and
`len(ds)`. The training loop reads items `step * batch + j` (modulo the length), so a run is a
pure function of its seed and step, and resuming at a step reproduces the same batches.

- `ShapesDataset`: the shapes world, rendered on the fly; item i is the scene drawn from the seed
  sequence (seed, i), so it is deterministic and effectively endless.
- `VideoFolderDataset`: a folder of video files, each with a caption in a `.txt` file of the same
  name, resampled to the training size, frame rate and length.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from kinema.data.captions import training_caption
from kinema.data.shapes import render, sample_scene

ENDLESS = 2**62


class ShapesDataset:
    def __init__(self, seed: int = 0, size: int = 64, fps: float = 8, seconds: float = 2.0, p_two: float = 0.5):
        self.seed, self.size, self.fps, self.seconds, self.p_two = seed, size, fps, seconds, p_two

    def __len__(self) -> int:
        return ENDLESS

    def scene_and_caption(self, i: int):
        rng = np.random.default_rng([self.seed, i])
        scene = sample_scene(rng, self.p_two)
        return scene, training_caption(scene, rng)

    def __getitem__(self, i: int) -> tuple[np.ndarray, str]:
        scene, caption = self.scene_and_caption(i)
        return render(scene, self.size, self.fps, self.seconds), caption


class VideoFolderDataset:
    """Clips `NAME.mp4` (or any format PyAV reads) with captions in `NAME.txt`."""

    def __init__(self, root: str | Path, size: int = 64, fps: float = 8, seconds: float = 2.0):
        from kinema.io.video import VIDEO_SUFFIXES

        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"dataset folder {self.root} does not exist")
        self.items = sorted(p for p in self.root.iterdir()
                            if p.suffix.lower() in VIDEO_SUFFIXES and p.with_suffix(".txt").is_file())
        if not self.items:
            raise ValueError(f"no captioned clips in {self.root} (expected NAME.mp4 beside NAME.txt)")
        self.size, self.fps, self.seconds = size, fps, seconds

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[np.ndarray, str]:
        from kinema.io.video import read_video, resample_clip

        path = self.items[i % len(self.items)]
        frames, fps = read_video(path)
        clip = resample_clip(frames, fps, self.fps, round(self.seconds * self.fps), self.size)
        return clip, path.with_suffix(".txt").read_text().strip()


def to_model_space(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 frames (B, T, H, W, 3) or (T, H, W, 3) -> float (B, 3, T, H, W) in [-1, 1]."""
    x = torch.as_tensor(np.asarray(frames))
    if x.dim() == 4:
        x = x[None]
    return x.permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0


def to_frames(x: torch.Tensor) -> np.ndarray:
    """float (B, 3, T, H, W) in [-1, 1] -> uint8 frames (B, T, H, W, 3)."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 4, 1).numpy()


def get_batch(dataset, step: int, batch: int) -> tuple[torch.Tensor, list[str]]:
    """Items step*batch .. step*batch + batch - 1 as a model-space batch and their captions."""
    items = [dataset[(step * batch + j) % len(dataset)] for j in range(batch)]
    return to_model_space(np.stack([f for f, _ in items])), [c for _, c in items]
