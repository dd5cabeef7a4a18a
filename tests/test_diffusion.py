import math

import pytest
import torch

from kinema.models.denoiser import VideoDiT, preset
from kinema.diffusion.rectified_flow import FlowConfig, add_noise, flow_loss, sample_timesteps, to_velocity
from kinema.diffusion.samplers import euler, guided_velocity, heun, steered_velocity, time_grid, unipc
from kinema.text.encoder import Regions, TextEmbedding

MU, S = 0.7, 0.3  # data ~ N(MU, S^2) per dimension


def gaussian_velocity(x: torch.Tensor, t: float) -> torch.Tensor:
    """The exact flow-matching velocity E[noise - x0 | x_t] for Gaussian data."""
    var = (1 - t) ** 2 * S**2 + t**2
    centred = x - (1 - t) * MU
    e_x0 = MU + (1 - t) * S**2 / var * centred
    e_noise = t / var * centred
    return e_noise - e_x0


def test_samplers_reach_the_known_answer():
    z = torch.randn(4096, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    exact = MU + S * z  # the ODE maps noise z to MU + S z
    err = {(name, n): (sampler(gaussian_velocity, z.clone(), time_grid(n)) - exact).abs().max().item()
           for name, sampler in (("euler", euler), ("heun", heun)) for n in (20, 40)}
    assert err[("heun", 40)] < 5e-3 and err[("heun", 20)] < err[("euler", 20)] / 5
    # first order: doubling the steps halves Euler's error; second order: Heun's falls fourfold
    assert 0.4 < err[("euler", 40)] / err[("euler", 20)] < 0.6
    assert 0.2 < err[("heun", 40)] / err[("heun", 20)] < 0.3


def test_time_grid():
    g = time_grid(4)
    assert g == [1.0, 0.75, 0.5, 0.25, 0.0]
    shifted = time_grid(4, shift=3.0)
    assert shifted[0] == 1.0 and shifted[-1] == 0.0 and shifted[2] > 0.5


def test_x0_prediction_of_the_truth_gives_the_true_velocity():
    cfg = FlowConfig()
    x0, noise = torch.randn(2, 3, 4, 8, 8), torch.randn(2, 3, 4, 8, 8)
    t = torch.tensor([0.3, 0.8])
    x_t = add_noise(x0, noise, t)
    torch.testing.assert_close(to_velocity(x0, x_t, t, cfg), noise - x0)
    # one Euler step from t straight to 0 with that velocity lands on x0
    torch.testing.assert_close(x_t - t.view(-1, 1, 1, 1, 1) * to_velocity(x0, x_t, t, cfg), x0)


def test_logit_normal_timesteps():
    t = sample_timesteps(100000, FlowConfig(t_mean=0.0, t_std=1.0), torch.Generator().manual_seed(0))
    assert 0 < t.min() and t.max() < 1
    assert abs(t.median().item() - 0.5) < 0.01
    shifted = sample_timesteps(100000, FlowConfig(t_mean=1.0), torch.Generator().manual_seed(0))
    assert 0.2 < (shifted > 0.85).float().mean() < 0.26 and (t > 0.85).float().mean() < 0.06
    logit = torch.log(t / (1 - t))
    assert abs(logit.std().item() - 1.0) < 0.02


def test_loss_of_a_fresh_model_is_finite_and_differentiable():
    m = VideoDiT(preset("tiny"))
    c = TextEmbedding(torch.randn(2, 3, 384), torch.ones(2, 3, dtype=torch.bool), torch.randn(2, 384))
    loss = flow_loss(m, torch.rand(2, 3, 4, 16, 16) * 2 - 1, c, FlowConfig(), torch.Generator().manual_seed(0))
    loss.backward()
    assert math.isfinite(loss.item()) and m.final.weight.grad.abs().sum() > 0


def test_guidance_combines_the_two_branches():
    m = VideoDiT(preset("tiny"))
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    cfg = FlowConfig()
    c = TextEmbedding(torch.randn(1, 3, 384), torch.ones(1, 3, dtype=torch.bool), torch.randn(1, 384))
    u = TextEmbedding(torch.randn(1, 2, 384), torch.ones(1, 2, dtype=torch.bool), torch.randn(1, 384))
    x = torch.randn(1, 3, 4, 16, 16)
    tt = torch.tensor([0.6])
    v_c = to_velocity(m(x, tt, c), x, tt, cfg)
    v_u = to_velocity(m(x, tt, u), x, tt, cfg)
    torch.testing.assert_close(guided_velocity(m, cfg, c, u, 1.0)(x, 0.6), v_c)
    torch.testing.assert_close(guided_velocity(m, cfg, c, u, 3.0)(x, 0.6), v_u + 3.0 * (v_c - v_u), atol=1e-4, rtol=1e-4)
    # guidance in a limited interval (lo, hi]: the conditional branch alone outside it
    torch.testing.assert_close(guided_velocity(m, cfg, c, u, 3.0, (0.2, 1.0))(x, 0.6), v_u + 3.0 * (v_c - v_u),
                               atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(guided_velocity(m, cfg, c, u, 3.0, (0.6, 1.0))(x, 0.6), v_c)
    torch.testing.assert_close(guided_velocity(m, cfg, c, u, 3.0, (0.0, 0.5))(x, 0.6), v_c)
    # regions: at t <= regions_below each region's velocity under its own prompt (guided), the whole prompt above
    a = TextEmbedding(torch.randn(1, 3, 384), torch.ones(1, 3, dtype=torch.bool), torch.randn(1, 384))
    v_a = to_velocity(m(x, tt, a), x, tt, cfg)
    left = (torch.arange(16) < 8).long().expand(1, 4, 16, 16)  # region 0 (prompt a) on the right half, 1 (c) left
    regions = Regions([a, c], left)
    both = torch.where(left[:, None] == 0, v_a, v_c)
    torch.testing.assert_close(guided_velocity(m, cfg, c, u, 1.0, regions=regions, regions_below=0.6)(x, 0.6), both)
    torch.testing.assert_close(guided_velocity(m, cfg, c, u, 3.0, regions=regions, regions_below=0.7)(x, 0.6),
                               v_u + 3.0 * (both - v_u), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(guided_velocity(m, cfg, c, u, 1.0, regions=regions, regions_below=0.5)(x, 0.6), v_c)
    assert not torch.allclose(both, v_c)


def test_steering_moves_the_last_steps_clean_estimate_down_the_energy_and_keeps_given_frames():
    x = torch.randn(2, 3, 4, 5, 5, generator=torch.Generator().manual_seed(1))

    def energy(x0: torch.Tensor) -> torch.Tensor:  # wants every value at 2; the data (MU) is at 0.7
        return ((x0 - 2.0) ** 2).sum()

    movable = torch.ones(2, 1, 4, 5, 5)
    movable[:, :, 0] = 0  # a given frame
    movable[:, :, :, :2] = 0  # and cells away from the object
    steered = steered_velocity(gaussian_velocity, energy, 0.1, 5, (0.0, 0.5), movable)
    assert torch.equal(steered(x, 0.8), gaussian_velocity(x, 0.8))  # outside its interval: untouched
    v, v_plain = steered(x, 0.4), gaussian_velocity(x, 0.4)
    x0, x0_plain = x - 0.4 * v, x - 0.4 * v_plain
    assert torch.allclose(x0[:, :, 0], x0_plain[:, :, 0], atol=1e-6)  # kept where it may not move
    assert torch.allclose(x0[:, :, :, :2], x0_plain[:, :, :, :2], atol=1e-6)
    moved = (x0 - x0_plain)[:, :, 1:, 2:]  # five steps of 0.1 towards 2 elsewhere
    assert torch.allclose(moved, torch.full_like(moved, 0.5), atol=0.05) and energy(x0) < energy(x0_plain) - 1.0
    # through a whole sampler: the clip it ends on is the steered estimate of its last step
    z = torch.randn(4096, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    grid = time_grid(4, 3.0)
    plain = unipc(gaussian_velocity, z.clone(), grid)
    pulled = unipc(steered_velocity(gaussian_velocity, lambda y: ((y - 2.0) ** 2).sum(), 0.1, 3, (0.0, grid[-2])),
                   z.clone(), grid)
    assert torch.allclose(pulled - plain, torch.full_like(z, 0.3), atol=0.01)
