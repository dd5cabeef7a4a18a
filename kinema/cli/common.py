"""What the commands share: the one-line error, option types and the checks made before heavy work."""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from kinema.models.precision import PRECISIONS


class UsageError(Exception):
    """Bad input found before any heavy work: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse, with a bad option reported in one line (exit status 2) rather than the usage and the error."""

    def error(self, message: str):
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def number(kind: type, lo: float, hi: float, lo_open: bool = False):
    """An option's type: an int or float in [lo, hi] ((lo, hi] with lo_open), finite."""
    def parse(text: str):
        try:
            v = kind(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"not {'an integer' if kind is int else 'a number'}: {text!r}") from None
        if not math.isfinite(v) or v > hi or v < lo or (lo_open and v == lo):
            from kinema.pipeline.settings import number_text

            raise argparse.ArgumentTypeError(f"must be in {'(' if lo_open else '['}{number_text(lo)}, {number_text(hi)}], "
                                             f"got {text}")
        return v

    return parse


def clip_bound(name: str):
    """The option type of a clip setting (size, fps, seconds, seed): the bounds kinema.pipeline.settings states."""
    from kinema.pipeline.settings import bounds

    b = bounds()[name]
    return number(int if name in ("size", "seed") else float, b.lo, b.hi, b.lo_open)


MAX_COUNT = 10**9  # steps, batches, counts: far beyond any run, short of an overflow
positive_int = number(int, 1, MAX_COUNT)
non_negative_int = number(int, 0, MAX_COUNT)
positive_float = number(float, 0, 1e6, lo_open=True)
fraction = number(float, 0, 1)
weight = number(float, 0, 1e6)


def check_memory(need: int, what: str) -> None:
    """UsageError when `need` bytes are more than this machine has free."""
    from kinema.pipeline.settings import available_memory

    if need > available_memory():
        raise UsageError(f"{what} needs about {need / 2**30:.1f} GiB, more than this machine has free "
                         f"({available_memory() / 2**30:.1f} GiB)")


def add_model_options(p: argparse.ArgumentParser) -> None:
    """--model, --device and --precision: the model folder a command generates with, and where."""
    p.add_argument("--model", default=None, help="model folder (default: the shipped default model)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where the model runs: auto = a CUDA GPU if there is one, else the CPU")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="denoiser weights: auto = bf16 on CUDA, and on CPUs with bf16 units for wide models (where it is faster); "
                        "else fp32")
    p.add_argument("--lora", action="append", type=adapter, default=[], metavar="DIR[:SCALE]",
                   help="a LoRA adapter (kinema finetune) on the denoiser, at SCALE (default 1); repeatable")


def adapter(text: str):
    """--lora's type: DIR or DIR:SCALE, an adapter folder that exists."""
    from kinema.models.lora import parse_adapter

    a = parse_adapter(text)
    if not (a.folder / "lora.json").is_file():
        raise argparse.ArgumentTypeError(f"no LoRA adapter at {a.folder} (no lora.json)")
    return a


def load_pipeline(args: argparse.Namespace):
    """The Pipeline of a command's --model, --device, --precision and --lora."""
    from kinema.pipeline.pipeline import Pipeline

    return Pipeline.load(args.model, model_device(args.device), args.precision, args.lora)


def model_device(name: str) -> str:
    """--device's choice as a torch device name; UsageError for cuda on a machine without a CUDA GPU."""
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: this machine has no CUDA GPU that torch can use")
    return ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name


def add_run_options(p: argparse.ArgumentParser, steps: int, batch: int, lr: float, checkpoint_every: int) -> None:
    """The options every training command has: its run folder, length, batch, learning rate and schedule end,
    seed, checkpoints, resuming and the progress bar."""
    p.add_argument("--out", required=True, help="run folder (checkpoints, log, loss plot)")
    p.add_argument("--steps", type=positive_int, default=steps)
    p.add_argument("--batch", type=number(int, 1, 65536), default=batch)
    p.add_argument("--lr", type=number(float, 0, 10, lo_open=True), default=lr)
    p.add_argument("--cooldown", type=non_negative_int, default=0, metavar="N",
                   help="decay lr linearly to 0 over the last N steps (resume a constant-lr run with --steps and "
                   "--cooldown raised to add one)")
    p.add_argument("--seed", type=clip_bound("seed"), default=0)
    p.add_argument("--checkpoint-every", type=positive_int, default=checkpoint_every)
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly where it stopped")
    p.add_argument("--no-progress", action="store_true")


def check_cooldown(args: argparse.Namespace) -> None:
    """A training command's --cooldown must fit within its --steps."""
    if not 0 <= args.cooldown <= args.steps:
        raise UsageError(f"--cooldown must be in [0, --steps = {args.steps}], got {args.cooldown}")


def check_video_to_mp4(command: str, source: str, output: str) -> None:
    """The checks every video-file-in, mp4-out command makes before any work (reconstruct,
    interpolate, upscale): UsageError for a non-mp4 output, a missing input, an output that would
    overwrite the input, or one kinema.io.video.check_output refuses (a folder, a missing folder...)."""
    from kinema.io.video import check_output

    if Path(output).suffix.lower() != ".mp4":
        raise UsageError(f"{command} writes .mp4, got {output}")
    if not Path(source).is_file():
        raise UsageError(f"no video at {source}")
    if Path(source).resolve() == Path(output).resolve():
        raise UsageError("the output would overwrite the input")
    try:
        check_output(output)
    except ValueError as e:
        raise UsageError(str(e)) from None


def add_video_options(p: argparse.ArgumentParser, kind: str) -> None:
    """A video-file-in, mp4-out command's input, output and the folder of its `kind` component."""
    p.add_argument("input", help="a video file")
    p.add_argument("-o", "--output", required=True, help="output .mp4")
    p.add_argument("--model", default=None, help=f"folder with {kind}.{{safetensors,json}} (default: the shipped one)")


def video_stage(args: argparse.Namespace, kind: str):
    """A video-file-in, mp4-out command's checks (check_video_to_mp4), then its `kind` component loaded."""
    from kinema.models.components import load_component

    check_video_to_mp4(args.command, args.input, args.output)
    return load_component(model_folder(args.model), kind)


def model_folder(path: str | None) -> Path:
    """A command's --model folder, or the shipped one."""
    from kinema.models.components import DEFAULT_MODEL

    return Path(path) if path else DEFAULT_MODEL
