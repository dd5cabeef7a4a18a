"""The cascade after the keyframes, as they arrive: keyframes at the denoiser's native size and frame rate in,
window by window; the clip at the size and frame rate asked for out, in chunks as they become final.

Time first (the interpolator, or linear blending), then space (the upscaler, or an area/bicubic resize). Each
stage works on fixed pieces of the clip whatever the windows are (the interpolator's segments, the upscaler's
chunks of 8 frames), so a clip made in one go and one streamed window by window are the same frames, and
memory does not grow with the length.
"""
from __future__ import annotations

import functools
import time
from typing import Callable, Iterator

import numpy as np

from kinema.models.interpolator import Interpolation
from kinema.models.upscaler import upscale_clip


def resample(frames: np.ndarray, fps: float, new_fps: float, n_frames: int, size: int) -> np.ndarray:
    """Linear blend in time to `new_fps` (n_frames), then area (down) or bicubic (up) to size x size:
    uint8 in and out."""
    return Blend(fps, new_fps, len(frames), n_frames, size).push(frames)


class Blend:
    """`resample` as frames arrive: push(frames) -> the output frames now final."""

    def __init__(self, fps: float, new_fps: float, n_in: int, n_out: int, size: int):
        self.size, self.same = size, n_out == n_in and new_fps == fps
        self.pos = np.clip(np.arange(n_out) * fps / new_fps, 0, n_in - 1)
        self.lo = np.floor(self.pos).astype(int)
        self.hi = np.minimum(self.lo + 1, n_in - 1)
        self.frames, self.base, self.done = None, 0, 0

    def push(self, frames: np.ndarray) -> np.ndarray:
        import cv2

        self.frames = frames if self.frames is None else np.concatenate([self.frames, frames])
        have = self.base + len(self.frames)
        ready = int(np.searchsorted(self.hi, have)) if not self.same else have  # (hi is non-decreasing)
        if self.same:
            x = self.frames[self.done - self.base:ready - self.base].astype(np.float32)
        else:  # (only the frames the new outputs blend, in float)
            lo, hi = self.lo[self.done:ready] - self.base, self.hi[self.done:ready] - self.base
            w = (self.pos[self.done:ready] - self.lo[self.done:ready])[:, None, None, None].astype(np.float32)
            x = self.frames[lo].astype(np.float32) * (1 - w) + self.frames[hi].astype(np.float32) * w
        if not len(x):
            x = np.empty((0, self.size, self.size, 3), np.float32)
        elif x.shape[1] != self.size:
            method = cv2.INTER_AREA if self.size < x.shape[1] else cv2.INTER_CUBIC
            x = np.stack([cv2.resize(f, (self.size, self.size), interpolation=method) for f in x])
        self.done = ready
        keep_from = int(self.lo[ready]) if ready < len(self.lo) else have
        self.frames, self.base = self.frames[keep_from - self.base:], keep_from
        return np.clip(np.rint(x), 0, 255).astype(np.uint8)


class Upscaling:
    """The upscaler over a clip of n frames as they arrive, `chunk` frames at a time (as upscale_clip; `later`:
    its lighter network for the passes after the first); `first` frames in the first chunk, if fewer (a stream's
    first frame out sooner), the rest of it next, so chunks end at multiples of `chunk` as the interpolator's
    segments do. The chunks are the same however the frames arrive."""

    def __init__(self, model, n: int, size: int, chunk: int = 8, callback=None, later=None, first: int | None = None):
        self.model, self.n, self.size, self.chunk, self.callback, self.later = model, n, size, chunk, callback, later
        self.first = min(first or chunk, chunk)
        self.waiting, self.done = [], 0

    def push(self, frames: np.ndarray) -> np.ndarray:
        self.waiting.append(frames)
        buf = np.concatenate(self.waiting)
        out = []
        while len(buf) >= (k := self.chunk - self.done % self.chunk if self.done else self.first) \
                or (len(buf) and self.done + len(buf) == self.n):
            piece, buf = buf[:k], buf[k:]
            out.append(upscale_clip(self.model, piece, self.size, self.chunk, later=self.later))
            self.done += len(piece)
            if self.callback:
                self.callback(self.chunks(self.done), self.chunks(self.n))
        self.waiting = [buf]
        return np.concatenate(out) if out else np.empty((0, self.size, self.size, 3), np.uint8)

    def chunks(self, frames: int) -> int:
        """How many chunks the first `frames` frames make."""
        return 0 if frames <= 0 else -(-frames // self.chunk) + (self.first < min(frames, self.chunk))


class Passthrough:
    def push(self, frames: np.ndarray) -> np.ndarray:
        return frames


class Cascade:
    """Keyframes (T, h, w, 3) uint8 at `fps_in`, n_in of them in all, in pieces -> the clip of n_out frames at
    `fps` and `size`. `push(keyframes)` returns the frames now final; timings (seconds per stage) add up. The
    first frame comes out soonest: it is the first keyframe (the interpolator keeps it) and the upscaler's first
    chunk is that frame alone (the frames are the same as in even chunks)."""

    def __init__(self, fps_in: float, size_in: int, n_in: int, fps: float, n_out: int, size: int,
                 interpolator=None, upscaler=None, progress: Callable[[str, int, int], None] | None = None,
                 upscaler_light=None):
        stage = (lambda name: functools.partial(progress, name)) if progress else (lambda name: None)
        if interpolator is not None:
            self.time = Interpolation(interpolator, fps_in, fps, n_in, n_out, callback=stage("interpolate"))
        elif n_out != n_in or fps != fps_in:
            self.time = Blend(fps_in, fps, n_in, n_out, size_in)
        else:
            self.time = Passthrough()
        if upscaler is not None:
            self.space = Upscaling(upscaler, n_out, size, callback=stage("upscale"), later=upscaler_light, first=1)
        elif size != size_in:
            self.space = Blend(fps, fps, n_out, n_out, size)
        else:
            self.space = Passthrough()
        self.timings, self.size = {"interpolate": 0.0, "upscale": 0.0}, size

    def push(self, keyframes: np.ndarray) -> np.ndarray:
        out = list(self.stream(keyframes))
        return np.concatenate(out) if out else np.empty((0, self.size, self.size, 3), np.uint8)

    def stream(self, keyframes: np.ndarray, piece: int = 8, keys: int = 4) -> Iterator[np.ndarray]:
        """`push`'s frames in pieces as each is final: `keys` keyframes at a time through time (the interpolator
        makes each of its segments once the frames it reads are in), then `piece` frames at a time through space
        (the upscaler's own chunks), so the first are out before the rest are made; the frames are the same."""
        for k in range(0, len(keyframes), keys):
            t0 = time.perf_counter()
            frames = self.time.push(keyframes[k:k + keys])
            self.timings["interpolate"] += time.perf_counter() - t0
            for i in range(0, len(frames), piece):
                t0 = time.perf_counter()
                out = self.space.push(frames[i:i + piece])
                self.timings["upscale"] += time.perf_counter() - t0
                if len(out):
                    yield out
