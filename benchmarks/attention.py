"""Full 3D attention against factorised space/time attention, at kinema's scale.

    python benchmarks/attention.py [--minutes 3]

For each variant at the default model's shape (the `small` preset, 64x64, 16 frames): training
step time and sampling step time (batch 2, as guidance runs); then both trained for the same
wall-clock budget on the shapes world at a reduced width, and their flow loss on a fixed held-out
batch at fixed timesteps (the same noise for both). Lower is better on every line.
"""
from __future__ import annotations

import argparse
import time

import torch

from kinema.data.dataset import ShapesDataset, get_batch
from kinema.models.denoiser import VideoDiT, count_parameters, preset
from kinema.diffusion.rectified_flow import FlowConfig, add_noise, flow_loss, to_velocity
from kinema.text.encoder import load_text_encoder


def step_times(attention: str, enc) -> tuple[float, float]:
    m = VideoDiT(preset("small", attention=attention))
    opt = torch.optim.AdamW(m.parameters(), 1e-4)
    x, caps = get_batch(ShapesDataset(1), 0, 8)
    c = enc.encode(caps)
    train = []
    for i in range(4):
        t0 = time.perf_counter()
        loss = flow_loss(m, x, c, FlowConfig(), torch.Generator().manual_seed(i))
        opt.zero_grad()
        loss.backward()
        opt.step()
        train.append(time.perf_counter() - t0)
    sample = []
    with torch.no_grad():
        for _ in range(4):
            t0 = time.perf_counter()
            m(x[:2], torch.rand(2), c.index(slice(0, 2)))
            sample.append(time.perf_counter() - t0)
    return sorted(train[1:])[1], sorted(sample[1:])[1]


@torch.no_grad()
def held_out_loss(m, enc, flow) -> float:
    x, caps = get_batch(ShapesDataset(999), 0, 32)
    c = enc.encode(caps)
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(x.shape, generator=g)
    total = 0.0
    for tv in (0.2, 0.4, 0.6, 0.8):
        t = torch.full((len(x),), tv)
        x_t = add_noise(x, noise, t)
        total += (to_velocity(m(x_t, t, c), x_t, t, flow) - to_velocity(x, x_t, t, flow)).pow(2).mean().item()
    return total / 4


def short_run(attention: str, minutes: float, enc) -> tuple[int, float]:
    torch.manual_seed(0)
    cfg = preset("small", attention=attention, dim=96, depth=4, heads=2)
    m = VideoDiT(cfg)
    opt = torch.optim.AdamW(m.parameters(), 4e-4)
    flow, ds = FlowConfig(), ShapesDataset(0)
    step, end = 0, time.perf_counter() + 60 * minutes
    while time.perf_counter() < end:
        x, caps = get_batch(ds, step, 8)
        loss = flow_loss(m, x, enc.encode(caps), flow, torch.Generator().manual_seed(step))
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
    return step, held_out_loss(m, enc, flow)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--minutes", type=float, default=3.0)
    a = p.parse_args()
    enc = load_text_encoder()
    print(f"{'attention':<12}{'params (small)':>16}{'train step b8':>15}{'sample step b2':>16}"
          f"{'steps in budget':>17}{'held-out loss':>15}")
    for attention in ("full", "factorised"):
        train_s, sample_s = step_times(attention, enc)
        n = count_parameters(VideoDiT(preset("small", attention=attention)))
        steps, loss = short_run(attention, a.minutes, enc)
        print(f"{attention:<12}{n / 1e6:>15.2f}M{train_s:>14.3f}s{sample_s:>15.3f}s{steps:>17}{loss:>15.4f}", flush=True)


if __name__ == "__main__":
    main()
