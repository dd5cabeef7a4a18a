"""The keyframes of one window: a clip's steps 1-6 (encode the prompt, draw the noise, integrate the flow, decode,
the verifier's choice among the candidates, the refiner), as pieces for the cascade. Functions of a loaded Pipeline
(`pipe`), called by its `frames` and `keyframes` and by kinema.pipeline.windows.
"""
from __future__ import annotations

import math
import time
from typing import Callable, Iterator

import numpy as np
import torch

from kinema.diffusion.rectified_flow import over
from kinema.diffusion.samplers import SAMPLERS, guided_velocity, steered_velocity
from kinema.io.frames import to_frames
from kinema.models.layout import picture_times, scene_layout
from kinema.models.precision import autocast
from kinema.models.refiner import refine_pieces
from kinema.text.encoder import Regions
from kinema.pipeline.settings import ClipSettings

STEER_ITERATIONS = 8  # Adam steps of the pull onto the plan (s.steer their size), each a decode there and back


@torch.no_grad()
def keyframe_pieces(pipe, prompt: str, s: ClipSettings, callback: Callable[[int, int], None] | None = None,
                    progress: Callable[[str, int, int], None] | None = None, given: torch.Tensor | None = None,
                    generator: torch.Generator | None = None, stage: str = "keyframes",
                    given_end: torch.Tensor | None = None, plan=None, plan_start: float = 0.0, drop: int = 0,
                    best_only: bool = False,
                    first: int | None = None) -> tuple[Iterator[np.ndarray], np.ndarray | None]:
    """The candidates' keyframes at the native size and frame rate, as uint8 pieces (N, k, H, W, 3) in order,
    each refined when it is asked for (`first`: the first piece's frames, then the rest; None: one piece),
    and the verifier's scores (N,) of the candidates against the prompt (None for one candidate), for
    resolved settings `s`.

    `given`: latent frames the window starts with (1, C, Tk, h, w), kept as they are (a picture, the end of
    the clip so far: kinema.pipeline.windows); the keyframes are then every frame the window's latents decode to,
    the given ones first. `given_end`: a latent frame the window ends with (1, C, 1, h, w: a last picture).
    `generator`: the noise source to draw from (a new one from s.seed if None). `plan`: where the objects are
    (kinema.pipeline.plan), from `plan_start` seconds: the denoiser's layout. `drop`: the first frames not
    wanted (the pictures a window goes on from, which the clip has already): neither refined nor returned.
    `best_only`: refine and return only the candidate the verifier chose (1, T, H, W, 3)."""
    device = next(pipe.denoiser.parameters()).device
    timings = {}

    # 1. encode the prompt and the negative prompt (or "" for plain guidance)
    t0 = time.perf_counter()
    cond = pipe.text_encoder.encode([prompt]).to(device)
    uncond = (pipe.text_encoder.encode([s.negative]) if s.negative else pipe.text_encoder.empty()).to(device)
    timings["text"] = time.perf_counter() - t0

    # 2. the starting noise of each candidate, at the denoiser's native size and frame rate, from the seed
    t0 = time.perf_counter()
    native_fps, native_size = float(pipe.clip["fps"]), pipe.native_size(s)
    n_native = max(round(s.seconds * native_fps), 1)
    pt, n = pipe.denoiser.config.patch[0], s.candidates
    if pipe.autoencoder is not None:
        c, t, h, w = pipe.autoencoder.cfg.latent_shape(n_native, native_size, native_size)
        shape = (n, c, math.ceil(t / pt) * pt, h, w)
    else:
        shape = (n, pipe.denoiser.config.in_channels, math.ceil(n_native / pt) * pt, native_size, native_size)
    tf = pipe.autoencoder.cfg.time_factor if pipe.autoencoder is not None else 1  # pictures a latent frame holds
    if generator is None:  # the starting noise, then any noise the sampler takes in
        generator = torch.Generator().manual_seed(s.seed)
    noise = torch.randn(shape, generator=generator).to(device)
    denoiser = pipe.student if s.denoiser == "student" else pipe.denoiser
    if plan is not None:  # what each object is and where the plan puts it, in every latent frame
        layout = scene_layout([plan.scene], native_fps, shape[2], denoiser.config.layout,
                              lambda p: pipe.text_encoder.encode(p).pooled, [plan_start])
        cond = cond.with_layout(layout.to(device))
    each = latent_regions = None  # two planned objects: each one's own words, and which cells are whose
    if plan is not None and len(plan.scene.objects) > 1 and (s.regions or s.refine_passes):
        each = [pipe.text_encoder.encode([w]).to(device) for w in plan.object_words()]
    if each and s.regions:
        cells = torch.from_numpy(plan.regions(picture_times(shape[2], tf, native_fps, plan_start), shape[-1]))
        latent_regions = Regions([w.with_layout(cond.layout).repeat(n) for w in each] + [cond.repeat(n)],
                                 cells.expand(n, -1, -1, -1))  # (the last: the whole scene's words)
    known = x_known = None
    if given is not None or given_end is not None:  # given latent frames: 0 noise, kept by the velocity
        known = torch.zeros(n, shape[2], dtype=torch.bool, device=device)
        x_known = torch.zeros(shape, device=device)
        if given is not None:
            known[:, :given.shape[2]] = True
            x_known[:, :, :given.shape[2]] = given.to(device)
        if given_end is not None:
            last = min(t, shape[2]) - 1 if pipe.autoencoder is not None else shape[2] - 1
            known[:, last] = True
            x_known[:, :, last:last + 1] = given_end.to(device)
        noise = torch.where(over(known, noise), x_known, noise)

    # 3. integrate the guided flow from noise (t = 1) to a clip (t = 0); with two planned objects, at t <= s.regions
    #    each object's cells under its own words (off by default: fast objects fade, docs/plan.md)
    def on_step(k: int, n: int) -> None:
        if callback:
            callback(k, n)
        if progress:
            progress(stage, k, n)

    velocity = guided_velocity(denoiser, pipe.flow, cond.repeat(n), uncond.repeat(n), s.guidance,
                               s.guidance_interval, known, x_known, latent_regions, s.regions)
    # 3b. a window that goes on from given frames, with objects falling or bouncing in the plan: the last step's clean
    #     clip pulled, through the decoder, onto their simulated paths (s.steer). A first window draws its fall
    #     as the judge wants, and pulled there lost outlines (docs/plan.md, "Steered onto the plan")
    grid = pipe.schedule(s.steps, s.shift)
    if s.steer and plan is not None and given is not None and plan.falling():
        to_pixels = (pipe.autoencoder.decode_after(given.to(device).expand(n, -1, -1, -1, -1))  # context decoded once
                     if pipe.autoencoder is not None else (lambda z: z))
        energy = plan.energy(to_pixels, plan_start + np.arange(tf * (shape[2] - 1) + 1) / native_fps)
        cells = torch.from_numpy(plan.steered_cells(picture_times(shape[2], tf, native_fps, plan_start), shape[-1]))
        movable = cells[None, None] & over(~known, noise)  # (B, 1, T, h, w): near the objects, not given
        velocity = steered_velocity(velocity, energy, s.steer, STEER_ITERATIONS, (0.0, grid[-2]),
                                    movable.float().to(device))
    x0 = SAMPLERS[s.sampler](velocity, noise, grid, on_step, eta=s.eta, generator=generator)
    if known is not None:  # given frames as given (the sampler's own state there is never read)
        x0 = torch.where(over(known, x0), x_known, x0)
    timings["denoise"] = time.perf_counter() - t0

    # 4. decode latents (if the model works in a latent space)
    if pipe.autoencoder is not None:
        t0 = time.perf_counter()
        with autocast(pipe.stage_dtype, device):
            x0 = pipe.autoencoder.decode(x0, chunk=4).float()
        timings["decode"] = time.perf_counter() - t0
    keep = n_native if given is None else x0.shape[2]  # a window keeps every frame it decodes to
    x0 = x0[:, :, :keep]

    # 5. the verifier's score of each candidate against the prompt, on the decoded frames (it reads them at
    #    32 px, where the refiner's outlines seldom change its choice: the same for 59 and 62 of 64 captions,
    #    as good or better where not, docs/verifier.md)
    scores = None
    pipe.timings.pop("verify", None)
    if n > 1:
        t0 = time.perf_counter()
        scores = pipe.score(to_frames(x0[:, :, drop:]), cond)
        timings["verify"] = time.perf_counter() - t0
        if best_only:
            best = int(np.argmax(scores))
            x0 = x0[best:best + 1]

    # 6. restore what decoding loses (outlines), as the prompt says, in s.refine_passes passes of the refiner,
    #    a piece at a time as they are asked for (each pass reaches one frame each way: the pieces are exact);
    #    with a plan of two objects, each object's part of the frame under its own words (directed pairs
    #    all-correct 28 -> 56 of 100 at seeds 0 and 1, docs/plan.md, "Each object under its own words")
    pipe.timings.update(timings)
    t = x0.shape[2]
    cuts = [drop] + ([drop + first] if first and drop + first < t else []) + [t]
    words = cond.repeat(len(x0))
    if each and s.refine_passes:  # each object's pixels under its own words
        pixels = torch.from_numpy(plan.regions(plan_start + np.arange(t) / native_fps, x0.shape[-1]))
        words = Regions([w.repeat(len(x0)) for w in each + [cond]], pixels.expand(len(x0), -1, -1, -1))
    pieces = refine_pieces(pipe.refiner, x0, words, s.refine_passes, cuts)
    return timed(pipe, "refine", pieces, device), scores  # (N or 1, k, H, W, 3) uint8 each


def timed(pipe, stage: str, pieces: Iterator[torch.Tensor], device: torch.device) -> Iterator[np.ndarray]:
    """Clips (N, 3, k, H, W) as uint8 frames (N, k, H, W, 3), each made when asked for, in the stages'
    precision; their time added up in timings[stage]."""
    pipe.timings[stage] = 0.0
    while True:
        t0 = time.perf_counter()
        with torch.no_grad(), autocast(pipe.stage_dtype, device):
            piece = next(pieces, None)
        if piece is None:
            return
        pipe.timings[stage] += time.perf_counter() - t0
        yield to_frames(piece)
