"""Training the video autoencoder, with the habits of the denoiser's loop (kinema.train.denoiser).

Loss = L1 + MSE on pixels + a temporal term (L1 between the frame differences of reconstruction and
clip, so motion is kept, not only frames) + optionally a spatial one (L1 between neighbouring pixels'
differences: the gradient difference loss of Mathieu et al. 2016, "Deep multi-scale video prediction
beyond mean square error", which rewards sharp edges and corners) + a small KL to a unit Gaussian.
A run folder holds `autoencoder.{safetensors,json}` (EMA weights; the JSON carries the config, with the latent's
per-channel shift and scale measured on shapes-world clips at each checkpoint), `train_state.*`
for exact resume, `log.jsonl` and `loss.png`.

A run may start from a trained autoencoder (`init`) and train its decoder only (`decoder_only`): the
encoder, and so every latent it made (a latent cache, a denoiser trained on one), stays as it is,
while the decoder learns to draw those latents more faithfully; the latent statistics stay init's too (measured
again, they would move with rounding: a float16 copy of an encoder gives shifts and scales ~1e-3 apart).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from kinema.models.autoencoder import AutoencoderConfig, VideoAutoencoder, count_parameters
from kinema.data.dataset import ShapesDataset, get_batch
from kinema.io.frames import to_model_space
from kinema.io.checkpoint import save_component, save_json
from kinema.train.common import (RunConfig, RunLog, dist_info, lr_at, save_train_state, start_run,
                                 step_and_log, step_generator, wrap_ddp)


@dataclass
class AutoencoderTrainConfig(RunConfig):
    FIXED_ON_RESUME = ("frames", "size")
    steps: int = 3000
    frames: int = 9  # 1 + 2 groups of 4
    size: int = 64
    lr: float = 3e-4
    warmup: int = 200
    ema: float = 0.998
    kl_weight: float = 1e-6
    temporal_weight: float = 0.5
    spatial_weight: float = 0.0
    init: str | None = None  # an autoencoder folder whose weights a new run starts from
    decoder_only: bool = False  # train the decoder only; the encoder (and its latents) stay as `init` made them


def autoencoder_loss(model, x: torch.Tensor, cfg: AutoencoderTrainConfig,
                     gen: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """x: padded clips (B, 3, 1 + r*k, H, W) in [-1, 1] -> (loss, parts)."""
    rec, mean, logvar = model(x, gen)
    err = rec - x
    l1, mse = err.abs().mean(), err.pow(2).mean()
    temporal = err.diff(dim=2).abs().mean() if x.shape[2] > 1 else l1 * 0  # the error of the frame differences
    spatial = (err.diff(dim=3).abs().mean() + err.diff(dim=4).abs().mean()) / 2  # ... of the pixel differences
    kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()
    loss = l1 + mse + cfg.temporal_weight * temporal + cfg.spatial_weight * spatial + cfg.kl_weight * kl
    psnr = 10 * torch.log10(4.0 / mse.detach().clamp_min(1e-10))  # range [-1, 1] has peak-to-peak 2
    return loss, {"l1": l1.item(), "mse": mse.item(), "temporal": temporal.item(), "spatial": spatial.item(),
                  "kl": kl.item(), "psnr": psnr.item()}


@torch.no_grad()
def latent_statistics(model: VideoAutoencoder, clips: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel (shift, scale) of the raw latent means of `clips` (B, 3, T, H, W)."""
    mean, _ = model.encode_moments(model.pad(clips))
    dims = (0, 2, 3, 4)
    return tuple(mean.mean(dims).tolist()), tuple(mean.std(dims).clamp_min(1e-4).tolist())


def stats_clips(size: int = 64, count: int = 16) -> torch.Tensor:
    """A fixed set of shapes-world clips (17 frames, seed 10_000) for the latent statistics."""
    ds = ShapesDataset(seed=10_000, size=size, fps=8, seconds=17 / 8)
    return to_model_space(np.stack([ds[i][0] for i in range(count)]))


def model_card(ae_cfg: AutoencoderConfig, cfg: AutoencoderTrainConfig, step: int, data: str) -> dict:
    return {"kind": "kinema.autoencoder", "autoencoder": asdict(ae_cfg), "compression": ae_cfg.compression,
            "step": step, "data": data, "train": asdict(cfg)}


def train_autoencoder(run: str | Path, dataset, ae_cfg: AutoencoderConfig, cfg: AutoencoderTrainConfig,
                      resume: bool = False, progress: bool = True, data: str = "shapes") -> Path:
    """Train on `dataset` (items (frames uint8 (T, H, W, 3), caption), T = cfg.frames) into folder `run`."""
    from tqdm import tqdm

    run = Path(run)
    rank, world, device = dist_info()
    if cfg.decoder_only and not cfg.init:
        raise ValueError("decoder_only trains the decoder of an autoencoder given by init")
    model, ema, opt, start = start_run(run, lambda: VideoAutoencoder(ae_cfg), "autoencoder", cfg, resume, device,
                                       Path(cfg.init) if cfg.init else None)
    if cfg.decoder_only:  # no gradient reaches the encoder, so AdamW and the EMA leave it exactly as it was
        model.encoder.requires_grad_(False)
    ddp_model = wrap_ddp(model, world, device)
    keep_stats = cfg.decoder_only and bool(ae_cfg.latent_scale)  # the latent space is init's, normalisation included
    reference = None if keep_stats else stats_clips(cfg.size).to(device)  # clips the statistics are measured on
    if rank == 0:
        run.mkdir(parents=True, exist_ok=True)
        save_json(run / "train_config.json", {"train": asdict(cfg), "autoencoder": asdict(ae_cfg), "data": data,
                                              "world_size": world})
        print(f"autoencoder {ae_cfg.compression}: {count_parameters(model) / 1e6:.2f}M parameters"
              f"{' (training the decoder only)' if cfg.decoder_only else ''}, "
              f"{world} process(es) on {device}, steps {start} -> {cfg.steps}")
    log = RunLog(run, start, cfg.log_every, cfg.batch * world, enabled=rank == 0)
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, disable=not progress or rank != 0,
               dynamic_ncols=True, desc="train-autoencoder")
    for step in bar:
        gen = step_generator(cfg.seed, step, rank, device)
        x, _ = get_batch(dataset, step * world + rank, cfg.batch)
        x = model.pad(x.to(device))
        lr = lr_at(step, cfg.lr, cfg.warmup, cfg.steps, cfg.cooldown)
        loss, parts = autoencoder_loss(ddp_model, x, cfg, gen)
        due = step_and_log(model, ema, opt, loss, step, lr, cfg, log, bar, {"loss": ".4f", "psnr": ".1f"}, **parts)
        done = step + 1
        if rank == 0 and due:
            if keep_stats:
                final_cfg = ae_cfg
            else:
                shift, scale = latent_statistics(ema, reference)
                final_cfg = replace(ae_cfg, latent_shift=shift, latent_scale=scale)
            save_component(run, "autoencoder", ema.state_dict(), model_card(final_cfg, cfg, done, data))
            save_train_state(run, model, opt, {"step": done, "autoencoder": asdict(ae_cfg), "train": asdict(cfg)})
            log.plot(run / "loss.png")
    return run

