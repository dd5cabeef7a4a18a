"""From a prompt to frames: text encoder -> denoiser with a sampler and guidance -> decoder -> cascade.

A model folder holds the denoiser component (`denoiser.safetensors` + `denoiser.json`); the JSON
names its text encoder, its space (pixels, or the latents of the autoencoder component beside it,
`autoencoder.safetensors` + `autoencoder.json`), the clip it was trained on (size, fps, seconds)
and its default sampling settings. The shipped default lives in `kinema/weights/default`.

The denoiser makes the clip at its native size and frame rate: the keyframes. A model folder may
also hold the cascade's stages (kinema.models): a refiner (`refiner.*`) that restores, as the prompt
says, the outlines a latent clip loses in decoding (step 4), an interpolator (`interpolator.*`) that fills in
the motion between keyframes up to the frame rate asked for, and an upscaler (`upscaler.*`) that
doubles the size pass by pass up to the size asked for (its passes after the first by a lighter one,
`upscaler_light.*`, where the folder has one: each has 4x the pixels of the pass before). Where a folder has no such stage (or the
request goes down, not up), frames are resampled instead (linear blending or dropping in time,
area/bicubic in space), and the progress output says so.

A model folder may also hold a verifier (`verifier.*`, kinema.models.verifier): with `candidates` N > 1 the
denoiser makes N keyframe clips from N starting noises (one batch) and the verifier keeps the one that
follows the prompt best, before the cascade: a search over the starting noise (Ma et al., 2025).

A model folder may also hold a student (`student.*`): a denoiser distilled from `denoiser` (the teacher) to make
clips in a few steps without guidance, with its own sampling defaults in its card; `resolve` gives it the clips
that ask nothing only the teacher does (kinema.pipeline.settings.TEACHER_SAMPLING, LoRA; a plan, a camera or tracks
where the student takes no layout).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from kinema.diffusion.rectified_flow import FlowConfig
from kinema.diffusion.samplers import time_grid
from kinema.io.frames import to_model_space
from kinema.io.video import write_video
from kinema.models.components import DEFAULT_MODEL
from kinema.models.precision import autocast
from kinema.models.layout import takes_layout
from kinema.models.upscaler import passes_for
from kinema.pipeline.cascade import Cascade, resample
from kinema.pipeline.folders import goes_on
from kinema.pipeline.inputs import Start
from kinema.pipeline.keyframes import STEER_ITERATIONS, keyframe_pieces
from kinema.pipeline.loading import read_folder, verifier_clip
from kinema.pipeline.settings import TEACHER_SAMPLING, ClipSettings, check_clip
from kinema.pipeline.windows import first_and_last, windows
from kinema.text.encoder import TextEmbedding, TextEncoder
from kinema.world.shapes import PHYSICS_MOTIONS

CASCADE = ("refiner", "interpolator", "upscaler")  # the stages after the keyframes, each optional


@dataclass
class Video:
    """Generated frames (T, H, W, 3) uint8 at `fps`, with how they were made."""
    frames: np.ndarray
    fps: float
    metadata: dict = field(default_factory=dict)

    def save(self, path: str | Path) -> Path:
        """Write mp4 (h264/yuv420p), .gif, or a folder/ of PNG frames, metadata included."""
        return write_video(self.frames, path, self.fps, self.metadata)


class Pipeline:
    """Text encoder + denoiser + sampler, then the cascade. `Pipeline.load()` reads a model folder.

    pipe(prompt, ClipSettings(...)) checks, resolves and makes one clip; a caller that has checked the
    request already (the CLI, the server) calls pipe.make(prompt, pipe.resolve(settings))."""

    def __init__(self, denoiser: torch.nn.Module, card: dict, text_encoder: TextEncoder, source: str,
                 autoencoder: torch.nn.Module | None = None, interpolator: torch.nn.Module | None = None,
                 upscaler: torch.nn.Module | None = None, verifier: torch.nn.Module | None = None,
                 refiner: torch.nn.Module | None = None, schedule: Callable[[int, float], list[float]] = time_grid,
                 planner: torch.nn.Module | None = None, stage_dtype: torch.dtype = torch.float32,
                 student: torch.nn.Module | None = None, upscaler_light: torch.nn.Module | None = None):
        self.denoiser = denoiser.eval()
        self.student = student  # a few-step denoiser distilled from this one, its sampling in its card (`resolve`)
        self.planner = planner  # reads a prompt's scene for the plan (kinema.pipeline.plan), where the denoiser takes one
        self.schedule = schedule  # (steps, shift) -> the sampler's times, 1 -> 0
        self.verifier = verifier
        self.autoencoder = autoencoder
        self.interpolator, self.upscaler, self.refiner = interpolator, upscaler, refiner
        self.upscaler_light = upscaler_light  # the upscaler's passes after the first, where the folder has one
        self.card = card
        self.flow = FlowConfig(**card["flow"])
        self.text_encoder = text_encoder
        self.source = source
        self.clip = card["clip"]  # native size, fps, seconds
        self.sampling = card["sampling"]  # the model's sampling defaults: the only place they are defined (the
        # student's: its own card's)
        self.timings: dict[str, float] = {}
        self.adapters: list[dict] = []  # LoRA adapters on the denoiser: folder, scale, step
        self.stage_dtype = stage_dtype  # what decoding and the cascade's stages compute in (kinema.models.precision)

    @staticmethod
    def load(path: str | Path | None = None, device: str = "cpu", precision: str = "auto",
             lora: list | None = None) -> "Pipeline":
        """The model folder at `path` (default: the shipped model; or a Wan folder in diffusers' format) on
        `device`; the denoiser's weights and the stages' computation in float32 or bfloat16 (`precision`: "auto"
        asks the hardware, kinema.models.precision); `lora`: LoRA adapters (kinema.models.lora.Adapter: a folder
        and a scale) on the denoiser, each checked against it first."""
        pipe = Pipeline._load(path, device, precision)
        if lora:
            from kinema.models.lora import attach

            pipe.adapters = attach(pipe.denoiser, list(lora))
        return pipe

    @staticmethod
    def _load(path: str | Path | None, device: str, precision: str) -> "Pipeline":
        t0 = time.perf_counter()
        pipe = Pipeline(**read_folder(path, device, precision))
        pipe.timings["load"] = time.perf_counter() - t0
        return pipe

    @property
    def name(self) -> str:
        return "default" if Path(self.source) == DEFAULT_MODEL else self.source

    @property
    def version(self) -> str:
        """Which weights these are: the kinema denoiser's training step, or the other format's pipeline class."""
        return f"{self.card['pipeline']} folder" if self.card.get("kind") == "wan" else f"step {self.card.get('step')}"

    def made_by(self, s: ClipSettings) -> str:
        """Which weights make the keyframes of resolved settings s: `version`, and the student's step where it does."""
        return self.version + (f", its student step {self.student.step}" if s.denoiser == "student" else "")

    def native_size(self, s: ClipSettings) -> int:
        """The size the denoiser makes a clip of settings s at: its own, or the size asked for where it makes any
        (a Wan model: any multiple of clip["size_multiple"], checked by `resolve`)."""
        return s.size if self.clip["size"] is None else int(self.clip["size"])

    def interpolates(self, s: ClipSettings) -> bool:
        """Whether the interpolator makes the frames between keyframes (else: resampling, if needed)."""
        return self.interpolator is not None and s.fps > float(self.clip["fps"])

    def upscales(self, s: ClipSettings) -> bool:
        """Whether the upscaler reaches the size (else: resizing, if needed)."""
        return self.upscaler is not None and s.size > self.native_size(s)

    def stages(self, s: ClipSettings) -> dict[str, str]:
        """How each stage of the cascade makes a clip with settings s (recorded in its metadata)."""
        size, fps = self.native_size(s), float(self.clip["fps"])
        passes = f", {s.refine_passes} passes" if s.refine_passes != 1 else ""
        return {"keyframes": f"{size}x{size} at {fps:g} fps ({self.made_by(s)})",
                "refine": f"refiner step {self.refiner.step}{passes}" if self.refiner is not None and s.refine_passes
                else "none",
                "interpolate": ("none" if s.fps == fps else f"interpolator step {self.interpolator.step}"
                                if self.interpolates(s) else "linear blending"),
                "upscale": ("none" if s.size == size else f"upscaler step {self.upscaler.step}" + (
                            f", later passes light upscaler step {self.upscaler_light.step}"
                            if self.upscaler_light is not None and passes_for(size, s.size) > 1 else "")
                            if self.upscales(s) else "area/bicubic resize")}

    def resolve(self, s: ClipSettings, tracks: bool = False) -> ClipSettings:
        """The settings with the denoiser chosen and its sampling defaults filled in (its eta only for the euler
        sampler); ValueError for what this model cannot do (candidates without a verifier, refining without a
        refiner, a student it has not). The student, where there is one and the model's card does not make the
        teacher its default (`sampling.denoiser`), unless the clip asks for the teacher: by name, or by a setting
        of its sampling, LoRA, or (a student that takes no layout) a plan, a camera or `tracks`. The plan, unless
        asked for or refused, where the model can direct (a student that takes no layout reads its words alone)."""
        denoiser = s.denoiser
        if denoiser == "student" and self.student is None:
            raise ValueError(f"--denoiser student: the model in {self.source} has no few-step student")
        if denoiser is None and self.student is not None:
            directed = s.plan or s.camera is not None or tracks
            asks_teacher = (any(getattr(s, k) is not None for k in TEACHER_SAMPLING) or self.adapters
                            or (directed and not takes_layout(self.student)))
            denoiser = "teacher" if asks_teacher else self.sampling.get("denoiser", "student")
        sampling = self.student.card["sampling"] if denoiser == "student" else self.sampling
        sampler = s.sampler or sampling["sampler"]
        eta = s.eta if s.eta is not None else sampling["eta"] if sampler == "euler" else 0.0
        if eta and sampler != "euler":
            raise ValueError(f"--eta > 0 (stochastic sampling) needs the euler sampler, not {sampler}")
        candidates = s.candidates or (sampling["candidates"] if self.verifier is not None else 1)
        if candidates > 1 and self.verifier is None:
            raise ValueError(f"--candidates {candidates} needs a verifier, and the model in {self.source} has none")
        if s.refine_passes and self.refiner is None:
            raise ValueError(f"--refine-passes {s.refine_passes} needs a refiner, and the model in {self.source} "
                             "has none")
        multiple = self.clip.get("size_multiple")
        if self.clip["size"] is None and s.size % multiple:
            raise ValueError(f"--size {s.size}: the model in {self.source} makes sizes that are multiples of "
                             f"{multiple}")
        passes = (s.refine_passes if s.refine_passes is not None
                  else sampling["refine_passes"] if self.refiner is not None else 0)
        regions = s.regions if s.regions is not None else sampling["regions"]
        steer = s.steer if s.steer is not None else sampling["steer"]
        return replace(s, steps=s.steps or sampling["steps"], candidates=candidates, refine_passes=passes,
                       regions=regions, steer=steer,
                       guidance=sampling["guidance"] if s.guidance is None else s.guidance,
                       sampler=sampler, eta=eta, denoiser=denoiser,
                       plan=s.plan if s.plan is not None else self.directs,
                       guidance_interval=tuple(s.guidance_interval or sampling["guidance_interval"]),
                       shift=sampling["shift"] if s.shift is None else s.shift)

    @torch.no_grad()
    def cascade(self, frames: np.ndarray, s: ClipSettings,
                progress: Callable[[str, int, int], None] | None = None) -> np.ndarray:
        """Keyframes (T, H, W, 3) uint8 at the denoiser's native size and frame rate -> the clip of settings
        `s` in one go: the interpolator (or plain resampling) to s.fps and length, then the upscaler to s.size."""
        cascade = self.cascade_for(s, len(frames), progress)
        out = cascade.push(frames)
        self.timings.update(cascade.timings)
        return out

    def cascade_for(self, s: ClipSettings, n_keyframes: int,
                    progress: Callable[[str, int, int], None] | None = None) -> Cascade:
        """The cascade (kinema.pipeline.cascade) from n_keyframes native keyframes to the clip of settings `s`."""
        return Cascade(float(self.clip["fps"]), self.native_size(s), n_keyframes, s.fps, s.frames, s.size,
                       self.interpolator if self.interpolates(s) else None,
                       self.upscaler if self.upscales(s) else None, progress, self.upscaler_light)

    def __call__(self, prompt: str, settings: ClipSettings = ClipSettings(),
                 callback: Callable[[int, int], None] | None = None,
                 progress: Callable[[str, int, int], None] | None = None, start: Start | None = None) -> Video:
        """Check the request, resolve it against the model's defaults, make the clip (see `make`)."""
        check_clip(prompt, settings)
        return self.make(prompt, self.resolve(settings), callback, progress, start)

    @property
    def goes_on(self) -> bool:
        """Whether the denoiser was trained to go on from given frames (`kinema train --condition`): pictures,
        clips to extend, clips longer than its own."""
        return self.autoencoder is not None and goes_on(self.card)

    def rolls(self, s: ClipSettings, start: Start | None = None, parts: list | None = None) -> bool:
        """Whether the clip is made window by window (`rolling`): it starts from given pictures, tells a
        storyboard, or is longer than the denoiser's own clips and the denoiser can go on from its windows (one
        that cannot makes a long clip in one piece, as it was trained to make its own)."""
        return start is not None or parts is not None or (self.goes_on and s.seconds > float(self.clip["seconds"]))

    def check_given(self, s: ClipSettings, start: Start | None = None, parts: list | None = None,
                    end: np.ndarray | None = None, tracks: dict | None = None) -> None:
        """What only the model can refuse of what a clip is given (ValueError): pictures, a clip to go on from or a
        storyboard from a model not trained to go on from given frames; a last picture past the model's own length.
        The rest is checked without the model (kinema.pipeline.inputs.check_combination, which also keeps `tracks`
        and a camera to clips from text alone); the tracks' objects are checked by `plan`."""
        from kinema.pipeline.inputs import check_combination

        check_combination(start is not None and start.kind == "image", end is not None,
                          start is not None and start.kind == "clip", parts is not None,
                          tracks is not None or s.camera is not None)
        native = float(self.clip["seconds"])
        if (start is not None or parts is not None or end is not None) and not self.goes_on:
            raise ValueError(f"the model {self.name} was not trained to go on from given frames (kinema train "
                             f"--condition): it makes clips of up to {native:g} s from text alone")
        if end is not None and s.seconds > native:
            raise ValueError(f"a last picture ends a clip of at most {native:g} s (the model's own length), "
                             f"not {s.seconds:g} s")

    @property
    def directs(self) -> bool:
        """Whether clips can be directed: a planner reads the prompt and the denoiser takes a layout."""
        return self.planner is not None and takes_layout(self.denoiser)

    def plan(self, prompt: str, s: ClipSettings, tracks: dict | None = None) -> "Plan | None":
        """The plan of a clip from text alone (kinema.pipeline.plan), None where there is none to make (s.plan off,
        and no tracks or camera asked for). ValueError for tracks or a camera this model cannot follow, and
        (TrackError) for tracks the prompt cannot take."""
        from kinema.pipeline.plan import make_plan, read_prompt

        if not (s.plan or tracks is not None or s.camera is not None):
            return None
        if not self.directs:
            if tracks is None and s.camera is None:
                return None
            raise ValueError(f"the model {self.name} cannot be directed (tracks, --camera): it has no planner or its "
                             "denoiser takes no layout")
        description = read_prompt(self.planner, self.text_encoder, prompt)
        return make_plan(description, s.seed, s.seconds, tracks, s.camera)

    def make(self, prompt: str, s: ClipSettings, callback: Callable[[int, int], None] | None = None,
             progress: Callable[[str, int, int], None] | None = None, start: Start | None = None,
             parts: list[tuple[str, float]] | None = None, end: np.ndarray | None = None,
             tracks: dict | None = None) -> Video:
        """One clip from checked settings that `resolve` has completed. `callback(k, n)` after each denoising
        step; `progress(stage, k, n)` through every stage ("keyframes", "interpolate", "upscale"). `start`:
        pictures the clip starts from (a Start: one picture, or a clip to go on from, then in the output);
        `parts`: a storyboard, [(prompt, seconds)], told one after the other in one clip (`prompt` then names it).
        `end`: a picture (H, W, 3) the clip ends on (first and last frame: with a picture `start`, within one window).
        `tracks`: where objects go (the spec's JSON, kinema.world.tracks), over the plan's (`plan`)."""
        made: dict = {}
        frames = np.concatenate(list(self.frames(prompt, s, callback, progress, start, parts, end, made, tracks)))
        return self.video(prompt, s, frames, made, start, parts, end)

    def video(self, prompt: str, s: ClipSettings, frames: np.ndarray, made: dict, start: Start | None = None,
              parts: list[tuple[str, float]] | None = None, end: np.ndarray | None = None) -> Video:
        """The Video of frames that `frames` made (`made`: what it recorded), with how they were made."""
        meta = {"prompt": prompt, "model": self.name, "model_step": self.card.get("step"), **asdict(s),
                "precision": str(next(self.denoiser.parameters()).dtype).removeprefix("torch."),
                "stage_precision": str(self.stage_dtype).removeprefix("torch."),
                "stages": self.stages(s), "generator": "kinema"}
        if self.adapters:
            meta["lora"] = self.adapters
        if made.get("scores") is not None:
            meta["verifier"] = {"step": self.verifier.step, "scores": [round(float(v), 4) for v in made["scores"]],
                                "chosen": int(np.argmax(made["scores"]))}
        if start is not None:
            meta["start"] = {"kind": start.kind, "source": start.source, "frames": len(start.frames)}
        if parts is not None:
            meta["storyboard"] = [{"prompt": p, "seconds": sec} for p, sec in parts]
        if end is not None:
            meta["end"] = "a picture"
        if made.get("layout") is not None:
            meta["layout"] = made["layout"]  # the plan: what was read, the camera, each track
            if len(made["layout"]["objects"]) > 1 and s.refine_passes:
                meta["stages"]["refine"] += ", each object's part of the frame under its own words"
            if s.steer and self.rolls(s) and any(o["motion"] in PHYSICS_MOTIONS for o in made["layout"]["objects"]):
                meta["stages"]["keyframes"] += (f", falling and bouncing objects steered onto their paths at the last "
                                                f"step of each window after the first ({STEER_ITERATIONS} steps of "
                                                f"{s.steer:g})")
        if made.get("read") is not None:
            meta["read"] = made["read"]  # the scene as the planner read it, which the student rendered
        return Video(frames, s.fps, meta)

    @torch.no_grad()
    def frames(self, prompt: str, s: ClipSettings, callback: Callable[[int, int], None] | None = None,
               progress: Callable[[str, int, int], None] | None = None, start: Start | None = None,
               parts: list[tuple[str, float]] | None = None, end: np.ndarray | None = None,
               made: dict | None = None, tracks: dict | None = None) -> Iterator[np.ndarray]:
        """`make`'s frames as they become final, uint8 chunks (k, H, W, 3): window by window for a clip made so
        (`rolls`), the whole clip at once otherwise; one after the other they are exactly `make`'s frames.
        `made` (a dict) gets the verifier's "scores" of the candidates, where it chose among them, the plan's
        "layout", or (the student) the words it "read"."""
        self.check_given(s, start, parts, end, tracks)
        native_fps, native_size = float(self.clip["fps"]), self.native_size(s)
        given = start is not None or parts is not None or end is not None
        plan = None if given else self.plan(prompt, s, tracks)  # 0. where the objects go, and the words read
        if plan is not None:
            prompt = plan.words
            if s.denoiser == "student" and not takes_layout(self.student):  # a student distilled without a layout
                if tracks is not None or s.camera is not None:  # cannot be directed
                    raise ValueError("this model's few-step student takes no layout, so it cannot follow tracks or "
                                     "a camera: ask for the teacher (--denoiser teacher)")
                plan = None  # reads the plan's words alone
                if made is not None:
                    made["read"] = prompt
            elif made is not None:
                made["layout"] = plan.record(s.seconds)
        if end is not None:  # 1-5. the keyframes: one window to a last picture,
            keyframes, s_out = first_and_last(self, prompt, s, callback, progress, start, end)
            pieces, total = [keyframes], len(keyframes)
        elif self.rolls(s, start, parts):  # window by window,
            parts = parts or [(prompt, s.seconds)]
            pictures = None if start is None else start.native(native_fps, native_size)
            total = (len(pictures) if start.kind == "clip" else 0) if start is not None else 0
            total += int(np.sum([round(sec * native_fps) for _, sec in parts]))
            s_out = replace(s, seconds=total / native_fps)
            pieces = windows(self, parts, s, callback, progress, start, pictures, plan)
        else:  # or the candidates of one clip from text alone, and the verifier's choice
            keyframes, scores = keyframe_pieces(self, prompt, s, callback, progress, plan=plan, best_only=True,
                                                first=1)
            pieces, total, s_out = (k[0] for k in keyframes), max(round(s.seconds * native_fps), 1), s
            if made is not None:
                made["scores"] = scores
        # 6-7. motion between the keyframes up to the requested frame rate, then the requested size, as they come
        cascade = self.cascade_for(s_out, total, progress)
        device = next(self.denoiser.parameters()).device
        for piece in pieces:  # (the frames out a piece at a time, soonest first; autocast only around the work)
            chunks = cascade.stream(piece)
            while True:
                with autocast(self.stage_dtype, device):
                    out = next(chunks, None)
                if out is None:
                    break
                yield out
        self.timings.update(cascade.timings)

    def start_latents(self, pictures: np.ndarray) -> torch.Tensor:
        """uint8 pictures (k, H, W, 3) at the native size -> the latent they begin a clip with, (1, C, Tk, h, w):
        the causal autoencoder encodes frame 0 alone and each later 4 together, so a picture and a clip's
        last 5 frames enter the denoiser the same way."""
        device = next(self.denoiser.parameters()).device
        return self.autoencoder.encode(to_model_space(pictures).to(device))

    def keyframes(self, prompt: str, s: ClipSettings, *args, **kwargs) -> tuple[np.ndarray, np.ndarray | None]:
        """The candidates' keyframes (N, T, H, W, 3) uint8 at the native size and frame rate, and the verifier's
        scores (N,) of them against the prompt (None for one candidate), for resolved settings `s`: the pieces
        of kinema.pipeline.keyframes.keyframe_pieces (same arguments but `first`) together."""
        pieces, scores = keyframe_pieces(self, prompt, s, *args, **kwargs)
        return np.concatenate(list(pieces), axis=1), scores

    @torch.no_grad()
    def score(self, keyframes: np.ndarray, cond: TextEmbedding) -> np.ndarray:
        """The verifier's scores (N,) of keyframe clips (N, T, H, W, 3) uint8 at the native size against one
        encoded prompt: at the verifier's own size and frame rate (area down, every k-th frame) where the
        denoiser's are whole multiples of them, its first max_frames frames for longer clips."""
        device = next(self.verifier.parameters()).device
        fps, size = float(self.clip["fps"]), self.verifier.config.size
        v_fps = verifier_clip(self.verifier).get("fps") or fps
        n = math.ceil(keyframes.shape[1] * v_fps / fps)
        clips = np.stack([resample(k, fps, v_fps, n, size) for k in keyframes])
        x = to_model_space(clips[:, :self.verifier.config.max_frames]).to(device)
        return self.verifier(x, cond.index(slice(0, 1)).repeat(len(x)).to(device)).float().cpu().numpy()
