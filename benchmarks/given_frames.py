"""Clips that start from given frames, and long clips, judged as the shapes world's v2 says.

    python benchmarks/given_frames.py [--model DIR] [--captions 8] [--seconds 30 60] [--json OUT]

In one run, on held-out one-object scenes of the built-in eval set (canonical captions):
  1. image to video: frame 0 rendered by the shapes world as the picture; the 2-second clip judged (v1), its
     frame 0 against the picture (PSNR), beside the same captions from text alone (same seeds);
  2. continuation: a rendered 2-second clip extended by 2 seconds; the new part judged as the second window of
     a long clip, the given frames' PSNR, the centroid's jump at the join against its speed;
  3. long clips: window-level and clip-level rates at each length, and each object's colour match and area
     over the windows of the first clips (drift);
  4. cost: wall time and peak memory of a 2-second and of each long clip, each in a fresh process;
  5. first and last frame: rendered scenes' frames 0 and 15 given (--last-image), the clip judged;
  6. storyboards: two-part boards, each part judged on its own 2 seconds.
`--sections` runs some of them (e.g. `--sections first-last storyboards`).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from kinema.eval.evaluate import load_captions  # noqa: E402
from kinema.pipeline import ClipSettings, Pipeline  # noqa: E402
from kinema.pipeline.inputs import Start  # noqa: E402
from kinema.pipeline.reconstruct import psnr  # noqa: E402
from kinema.world.captions import parse_canonical, scene_for  # noqa: E402
from kinema.world.judge import ATTRIBUTES, judge, judge_long  # noqa: E402
from kinema.world.shapes import render  # noqa: E402

COST_SCRIPT = """
import resource, sys, time
t0 = time.perf_counter()
from kinema.pipeline import ClipSettings, Pipeline
pipe = Pipeline.load(sys.argv[1] or None)
video = pipe("a red circle moving right on a black background", ClipSettings(seed=1, seconds=float(sys.argv[2])))
print(time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, len(video.frames))
"""


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=None)
    p.add_argument("--captions", type=int, default=8)
    p.add_argument("--seconds", type=float, nargs="+", default=[30.0])
    p.add_argument("--json", default=None)
    p.add_argument("--sections", nargs="+", default=["starts", "long", "cost", "first-last", "storyboards"])
    a = p.parse_args()
    pipe = Pipeline.load(a.model)
    items = [it for it in load_captions() if it.split == "canonical" and " and " not in it.caption][:a.captions]
    report: dict = {"model": pipe.name, "captions": [it.caption for it in items]}
    rng = np.random.default_rng(2026)
    scenes = [scene_for(parse_canonical(it.caption), rng) for it in items]

    # 1-2. image to video and continuation, beside text alone
    rows = {"text": [], "image": [], "continuation": []}
    for k, (it, scene) in enumerate(zip(items, scenes) if "starts" in a.sections else []):
        d = parse_canonical(it.caption)
        rendered = render(scene, 64, 8, 2.0)
        s = pipe.resolve(ClipSettings(seed=k))
        text = pipe.make(it.caption, s)
        rows["text"].append({"all": judge(text.frames, 8, d).all_correct})
        image = pipe.make(it.caption, s, start=Start(rendered[:1], "image"))
        rows["image"].append({"all": judge(image.frames, 8, d).all_correct, "psnr": psnr(image.frames[0], rendered[0])})
        more = pipe.make(it.caption, pipe.resolve(ClipSettings(seed=k, seconds=2)), start=Start(rendered, "clip"))
        windows = judge_long(np.concatenate([render(scene, 64, 8, 2.0), more.frames[16:]]), 8, d)
        track = [p for w in windows for p in w.objects[0].track]
        jump = float(np.hypot(*np.subtract(track[16], track[15]))) if len(track) > 16 else float("nan")
        rows["continuation"].append({"all": windows[-1].all_correct, "psnr": psnr(more.frames[:16], rendered),
                                     "join_jump": jump})
    report["starts"] = {} if "starts" not in a.sections else {name: {"follow": float(np.mean([r["all"] for r in rs])),
                               **({"psnr": float(np.mean([r["psnr"] for r in rs]))} if "psnr" in rs[0] else {}),
                               **({"join_jump": float(np.nanmean([r["join_jump"] for r in rs]))}
                                  if "join_jump" in rs[0] else {})} for name, rs in rows.items()}

    # 3. long clips
    report["long"] = {}
    for seconds in a.seconds if "long" in a.sections else []:
        clips, windows, drift, failed = 0, [], [], []
        for k, it in enumerate(items):
            d = parse_canonical(it.caption)
            video = pipe.make(it.caption, pipe.resolve(ClipSettings(seed=k, seconds=seconds)))
            verdicts = judge_long(video.frames, 8, d)
            windows += [v.all_correct for v in verdicts]
            clips += all(v.all_correct for v in verdicts)
            failed.append({"caption": it.caption, **{a: sum(not v.attribute(a) for v in verdicts) for a in ATTRIBUTES}})
            if k < 3:
                drift.append({"caption": it.caption, "colour": [v.objects[0].colour for v in verdicts],
                              "presence": [round(v.objects[0].presence, 2) for v in verdicts],
                              "fill": [round(v.objects[0].fill, 2) for v in verdicts]})
        report["long"][f"{seconds:g}"] = {"windows": float(np.mean(windows)), "clips": clips / len(items),
                                          "windows_failed": failed, "drift": drift}

    # 4. cost, each length in a fresh process
    report["cost"] = {}
    for seconds in [2.0, *a.seconds] if "cost" in a.sections else []:
        out = subprocess.run([sys.executable, "-c", COST_SCRIPT, a.model or "", str(seconds)], check=True,
                             capture_output=True, text=True).stdout.split()
        report["cost"][f"{seconds:g}"] = {"seconds": float(out[0]), "peak_mb": float(out[1]), "frames": int(out[2])}
    for seconds in a.seconds if "cost" in a.sections else []:
        base = report["cost"]["2"]
        c = report["cost"][f"{seconds:g}"]
        c["time_ratio"], c["memory_ratio"] = c["seconds"] / base["seconds"], c["peak_mb"] / base["peak_mb"]
    # 5. first and last frame
    if "first-last" in a.sections:
        follow, before_last = [], []
        for k, (it, scene) in enumerate(zip(items, scenes)):
            rendered = render(scene, 64, 8, 2.0)
            video = pipe.make(it.caption, pipe.resolve(ClipSettings(seed=k)), start=Start(rendered[:1], "image"),
                              end=rendered[-1])
            follow.append(judge(video.frames, 8, parse_canonical(it.caption)).all_correct)
            before_last.append(psnr(video.frames[-2], rendered[-2]))
        report["first_last"] = {"follow": float(np.mean(follow)), "first_last_exact": True,
                                "psnr_frame_before_last": float(np.mean(before_last))}

    # 6. storyboards: an object that changes what it does
    if "storyboards" in a.sections:
        boards = [("a red circle moving right on a black background", "a red circle moving left on a black background"),
                  ("a blue square standing still on a white background", "a blue square falling on a white background"),
                  ("a large yellow triangle moving up on a gray background",
                   "a large yellow triangle moving down on a gray background")]
        parts = []
        for board in boards:
            for seed in (0, 1):
                video = pipe.make(" | ".join(board), pipe.resolve(ClipSettings(seed=seed)), parts=[(c, 2.0) for c in board])
                parts.append([judge(video.frames[16 * i:16 * (i + 1)], 8, parse_canonical(c)).all_correct
                              for i, c in enumerate(board)])
        report["storyboards"] = {"boards": [list(b) for b in boards], "first_parts": float(np.mean([p[0] for p in parts])),
                                 "second_parts": float(np.mean([p[1] for p in parts]))}
    print(json.dumps(report, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
