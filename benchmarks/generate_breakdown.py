"""How long `kinema generate` takes at the defaults, end to end and by stage.

    python benchmarks/generate_breakdown.py [--model DIR ...] [--size N] [--fps F] [--seconds S] [--runs 3]

With several --model folders (say a pixel-space and a latent-space model) each is measured in turn,
in the same run, at the same settings.

1. wall time of the real command (`kinema generate PROMPT -o out.mp4`, a fresh process each run);
2. in one process: imports, model load (denoiser + text encoder + the cascade's stages), text encoding,
   denoising the keyframes, decoding (latent models), interpolation, upscaling, writing the mp4; and the
   peak resident memory of the process. Prints a table; figures are medians over --runs.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPT = "a red circle bouncing on a white background"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", action="append", default=None, help="model folder (repeatable; default: the shipped one)")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--fps", type=float, default=8.0)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    for model in a.model or [None]:
        measure(model, a.size, a.fps, a.seconds, a.runs)


def measure(model: str | None, size: int, fps: float, seconds: float, runs: int) -> None:
    import resource

    tmp = Path(tempfile.mkdtemp())
    extra = (["--model", model] if model else []) + ["--size", str(size), "--fps", f"{fps:g}", "--seconds", f"{seconds:g}"]
    settings = dict(size=size, fps=fps, seconds=seconds)

    walls = []
    for i in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "kinema", "generate", PROMPT, "-o", str(tmp / f"w{i}.mp4"), *extra],
                       check=True, capture_output=True)
        walls.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    import torch  # noqa: F401

    from kinema.pipeline import ClipSettings, Pipeline
    t_import = time.perf_counter() - t0
    steps = ("text", "denoise", "decode", "refine", "verify", "interpolate", "upscale")
    stages = {"import": [t_import], "load": [], **{k: [] for k in steps}, "write": []}
    for i in range(runs):
        t0 = time.perf_counter()
        pipe = Pipeline.load(model)
        stages["load"].append(time.perf_counter() - t0)
        video = pipe(PROMPT, ClipSettings(**settings))
        for k in steps:
            stages[k].append(pipe.timings.get(k, 0.0))
        t0 = time.perf_counter()
        video.save(tmp / f"s{i}.mp4")
        stages["write"].append(time.perf_counter() - t0)
        from kinema.text.encoder import load_text_encoder

        load_text_encoder.cache_clear()  # the next load pays for the text encoder again, as a new process would
    s = pipe.resolve(ClipSettings(**settings))
    print(f"\n{model or 'default model'} ({pipe.card.get('space', 'pixels')} space):")
    print(f"kinema generate: {s.seconds:g} s, {s.fps:g} fps, {s.size}x{s.size}, {s.steps} {s.sampler} "
          f"steps, guidance {s.guidance:g}, {s.candidates} candidate(s); torch threads {torch.get_num_threads()}")
    print(f"wall, whole command (median of {runs}): {statistics.median(walls):.2f} s  (runs: "
          + ", ".join(f"{w:.2f}" for w in walls) + ")")
    print("in-process breakdown (median; load split into the first in a process and later ones):")
    stages["load (first)"], stages["load"] = stages["load"][:1], stages["load"][1:] or stages["load"]
    for k in ("import", "load (first)", "load", *steps, "write"):
        print(f"  {k:<13} {statistics.median(stages[k]):7.3f} s")
    print("stages: " + ", ".join(f"{k}: {v}" for k, v in video.metadata["stages"].items()))
    print(f"peak resident memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
