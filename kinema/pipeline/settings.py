"""How a clip is made: the one definition of a clip's settings, their bounds and their check.

`ClipSettings` is the only place a clip's settings are declared. The command line's options
(`add_clip_options`) and the HTTP API's request schema (`kinema.server.app.JobRequest`) are both
derived from its fields, so the three cannot drift apart. Sampling settings left at None take the
model's own defaults, which live in one place only: the `sampling` section of the model card
(`denoiser.json`); `Pipeline.resolve` fills them in, once per clip, and `check_clip` checks a request,
once, before any model is loaded.
"""
from __future__ import annotations

import argparse
import math
import os
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from kinema.diffusion.samplers import SAMPLERS
from kinema.world.shapes import CAMERAS


@dataclass(frozen=True)
class Bound:
    """What one setting may be: [lo, hi] (lo excluded where lo_open), one of `choices`, or text of at most
    `max_len` characters; `help` for people (the CLI's --help and the HTTP schema's description)."""
    help: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    choices: tuple[str, ...] | None = None
    max_len: int | None = None

    def describe(self) -> str:
        return f"{'(' if self.lo_open else '['}{number_text(self.lo)}, {number_text(self.hi)}]"


def number_text(v: float) -> str:
    """A bound or a value as people write it: integers in full, other numbers in %g."""
    return str(v) if isinstance(v, int) else f"{v:g}"


def setting(default: Any, bound: Bound) -> Any:
    return field(default=default, metadata={"bound": bound})


MAX_SEED = 2**63 - 1
DENOISERS = ("student", "teacher")  # a model folder's few-step student, or the denoiser it was distilled from


@dataclass(frozen=True)
class ClipSettings:
    """How one clip is made. None for steps, guidance, sampler, guidance_interval, shift, eta, regions, steer, candidates
    and refine_passes means the model's default (its card's `sampling`). guidance_interval (lo, hi): guidance at
    flow times t in (lo, hi], t = 1 being noise. shift: the time grid's shift (kinema.diffusion.samplers.time_grid).
    eta: DDIM's eta for the Euler sampler, 0 (the ODE) to 1 (ancestral). regions: the flow time at and below
    which a planned scene's objects are each denoised under their own words (kinema.text.encoder.Regions). steer:
    the step size of the pull of a plan's falling and bouncing objects onto their paths in windows that go on from
    given frames (kinema.pipeline.keyframes).
    candidates: keyframe clips made, of which the model's verifier keeps the best. refine_passes: runs of the
    model's refiner over the decoded keyframes. denoiser: the model's few-step student or its teacher (None:
    `Pipeline.resolve` picks). (The field order is the order of the settings in a clip's metadata.)"""
    seed: int = setting(0, Bound("random seed: the same seed and settings give the same video", 0, MAX_SEED))
    steps: int | None = setting(None, Bound("sampling steps (default: the model's)", 1, 1000))
    guidance: float | None = setting(None, Bound("classifier-free guidance scale (default: the model's)", 0, 50))
    negative: str = setting("", Bound("negative prompt: what to steer away from", max_len=2000))
    sampler: str | None = setting(None, Bound("the sampler (default: the model's)", choices=tuple(SAMPLERS)))
    seconds: float = setting(2.0, Bound("length of the clip in seconds (past the model's own length: made window by "
                                        "window, each going on from the last)", 0, 60, lo_open=True))
    fps: float = setting(8.0, Bound("frames per second", 1, 60))
    size: int = setting(64, Bound("width and height in pixels (even)", 16, 1024))
    guidance_interval: tuple[float, float] | None = setting(None, Bound(
        "guide only at flow times t in (LO, HI], t = 1 being noise (default: the model's)", 0, 1))
    shift: float | None = setting(None, Bound(
        "time-grid shift of the sampler: > 1 spends more steps near noise (default: the model's)", 0, 100, lo_open=True))
    eta: float | None = setting(None, Bound(
        "stochastic Euler sampling, DDIM's eta: 0 the plain ODE, 1 ancestral (default: the model's)", 0, 1))
    regions: float | None = setting(None, Bound(
        "with a plan of two objects: at flow times t at or below this, each object's part of the frame is denoised "
        "under its own words (its outline), the whole scene's words above (where things go); 0: never (default: "
        "the model's)",
        0, 1))
    steer: float | None = setting(None, Bound(
        "with objects falling or bouncing in the plan, in a long clip's windows after the first: the size of the "
        "steps that pull the last sampling step's clip onto their simulated paths (they land on the floor); 0: off "
        "(default: the model's)", 0, 1))
    candidates: int | None = setting(None, Bound(
        "make N keyframe clips and keep the one the model's verifier scores best (default: the model's)", 1, 16))
    refine_passes: int | None = setting(None, Bound(
        "times the model's refiner runs over the decoded keyframes, 0 for none (default: the model's)", 0, 4))
    denoiser: str | None = setting(None, Bound(
        "which denoiser makes the keyframes: the model's few-step student or the teacher it was distilled from "
        "(default: the model's, where no teacher setting is asked for: steps, guidance, sampler, guidance interval, "
        "shift, eta or LoRA; those ask for the teacher, and so do a plan, a camera and tracks where the student "
        "takes no layout)", choices=DENOISERS))
    camera: str | None = setting(None, Bound(
        "how the camera moves (default: as the prompt says)", choices=CAMERAS))
    plan: bool | None = setting(None, Bound(
        "plan where the prompt's objects go before rendering, and render the scene as the planner read it "
        "(kinema.pipeline.plan). Default: on where the model can, which measured better than the text alone in "
        "every split (docs/plan.md); always on with tracks or a camera. A few-step student that takes no layout "
        "reads the plan's words alone; asked for by name, the plan then asks for the teacher"))

    @property
    def frames(self) -> int:
        return round(self.seconds * self.fps)


SAMPLING = ("steps", "guidance", "sampler", "guidance_interval", "shift", "eta", "regions", "steer", "candidates",
            "refine_passes")
TEACHER_SAMPLING = SAMPLING[:6]  # asking for any of these asks for the teacher (Pipeline.resolve)


def bounds() -> dict[str, Bound]:
    return {f.name: f.metadata["bound"] for f in fields(ClipSettings)}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def available_memory() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 8 << 30


def free_memory(device: str) -> int:
    """Bytes free where a model would load: the GPU's free memory on CUDA, this machine's elsewhere."""
    import torch

    if torch.device(device).type == "cuda":
        return torch.cuda.mem_get_info(torch.device(device))[0]
    return available_memory()


def is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _check_value(name: str, value: Any, b: Bound) -> None:
    if b.lo is None and b.choices is None and b.max_len is None:  # a switch
        if not isinstance(value, bool):
            raise ValueError(f"{flag(name)} must be true or false, got {value!r}")
        return
    if b.choices is not None:
        if value not in b.choices:
            raise ValueError(f"unknown {name} {value!r}; choose from {', '.join(b.choices)}")
        return
    if b.max_len is not None:
        if not isinstance(value, str) or len(value) > b.max_len:
            raise ValueError(f"{flag(name)} must be text of at most {b.max_len} characters")
        return
    values = value if isinstance(value, (tuple, list)) else (value,)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{flag(name)} must be a finite number, got {v!r}")
        if v > b.hi or v < b.lo or (b.lo_open and v == b.lo):
            raise ValueError(f"{flag(name)} must be in {b.describe()}, got {number_text(v)}")


def check_clip(prompt: str, s: ClipSettings) -> None:
    """ValueError, naming the option, for a request that cannot work: before any model is loaded."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("the prompt is empty: say what the video should show")
    for name, text in (("prompt", prompt), ("negative prompt", s.negative)):
        if isinstance(text, str) and not is_unicode(text):
            raise ValueError(f"the {name} is not valid Unicode text (it holds an unpaired surrogate)")
    for name, b in bounds().items():
        value = getattr(s, name)
        if value is not None:
            _check_value(name, value, b)
    if s.size % 2:
        raise ValueError(f"--size must be an even number of pixels, got {s.size}")
    if s.frames < 1:
        raise ValueError(f"{s.seconds:g} s at {s.fps:g} fps is less than one frame")
    if s.guidance_interval is not None:
        lo, hi = s.guidance_interval
        if not lo < hi:
            raise ValueError(f"--guidance-interval must be LO HI with 0 <= LO < HI <= 1, got {lo:g} {hi:g}")
    if s.eta and s.sampler == "heun":
        raise ValueError("--eta > 0 (stochastic sampling) needs the euler sampler")
    need = s.frames * s.size * s.size * 3 * 6  # uint8 frames + float32 working copies
    if need > available_memory():
        raise ValueError(f"{s.seconds:g} s at {s.size}x{s.size}, {s.fps:g} fps needs about {need / 2**30:.1f} GiB, "
                         f"more than this machine has free ({available_memory() / 2**30:.1f} GiB)")


def add_clip_options(parser: argparse.ArgumentParser, names: tuple[str, ...] | None = None) -> None:
    """One command-line option per ClipSettings field (--seed, --steps, ..., --refine-passes), or per field in
    `names` (recipes/ship.py: the sampling settings)."""
    for f in fields(ClipSettings):
        if names is not None and f.name not in names:
            continue
        b: Bound = f.metadata["bound"]
        kind = f.type if isinstance(f.type, str) else str(f.type)
        kw: dict[str, Any] = {"default": f.default if f.default is not MISSING else None, "help": b.help}
        if b.choices is not None:
            kw["choices"] = b.choices
        elif kind.startswith("bool"):
            kw["action"] = argparse.BooleanOptionalAction
        elif kind.startswith("tuple"):
            kw.update(type=float, nargs=2, metavar=("LO", "HI"))
        elif kind.startswith("int"):
            kw["type"] = int
        elif kind.startswith("float"):
            kw["type"] = float
        parser.add_argument(flag(f.name), **kw)


def settings_from(args: argparse.Namespace, seed: int | None = None) -> ClipSettings:
    """The ClipSettings of parsed command-line options (another seed for batch items)."""
    values = {f.name: getattr(args, f.name) for f in fields(ClipSettings)}
    if values["guidance_interval"] is not None:
        values["guidance_interval"] = tuple(values["guidance_interval"])
    if seed is not None:
        values["seed"] = seed
    return ClipSettings(**values)
