"""Quality against sampling steps: the built-in eval set at 1, 2, 4, 8 and 20 steps, for each model given.

    python benchmarks/steps.py [--model DIR ...] [--steps 1 2 4 8 20] [--seeds 0] [--json docs/steps.json]

Each model (a folder; the shipped default when none is given) is run at its own sampling settings (its card's
guidance, shift, eta, candidates, refiner) with only the number of steps changed; a model whose card samples
without guidance (a distilled student, one forward pass a step) is run that way. Reported for each: all-correct,
every attribute, and the wall seconds a clip (2 s, 64x64 at 8 fps: the cascade is small beside the denoiser).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from kinema.eval.evaluate import evaluate, load_captions  # noqa: E402
from kinema.pipeline import ClipSettings, Pipeline  # noqa: E402


def quality(pipe: Pipeline, items, steps: int, seed: int) -> dict:
    walls = []

    def make(i, item):
        s = pipe.resolve(ClipSettings(seed=seed + i, steps=steps))
        t0 = time.perf_counter()
        video = pipe.make(item.caption, s)
        walls.append(time.perf_counter() - t0)
        return video.frames, video.fps

    with tempfile.TemporaryDirectory() as out:
        result = evaluate(items, make, Path(out))
    return {"steps": steps, "seed": seed, **result["overall"],
            "splits": {k: v["all"] for k, v in result["splits"].items()},
            "clip_s": sum(walls) / len(walls)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", action="append", default=None)
    p.add_argument("--steps", type=int, nargs="+", default=[1, 2, 4, 8, 20])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--json", default=None)
    a = p.parse_args()
    items = load_captions()
    report = []
    for folder in a.model or [None]:
        pipe = Pipeline.load(folder)
        rows = []
        for steps in a.steps:
            for seed in a.seeds:
                row = quality(pipe, items, steps, seed)
                rows.append(row)
                print(json.dumps({"model": pipe.name, **row}), flush=True)
        report.append({"model": pipe.name, "folder": str(folder or "default"), "sampling": pipe.sampling, "rows": rows})
    print(f"\n{'model':<24} {'steps':>5} {'all':>6} {'bg':>6} {'colour':>6} {'shape':>6} {'motion':>6} {'s a clip':>9}")
    for r in report:
        for row in r["rows"]:
            print(f"{r['model'][:24]:<24} {row['steps']:>5} {100 * row['all']:6.1f} {100 * row['background']:6.1f} "
                  f"{100 * row['colour']:6.1f} {100 * row['shape']:6.1f} {100 * row['motion']:6.1f} "
                  f"{row['clip_s']:9.3f}")
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
