"""Flow matching (rectified flow) between data and Gaussian noise.

Convention: t in [0, 1], x_t = (1 - t) * x0 + t * noise, so t = 0 is data and t = 1 is noise, and
the velocity is v = dx_t/dt = noise - x0 (Liu et al. 2022, "Flow Straight and Fast"; Lipman et al.
2022, "Flow Matching for Generative Modeling").

The denoiser predicts either the clean clip x0 ("x0", the default) or the velocity ("velocity").
x0-prediction with a velocity-space loss follows Li & He 2025 ("Back to Basics: Let Denoising
Generative Models Denoise", JiT): in pixel space with large patches, a clean clip lies on a
low-dimensional manifold that a network can output, while noise does not. The velocity implied by
an x0 prediction is (x_t - x0_hat) / t, with t clamped below at `t_floor` (in the loss target too,
so the loss is |x0_hat - x0|^2 / max(t, t_floor)^2).

Training timesteps are logit-normal: t = sigmoid(n), n ~ N(t_mean, t_std^2) (Esser et al. 2024,
"Scaling Rectified Flow Transformers", SD3). The default mean 1.0 leans towards noise (median
t = 0.73; 23% of samples above t = 0.85, against 4% for mean 0): shapes-world clips are flat colour
over many pixels, so they stay recoverable from the noisy clip up to t ~ 0.7 and only the prompt
decides them above ~0.85. Measured at step 400 of a mean-0 run: x0 error 0.013 at t = 0.1 and
0.031 at t = 0.7, but at t = 0.99 no better than predicting the mean, and the prompt changed it
by under 3%.

The loss is measured in velocity space by default, which weights an x0 error by 1/t^2: samples
near the data dominate the gradient, and those near pure noise, where the prompt must decide the
layout, count ~100x less than those at t = 0.1. `loss="x0"` measures it on the clean clip instead
(weight 1 at every t), which gives the layout-deciding high-noise samples their share (the
"SNR+1"-like weightings of Kingma & Gao 2023, "Understanding Diffusion Objectives").

"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from kinema.text.encoder import TextEmbedding


@dataclass(frozen=True)
class FlowConfig:
    prediction: str = "x0"  # "x0" | "velocity"
    t_mean: float = 1.0  # logit-normal timestep distribution
    t_std: float = 1.0
    t_floor: float = 0.05  # smallest t used to turn an x0 prediction into a velocity
    loss: str = "velocity"  # "velocity": |v_hat - v|^2; "x0": |x0_hat - x0|^2 (x0-prediction only)

    def __post_init__(self) -> None:
        if self.prediction not in ("x0", "velocity"):
            raise ValueError(f"prediction must be 'x0' or 'velocity', got {self.prediction!r}")
        if self.loss not in ("velocity", "x0"):
            raise ValueError(f"loss must be 'velocity' or 'x0', got {self.loss!r}")
        if self.loss == "x0" and self.prediction != "x0":
            raise ValueError("loss 'x0' needs prediction 'x0'")


def sample_timesteps(n: int, cfg: FlowConfig, generator: torch.Generator | None = None,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """n timesteps from the logit-normal distribution: (n,) in (0, 1)."""
    z = torch.randn(n, generator=generator, device=device)
    return torch.sigmoid(cfg.t_mean + cfg.t_std * z)


def over(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Times t, one per clip (B,) or one per frame (B, T), shaped to broadcast over x (B, C, T, H, W)."""
    return t.view(t.shape[0], 1, t.shape[1], 1, 1) if t.dim() == 2 else t.view(-1, *([1] * (x.dim() - 1)))


def add_noise(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t = (1 - t) x0 + t noise, with t (B,) or (B, T) broadcast over (B, C, T, H, W)."""
    tt = over(t, x0)
    return (1 - tt) * x0 + tt * noise


def to_velocity(prediction: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, cfg: FlowConfig) -> torch.Tensor:
    """The velocity that the denoiser's prediction implies at (x_t, t)."""
    if cfg.prediction == "velocity":
        return prediction
    return (x_t - prediction) / over(t.clamp(min=cfg.t_floor), x_t)


def flow_draws(shape: tuple[int, ...], cfg: FlowConfig, generator: torch.Generator | None = None,
               device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """The random (t, noise) of `flow_loss` for a batch of `shape`: t (B,) logit-normal, noise (B, ...) Gaussian.
    Drawn for a whole global batch and sliced, they make a batch split over processes train as one."""
    t = sample_timesteps(shape[0], cfg, generator, device)
    return t, torch.randn(shape, generator=generator, device=device, dtype=dtype)


def flow_loss(model: nn.Module, x0: torch.Tensor, cond: TextEmbedding, cfg: FlowConfig,
              generator: torch.Generator | None = None, known: torch.Tensor | None = None,
              draws: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Mean squared error between prediction and target at random (t, noise): in velocity space, or
    on the clean clip when cfg.loss == "x0". `known` (B, T) marks frames given clean (t = 0 for them, the
    rest at the clip's t: a picture to start from, a clip to continue); the error is measured on the
    other frames only. `draws`: (t, noise) drawn already (flow_draws), else drawn here from `generator`."""
    t, noise = draws if draws is not None else flow_draws(x0.shape, cfg, generator, x0.device, x0.dtype)
    if known is not None:
        t = t[:, None] * (~known).to(t.dtype)  # (B, T): 0 on known frames
    x_t = add_noise(x0, noise, t)
    prediction = model(x_t, t, cond)
    if cfg.loss == "x0":
        err = (prediction.float() - x0.float()).pow(2)
    else:
        v_hat = to_velocity(prediction, x_t, t, cfg)
        v = to_velocity(x0, x_t, t, cfg) if cfg.prediction == "x0" else noise - x0  # the same clamp as v_hat
        err = (v_hat.float() - v.float()).pow(2)
    if known is None:
        return err.mean()
    weight = over((~known).float(), err)  # (B, 1, T, 1, 1): the frames to make
    return (err * weight).sum() / (weight.sum() * err[:, :, 0].numel() / err.shape[0]).clamp(min=1)
