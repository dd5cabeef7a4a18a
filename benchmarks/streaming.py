"""Real-time factor and time to first frame of `kinema generate ... -o -` (YUV4MPEG2 streamed to a reader).

    python benchmarks/streaming.py [--model DIR] [--seconds 10] [--sizes 64 128 256] [--fps 8 16 24]
                                   [--denoisers teacher student] [--json F]

For each size and frame rate, one fresh process (start-up and model load included, as a user runs it) writes
a --seconds clip to a pipe; the reader notes when the header and the first frame arrive and when the last
frame has arrived. Reported: wall seconds, the real-time factor (seconds of video per second of wall:
above 1 plays faster than it is made), and the time to the first frame. Beside each, the same clip written
to an mp4 (`-o clip.mp4`), in the same run: the wall time before anything can be seen without streaming. With
--denoisers, each row once for each of the model's denoisers (`--denoiser`: the few-step student, the teacher).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPT = "a red circle moving right on a black background"


def command(model: str | None, seconds: float, size: int, fps: float, device: str, denoiser: str | None,
            out: str) -> list[str]:
    return [sys.executable, "-m", "kinema", "generate", PROMPT, "--seconds", str(seconds), "--size", str(size),
            "--fps", str(fps), "--seed", "0", "--device", device, "-o", out] + (["--model", model] if model else []) \
        + (["--denoiser", denoiser] if denoiser else [])


def stream(model: str | None, seconds: float, size: int, fps: float, device: str, denoiser: str | None) -> dict:
    cmd = command(model, seconds, size, fps, device, denoiser, "-")
    frame_bytes = 6 + 3 * size * size  # "FRAME\n" + 4:4:4 planes
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    header = proc.stdout.readline()
    first = None
    got = 0
    while True:
        chunk = proc.stdout.read(frame_bytes)
        if len(chunk) < frame_bytes:
            break
        got += 1
        if first is None:
            first = time.perf_counter() - t0
    wall = time.perf_counter() - t0
    proc.wait()
    if not header.startswith(b"YUV4MPEG2") or proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {proc.returncode}, header {header[:40]!r}")
    return {"frames": got, "wall_s": round(wall, 2), "first_frame_s": round(first, 2),
            "realtime_factor": round(seconds / wall, 2)}


def to_file(model: str | None, seconds: float, size: int, fps: float, device: str, denoiser: str | None) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = command(model, seconds, size, fps, device, denoiser, str(Path(tmp) / "clip.mp4"))
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return round(time.perf_counter() - t0, 2)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=None)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    p.add_argument("--fps", type=float, nargs="+", default=[8.0, 16.0, 24.0])
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--no-file", action="store_true", help="skip the mp4 beside each (a machine without PyAV)")
    p.add_argument("--device", default="auto", help="kinema generate's --device")
    p.add_argument("--denoisers", nargs="+", default=[None], choices=["student", "teacher"],
                   help="kinema generate's --denoiser, a row each (default: the model's own choice)")
    a = p.parse_args()
    rows = []
    print(f"{a.seconds:g} s clips, `kinema generate ... -o -`, a fresh process each (start-up included)")
    print(f"{'denoiser':>8} {'size':>5} {'fps':>5} {'frames':>6} {'wall s':>7} {'first frame s':>14} {'realtime x':>10} "
          f"{'mp4 wall s':>10}")
    for size in a.sizes:
        for fps in a.fps:
            for denoiser in a.denoisers:
                args = (a.model, a.seconds, size, fps, a.device, denoiser)
                row = {"denoiser": denoiser or "model's", "size": size, "fps": fps, **stream(*args),
                       "mp4_wall_s": None if a.no_file else to_file(*args)}
                rows.append(row)
                print(f"{row['denoiser']:>8} {size:>5} {fps:>5g} {row['frames']:>6} {row['wall_s']:>7} "
                      f"{row['first_frame_s']:>14} {row['realtime_factor']:>10} {str(row['mp4_wall_s']):>10}", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"seconds": a.seconds, "prompt": PROMPT, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
