"""The Python API: `kinema.generate` (a clip) and `kinema.stream` (its frames as they are made), each loading
the model on the call. To make many clips, hold a Pipeline (kinema.pipeline.pipeline) instead."""
from __future__ import annotations

from typing import Iterator

import numpy as np

from kinema.pipeline.inputs import Given, read_given, storyboard_prompt
from kinema.pipeline.pipeline import Pipeline, Video
from kinema.pipeline.settings import ClipSettings, check_clip


def generate(prompt: str | None = None, *, model: str | None = None, lora=(), image=None, last_image=None,
             extend=None, storyboard=None, tracks=None, **settings) -> Video:
    """Make a clip from a prompt: `kinema.generate("a red ball bouncing on a white background").save("a.mp4")`.
    Keyword arguments are ClipSettings' fields (seed, steps, guidance, negative, seconds, fps, size, ...), and what
    the clip is given: `image` (a picture file or uint8 (H, W, 3) pixels: the clip's frame 0), `last_image` (a
    picture the clip ends on), `extend` (a video file the clip goes on from), `storyboard` (a JSON file or a list
    of {"prompt": ..., "seconds": ...}: one clip told part by part; the prompt may then be left out), `tracks`
    (a JSON file or its dict, {"tracks": [{"object": 0, "points": [[t, x, y], ...]}]}: where the prompt's objects
    go; with `camera="pan left"` and the rest of CAMERAS, a model with a planner is directed). `model`: a
    model folder (kinema's, or a Wan folder in diffusers' format); `lora`: LoRA adapters on its denoiser, each a
    folder or "FOLDER:SCALE" (kinema finetune). Returns a Video whose `.frames` is uint8 (T, H, W, 3)."""
    pipe, prompt, s, given, tracks = _request(prompt, model, lora, image, last_image, extend, storyboard, tracks,
                                              settings)
    return pipe.make(prompt, s, **given._asdict(), tracks=tracks)


def stream(prompt: str | None = None, *, model: str | None = None, lora=(), image=None, last_image=None,
           extend=None, storyboard=None, tracks=None, **settings) -> Iterator[np.ndarray]:
    """`generate`'s frames one by one, uint8 (H, W, 3), each as soon as it is final: a long clip's first frames
    come after its first window, not after the whole clip. The request is checked before the first frame
    (ValueError), as `generate` checks it; the frames are `generate`'s."""
    pipe, prompt, s, given, tracks = _request(prompt, model, lora, image, last_image, extend, storyboard, tracks,
                                              settings)

    def frames() -> Iterator[np.ndarray]:
        for piece in pipe.frames(prompt, s, **given._asdict(), tracks=tracks):
            yield from piece

    return frames()


def _request(prompt, model, lora, image, last_image, extend, storyboard, tracks, settings: dict
             ) -> tuple[Pipeline, str, ClipSettings, Given, dict | None]:
    """1. check everything given, before the model loads; 2. load the model, resolve the settings against it and
    check what only it can refuse."""
    s = ClipSettings(**settings)
    given = read_given(s, image, last_image, extend, storyboard)
    if given.parts:
        prompt = prompt or storyboard_prompt(p for p, _ in given.parts)
    check_clip(prompt or "", s)
    if tracks is not None:
        from kinema.world.shapes import MAX_OBJECTS
        from kinema.world.tracks import check_tracks, load_tracks

        tracks = dict(tracks) if isinstance(tracks, dict) else load_tracks(tracks)
        check_tracks(tracks, [None] * MAX_OBJECTS, caption=False)
    from kinema.models.lora import Adapter, parse_adapter

    pipe = Pipeline.load(model, lora=[a if isinstance(a, Adapter) else parse_adapter(str(a)) for a in lora])
    s = pipe.resolve(s, tracks is not None)
    pipe.check_given(s, *given, tracks)
    if tracks is not None or s.camera is not None:  # the tracks' objects, read in the prompt
        pipe.plan(prompt, s, tracks)
    return pipe, prompt, s, given, tracks
