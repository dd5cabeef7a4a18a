"""What the commands share: the one-line error, option types and the checks made before heavy work."""
from __future__ import annotations

import argparse
from pathlib import Path

PRECISIONS = ("auto", "fp32", "bf16")  # kinema.models.denoiser.compute_dtype reads them


class UsageError(Exception):
    """Bad input found before any heavy work: printed as one line, exit status 2."""


def positive_int(s: str) -> int:
    v = int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {s}")
    return v


def positive_float(s: str) -> float:
    v = float(s)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {s}")
    return v


def add_model_options(p: argparse.ArgumentParser) -> None:
    """--model and --precision: the model folder a command generates with."""
    p.add_argument("--model", default=None, help="model folder (default: the shipped default model)")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="denoiser weights: auto = bf16 on CUDA, fp32 on CPU (bf16 is far slower on CPUs without bf16 units)")


def add_run_options(p: argparse.ArgumentParser, steps: int, batch: int, lr: float, checkpoint_every: int) -> None:
    """The options every training command has: its run folder, length, batch, learning rate and schedule end,
    seed, checkpoints, resuming and the progress bar."""
    p.add_argument("--out", required=True, help="run folder (checkpoints, log, loss plot)")
    p.add_argument("--steps", type=positive_int, default=steps)
    p.add_argument("--batch", type=positive_int, default=batch)
    p.add_argument("--lr", type=positive_float, default=lr)
    p.add_argument("--cooldown", type=int, default=0, metavar="N",
                   help="decay lr linearly to 0 over the last N steps (resume a constant-lr run with --steps and "
                   "--cooldown raised to add one)")
    p.add_argument("--seed", type=int, default=0)
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
    overwrite the input, or an output folder that does not exist."""
    if Path(output).suffix.lower() != ".mp4":
        raise UsageError(f"{command} writes .mp4, got {output}")
    if not Path(source).is_file():
        raise UsageError(f"no video at {source}")
    if Path(source).resolve() == Path(output).resolve():
        raise UsageError("the output would overwrite the input")
    if not Path(output).resolve().parent.is_dir():
        raise UsageError(f"output folder {Path(output).parent} does not exist")


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
