"""Peak memory of `kinema reconstruct` as clips grow: 256x256 clips of 2, 10 and 30 seconds.

Each run is a fresh process; its peak RSS (ru_maxrss) is read after it exits. Streaming keeps it
flat: the decoded output goes to the mp4 chunk by chunk, never held whole.

    python benchmarks/reconstruct_memory.py [--autoencoder DIR] [--fps 12] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kinema.world.shapes import render, sample_scene  # noqa: E402
from kinema.io.video import Mp4Writer  # noqa: E402

MEASURE = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def make_clip(path: Path, seconds: float, fps: float, size: int = 256) -> None:
    """A shapes-world clip, written 2 s at a time (new scene each 2 s) so this process stays small too."""
    with Mp4Writer(path, fps, size, size) as out:
        for k in range(int(np.ceil(seconds / 2))):
            scene = sample_scene(np.random.default_rng([7, k]))
            part = render(scene, size, fps, min(2.0, seconds - 2 * k))
            out.write(part)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--autoencoder", default=str(ROOT / "kinema" / "weights" / "default"))
    ap.add_argument("--fps", type=float, default=12.0)
    ap.add_argument("--seconds", type=float, nargs="*", default=[2, 10, 30])
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kinema-mem-"))
    rows = []
    for s in a.seconds:
        src, dst = tmp / f"in-{s:g}s.mp4", tmp / f"out-{s:g}s.mp4"
        make_clip(src, s, a.fps)
        t0 = time.time()
        out = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-m", "kinema", "reconstruct", str(src),
                              "-o", str(dst), "--autoencoder", a.autoencoder], capture_output=True, text=True, check=True)
        peak_mb = int(out.stdout.strip().splitlines()[-1]) / 1024
        frames = int(round(s * a.fps))
        rows.append({"seconds": s, "frames": frames, "peak_rss_mb": round(peak_mb, 1),
                     "decoded_output_mb": round(frames * 256 * 256 * 3 / 2**20, 1), "wall_s": round(time.time() - t0, 1)})
    print(f"kinema reconstruct, 256x256 at {a.fps:g} fps ({a.autoencoder})")
    print(f"{'seconds':>8} {'frames':>7} {'peak RSS':>10} {'output as uint8':>16} {'wall':>7}")
    for r in rows:
        print(f"{r['seconds']:>8g} {r['frames']:>7} {r['peak_rss_mb']:>7.0f} MB {r['decoded_output_mb']:>13.0f} MB {r['wall_s']:>6.1f}s")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
