"""From a prompt to frames: text encoder -> denoiser with a sampler and guidance -> (decoder) -> frames.

A model folder holds the denoiser component (`denoiser.safetensors` + `denoiser.json`); the JSON
names its text encoder, its space (pixels, or the latents of the autoencoder component beside it,
`autoencoder.safetensors` + `autoencoder.json`), the clip it was trained on (size, fps, seconds)
and its default sampling settings. The shipped default lives in `kinema/weights/default`.

The denoiser makes the clip at its native size and frame rate: the keyframes. A model folder may
also hold the cascade's stages (kinema.cascade): a refiner (`refiner.*`) that restores, as the prompt
says, the outlines a latent clip loses in decoding (step 5b), an interpolator (`interpolator.*`) that fills in
the motion between keyframes up to the frame rate asked for, and an upscaler (`upscaler.*`) that
doubles the size pass by pass up to the size asked for. Where a folder has no such stage (or the
request goes down, not up), frames are resampled instead (linear blending or dropping in time,
area/bicubic in space), and the progress output says so.

A model folder may also hold a verifier (`verifier.*`, kinema.verifier): with `candidates` N > 1 the
denoiser makes N keyframe clips from N starting noises (one batch) and the verifier keeps the one that
follows the prompt best, before the cascade: a search over the starting noise (Ma et al., 2025).
"""
from __future__ import annotations

import functools
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from kinema.autoencoder.vae import VideoAutoencoder, load_autoencoder
from kinema.cascade import has_stage, load_stage
from kinema.cascade.interpolate import FrameFiller, interpolate_clip
from kinema.cascade.refine import Refiner, refine_clip
from kinema.cascade.upscale import Upscaler, upscale_clip
from kinema.data.dataset import to_frames, to_model_space
from kinema.denoiser.dit import DenoiserConfig, VideoDiT, compute_dtype
from kinema.diffusion.flow import FlowConfig
from kinema.diffusion.samplers import SAMPLERS, guided_velocity, time_grid
from kinema.io.checkpoint import CheckpointError, load_component, load_state_into
from kinema.io.video import output_kind, write_video
from kinema.text.encoder import TextEmbedding, TextEncoder, load_text_encoder
from kinema.verifier.model import Verifier, has_verifier, load_verifier

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "weights" / "default"
MAX_SIZE = 1024
MAX_SECONDS = 30.0
MAX_FPS = 60.0
MAX_STEPS = 1000
MAX_SHIFT = 100.0
MAX_CANDIDATES = 16
MAX_REFINE_PASSES = 4
DEFAULT_SAMPLING = {"steps": 20, "guidance": 4.0, "sampler": "euler", "shift": 1.0, "guidance_interval": (0.0, 1.0),
                    "eta": 0.0, "candidates": 1, "refine_passes": 1}


@dataclass(frozen=True)
class Settings:
    """How a clip is made. None for steps, guidance, sampler, guidance_interval, shift, eta means the
    model's default. guidance_interval (lo, hi): guidance applies at times t in (lo, hi] of the flow,
    t = 1 being noise. shift: the sampling time grid's shift (kinema.diffusion.samplers.time_grid; > 1
    spends more steps near noise, where the layout is decided). eta: DDIM's eta for the Euler sampler,
    0 (the deterministic ODE) to 1 (ancestral sampling); kinema.diffusion.samplers.euler. candidates: how
    many keyframe clips to make, of which the model's verifier keeps the best (1: no search). refine_passes:
    how many times the model's refiner runs over the decoded keyframes (each pass takes the last one's
    output; 0: not at all)."""
    seed: int = 0
    steps: int | None = None
    guidance: float | None = None
    negative: str = ""
    sampler: str | None = None
    seconds: float = 2.0
    fps: float = 8.0
    size: int = 64
    guidance_interval: tuple[float, float] | None = None
    shift: float | None = None
    eta: float | None = None
    candidates: int | None = None
    refine_passes: int | None = None


@dataclass
class Video:
    """Generated frames (T, H, W, 3) uint8 at `fps`, with how they were made."""
    frames: np.ndarray
    fps: float
    metadata: dict = field(default_factory=dict)

    def save(self, path: str | Path) -> Path:
        """Write mp4 (h264/yuv420p), .gif, or a folder/ of PNG frames, metadata included."""
        return write_video(self.frames, path, self.fps, self.metadata)


def available_memory() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 8 << 30


def check_settings(prompt: str, s: Settings) -> None:
    """ValueError for settings that cannot work, before any model is loaded."""
    if not prompt or not prompt.strip():
        raise ValueError("the prompt is empty: say what the video should show")
    if s.size < 16 or s.size > MAX_SIZE or s.size % 2:
        raise ValueError(f"--size must be an even number of pixels from 16 to {MAX_SIZE}, got {s.size}")
    if not 0 < s.seconds <= MAX_SECONDS:
        raise ValueError(f"--seconds must be in (0, {MAX_SECONDS:g}], got {s.seconds:g}")
    if not 1 <= s.fps <= MAX_FPS:
        raise ValueError(f"--fps must be in [1, {MAX_FPS:g}], got {s.fps:g}")
    if round(s.seconds * s.fps) < 1:
        raise ValueError(f"{s.seconds:g} s at {s.fps:g} fps is less than one frame")
    if s.steps is not None and not 1 <= s.steps <= MAX_STEPS:
        raise ValueError(f"--steps must be in [1, {MAX_STEPS}], got {s.steps}")
    if s.sampler is not None and s.sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {s.sampler!r}; choose from {', '.join(SAMPLERS)}")
    if s.guidance is not None and not math.isfinite(s.guidance):
        raise ValueError("--guidance must be a finite number")
    if s.guidance_interval is not None:
        lo, hi = s.guidance_interval
        if not 0 <= lo < hi <= 1:
            raise ValueError(f"--guidance-interval must be LO HI with 0 <= LO < HI <= 1, got {lo:g} {hi:g}")
    if s.shift is not None and not 0 < s.shift <= MAX_SHIFT:
        raise ValueError(f"--shift must be in (0, {MAX_SHIFT:g}], got {s.shift:g}")
    if s.eta is not None and not 0 <= s.eta <= 1:
        raise ValueError(f"--eta must be in [0, 1], got {s.eta:g}")
    if s.eta and s.sampler == "heun":
        raise ValueError("--eta > 0 (stochastic sampling) needs the euler sampler")
    if s.candidates is not None and not 1 <= s.candidates <= MAX_CANDIDATES:
        raise ValueError(f"--candidates must be in [1, {MAX_CANDIDATES}], got {s.candidates}")
    if s.refine_passes is not None and not 0 <= s.refine_passes <= MAX_REFINE_PASSES:
        raise ValueError(f"--refine-passes must be in [0, {MAX_REFINE_PASSES}], got {s.refine_passes}")
    need = round(s.seconds * s.fps) * s.size * s.size * 3 * 6  # uint8 frames + float32 working copies
    if need > available_memory():
        raise ValueError(f"{s.seconds:g} s at {s.size}x{s.size}, {s.fps:g} fps needs about {need / 2**30:.1f} GiB, "
                         f"more than this machine has free ({available_memory() / 2**30:.1f} GiB)")


def resample(frames: np.ndarray, fps: float, new_fps: float, n_frames: int, size: int) -> np.ndarray:
    """Linear blend in time to `new_fps` (n_frames), then area (down) or bicubic (up) to size x size:
    uint8 in and out."""
    import cv2

    x = frames.astype(np.float32)
    if n_frames != len(frames) or new_fps != fps:
        pos = np.clip(np.arange(n_frames) * fps / new_fps, 0, len(frames) - 1)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, len(frames) - 1)
        w = (pos - lo)[:, None, None, None].astype(np.float32)
        x = x[lo] * (1 - w) + x[hi] * w
    if x.shape[1] != size:
        method = cv2.INTER_AREA if size < x.shape[1] else cv2.INTER_CUBIC
        x = np.stack([cv2.resize(f, (size, size), interpolation=method) for f in x])
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


class Pipeline:
    """Text encoder + denoiser + sampler. `Pipeline.load()` reads a model folder."""

    def __init__(self, denoiser: VideoDiT, card: dict, text_encoder: TextEncoder, source: str,
                 autoencoder: VideoAutoencoder | None = None, interpolator: FrameFiller | None = None,
                 upscaler: Upscaler | None = None, verifier: Verifier | None = None, refiner: Refiner | None = None):
        self.denoiser = denoiser.eval()
        self.verifier = verifier
        self.autoencoder = autoencoder
        self.interpolator, self.upscaler, self.refiner = interpolator, upscaler, refiner
        self.card = card
        self.flow = FlowConfig(**card["flow"])
        self.text_encoder = text_encoder
        self.source = source
        self.clip = card["clip"]  # native size, fps, seconds
        self.sampling = {**DEFAULT_SAMPLING, **card.get("sampling", {})}
        self.timings: dict[str, float] = {}

    @staticmethod
    def load(path: str | Path | None = None, device: str = "cpu", precision: str = "auto") -> "Pipeline":
        """The model folder at `path` (default: the shipped model) on `device`; the denoiser's weights in
        float32 or bfloat16 (`precision`: "auto" = bf16 on CUDA, fp32 on CPU; see compute_dtype)."""
        t0 = time.perf_counter()
        dtype = compute_dtype(precision, device)
        folder = Path(path) if path else DEFAULT_MODEL
        state, card = load_component(folder, "denoiser")
        if card.get("kind") != "kinema.denoiser" or "denoiser" not in card or "flow" not in card:
            raise CheckpointError(f"{folder / 'denoiser.json'} is not a kinema denoiser config")
        try:
            model = VideoDiT(DenoiserConfig.from_dict(card["denoiser"]))
            FlowConfig(**card["flow"])
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{folder / 'denoiser.json'} has a bad config: {e}") from None
        load_state_into(model, state, str(folder / "denoiser.safetensors"))
        autoencoder = None
        if card.get("space") == "latent":
            autoencoder = load_autoencoder(folder, device)
            if autoencoder.cfg.latent_channels != model.config.in_channels:
                raise CheckpointError(f"{folder}: the autoencoder's {autoencoder.cfg.latent_channels} latent channels "
                                      f"do not fit the denoiser's {model.config.in_channels} input channels")
        stages = {name: load_stage(folder, name, device) if has_stage(folder, name) else None
                  for name in ("interpolator", "upscaler", "refiner")}
        verifier = load_verifier(folder, device) if has_verifier(folder) else None
        if verifier is not None:
            size, fps, v_fps = int(card["clip"]["size"]), float(card["clip"]["fps"]), verifier.clip.get("fps")
            if size % verifier.config.size or (v_fps and (fps / v_fps) % 1):
                raise CheckpointError(f"{folder}: the verifier reads {verifier.config.size}x{verifier.config.size} "
                                      f"clips{f' at {v_fps:g} fps' if v_fps else ''}; the denoiser's {size}x{size} at "
                                      f"{fps:g} fps are not whole multiples of that")
        pipe = Pipeline(model.to(device, dtype), card, load_text_encoder(device=device), str(folder), autoencoder,
                        **stages, verifier=verifier)
        pipe.timings["load"] = time.perf_counter() - t0
        return pipe

    @property
    def name(self) -> str:
        return "default" if Path(self.source) == DEFAULT_MODEL else self.source

    def interpolates(self, s: Settings) -> bool:
        """Whether the interpolator makes the frames between keyframes (else: resampling, if needed)."""
        return self.interpolator is not None and s.fps > float(self.clip["fps"])

    def upscales(self, s: Settings) -> bool:
        """Whether the upscaler reaches the size (else: resizing, if needed)."""
        return self.upscaler is not None and s.size > int(self.clip["size"])

    def stages(self, s: Settings) -> dict[str, str]:
        """How each stage of the cascade makes a clip with settings s (recorded in its metadata)."""
        size, fps = int(self.clip["size"]), float(self.clip["fps"])
        passes = f", {s.refine_passes} passes" if s.refine_passes != 1 else ""
        return {"keyframes": f"{size}x{size} at {fps:g} fps (denoiser step {self.card.get('step')})",
                "refine": f"refiner step {self.refiner.step}{passes}" if self.refiner is not None and s.refine_passes
                else "none",
                "interpolate": ("none" if s.fps == fps else f"interpolator step {self.interpolator.step}"
                                if self.interpolates(s) else "linear blending"),
                "upscale": ("none" if s.size == size else f"upscaler step {self.upscaler.step}"
                            if self.upscales(s) else "area/bicubic resize")}

    def resolve(self, s: Settings) -> Settings:
        """The settings with the model's sampling defaults filled in (its eta only for the euler sampler)."""
        sampler = s.sampler or self.sampling["sampler"]
        eta = s.eta if s.eta is not None else self.sampling["eta"] if sampler == "euler" else 0.0
        if eta and sampler != "euler":
            raise ValueError(f"--eta > 0 (stochastic sampling) needs the euler sampler, not {sampler}")
        candidates = s.candidates or (self.sampling["candidates"] if self.verifier is not None else 1)
        if candidates > 1 and self.verifier is None:
            raise ValueError(f"--candidates {candidates} needs a verifier, and the model in {self.source} has none")
        if s.refine_passes and self.refiner is None:
            raise ValueError(f"--refine-passes {s.refine_passes} needs a refiner, and the model in {self.source} "
                             "has none")
        passes = (s.refine_passes if s.refine_passes is not None
                  else self.sampling["refine_passes"] if self.refiner is not None else 0)
        return replace(s, steps=s.steps or self.sampling["steps"], candidates=candidates, refine_passes=passes,
                       guidance=self.sampling["guidance"] if s.guidance is None else s.guidance,
                       sampler=sampler, eta=eta,
                       guidance_interval=tuple(s.guidance_interval or self.sampling["guidance_interval"]),
                       shift=self.sampling["shift"] if s.shift is None else s.shift)

    @torch.no_grad()
    def cascade(self, frames: np.ndarray, s: Settings,
                progress: Callable[[str, int, int], None] | None = None) -> np.ndarray:
        """Keyframes (T, H, W, 3) uint8 at the denoiser's native size and frame rate -> the clip of settings
        `s`: the interpolator (or plain resampling) to s.fps and length, then the upscaler to s.size."""
        native_fps, native_size = float(self.clip["fps"]), int(self.clip["size"])
        n_out = round(s.seconds * s.fps)
        stage = (lambda name: functools.partial(progress, name)) if progress else (lambda name: None)
        t0 = time.perf_counter()
        if self.interpolates(s):
            frames = interpolate_clip(self.interpolator, frames, native_fps, s.fps, n_out, callback=stage("interpolate"))
        elif n_out != len(frames) or s.fps != native_fps:
            frames = resample(frames, native_fps, s.fps, n_out, native_size)
        self.timings["interpolate"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if self.upscales(s):
            frames = upscale_clip(self.upscaler, frames, s.size, callback=stage("upscale"))
        elif s.size != native_size:
            frames = resample(frames, s.fps, s.fps, len(frames), s.size)
        self.timings["upscale"] = time.perf_counter() - t0
        return frames

    @torch.no_grad()
    def __call__(self, prompt: str, settings: Settings = Settings(),
                 callback: Callable[[int, int], None] | None = None,
                 progress: Callable[[str, int, int], None] | None = None) -> Video:
        """Make one clip. `callback(k, n)` after each denoising step; `progress(stage, k, n)` through every
        stage ("keyframes", "interpolate", "upscale")."""
        # 1. check the request before any work
        check_settings(prompt, settings)
        s = self.resolve(settings)
        keyframes, scores = self._keyframes(prompt, s, callback, progress)  # steps 2-6
        best = 0 if scores is None else int(np.argmax(scores))

        # 7-8. motion between the keyframes up to the requested frame rate, then the requested size
        frames = self.cascade(keyframes[best], s, progress)  # records the timings "interpolate" and "upscale"
        meta = {"prompt": prompt, "model": self.name, "model_step": self.card.get("step"), **asdict(s),
                "precision": str(next(self.denoiser.parameters()).dtype).removeprefix("torch."),
                "stages": self.stages(s), "generator": "kinema"}
        if scores is not None:
            meta["verifier"] = {"step": self.verifier.step, "scores": [round(float(v), 4) for v in scores],
                                "chosen": best}
        return Video(frames, s.fps, meta)

    @torch.no_grad()
    def keyframes(self, prompt: str, settings: Settings = Settings(),
                  callback: Callable[[int, int], None] | None = None,
                  progress: Callable[[str, int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """The candidates' keyframes (N, T, H, W, 3) uint8 at the native size and frame rate, and the
        verifier's scores (N,) of them against the prompt (None for one candidate)."""
        # 1. check the request before any work
        check_settings(prompt, settings)
        return self._keyframes(prompt, self.resolve(settings), callback, progress)

    def _keyframes(self, prompt: str, s: Settings, callback: Callable[[int, int], None] | None,
                   progress: Callable[[str, int, int], None] | None) -> tuple[np.ndarray, np.ndarray | None]:
        """Steps 2-6 of `keyframes` for checked settings that `resolve` has completed."""
        device = next(self.denoiser.parameters()).device
        timings = {}

        # 2. encode the prompt and the negative prompt (or "" for plain guidance)
        t0 = time.perf_counter()
        cond = self.text_encoder.encode([prompt]).to(device)
        uncond = (self.text_encoder.encode([s.negative]) if s.negative else self.text_encoder.empty()).to(device)
        timings["text"] = time.perf_counter() - t0

        # 3. the starting noise of each candidate, at the denoiser's native size and frame rate, from the seed
        t0 = time.perf_counter()
        native_fps, native_size = float(self.clip["fps"]), int(self.clip["size"])
        n_native = max(round(s.seconds * native_fps), 1)
        pt, n = self.denoiser.config.patch[0], s.candidates
        if self.autoencoder is not None:
            c, t, h, w = self.autoencoder.cfg.latent_shape(n_native, native_size, native_size)
            shape = (n, c, math.ceil(t / pt) * pt, h, w)
        else:
            shape = (n, self.denoiser.config.in_channels, math.ceil(n_native / pt) * pt, native_size, native_size)
        generator = torch.Generator().manual_seed(s.seed)  # the starting noise, then any noise the sampler takes in
        noise = torch.randn(shape, generator=generator).to(device)

        # 4. integrate the guided flow from noise (t = 1) to a clip (t = 0)
        def on_step(k: int, n: int) -> None:
            if callback:
                callback(k, n)
            if progress:
                progress("keyframes", k, n)

        velocity = guided_velocity(self.denoiser, self.flow, cond.repeat(n), uncond.repeat(n), s.guidance,
                                   s.guidance_interval)
        x0 = SAMPLERS[s.sampler](velocity, noise, time_grid(s.steps, s.shift), on_step, eta=s.eta, generator=generator)
        timings["denoise"] = time.perf_counter() - t0

        # 5. decode latents (if the model works in a latent space)
        if self.autoencoder is not None:
            t0 = time.perf_counter()
            x0 = self.autoencoder.decode(x0, chunk=4)
            timings["decode"] = time.perf_counter() - t0

        # 5b. restore what decoding loses (outlines), as the prompt says, in s.refine_passes passes
        if s.refine_passes:
            t0 = time.perf_counter()
            x0 = refine_clip(self.refiner, x0[:, :, :n_native], cond.repeat(n), passes=s.refine_passes)
            timings["refine"] = time.perf_counter() - t0
        keyframes = to_frames(x0)[:, :n_native]  # (N, T, H, W, 3) uint8

        # 6. the verifier's score of each candidate against the prompt
        scores = None
        self.timings.pop("verify", None)
        if n > 1:
            t0 = time.perf_counter()
            scores = self.score(keyframes, cond)
            timings["verify"] = time.perf_counter() - t0
        self.timings.update(timings)
        return keyframes, scores

    @torch.no_grad()
    def score(self, keyframes: np.ndarray, cond: TextEmbedding) -> np.ndarray:
        """The verifier's scores (N,) of keyframe clips (N, T, H, W, 3) uint8 at the native size against one
        encoded prompt: at the verifier's own size and frame rate (area down, every k-th frame) where the
        denoiser's are whole multiples of them, its first max_frames frames for longer clips."""
        device = next(self.verifier.parameters()).device
        fps, v_fps, size = float(self.clip["fps"]), self.verifier.clip.get("fps") or float(self.clip["fps"]), \
            self.verifier.config.size
        n = math.ceil(keyframes.shape[1] * v_fps / fps)
        clips = np.stack([resample(k, fps, v_fps, n, size) for k in keyframes])
        x = to_model_space(clips[:, :self.verifier.config.max_frames]).to(device)
        return self.verifier(x, cond.index(slice(0, 1)).repeat(len(x)).to(device)).float().cpu().numpy()


@functools.lru_cache(maxsize=2)
def load_pipeline(path: str | None = None) -> Pipeline:
    """One Pipeline per model folder per process."""
    return Pipeline.load(path)


def generate(prompt: str, *, model: str | None = None, seed: int = 0, steps: int | None = None,
             guidance: float | None = None, negative: str = "", sampler: str | None = None,
             seconds: float = 2.0, fps: float = 8.0, size: int = 64,
             guidance_interval: tuple[float, float] | None = None, shift: float | None = None,
             eta: float | None = None, candidates: int | None = None, refine_passes: int | None = None) -> Video:
    """Make a clip from a prompt: `kinema.generate("a red ball bouncing on a white background").save("a.mp4")`.

    Returns a Video whose `.frames` is uint8 (T, H, W, 3)."""
    settings = Settings(seed, steps, guidance, negative, sampler, seconds, fps, size, guidance_interval, shift, eta,
                        candidates, refine_passes)
    check_settings(prompt, settings)
    return load_pipeline(model)(prompt, settings)


def check_output(path: str | Path) -> None:
    """ValueError for an output path kinema cannot write, before any work."""
    output_kind(path)
    parent = Path(path).parent
    if not parent.exists():
        raise ValueError(f"output folder {parent} does not exist")
