"""`kinema bench`: kinema's denoiser beside diffusers' Wan transformer and beside the machine's limits.

In one run, on this machine:
  1. ceilings: dense matmul GFLOP/s in float32 and bfloat16, memory copy GB/s;
  2. denoiser forward passes at kinema's presets and at a reference configuration (4 layers, 4 heads
     of 64, feed-forward 1024, 16 latent channels, a 4 x 16 x 16 latent in 1 x 2 x 2 patches = 256
     tokens, 16 text tokens; batch 2, as under guidance), float32 and bfloat16: median ms after
     warm-up, FLOPs (torch's counter for the matrix products, plus attention counted by hand, which
     the counter misses on CPU), GFLOP/s and the fraction of the ceiling;
  3. diffusers' WanTransformer3DModel at the identical configuration (random weights), if installed;
  4. a full sampling run (30 Euler steps with guidance) for both;
  5. end-to-end generation with the shipped model at the defaults and at 256x256, stage by stage, with
     the peak memory of the process (each in a fresh process, as `kinema generate` runs);
  6. how the cost grows with frames and size (kinema's reference denoiser).
It prints a table, returns everything as a dict (--json), and draws a PNG.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import replace
from typing import Callable

import torch

from kinema.models.denoiser import DenoiserConfig, VideoDiT, preset
from kinema.diffusion.rectified_flow import FlowConfig
from kinema.diffusion.samplers import euler, guided_velocity, time_grid
from kinema.text.encoder import TextEmbedding

REFERENCE = DenoiserConfig(in_channels=16, patch=(1, 2, 2), dim=256, depth=4, heads=4, mlp_ratio=4.0, text_dim=384)
REFERENCE_LATENT = (4, 16, 16)
TEXT_TOKENS = 16
BATCH = 2


def timeit(fn: Callable[[], object], warmup: int = 2, min_runs: int = 5, min_seconds: float = 1.0) -> float:
    """Median seconds of fn() after warm-up (fewer runs for calls over a second, e.g. bf16 without bf16 units)."""
    for _ in range(warmup):
        t0 = time.perf_counter()
        fn()
        if time.perf_counter() - t0 > 1.0:
            min_runs, min_seconds = 2, 0.0
            break
    times, start = [], time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 200:
            break
    return statistics.median(times)


# ---------------------------------------------------------------------------------------------
# Ceilings
# ---------------------------------------------------------------------------------------------

def matmul_ceiling(dtype: torch.dtype, n: int) -> float:
    """GFLOP/s of an n x n x n matrix product, the faster of the two layouts: `a @ b` and `a @ b.T`
    (nn.Linear's layout). They differ: without bf16 units, torch multiplies bf16 `a @ b` on a slow
    generic path (~1 GFLOP/s here) and `a @ b.T` through oneDNN (~10x faster)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    s = min(timeit(lambda: a @ b, warmup=1, min_runs=3, min_seconds=0.5),
            timeit(lambda: a @ b.T, warmup=1, min_runs=3, min_seconds=0.5))
    return 2 * n**3 / s / 1e9


def copy_bandwidth(mb: int = 256) -> float:
    src = torch.empty(mb * 2**20 // 4, dtype=torch.float32).fill_(1.0)
    dst = torch.empty_like(src)
    s = timeit(lambda: dst.copy_(src), warmup=1, min_runs=5, min_seconds=0.5)
    return 2 * src.numel() * 4 / s / 1e9  # read + write


def ceilings() -> dict[str, float]:
    return {"fp32_gflops": matmul_ceiling(torch.float32, 1024), "bf16_gflops": matmul_ceiling(torch.bfloat16, 1024),
            "copy_gbs": copy_bandwidth()}


# ---------------------------------------------------------------------------------------------
# FLOPs
# ---------------------------------------------------------------------------------------------

def attention_flops(cfg: DenoiserConfig, tokens: int, text_tokens: int, batch: int) -> int:
    """Q K^T and A V of self- and cross-attention: 4 * N * M * head_dim per head and layer."""
    per_layer = 4 * cfg.dim * (tokens * tokens + tokens * text_tokens)
    if cfg.attention == "factorised":
        raise NotImplementedError("count factorised attention per grouping")
    return batch * cfg.depth * per_layer


def counted_flops(fn: Callable[[], object]) -> int:
    """FLOPs of fn() as torch's counter sees them (matrix products; not SDPA on CPU)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


# ---------------------------------------------------------------------------------------------
# The two denoisers at one configuration
# ---------------------------------------------------------------------------------------------

def kinema_inputs(cfg: DenoiserConfig, latent: tuple[int, int, int], dtype: torch.dtype):
    g = torch.Generator().manual_seed(0)
    x = torch.randn((BATCH, cfg.in_channels, *latent), generator=g).to(dtype)
    t = torch.full((BATCH,), 0.5)
    text = TextEmbedding(torch.randn(BATCH, TEXT_TOKENS, cfg.text_dim, generator=g).to(dtype),
                         torch.ones(BATCH, TEXT_TOKENS, dtype=torch.bool), torch.randn(BATCH, cfg.text_dim, generator=g).to(dtype))
    return x, t, text


def wan_model(cfg: DenoiserConfig):
    """diffusers' Wan transformer with kinema's reference shape, or None if diffusers is missing."""
    try:
        from diffusers import WanTransformer3DModel
    except ImportError:
        return None
    torch.manual_seed(0)
    return WanTransformer3DModel(patch_size=cfg.patch, num_attention_heads=cfg.heads, attention_head_dim=cfg.dim // cfg.heads,
                                 in_channels=cfg.in_channels, out_channels=cfg.in_channels, text_dim=cfg.text_dim,
                                 freq_dim=256, ffn_dim=int(cfg.dim * cfg.mlp_ratio), num_layers=cfg.depth).eval()


def paired_timeit(fns: list[Callable[[], object]], warmup: int = 2, rounds: int = 25) -> list[float]:
    """Median seconds of each of `fns`, timed in alternating rounds (one call of each a round, the order turned
    round every round), so that the machine's drift while they are measured falls on all of them alike: the
    head-to-head against Wan, whose ratio moved by more than the gap when each was timed in its own stretch."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for r in range(rounds):
        order = list(range(len(fns)))[::1 if r % 2 == 0 else -1]
        for i in order:
            t0 = time.perf_counter()
            fns[i]()
            times[i].append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


def forward_row(name: str, s: float, flops: int, ceiling: float) -> dict:
    return {"name": name, "ms": s * 1e3, "gflop": flops / 1e9, "gflops": flops / s / 1e9,
            "of_ceiling": flops / s / 1e9 / ceiling}


def forward_rows(ceil: dict[str, float], presets: tuple[str, ...] = ("tiny", "small", "base")) -> list[dict]:
    """Forward passes at each dtype: kinema's reference configuration and diffusers' Wan at the same one, timed
    together (`paired_timeit`), then kinema's presets."""
    rows = []
    for dtype, key in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
        configs = [("kinema reference", REFERENCE, REFERENCE_LATENT)]
        configs += [(f"kinema {p}", replace(preset(p), in_channels=16, patch=(1, 2, 2)), (5, 8, 8)) for p in presets]
        runs = []  # (name, config name, tokens, fn)
        for name, cfg, latent in configs:
            model = VideoDiT(cfg).eval().to(dtype)
            x, t, text = kinema_inputs(cfg, latent, dtype)
            n = latent[0] * latent[1] * latent[2] // (cfg.patch[0] * cfg.patch[1] * cfg.patch[2])
            runs.append((name, cfg, n, lambda model=model, x=x, t=t, text=text: model(x, t, text)))
        wan = wan_model(REFERENCE)
        if wan is not None:
            wan = wan.to(dtype)
            x, t, text = kinema_inputs(REFERENCE, REFERENCE_LATENT, dtype)
            ts = torch.full((BATCH,), 500.0)
            n = REFERENCE_LATENT[0] * REFERENCE_LATENT[1] * REFERENCE_LATENT[2] // 4
            runs.insert(1, ("diffusers Wan", REFERENCE, n,
                            lambda wan=wan, x=x, ts=ts, text=text: wan(x, ts, text.tokens, return_dict=False)[0]))
        head = 2 if wan is not None else 1  # the reference and Wan, timed together
        with torch.inference_mode():
            seconds = paired_timeit([fn for *_, fn in runs[:head]]) + [timeit(fn) for *_, fn in runs[head:]]
            for (name, cfg, n, fn), s in zip(runs, seconds):
                flops = counted_flops(fn) + attention_flops(cfg, n, TEXT_TOKENS, BATCH)
                rows.append(forward_row(f"{name} {key}", s, flops, ceil[f"{key}_gflops"])
                            | {"dtype": key, "tokens": n, "config": name})
    return rows


def sampling_rows(steps: int = 30, guidance: float = 5.0) -> list[dict]:
    """30 Euler steps with guidance (one batched pass of 2 per step) at the reference configuration, fp32."""
    rows = []
    model = VideoDiT(REFERENCE).eval()
    x, _, text = kinema_inputs(REFERENCE, REFERENCE_LATENT, torch.float32)
    cond, uncond = text.index(slice(0, 1)), text.index(slice(1, 2))
    noise = x[:1]
    flow = FlowConfig()
    times = time_grid(steps)
    with torch.inference_mode():
        s = timeit(lambda: euler(guided_velocity(model, flow, cond, uncond, guidance), noise, times), warmup=1,
                   min_runs=3, min_seconds=0.0)
    rows.append({"name": "kinema reference", "steps": steps, "seconds": s})
    wan = wan_model(REFERENCE)
    if wan is not None:
        both = torch.cat([cond.tokens, uncond.tokens])

        def sample():
            z = noise
            for t, t_next in zip(times[:-1], times[1:]):
                out = wan(torch.cat([z, z]), torch.full((2,), t * 1000.0), both, return_dict=False)[0]
                v_c, v_u = out.chunk(2)
                z = z + (t_next - t) * (v_u + guidance * (v_c - v_u))
            return z

        with torch.inference_mode():
            s = timeit(sample, warmup=1, min_runs=3, min_seconds=0.0)
        rows.append({"name": "diffusers Wan", "steps": steps, "seconds": s})
    return rows


def scaling_rows(frames: tuple[int, ...] = (16, 32, 64, 128), sizes: tuple[int, ...] = (64, 128, 256)) -> list[dict]:
    """Forward time of the reference denoiser (fp32, batch 2) for clips of F frames at S pixels, in the
    latent shape of a 4x8x8 autoencoder: (1 + (F-1)/4) x S/8 x S/8."""
    rows = []
    model = VideoDiT(REFERENCE).eval()
    for size in sizes:
        for f in frames:
            latent = (1 + (f - 1) // 4, size // 8, size // 8)
            if latent[0] * latent[1] * latent[2] // 4 > 8192:
                continue
            x, t, text = kinema_inputs(REFERENCE, latent, torch.float32)
            with torch.inference_mode():
                s = timeit(lambda: model(x, t, text), warmup=1, min_runs=3, min_seconds=0.3)
            rows.append({"frames": f, "size": size, "tokens": latent[0] * latent[1] * latent[2] // 4, "ms": s * 1e3})
    return rows


END_TO_END_SCRIPT = """
import json, resource, sys, time
t0 = time.perf_counter()
from kinema.pipeline import ClipSettings, Pipeline
t_import = time.perf_counter() - t0
from kinema.cli.main import freeze_imports
freeze_imports()  # as the `kinema` command does
pipe = Pipeline.load()
settings = ClipSettings(**json.loads(sys.argv[1]))
video = pipe("a red circle bouncing on a white background", settings)
t0 = time.perf_counter()
video.save(sys.argv[2])
timings = {"import": t_import, **pipe.timings, "write": time.perf_counter() - t0}
print(json.dumps({"timings": timings, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "stages": video.metadata["stages"], "frames": list(video.frames.shape)}))
"""


def end_to_end_rows(configs: tuple[dict, ...] = ({}, {"size": 256}, {"size": 256, "fps": 24, "seconds": 4})) -> list[dict]:
    """`kinema generate` with the shipped model, each configuration in a fresh process: seconds per stage
    (import, load, text, denoise, decode, interpolate, upscale, write), wall time, peak resident memory."""
    import json
    import subprocess
    import sys
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, cfg in enumerate(configs):
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", END_TO_END_SCRIPT, json.dumps(cfg), f"{tmp}/{i}.mp4"],
                                 check=True, capture_output=True, text=True).stdout
            wall = time.perf_counter() - t0
            rows.append({"settings": {"size": 64, "fps": 8, "seconds": 2, **cfg}, "wall": wall,
                         **json.loads(out.strip().splitlines()[-1])})
    return rows


def plot(report: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=100)
    rows = [r for r in report["forward"] if r["dtype"] == "fp32"]
    a.barh([r["name"] for r in rows], [r["ms"] for r in rows], color=["#d62728" if "Wan" in r["name"] else "#1f77b4" for r in rows])
    for i, r in enumerate(rows):
        a.text(r["ms"], i, f" {r['ms']:.1f} ms, {100 * r['of_ceiling']:.0f}% of fp32 peak", va="center", fontsize=8)
    a.set_xlabel("forward pass, batch 2 (ms, fp32)")
    a.set_title("denoiser forward: kinema vs diffusers Wan")
    for size in sorted({r["size"] for r in report["scaling"]}):
        rs = [r for r in report["scaling"] if r["size"] == size]
        b.plot([r["frames"] for r in rs], [r["ms"] for r in rs], marker="o", label=f"{size}x{size}")
    b.set_xscale("log", base=2)
    b.set_yscale("log")
    b.set_xlabel("frames")
    b.set_ylabel("forward ms (reference denoiser, batch 2)")
    b.set_title("cost against length and size")
    b.legend()
    b.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def run_bench(quick: bool = False) -> dict:
    from kinema.models.precision import keep_freed_memory

    kept = keep_freed_memory()  # as Pipeline.load does: both denoisers run under it
    ceil = ceilings()
    report = {"machine": {"threads": torch.get_num_threads(), "torch": torch.__version__, "freed_memory_kept": kept},
              "ceilings": ceil,
              "forward": forward_rows(ceil, ("tiny",) if quick else ("tiny", "small", "base"))}
    report["sampling"] = sampling_rows(steps=3 if quick else 30)
    report["end_to_end"] = end_to_end_rows(({},)) if quick else end_to_end_rows()
    report["scaling"] = scaling_rows((16, 32), (64,)) if quick else scaling_rows()
    ref = {r["config"] + " " + r["dtype"]: r for r in report["forward"]}
    if "diffusers Wan fp32" in ref:
        report["speedup_vs_wan"] = {d: ref[f"diffusers Wan {d}"]["ms"] / ref[f"kinema reference {d}"]["ms"]
                                    for d in ("fp32", "bf16")}
    return report


def format_report(report: dict) -> str:
    c = report["ceilings"]
    lines = [f"ceilings: fp32 matmul {c['fp32_gflops']:.1f} GFLOP/s, bf16 matmul {c['bf16_gflops']:.2f} GFLOP/s, "
             f"copy {c['copy_gbs']:.1f} GB/s ({report['machine']['threads']} threads, torch {report['machine']['torch']}"
             f"{', freed memory kept' if report['machine'].get('freed_memory_kept') else ''})",
             "", f"{'forward (batch 2)':<28} {'tokens':>6} {'ms':>9} {'GFLOP':>7} {'GFLOP/s':>8} {'of peak':>8}"]
    for r in report["forward"]:
        lines.append(f"{r['name']:<28} {r['tokens']:>6} {r['ms']:>9.2f} {r['gflop']:>7.2f} {r['gflops']:>8.1f} "
                     f"{100 * r['of_ceiling']:>7.1f}%")
    if "speedup_vs_wan" in report:
        s = report["speedup_vs_wan"]
        lines.append(f"kinema / diffusers Wan at the reference configuration: {s['fp32']:.2f}x faster in fp32, "
                     f"{s['bf16']:.2f}x in bf16")
    lines += ["", "sampling with guidance (reference configuration, fp32):"]
    lines += [f"  {r['name']:<20} {r['steps']} steps {r['seconds']:.2f} s" for r in report["sampling"]]
    lines += ["", "kinema generate with the shipped model (fresh process each; seconds per stage, peak memory):"]
    for r in report.get("end_to_end", []):
        st = r["settings"]
        parts = ", ".join(f"{k} {v:.2f}" for k, v in r["timings"].items())
        lines.append(f"  {st['size']}x{st['size']} {st['fps']:g} fps {st['seconds']:g} s: wall {r['wall']:.2f} s "
                     f"({parts}); peak {r['peak_mb']:.0f} MB")
    lines += ["", "forward ms against frames and size (reference denoiser, 4x8x8 latents):"]
    lines += [f"  {r['size']:>4}px {r['frames']:>4} frames {r['tokens']:>6} tokens {r['ms']:>9.1f} ms" for r in report["scaling"]]
    return "\n".join(lines)
