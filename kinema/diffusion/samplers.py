"""Samplers for the flow ODE dx/dt = v(x, t), integrated from t = 1 (noise) to t = 0 (data).

Every sampler has one signature: `sampler(velocity, x, times, callback, eta=, generator=) -> x0`,
where `velocity(x, t)` takes a batch x and a scalar time t and returns dx/dt, and `times` is a
decreasing grid from 1 to 0 (`time_grid`); `eta` > 0 (Euler only) makes the sampler stochastic, with
fresh noise drawn from `generator`. Guidance is a way of building `velocity` (`guided_velocity`),
not a sampler.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn as nn

from kinema.diffusion.rectified_flow import FlowConfig, over, to_velocity
from kinema.text.encoder import Regions, TextEmbedding

Velocity = Callable[[torch.Tensor, float], torch.Tensor]


def time_grid(steps: int, shift: float = 1.0) -> list[float]:
    """steps + 1 times from 1 to 0, uniform in s and then shifted, t = shift*s / (1 + (shift-1)*s)
    (the resolution-dependent shift of Esser et al. 2024, SD3; shift > 1 spends more steps at high
    noise)."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    s = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)
    t = shift * s / (1 + (shift - 1) * s)
    return [float(v) for v in t]


@torch.no_grad()
def euler(velocity: Velocity, x: torch.Tensor, times: list[float], callback: Callable[[int, int], None] | None = None,
          eta: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """First-order Euler steps (the sampler of rectified flow, Liu et al. 2022), optionally stochastic.

    Each step splits x_t into the clean clip and the noise it implies, x0 = x - t v and
    eps = x + (1 - t) v, and recombines them at the next time t' < t. With eta = 0 that is exactly
    the Euler step, x' = (1 - t') x0 + t' eps. With eta > 0 part of the noise is fresh:
    x' = (1 - t') x0 + sqrt(t'^2 - s^2) eps + s z, s = eta t' sqrt(1 - SNR(t) / SNR(t')),
    SNR(t) = ((1 - t) / t)^2: DDIM's stochastic family (Song et al. 2021, "Denoising Diffusion
    Implicit Models", eq. 16) in the flow's parametrisation; eta = 1 is ancestral (DDPM) sampling.
    The fresh share shrinks with the step, so more steps converge to the reverse-time SDE, and
    errors of an imperfect model are partly forgotten rather than followed to the end (Karras et al.
    2022 on stochastic sampling). z is drawn on the CPU from `generator`: a seed gives the same clip
    on any device."""
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must be in [0, 1], got {eta}")
    for i, (t, t_next) in enumerate(zip(times[:-1], times[1:])):
        v = velocity(x, t)
        if eta == 0.0 or t_next == 0.0:
            x = x + (t_next - t) * v
        else:
            snr_ratio = ((1 - t) * t_next / ((1 - t_next) * t)) ** 2  # SNR(t) / SNR(t') < 1
            s = eta * t_next * max(1.0 - snr_ratio, 0.0) ** 0.5
            z = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
            x0, eps = x - t * v, x + (1 - t) * v
            x = (1 - t_next) * x0 + (t_next**2 - s**2) ** 0.5 * eps + s * z
        if callback:
            callback(i + 1, len(times) - 1)
    return x


@torch.no_grad()
def heun(velocity: Velocity, x: torch.Tensor, times: list[float], callback: Callable[[int, int], None] | None = None,
         eta: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Second-order Heun steps (Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based
    Generative Models", Alg. 1): an Euler step corrected by the slope at its end, except the last
    step into t = 0, which is plain Euler. Deterministic only (eta 0)."""
    if eta != 0.0:
        raise ValueError("eta > 0 (stochastic sampling) applies to the euler sampler only")
    for i, (t, t_next) in enumerate(zip(times[:-1], times[1:])):
        v = velocity(x, t)
        x_euler = x + (t_next - t) * v
        if t_next > 0:
            x = x + (t_next - t) * 0.5 * (v + velocity(x_euler, t_next))
        else:
            x = x_euler
        if callback:
            callback(i + 1, len(times) - 1)
    return x


@torch.no_grad()
def unipc(velocity: Velocity, x: torch.Tensor, times: list[float], callback: Callable[[int, int], None] | None = None,
          eta: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """UniPC (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of Diffusion
    Models"): a multistep solver in data prediction, x0 = x - t v, over lambda = log((1 - t) / t), of order 2 with
    B(h) = e^h - 1 ("bh2"). Each step predicts from the last two x0 (UniP-2; order 1 at the first and last steps),
    and the next velocity, evaluated anyway, corrects that prediction before the step after it (UniC), so order
    3 comes at one evaluation a step. The solver of Wan2.1's folders (diffusers' UniPCMultistepScheduler with
    flow sigmas, whose arithmetic this follows). Deterministic only (eta 0)."""
    if eta != 0.0:
        raise ValueError("eta > 0 (stochastic sampling) applies to the euler sampler only")
    n = len(times) - 1
    ts = [min(t, 1.0 - 1e-6) for t in times]  # (t = 1 has alpha 0: lambda = -inf)

    def lam(t: float) -> float:
        return math.inf if t == 0 else math.log(1 - t) - math.log(t)

    def update(x: torch.Tensor, i: int, j: int, m: torch.Tensor, history: list[tuple[int, torch.Tensor]],
               m_new: torch.Tensor | None) -> torch.Tensor:
        """x at time ts[i] with x0 estimate m -> x at ts[j]: the predictor (m_new None) with the earlier x0
        estimates in `history` ((k, x0) at ts[k]), or the corrector with m_new, the x0 estimate at ts[j]."""
        t, t_next = ts[i], ts[j]
        h = lam(t_next) - lam(t)
        hh = -h
        h_phi_1 = math.expm1(hh)
        b_h = h_phi_1
        rks, d1s = [], []
        for k, mk in history:
            rk = (lam(ts[k]) - lam(t)) / h
            rks.append(rk)
            d1s.append((mk - m) / rk)
        x_next = (t_next / t) * x - (1 - t_next) * h_phi_1 * m
        order = len(history) + 1
        if m_new is None and order == 2:
            x_next = x_next - (1 - t_next) * b_h * 0.5 * d1s[0]
        elif m_new is not None:
            if order == 1:
                rhos = [0.5]
            else:  # solve R rho = b, R = [[1, 1], [rk, 1]], b_k = k! phi_{k+1}(hh) / B(h)
                phi_k = h_phi_1 / hh - 1
                b1 = phi_k / b_h
                phi_k = phi_k / hh - 0.5
                b2 = phi_k * 2 / b_h
                r = rks[0]
                rho_1 = (b1 - b2) / (1 - r)
                rhos = [rho_1, b1 - rho_1]
            corr = sum(rho * d for rho, d in zip(rhos[:-1], d1s))
            x_next = x_next - (1 - t_next) * b_h * (corr + rhos[-1] * (m_new - m))
        return x_next.to(x.dtype)

    ms: list[tuple[int, torch.Tensor]] = []  # (step, x0 estimate), the last two
    last = None  # (x before the last prediction, its order)
    for i in range(n):
        m = x - ts[i] * velocity(x, times[i])
        if last is not None:  # correct the last prediction with the x0 estimate at its end
            x_prev, order = last
            x = update(x_prev, i - 1, i, ms[-1][1], ms[-order:-1] if order > 1 else [], m)
        ms = (ms + [(i, m)])[-2:]
        order = min(2, n - i, len(ms))
        last = (x, order)
        x = update(x, i, i + 1, m, ms[-order:-1] if order > 1 else [], None)
        if callback:
            callback(i + 1, n)
    return x


SAMPLERS: dict[str, Callable[..., torch.Tensor]] = {"euler": euler, "heun": heun, "unipc": unipc}


def guided_velocity(model: nn.Module, flow: FlowConfig, cond: TextEmbedding, uncond: TextEmbedding,
                    guidance: float, interval: tuple[float, float] = (0.0, 1.0), known: torch.Tensor | None = None,
                    x_known: torch.Tensor | None = None, regions: Regions | None = None,
                    regions_below: float = 0.0) -> Velocity:
    """Classifier-free guidance (Ho & Salimans 2022): v = v_u + g (v_c - v_u), applied only at times t
    in `interval` = (lo, hi] (Kynkäänniemi et al. 2024, "Applying Guidance in a Limited Interval
    Improves Sample and Distribution Quality in Diffusion Models"); elsewhere the conditional branch
    alone. Near the data the two branches differ only in detail, and amplifying that difference g
    times leaves patch-sized blotches (measured on the default model: gray backgrounds 33-99 levels
    off at g = 4 everywhere, 2-10 with no guidance below t = 0.2).

    `uncond` is the empty prompt's embedding, or the negative prompt's, which guidance then steers
    away from. Both branches run as one batch of 2B. guidance 1 runs the conditional branch alone.

    Frames given (`known`, (B, T) bool, with their clean latents `x_known`, x's shape) stay as given: the
    model sees them at t = 0 and their velocity is 0, whatever the sampler does between its calls (diffusion
    forcing's per-frame noise levels, Chen et al. 2024, as the conditioning frames of LTX-Video).

    `regions` (kinema.text.encoder.Regions over the latent's cells, each prompt B rows): at times t <=
    `regions_below` the conditional branch is each region's prediction under its own prompt (MultiDiffusion,
    Bar-Tal et al. 2023), one model call per region. Near noise the whole prompt lays out the clip; near the
    data, where outlines are drawn, each object's words draw its own (measured, with its cost: docs/plan.md)."""
    lo, hi = interval
    b = len(cond)
    if len(uncond) == 1 and b > 1:
        uncond = uncond.repeat(b)
    if cond.layout is not None and uncond.layout is None:  # a layout steers both branches: guidance is the text's
        uncond = uncond.with_layout(cond.layout)
    both = TextEmbedding.cat([cond, uncond])
    free = None if known is None else (~known).float()  # (B, T): the frames to make

    def times(t: float, n: int, device) -> torch.Tensor:
        return torch.full((n,), t, device=device) if free is None else t * free.to(device).repeat(n // b, 1)

    def velocity(x: torch.Tensor, t: float) -> torch.Tensor:
        if free is not None:
            x = torch.where(over(free, x).to(x.device) > 0, x, x_known.to(x.device))
        if regions is not None and t <= regions_below:  # each region under its own words
            tt = times(t, b, x.device)
            v = regions.compose(lambda words: to_velocity(model(x, tt, words), x, tt, flow))
            if guidance != 1.0 and lo < t <= hi:
                v_u = to_velocity(model(x, tt, uncond), x, tt, flow)
                v = v_u + guidance * (v - v_u)
        elif guidance == 1.0 or not lo < t <= hi:
            tt = times(t, b, x.device)
            v = to_velocity(model(x, tt, cond), x, tt, flow)
        else:
            xx = torch.cat([x, x])
            tt = times(t, 2 * b, x.device)
            v_c, v_u = to_velocity(model(xx, tt, both), xx, tt, flow).chunk(2)
            v = v_u + guidance * (v_c - v_u)
        return v if free is None else v * over(free, v).to(v.device)

    return velocity


def steered_velocity(velocity: Velocity, energy: Callable[[torch.Tensor], torch.Tensor], scale: float,
                     iterations: int, interval: tuple[float, float] = (0.0, 1.0),
                     movable: torch.Tensor | None = None) -> Velocity:
    """Guidance by an energy of the clean clip: at times t in `interval` = (lo, hi], the velocity's estimate of
    the clean clip, x0 = x - t v, takes `iterations` Adam steps of size `scale` down the gradient of `energy(x0)`
    (a scalar), and the velocity is the one that points at the moved estimate, v' = (x - x0') / t. The gradient
    skips the denoiser, as in Manifold Preserving Guided Diffusion (He et al. 2024) and universal guidance's
    backward step (Bansal et al. 2023): the cost is the energy's alone. `movable` (broadcastable to x, 0 or 1):
    the values that may move (None: all); given frames must be 0 there. A denoiser redraws what an earlier step
    moved (measured: docs/plan.md), so an interval that holds the last step is the one that shows."""
    lo, hi = interval

    def steered(x: torch.Tensor, t: float) -> torch.Tensor:
        v = velocity(x, t)
        if not lo < t <= hi or scale <= 0 or iterations < 1:
            return v
        with torch.enable_grad():
            x0 = (x - t * v).detach().requires_grad_(True)
            opt = torch.optim.Adam([x0], lr=scale)
            for _ in range(iterations):
                opt.zero_grad()
                energy(x0).backward()
                if movable is not None:  # (Adam moves every value with a gradient by about `scale`)
                    x0.grad = x0.grad * movable.to(x0.grad)
                opt.step()
        return (x - x0.detach()) / t

    return steered
