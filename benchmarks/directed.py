"""Directed clips (the spec's v2): tracks, the camera, two objects, physics, and the plan against the text alone.

    python benchmarks/directed.py [--model DIR] [--seeds 0 1 2] [--denoiser student|teacher] [--json docs/directed.json]

In one run, for each seed:
  1. the built-in directed set (`kinema eval --captions directed`): tracks (held-out straight, bent and pausing
     paths; the caption names no motion), camera (pans and zooms), pairs (two objects), physics (falling and
     bouncing over 6 s, window by window), half of each in held-out wording; the tracked and camera clips' RMS
     distance from where they should be;
  2. the built-in set (`kinema eval`: canonical and held-out wording, a quarter two-object), with the plan
     and from the text alone (--no-plan), the same seeds;
  3. how often the planner reads each caption of both sets right (all of it; the motion).

    python benchmarks/directed.py --split physics --seeds 0 1 2 3 [--steer 0]

makes one split of the directed set alone, each attribute's share per seed and over the seeds (physics: motion is
the spec's landing and rebounding in every window).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from kinema.eval.evaluate import evaluate, load_captions  # noqa: E402
from kinema.pipeline import ClipSettings, Pipeline  # noqa: E402
from kinema.pipeline.plan import read_prompt  # noqa: E402


def run_set(pipe: Pipeline, items, seed: int, plan: bool, denoiser: str | None = None,
            steer: float | None = None, first: int = 0) -> dict:
    """The items judged, item i made with seed `seed + first + i` (`first`: where they begin in their set)."""
    def make(i, item):
        s = pipe.resolve(ClipSettings(seed=seed + first + i, plan=plan, denoiser=denoiser, steer=steer))
        if item.seconds:
            s = replace(s, seconds=item.seconds)
        video = pipe.make(item.caption, s, tracks=item.tracks)
        return video.frames, video.fps

    with tempfile.TemporaryDirectory() as out:
        result = evaluate(items, make, Path(out))
        clips = json.loads((Path(out) / "results.json").read_text())["clips"]
    off = {}
    for split in ("tracks", "camera"):
        values = [o["off_track"] for c in clips if c["split"] == split for o in c["objects"] if o.get("off_track") is not None]
        if values:
            off[split] = {"median": float(np.median(values)), "within_0.05": float(np.mean(np.array(values) <= 0.05))}
    one = {split: float(np.mean([c["all"] for c in clips if c["split"] == split and len(c["objects"]) == 1]))
           for split in sorted({c["split"] for c in clips if len(c["objects"]) == 1})}
    return {"overall": result["overall"]["all"], "two_objects": result["two_objects"].get("all"), "one_object": one,
            "splits": {k: v for k, v in result["splits"].items()}, "off_track": off,
            **({"windows": result["windows"]} if "windows" in result else {})}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=None)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--denoiser", choices=("student", "teacher"), default=None,
                   help="the model's few-step student or its teacher (default: the model's)")
    p.add_argument("--split", choices=("tracks", "camera", "pairs", "physics"), default=None,
                   help="one split of the directed set alone (no built-in set, no planner reads)")
    p.add_argument("--steer", type=float, default=None, help="the pull onto the plan (default: the model's)")
    p.add_argument("--json", default=None)
    a = p.parse_args()
    pipe = Pipeline.load(a.model)
    if not pipe.directs:
        sys.exit(f"{pipe.name} cannot be directed (no planner, or a denoiser that takes no layout)")
    directed, builtin = load_captions("directed"), load_captions()
    if a.split:  # the split's items (a run of lines) made with the seeds the whole set gives them
        at = [i for i, it in enumerate(directed) if it.split == a.split]
        items = directed[at[0]:at[-1] + 1]
        runs = [run_set(pipe, items, seed, True, a.denoiser, a.steer, at[0])["splits"][a.split] for seed in a.seeds]
        for seed, run in zip(a.seeds, runs):
            print(json.dumps({"seed": seed, a.split: run}), flush=True)
        report = {"model": pipe.name, "version": pipe.version, "split": a.split, "seeds": a.seeds, "steer": a.steer,
                  "runs": runs, "mean": {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}}
        print(json.dumps({"mean": report["mean"]}))
        if a.json:
            Path(a.json).write_text(json.dumps(report, indent=1) + "\n")
        return
    report: dict = {"model": pipe.name, "version": pipe.version, "seeds": a.seeds, "runs": [],
                    "denoiser": pipe.resolve(ClipSettings(denoiser=a.denoiser)).denoiser}
    for seed in a.seeds:
        row = {"seed": seed, "directed": run_set(pipe, directed, seed, True, a.denoiser, a.steer),
               "builtin_plan": run_set(pipe, builtin, seed, True, a.denoiser, a.steer),
               "builtin_text": run_set(pipe, builtin, seed, False, a.denoiser, a.steer)}
        report["runs"].append(row)
        print(json.dumps({"seed": seed, **{k: {"overall": v["overall"], **{s: x["all"] for s, x in v["splits"].items()}}
                                            for k, v in row.items() if k != "seed"}}), flush=True)
    reads = {}
    for name, items in (("directed", directed), ("builtin", builtin)):
        got = [read_prompt(pipe.planner, pipe.text_encoder, it.caption) for it in items]
        per_split = {}
        for split in sorted({it.split for it in items}):
            pairs = [(g, it.description) for g, it in zip(got, items) if it.split == split]
            per_split[split] = {"all": float(np.mean([g == d for g, d in pairs])),
                                "motion": float(np.mean([[o.motion for o in g.objects] == [o.motion for o in d.objects]
                                                         for g, d in pairs]))}
        reads[name] = per_split
    report["planner_reads"] = reads

    def mean(path):
        vals = [r for r in (path(run) for run in report["runs"]) if r is not None]
        return float(np.mean(vals)) if vals else None

    report["mean"] = {
        **{f"directed_{s}": mean(lambda r, s=s: r["directed"]["splits"].get(s, {}).get("all"))
           for s in ("tracks", "camera", "pairs", "physics")},
        **{f"{k}_{s}": mean(lambda r, k=k, s=s: r[k]["splits"].get(s, {}).get("all"))
           for k in ("builtin_plan", "builtin_text") for s in ("canonical", "paraphrase")},
        **{f"{k}_two_objects": mean(lambda r, k=k: r[k]["two_objects"]) for k in ("builtin_plan", "builtin_text")},
        **{f"{k}_one_object_{s}": mean(lambda r, k=k, s=s: r[k]["one_object"].get(s))
           for k in ("builtin_plan", "builtin_text") for s in ("canonical", "paraphrase")},
        "tracks_within_0.05": mean(lambda r: r["directed"]["off_track"].get("tracks", {}).get("within_0.05")),
    }
    print(json.dumps({"mean": report["mean"], "planner_reads": reads}, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
