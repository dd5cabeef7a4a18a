"""`kinema generate`: one prompt to one file, or a file of prompts to a folder of clips."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from kinema.cli.errors import UsageError


def settings_from(args: argparse.Namespace, seed: int | None = None):
    from kinema.pipeline.generate import Settings

    return Settings(seed=args.seed if seed is None else seed, steps=args.steps, guidance=args.guidance,
                    negative=args.negative, sampler=args.sampler, seconds=args.seconds, fps=args.fps,
                    size=args.size, guidance_interval=args.guidance_interval, shift=args.shift, eta=args.eta,
                    candidates=args.candidates, refine_passes=args.refine_passes)


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


def _progress(desc: str):
    """progress(stage, k, n): one bar per stage of the cascade, "clip 1/3 keyframes", "... upscale"."""
    from tqdm import tqdm

    bars = {}

    def progress(stage: str, k: int, n: int) -> None:
        if stage not in bars:
            bars[stage] = tqdm(total=n, desc=f"{desc} {stage}", unit="step" if stage == "keyframes" else "chunk",
                               file=sys.stderr, leave=False, dynamic_ncols=True)
        bars[stage].update(k - bars[stage].n)
        if k == n:
            bars[stage].close()

    return progress


def cmd_generate(args: argparse.Namespace) -> int:
    from kinema.pipeline.generate import Pipeline, check_output, check_settings

    # 1. check everything the user gave before loading anything
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
        if args.prompt is None:
            raise UsageError('give a prompt: kinema generate "a red ball bouncing on a white background" -o out.mp4')
        jobs = [(0, args.prompt)]
        outputs = [Path(args.output or "kinema.mp4")]
    try:
        for k, (_, prompt) in enumerate(jobs):
            check_settings(prompt, settings_from(args, args.seed + k))
        for out in ([] if batch else outputs):
            check_output(out)
    except ValueError as e:
        raise UsageError(str(e)) from None

    # 2. load the model once, 3. make each clip, 4. write it (atomically) and its record
    t0 = time.perf_counter()
    pipe = Pipeline.load(args.model, precision=args.precision)
    print(f"model: {pipe.name} (step {pipe.card.get('step')}), loaded in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)
    try:
        pipe.resolve(settings_from(args))  # what only the model can refuse: --candidates without a verifier
    except ValueError as e:
        raise UsageError(str(e)) from None
    if batch:
        out_dir.mkdir(parents=True, exist_ok=True)
    records = []
    for k, ((line, prompt), out) in enumerate(zip(jobs, outputs)):
        video = pipe(prompt, settings_from(args, args.seed + k), progress=_progress(f"clip {k + 1}/{len(jobs)}"))
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
