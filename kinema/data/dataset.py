"""Datasets of (clip, caption) pairs for training.

A dataset here is indexable: `ds[i] -> (frames, caption)` with frames uint8 (T, H, W, 3), and
`len(ds)`. The training loop reads items `step * batch + j` (modulo the length), so a run is a
pure function of its seed and step, and resuming at a step reproduces the same batches.

- `ShapesDataset`: the shapes world, rendered on the fly; item i is the scene drawn from the seed
  sequence (seed, i), so it is deterministic and effectively endless. With `late`, that share of the
  clips is rendered from a later time of a long clip (objects reflected off walls, landed, bouncing
  lower): such a clip is only trained as going on from its first frames (`going_on`), since its caption
  names the motion the clip started with. With `p_camera` and `p_track`, scenes of the spec's v2: a moving
  camera, objects following tracks.
- `VideoFolderDataset`: a folder of video files, each with a caption in a `.txt` file of the same
  name, resampled to the training size, frame rate and length.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from kinema.io.frames import to_model_space
from kinema.world.captions import training_caption
from kinema.world.near_misses import caption_of, near_miss
from kinema.world.shapes import Scene, render, sample_scene

ENDLESS = 2**62


class ShapesDataset:
    def __init__(self, seed: int = 0, size: int = 64, fps: float = 8, seconds: float = 2.0, p_two: float = 0.5,
                 late: float = 0.0, late_until: float = 30.0, p_camera: float = 0.0, p_track: float = 0.0, p_physics: float = 0.0):
        for name, share in (("late", late), ("p_camera", p_camera), ("p_track", p_track), ("p_physics", p_physics)):
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be a share in [0, 1], got {share}")
        self.seed, self.size, self.fps, self.seconds, self.p_two = seed, size, fps, seconds, p_two
        self.late, self.late_until, self.p_camera, self.p_track = late, late_until, p_camera, p_track
        self.p_physics = p_physics

    def __len__(self) -> int:
        return ENDLESS

    def scene_and_caption(self, i: int):
        rng = np.random.default_rng([self.seed, i])
        scene = sample_scene(rng, self.p_two, self.p_camera, self.p_track, self.p_physics)
        return scene, training_caption(scene, rng)

    def start(self, i: int) -> float:
        """When item i starts in its scene's long clip, in seconds: 0, or for a `late` share of the items a
        time drawn uniformly from (seconds, late_until) (its own draw: `late` leaves the scenes as they are).
        A scene with a camera or a track always starts at 0 (a camera long under way shows nothing)."""
        rng = np.random.default_rng([self.seed, i, 11])
        if self.late == 0 or rng.random() >= self.late:
            return 0.0
        scene = self.scene_and_caption(i)[0]
        if scene.camera != "still" or any(o.track for o in scene.objects):
            return 0.0
        return float(rng.uniform(self.seconds, self.late_until))

    def __getitem__(self, i: int) -> tuple[np.ndarray, str]:
        scene, caption = self.scene_and_caption(i)
        return render(scene, self.size, self.fps, self.seconds, self.start(i)), caption

    def scene(self, i: int) -> Scene:
        """The scene of item i (modulo the length)."""
        return self.scene_and_caption(i % len(self))[0]


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
        from kinema.io.video import VideoReader

        for path in self.items:  # an unreadable clip or caption stops here, not in the middle of training
            VideoReader(path)
            try:
                if not path.with_suffix(".txt").read_text().strip():
                    raise ValueError(f"{path.with_suffix('.txt')} is empty: a clip needs its caption")
            except UnicodeDecodeError:
                raise ValueError(f"{path.with_suffix('.txt')} is not text") from None
        self.size, self.fps, self.seconds = size, fps, seconds

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[np.ndarray, str]:
        from kinema.io.video import read_video, resample_clip

        path = self.items[i % len(self.items)]
        frames, fps = read_video(path)
        clip = resample_clip(frames, fps, self.fps, round(self.seconds * self.fps), self.size)
        return clip, path.with_suffix(".txt").read_text().strip()


def get_batch(dataset, step: int, batch: int) -> tuple[torch.Tensor, list[str]]:
    """Items step*batch .. step*batch + batch - 1 as a model-space batch and their captions."""
    items = [dataset[(step * batch + j) % len(dataset)] for j in range(batch)]
    return to_model_space(np.stack([f for f, _ in items])), [c for _, c in items]


class RealCropsDataset:
    """Real footage for the autoencoder: random crops of video files and slow pans over still images.

    Item i is fixed by (seed, i): a source, a scale (1-3x, area-downsampled), a frame stride for
    videos or a pan speed for images, and a crop. Items are (frames uint8 (T, size, size, 3), "").
    """

    def __init__(self, videos: list[str | Path], images: list[str | Path], size: int = 64, frames: int = 9,
                 seed: int = 0):
        from PIL import Image

        from kinema.io.video import read_video

        self.clips = [read_video(p)[0] for p in videos]
        self.stills = [np.asarray(Image.open(p).convert("RGB")) for p in images]
        if not self.clips and not self.stills:
            raise ValueError("RealCropsDataset needs at least one video or image")
        self.size, self.frames, self.seed = size, frames, seed

    def __len__(self) -> int:
        return ENDLESS

    def __getitem__(self, i: int) -> tuple[np.ndarray, str]:
        import cv2

        rng = np.random.default_rng([self.seed, i, 1])
        n, t = self.size, self.frames
        pick = int(rng.integers(len(self.clips) + len(self.stills)))
        if pick < len(self.clips):
            clip = self.clips[pick]
            stride = int(rng.integers(1, 4))
            while (t - 1) * stride >= len(clip) and stride > 1:
                stride -= 1
            scale = int(rng.integers(1, 4))
            side = min(n * scale, clip.shape[1], clip.shape[2])
            t0 = int(rng.integers(max(len(clip) - (t - 1) * stride, 1)))
            y, x = int(rng.integers(clip.shape[1] - side + 1)), int(rng.integers(clip.shape[2] - side + 1))
            idx = np.minimum(t0 + stride * np.arange(t), len(clip) - 1)
            crops = [clip[k, y:y + side, x:x + side] for k in idx]
        else:
            img = self.stills[pick - len(self.clips)]
            scale = int(rng.integers(1, 3))
            side = min(n * scale, img.shape[0], img.shape[1])
            vy, vx = rng.uniform(-2, 2, size=2) * scale  # pan speed, pixels per frame
            y0 = rng.uniform(0, img.shape[0] - side - abs(vy) * (t - 1) + 1e-9) + (abs(vy) * (t - 1) if vy < 0 else 0)
            x0 = rng.uniform(0, img.shape[1] - side - abs(vx) * (t - 1) + 1e-9) + (abs(vx) * (t - 1) if vx < 0 else 0)
            crops = []
            for k in range(t):
                y = int(np.clip(round(y0 + vy * k), 0, img.shape[0] - side))
                x = int(np.clip(round(x0 + vx * k), 0, img.shape[1] - side))
                crops.append(img[y:y + side, x:x + side])
        frames = np.stack([cv2.resize(c, (n, n), interpolation=cv2.INTER_AREA) if c.shape[0] != n else c
                           for c in crops])
        return frames, ""


class MixedDataset:
    """Item i from `b` when a fixed draw for i falls under `share_b`, else from `a`."""

    def __init__(self, a, b, share_b: float, seed: int = 0):
        self.a, self.b, self.share_b, self.seed = a, b, share_b, seed

    def __len__(self) -> int:
        return ENDLESS

    def __getitem__(self, i: int):
        use_b = np.random.default_rng([self.seed, i, 2]).random() < self.share_b
        return (self.b if use_b else self.a)[i]


class NearMissPairs:
    """Item i: (clip, caption, near-miss clip, near-miss caption), clips uint8 (T, H, W, 3), fixed by (seed, i);
    `kind(i)`: which kind of change item i's near miss is."""

    def __init__(self, seed: int = 0, size: int = 32, fps: float = 4, seconds: float = 2.0, p_two: float = 0.5,
                 p_size: float = 0.6):
        self.seed, self.size, self.fps, self.seconds, self.p_two, self.p_size = seed, size, fps, seconds, p_two, p_size

    def scenes(self, i: int) -> tuple[Scene, Scene, str, np.random.Generator, bool]:
        rng = np.random.default_rng([self.seed, i, 3])
        scene = sample_scene(rng, self.p_two)
        name_sizes = bool(rng.random() < self.p_size)
        miss, kind = near_miss(scene, rng, name_sizes)
        return scene, miss, kind, rng, name_sizes

    def kind(self, i: int) -> str:
        return self.scenes(i)[2]

    def __getitem__(self, i: int) -> tuple[np.ndarray, str, np.ndarray, str]:
        scene, miss, _, rng, name_sizes = self.scenes(i)
        clip = lambda s: render(s, self.size, self.fps, self.seconds)  # noqa: E731
        return clip(scene), caption_of(scene, rng, name_sizes), clip(miss), caption_of(miss, rng, name_sizes)
