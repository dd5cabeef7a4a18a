"""What a clip may start from besides its prompt, read and checked before any model loads: a picture
(`--image`: image to video), a picture to end on (`--last-image`), a clip to go on from (`--extend`), a
storyboard (`--storyboard`: prompts told one after another in one clip). `read_given` reads them all, for
the CLI, the Python API and the server's worker alike. Each bad one is a ValueError naming the file and
what is wrong."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Iterable, NamedTuple
from pathlib import Path

import numpy as np

from kinema.pipeline.settings import bounds, check_clip, ClipSettings

MAX_PARTS = 20
MAX_EXTEND_FRAMES = 2000  # frames of a clip to go on from that are read (its end is what matters)


@dataclass
class Start:
    """Pictures a clip starts from: one picture (kind "image": it becomes frame 0) or a clip to go on from
    (kind "clip": it is kept at the start of the output), uint8 (T, H, W, 3) at `fps`, of any size."""
    frames: np.ndarray
    kind: str
    source: str = ""
    fps: float = 8.0

    def native(self, fps: float, size: int) -> np.ndarray:
        """The pictures at the denoiser's frame rate and size: centre-cropped square, area/bicubic resized."""
        from kinema.io.video import resample_clip

        n = 1 if self.kind == "image" else max(round(len(self.frames) * fps / self.fps), 1)
        return resample_clip(self.frames, self.fps, fps, n, size)


class Given(NamedTuple):
    """What a clip is given besides its prompt, read and checked; the keyword arguments of Pipeline.make."""
    start: Start | None = None  # a picture to start from, or a clip to go on from
    parts: list[tuple[str, float]] | None = None  # a storyboard: (prompt, seconds) each
    end: np.ndarray | None = None  # a picture (H, W, 3) to end on


def read_given(settings: ClipSettings, image: str | Path | np.ndarray | None = None,
               last_image: str | Path | np.ndarray | None = None, extend: str | Path | None = None,
               storyboard: str | Path | list | None = None) -> Given:
    """Read and check what a clip is given: pictures (files or uint8 (H, W, 3) pixels), a video to extend, a
    storyboard (a JSON file, or its list already parsed). ValueError for anything bad, before any model loads."""
    check_combination(image is not None, last_image is not None, extend is not None, storyboard is not None)
    if storyboard is None:
        parts = None
    elif isinstance(storyboard, (str, Path)):
        parts = read_storyboard(storyboard, settings)
    else:
        parts = check_storyboard(storyboard, settings)
    return Given(read_start(image, extend), parts, None if last_image is None else read_picture(last_image))


def storyboard_prompt(prompts: Iterable[str]) -> str:
    """The prompt that names a storyboard clip (its metadata's, its job's): its parts' prompts, joined."""
    return " | ".join(prompts)


def check_combination(image: bool, last_image: bool, extend: bool, storyboard: bool, directed: bool = False) -> None:
    """Which of a picture to start from, a picture to end on, a clip to extend, a storyboard and directing (tracks,
    a camera) go together."""
    if directed and (image or last_image or extend or storyboard):
        raise ValueError("tracks and a camera direct clips from text alone, not clips given pictures, a clip or a "
                         "storyboard")
    if image and extend:
        raise ValueError("give a picture to start from or a clip to extend, not both")
    if last_image and (extend or storyboard):
        raise ValueError("a last picture goes with a prompt (and a first picture), not with a clip to extend or a "
                         "storyboard")


def read_picture(image: str | Path | np.ndarray) -> np.ndarray:
    """A picture, a file or uint8 (H, W, 3) pixels, as uint8 (H, W, 3)."""
    from kinema.io.video import read_image

    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3 or min(image.shape[:2]) < 8:
            raise ValueError(f"a picture must be uint8 (H, W, 3) of at least 8x8, got {image.dtype} {image.shape}")
        return image
    return read_image(image)[0]


def read_start(image: str | Path | np.ndarray | None = None, extend: str | Path | None = None) -> Start | None:
    """The Start of a picture (a file, or uint8 (H, W, 3) pixels) or of a video file to extend; None for neither."""
    from kinema.io.video import VideoReader, read_video

    check_combination(image is not None, False, extend is not None, False)
    if image is not None:
        return Start(read_picture(image)[None], "image", "array" if isinstance(image, np.ndarray) else Path(image).name)
    if extend is not None:
        reader = VideoReader(extend)  # a file with no decodable frame stops here
        if reader.frames > MAX_EXTEND_FRAMES:
            raise ValueError(f"{extend}: {reader.frames} frames; kinema extends clips of up to {MAX_EXTEND_FRAMES}")
        frames, fps = read_video(extend)
        return Start(frames, "clip", Path(extend).name, fps)
    return None


def read_storyboard(path: str | Path, settings: ClipSettings) -> list[tuple[str, float]]:
    """A storyboard file: a JSON list of {"prompt": ..., "seconds": ...} (see `check_storyboard`)."""
    path = Path(path)
    try:
        parts = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read storyboard {path}: {e}") from None
    return check_storyboard(parts, settings, f"storyboard {path}")


def check_storyboard(parts, settings: ClipSettings, where: str = "storyboard") -> list[tuple[str, float]]:
    """A storyboard as parsed JSON: a list of {"prompt": ..., "seconds": ...}, each prompt checked as a clip's and
    the whole no longer than a clip may be. Returns [(prompt, seconds)]; ValueError starting with `where`."""
    if not isinstance(parts, list) or not 1 <= len(parts) <= MAX_PARTS:
        raise ValueError(f"{where}: a JSON list of 1 to {MAX_PARTS} parts is expected")
    out = []
    for k, part in enumerate(parts):
        seconds = part.get("seconds") if isinstance(part, dict) else None
        if not isinstance(part, dict) or set(part) - {"prompt", "seconds"} or not isinstance(part.get("prompt"), str) \
                or isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
            raise ValueError(f"{where}, part {k + 1}: expected {{\"prompt\": TEXT, \"seconds\": NUMBER}}")
        if not 0 < seconds <= bounds()["seconds"].hi:
            raise ValueError(f"{where}, part {k + 1}: seconds must be in (0, {bounds()['seconds'].hi:g}]")
        try:
            check_clip(part["prompt"], settings)
        except ValueError as e:
            raise ValueError(f"{where}, part {k + 1}: {e}") from None
        out.append((part["prompt"], float(seconds)))
    total = sum(sec for _, sec in out)
    if total > bounds()["seconds"].hi:
        raise ValueError(f"{where}: {total:g} s in all; a clip is at most {bounds()['seconds'].hi:g} s")
    return out
