"""Errors the command line reports as one line with exit status 2."""


class UsageError(Exception):
    """Bad input found before any heavy work: printed as one line, exit status 2."""


def check_video_to_mp4(command: str, source: str, output: str) -> None:
    """The checks every video-file-in, mp4-out command makes before any work (reconstruct,
    interpolate, upscale): UsageError for a non-mp4 output, a missing input, an output that would
    overwrite the input, or an output folder that does not exist."""
    from pathlib import Path

    if Path(output).suffix.lower() != ".mp4":
        raise UsageError(f"{command} writes .mp4, got {output}")
    if not Path(source).is_file():
        raise UsageError(f"no video at {source}")
    if Path(source).resolve() == Path(output).resolve():
        raise UsageError("the output would overwrite the input")
    if not Path(output).resolve().parent.is_dir():
        raise UsageError(f"output folder {Path(output).parent} does not exist")


def check_cooldown(args) -> None:
    """A training command's --cooldown must fit within its --steps."""
    if not 0 <= args.cooldown <= args.steps:
        raise UsageError(f"--cooldown must be in [0, --steps = {args.steps}], got {args.cooldown}")
