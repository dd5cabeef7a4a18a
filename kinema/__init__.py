"""kinema: a compact text-to-video generator.

    import kinema
    video = kinema.generate("a red ball bouncing on a white background", seed=0)
    video.frames  # uint8 (T, H, W, 3)
    video.save("ball.mp4")
    for frame in kinema.stream("a red ball bouncing on a white background", seconds=30):
        ...  # uint8 (H, W, 3), each as soon as it is made
"""
from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["generate", "stream", "Video", "Pipeline", "ClipSettings"]

if TYPE_CHECKING:
    from kinema.pipeline import ClipSettings, Pipeline, Video, generate, stream


def __getattr__(name: str):
    # torch and the models load on first use, so `kinema --help` and light imports stay fast
    if name in __all__:
        import kinema.pipeline

        return getattr(kinema.pipeline, name)
    raise AttributeError(f"module 'kinema' has no attribute {name!r}")
