"""Where bfloat16 pays on this processor: the denoiser's forward pass in float32 and in bfloat16, by width.

    python benchmarks/precision.py [--json F]

In one run: whether the processor has bfloat16 matrix units (kinema.models.precision.cpu_bf16_units); the
1024^3 matrix product in both precisions; then a 2-layer denoiser at widths 128 to 1536 (heads of 64; 32 heads
of the shipped model's width) on the shipped model's token count (80 tokens, batch 2 as under guidance) and on
a 1024-token latent, median ms of a forward pass in each precision (the same weights, cast); then the shipped
model's 2-second clip's keyframes (`Pipeline.keyframes`, 20 guided steps, 2 candidates) in both. Above 1.0, bf16
is faster. `--precision auto` takes bf16 on such a processor for denoisers at least CPU_BF16_MIN_WIDTH wide.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from kinema.eval.bench import matmul_ceiling, timeit  # noqa: E402
from kinema.models.denoiser import DenoiserConfig, VideoDiT  # noqa: E402
from kinema.models.precision import CPU_BF16_MIN_WIDTH, cpu_bf16_units  # noqa: E402
from kinema.text.encoder import TextEmbedding  # noqa: E402


def forward_ratio(dim: int, latent: tuple[int, int, int]) -> dict:
    cfg = DenoiserConfig(in_channels=16, patch=(1, 2, 2), dim=dim, depth=2, heads=max(1, dim // 64), text_dim=384)
    torch.manual_seed(0)
    model = VideoDiT(cfg).eval()
    x, t = torch.randn(2, 16, *latent), torch.full((2,), 0.5)
    text = TextEmbedding(torch.randn(2, 16, 384), torch.ones(2, 16, dtype=torch.bool), torch.randn(2, 384))
    fast = copy.deepcopy(model).to(torch.bfloat16)
    with torch.inference_mode():
        fp32, bf16 = timeit(lambda: model(x, t, text)), timeit(lambda: fast(x, t, text))
    return {"dim": dim, "tokens": latent[0] * latent[1] * latent[2] // 4, "fp32_ms": fp32 * 1e3, "bf16_ms": bf16 * 1e3,
            "bf16_speedup": fp32 / bf16}


def shipped_clip() -> dict:
    from kinema.pipeline import ClipSettings, Pipeline

    out = {}
    for precision in ("fp32", "bf16", "fp32", "bf16"):  # twice each, interleaved
        pipe = Pipeline.load(None, precision=precision)
        s = pipe.resolve(ClipSettings(seed=0))
        pipe.keyframes("a red circle moving right on a black background", s)  # warm-up
        t0 = time.perf_counter()
        pipe.keyframes("a red circle moving right on a black background", s)
        out.setdefault(precision, []).append(time.perf_counter() - t0)
    return {k: min(v) for k, v in out.items()}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--json", default=None)
    a = p.parse_args()
    report = {"threads": torch.get_num_threads(), "bf16_units": cpu_bf16_units(), "auto_min_width": CPU_BF16_MIN_WIDTH,
              "matmul_gflops": {"fp32": matmul_ceiling(torch.float32, 1024), "bf16": matmul_ceiling(torch.bfloat16, 1024)}}
    print(json.dumps(report), flush=True)
    rows = []
    for latent in ((5, 8, 8), (4, 32, 32)):
        for dim in (128, 256, 512, 1024, 1536):
            rows.append(forward_ratio(dim, latent))
            print(json.dumps(rows[-1]), flush=True)
    report["forward"] = rows
    report["shipped_keyframes_s"] = shipped_clip()
    print(json.dumps(report["shipped_keyframes_s"]))
    print(f"\n{'width':>6} {'tokens':>6} {'fp32 ms':>9} {'bf16 ms':>9} {'bf16 speed-up':>13}")
    for r in rows:
        print(f"{r['dim']:>6} {r['tokens']:>6} {r['fp32_ms']:9.1f} {r['bf16_ms']:9.1f} {r['bf16_speedup']:13.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
