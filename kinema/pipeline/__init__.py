"""Inference: a clip's settings, the pipeline from a prompt to frames, and the Video it returns."""
from kinema.pipeline.api import generate, stream
from kinema.pipeline.pipeline import Pipeline, Video
from kinema.pipeline.settings import ClipSettings, check_clip

__all__ = ["ClipSettings", "Pipeline", "Video", "check_clip", "generate", "stream"]
