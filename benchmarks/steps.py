"""Quality against sampling steps, for the few-step student and its teacher: the built-in eval set over seeds.

    python benchmarks/steps.py [--model DIR] [--runs student:4 teacher:20 teacher:4 ...] [--seeds 0 100 ...]
                               [--json docs/steps.json]

Each run is a denoiser of the model folder (the shipped default when none is given) and a number of steps, at that
denoiser's own sampling otherwise (its card's guidance, shift, eta, candidates, refiner: the student's one forward
pass a step without guidance, the teacher's guided steps); `student:4:norefine` runs it without the refiner.
Reported for each run and seed: all-correct, every attribute and the wall seconds a clip (2 s, 64x64 at 8 fps);
then the mean over the seeds, and for each run against the first teacher run at the model's own steps (the
teacher as shipped): the gap in all-correct and the largest gap of any attribute (issue 29's bar: within 3 points,
no attribute more than 5 below).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from kinema.eval.evaluate import evaluate, load_captions  # noqa: E402
from kinema.pipeline import ClipSettings, Pipeline  # noqa: E402

ATTRIBUTES = ("background", "colour", "shape", "motion", "consistency")


def quality(pipe: Pipeline, items, denoiser: str, steps: int, refine: bool, seed: int) -> dict:
    walls = []

    def make(i, item):
        s = pipe.resolve(ClipSettings(seed=seed + i, steps=steps, denoiser=denoiser,
                                      refine_passes=None if refine else 0))
        t0 = time.perf_counter()
        video = pipe.make(item.caption, s)
        walls.append(time.perf_counter() - t0)
        return video.frames, video.fps

    with tempfile.TemporaryDirectory() as out:
        result = evaluate(items, make, Path(out))
    return {"seed": seed, **result["overall"], "splits": {k: v["all"] for k, v in result["splits"].items()},
            "clip_s": sum(walls) / len(walls)}


def parse_run(text: str) -> dict:
    name, steps, *rest = text.split(":")
    if name not in ("student", "teacher") or rest not in ([], ["norefine"]):
        raise SystemExit(f"--runs: {text!r} is not DENOISER:STEPS[:norefine] (student or teacher)")
    return {"denoiser": name, "steps": int(steps), "refine": not rest}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=None)
    p.add_argument("--runs", nargs="+", default=["student:4", "teacher:20"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--json", default=None)
    a = p.parse_args()
    items = load_captions()
    pipe = Pipeline.load(a.model)
    runs = [parse_run(r) for r in a.runs]
    for run in runs:
        run["rows"] = []
        for seed in a.seeds:
            row = quality(pipe, items, run["denoiser"], run["steps"], run["refine"], seed)
            run["rows"].append(row)
            print(json.dumps({k: v for k, v in run.items() if k != "rows"} | row), flush=True)
        run["mean"] = {k: statistics.mean(r[k] for r in run["rows"]) for k in ("all", *ATTRIBUTES, "clip_s")}
    teacher = next((r for r in runs if r["denoiser"] == "teacher" and r["steps"] == pipe.sampling["steps"]
                    and r["refine"]), None)
    print(f"\nmean over seeds {a.seeds} (percent; seconds a clip)")
    print(f"{'run':<22} {'all':>6} " + " ".join(f"{k[:6]:>6}" for k in ATTRIBUTES) + f" {'s/clip':>7}  vs teacher")
    for run in runs:
        m = run["mean"]
        label = f"{run['denoiser']} {run['steps']} steps" + ("" if run["refine"] else ", no refiner")
        gap = ""
        if teacher is not None and run is not teacher:
            run["vs_teacher"] = {"all": 100 * (m["all"] - teacher["mean"]["all"]),
                                 "worst_attribute": min(100 * (m[k] - teacher["mean"][k]) for k in ATTRIBUTES)}
            gap = f"  all {run['vs_teacher']['all']:+.1f}, worst attribute {run['vs_teacher']['worst_attribute']:+.1f}"
        print(f"{label:<22} {100 * m['all']:6.1f} " + " ".join(f"{100 * m[k]:6.1f}" for k in ATTRIBUTES)
              + f" {m['clip_s']:7.3f}{gap}")
    if a.json:
        Path(a.json).write_text(json.dumps({"model": pipe.name, "seeds": a.seeds, "runs": runs}, indent=1) + "\n")


if __name__ == "__main__":
    main()
