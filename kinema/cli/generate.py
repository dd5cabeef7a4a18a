"""`kinema generate`: one prompt to one file, or a file of prompts to a folder of clips."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from kinema.cli.common import UsageError, add_model_options, load_pipeline

NAME, HELP = "generate", "make a video from a prompt (or a file of prompts)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from kinema.pipeline.settings import add_clip_options

    p.add_argument("prompt", nargs="?", help="what the video shows")
    p.add_argument("-o", "--output", help="output path: .mp4, .gif, a folder/ for PNG frames, or - for YUV4MPEG2 on "
                   "standard output, each window as it is made (kinema generate ... -o - | ffplay -)")
    p.add_argument("--prompts", help="batch mode: a text file with one prompt per line")
    p.add_argument("--out-dir", help="batch mode: folder for 0000.mp4, 0001.mp4, ... and index.jsonl")
    p.add_argument("--image", metavar="IMG", help="a picture the clip starts from: its frame 0 (image to video)")
    p.add_argument("--last-image", metavar="IMG", help="a picture the clip ends on (alone, or with --image: first and "
                   "last frame; within the model's own length)")
    p.add_argument("--extend", metavar="CLIP", help="a video the clip goes on from: the output is CLIP's frames, then "
                   "--seconds more")
    p.add_argument("--storyboard", metavar="FILE", help='a JSON list of {"prompt": ..., "seconds": ...}: one clip '
                   "telling each part in turn, the world carried across the joins (instead of a prompt)")
    p.add_argument("--tracks", metavar="FILE", help='where objects go: {"tracks": [{"object": 0, "points": [[t, x, y], '
                   '...]}]} (the shapes world\'s track format; object k is the prompt\'s k-th), over the plan')
    add_model_options(p)
    add_clip_options(p)


def read_prompts(path: str) -> list[tuple[int, str]]:
    """(line number, prompt) for each non-blank line of a prompts file."""
    p = Path(path)
    try:
        text = p.read_text()  # also a pipe, e.g. --prompts <(...)
    except (FileNotFoundError, IsADirectoryError):
        raise UsageError(f"prompts file {p} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read prompts file {p}: {e}") from None
    prompts = [(i + 1, line.strip()) for i, line in enumerate(text.splitlines()) if line.strip()]
    if not prompts:
        raise UsageError(f"prompts file {p} has no prompts")
    return prompts


def progress_bars(desc: str):
    """progress(stage, k, n): one bar per stage of the cascade, "clip 1/3 keyframes", "... upscale"."""
    from tqdm import tqdm

    bars = {}

    def progress(stage: str, k: int, n: int) -> None:
        if stage not in bars:
            bars[stage] = tqdm(total=n, desc=f"{desc} {stage}", unit="step" if stage.startswith(("keyframes", "window")) else "chunk",
                               file=sys.stderr, leave=False, dynamic_ncols=True)
        bars[stage].update(k - bars[stage].n)
        if k == n:
            bars[stage].close()

    return progress


def run(args: argparse.Namespace) -> int:
    from kinema.io.video import check_folder, check_output
    from kinema.pipeline import check_clip
    from kinema.pipeline.inputs import check_combination, read_given, storyboard_prompt
    from kinema.pipeline.settings import settings_from
    from kinema.world.tracks import load_tracks

    # 1. check everything the user gave, once, before loading anything
    batch = args.prompts is not None
    if batch:
        if args.prompt or args.output:
            raise UsageError("batch mode takes --prompts FILE --out-dir DIR, not a prompt or -o")
        if not args.out_dir:
            raise UsageError("--prompts needs --out-dir DIR")
        jobs = read_prompts(args.prompts)
        out_dir = Path(args.out_dir)
        outputs = [out_dir / f"{k:04d}.mp4" for k in range(len(jobs))]
    else:
        if args.out_dir:
            raise UsageError("--out-dir is for batch mode (--prompts FILE)")
        if (args.prompt is None) == (args.storyboard is None):
            raise UsageError('give a prompt: kinema generate "a red ball bouncing on a white background" -o out.mp4 '
                             "(or a --storyboard FILE instead)")
        jobs = [(0, args.prompt)]
        outputs = [Path(args.output or "kinema.mp4")]
    if batch and (args.image or args.extend or args.storyboard or args.last_image or args.tracks):
        raise UsageError("--image, --last-image, --extend, --storyboard and --tracks make one clip: not with --prompts")
    try:
        settings = [settings_from(args, args.seed + k) for k in range(len(jobs))]
        given = read_given(settings[0], args.image, args.last_image, args.extend, args.storyboard)
        tracks = load_tracks(args.tracks) if args.tracks else None
        check_combination(bool(args.image), bool(args.last_image), bool(args.extend), bool(args.storyboard),
                          tracks is not None or args.camera is not None)
        if given.parts:
            jobs = [(0, storyboard_prompt(p for p, _ in given.parts))]
        for (_, prompt), s in zip(jobs, settings):
            check_clip(prompt, s)
        if batch:
            check_folder(out_dir)
        for out in outputs:
            if str(out) != "-" and (not batch or out_dir.is_dir()):  # (a batch's new folder: nothing to collide with)
                check_output(out)
    except ValueError as e:
        raise UsageError(str(e)) from None

    # 2. load the model once and resolve each clip's settings against it (what only the model can refuse:
    #    --candidates without a verifier), 3. make each clip, 4. write it (atomically) and its record
    t0 = time.perf_counter()
    pipe = load_pipeline(args)
    print(f"model: {pipe.name} ({pipe.version}), loaded in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)
    try:
        settings = [pipe.resolve(s, tracks is not None) for s in settings]
        pipe.check_given(settings[0], *given, tracks)
        if tracks is not None or settings[0].camera is not None:  # the prompt's objects take these tracks
            pipe.plan(jobs[0][1], settings[0], tracks)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if batch:
        out_dir.mkdir(parents=True, exist_ok=True)
    if str(outputs[0]) == "-":
        return stream(pipe, jobs[0][1], settings[0], given, tracks)
    records = []
    for k, ((line, prompt), s, out) in enumerate(zip(jobs, settings, outputs)):
        video = pipe.make(prompt, s, progress=progress_bars(f"clip {k + 1}/{len(jobs)}"), **given._asdict(),
                          tracks=tracks)
        video.save(out)
        records.append({"index": k, "line": line, "file": out.name, **video.metadata})
        print(f"wrote {out} ({len(video.frames)} frames, {video.frames.shape[2]}x{video.frames.shape[1]}, "
              f"{video.fps:g} fps, seed {video.metadata['seed']}); "
              + ", ".join(f"{k}: {v}" for k, v in video.metadata["stages"].items()), file=sys.stderr)
    if batch:
        from kinema.io.checkpoint import atomic_write

        text = "".join(json.dumps(r) + "\n" for r in records)
        atomic_write(out_dir / "index.jsonl", lambda p: p.write_text(text))
    return 0


def stream(pipe, prompt: str, s, given, tracks: dict | None = None) -> int:
    """The clip as YUV4MPEG2 on standard output, each piece as soon as it is final; a reader that goes away (the
    player closed) stops generating, with one line on standard error and status 0."""
    import os

    from kinema.io.video import Y4MWriter

    out, writer = sys.stdout.buffer, None
    try:
        for frames in pipe.frames(prompt, s, progress=progress_bars("clip"), **given._asdict(), tracks=tracks):
            writer = writer or Y4MWriter(out, s.fps, frames.shape[2], frames.shape[1])
            writer.write(frames)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())  # (so that exiting does not flush to it again)
        print(f"kinema: the reader went away after {writer.frames if writer else 0} frames; stopped", file=sys.stderr)
        return 0
    print(f"streamed {writer.frames} frames ({s.fps:g} fps, seed {s.seed})", file=sys.stderr)
    return 0
