"""Clips made window by window, and one window between a first and a last picture.

A clip longer than the denoiser's own (or one that starts from given pictures, extends a clip or tells a storyboard)
is made in windows of the denoiser's own length, each going on from the last pictures of the clip so far, given to
the denoiser as the start of its latent (kinema.pipeline.Pipeline.keyframes' `given`). A clip that ends on a picture
is one window whose last latent frame is given. Functions of a loaded Pipeline (`pipe`), called by its `frames`.
"""
from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Iterator

import numpy as np
import torch

from kinema.pipeline.inputs import Start
from kinema.pipeline.keyframes import keyframe_pieces
from kinema.pipeline.settings import ClipSettings

# Latent frames a window goes on from (the causal autoencoder: frame 0 alone, then groups of 4 pictures). Measured
# (docs/denoiser.md, "Long clips"): the clip's own earlier windows are best seen over 3 (9 pictures: 30 s clips
# follow their caption in every window for 10 of 16 captions, against 8 over 2); a clip given to extend over 2
# (5 pictures: 13 of 16 continuations follow, against 9 over 3, whose joins jump for bouncing objects).
OWN_CONTEXT_LATENTS = 3
GIVEN_CONTEXT_LATENTS = 2


def context_frames(pipe, latents: int) -> int:
    """Pictures that make `latents` latent frames (the causal autoencoder encodes frame 0 alone and each later
    group of its time factor together), fewer where a window would then have no latent frame left to make."""
    cfg = pipe.autoencoder.cfg
    n = max(round(float(pipe.clip["seconds"]) * float(pipe.clip["fps"])), 1)
    latents = min(latents, cfg.latent_shape(n, 8, 8)[1] - 1)
    return 1 + cfg.time_factor * (max(latents, 1) - 1)


@torch.no_grad()
def windows(pipe, parts: list[tuple[str, float]], s: ClipSettings, callback, progress, start: Start | None,
            pictures: np.ndarray | None, plan=None) -> Iterator[np.ndarray]:
    """Keyframes window by window, each window the denoiser's own length and each going on from the last
    pictures of the clip so far (OWN_CONTEXT_LATENTS' worth, GIVEN_CONTEXT_LATENTS' of a clip to extend;
    encoded as the start of its latent and given), so the cost grows linearly with the length and memory
    stays flat. A picture to start from (`pictures`: `start` at the
    native size and frame rate) is the first window's frame 0; a clip to extend is kept at the start. Each
    part of a storyboard is made under its own prompt, the world carried across the joins. The first window,
    from text alone, is chosen among s.candidates by the verifier. Yields each window's new native keyframes
    (T, H, W, 3) in pieces as they are refined (the first window's first frame alone), a clip to extend first;
    the last window cut to the parts' length. `plan`: where the objects
    are in every window (kinema.pipeline.plan)."""
    native_fps = float(pipe.clip["fps"])
    ends = np.cumsum([round(sec * native_fps) for _, sec in parts])  # frames made by each part's end
    if start is not None and start.kind == "clip":  # an extended clip comes first
        yield pictures
    keep = context_frames(pipe, OWN_CONTEXT_LATENTS)
    context = pictures[-context_frames(pipe, GIVEN_CONTEXT_LATENTS):] if pictures is not None else None
    generator = torch.Generator().manual_seed(s.seed)
    window = replace(s, seconds=float(pipe.clip["seconds"]))  # each window is the denoiser's own length
    made = n_windows = 0
    while made < ends[-1]:
        prompt = parts[min(int(np.searchsorted(ends, made, side="right")), len(parts) - 1)][0]
        stage = f"window {n_windows + 1}"
        t0 = (made - (0 if context is None else len(context))) / native_fps  # when the window's frame 0 is
        if context is None:  # from text alone: the candidates, and the verifier's choice among them (its first
            pieces, _ = keyframe_pieces(pipe, prompt, window, callback, progress, None, generator, stage,  # frame
                                        plan=plan, best_only=True, first=1)  # out first)
        else:
            pieces, _ = keyframe_pieces(pipe, prompt, replace(window, candidates=1), callback, progress,
                                        pipe.start_latents(context), generator, stage, plan=plan,
                                        plan_start=t0, drop=len(context))  # (the frames after the context)
        if start is not None and start.kind == "image" and n_windows == 0 and context is not None:
            pieces = itertools.chain([pictures[None]], pieces)  # the picture is frame 0 itself, not the decoder's
        new = []
        for piece in pieces:
            piece = piece[0][:int(ends[-1]) - made]
            if not len(piece):
                break
            made += len(piece)
            new.append(piece)
            yield piece
        new = np.concatenate(new)
        context = np.concatenate([context, new])[-keep:] if context is not None else new[-keep:]
        n_windows += 1
        pipe.timings["windows"] = n_windows

@torch.no_grad()
def first_and_last(pipe, prompt: str, s: ClipSettings, callback, progress, start: Start | None,
                   end: np.ndarray) -> tuple[np.ndarray, ClipSettings]:
    """One window that ends on the picture `end` (and starts from `start`'s picture, if given): its last latent
    frame is the picture held for a group of 4 frames, given; the clip's last frame is the picture itself."""
    native_fps, native_size = float(pipe.clip["fps"]), pipe.native_size(s)
    last = Start(end[None], "image").native(native_fps, native_size)
    given_end = pipe.start_latents(np.repeat(last, 5, axis=0))[:, :, 1:2]  # latent frame 1: a group of 4 pictures
    first = None if start is None else start.native(native_fps, native_size)
    keyframes, _ = pipe.keyframes(prompt, replace(s, candidates=1), callback, progress,
                                  None if first is None else pipe.start_latents(first),
                                  torch.Generator().manual_seed(s.seed), given_end=given_end)
    frames = keyframes[0][:max(round(s.seconds * native_fps), 2)].copy()
    frames[-1] = last[0]  # the clip ends on the picture itself, not the decoder's drawing of it
    if first is not None:
        frames[0] = first[0]
    return frames, s
