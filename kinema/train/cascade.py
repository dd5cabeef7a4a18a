"""Training the cascade's stages (interpolator, upscaler, refiner), with the habits of the denoiser's loop.

Both are regressions against exact ground truth (kinema.data.cascade): L1 (or MSE, `loss="mse"`)
between the model's output and the frames rendered at the higher rate or size. L1 suits the
upscaler; the interpolator learns under MSE, because its first guess is already exact on most
pixels and L1's gradient (the sign of the error) pushes its zero-initialised output back to zero
there faster than the sparse errors at moving edges pull it away. The interpolator can add a
temporal term, the same loss on the frame differences of output and truth (`temporal_weight`),
which asks for motion that is right from frame to frame, not only frames that are right one by one.
The refiner learns from pairs made beforehand (kinema.data.refiner_pairs: autoencoded clip, rendered clip,
caption) under MSE, for the interpolator's reason: under L1 it gained nothing over its input in 400
steps (docs/cascade.md). A run folder holds `<stage>.{safetensors,json}` (EMA weights), `train_state.*`
for exact resume, `log.jsonl` and `loss.png`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from kinema.models.components import build, load_component
from kinema.models.interpolator import INTERPOLATOR_PRESETS
from kinema.models.refiner import REFINER_PRESETS
from kinema.models.upscaler import UPSCALER_PRESETS
from kinema.data.refiner_pairs import RefinerPairs
from kinema.data.cascade import InterpolationData, UpscaleData
from kinema.io.checkpoint import save_component, save_json
from kinema.train.common import RunConfig, RunLog, dist_info, lr_at, save_train_state, start_run, step_and_log, wrap_ddp
STAGES = ("interpolator", "upscaler", "refiner")
PRESETS = {"interpolator": INTERPOLATOR_PRESETS, "upscaler": UPSCALER_PRESETS, "refiner": REFINER_PRESETS}


@dataclass
class StageTrainConfig(RunConfig):
    FIXED_ON_RESUME = ("stage", "preset")
    stage: str = "interpolator"
    preset: str = "small"
    steps: int = 2000
    batch: int = 16
    loss: str = "l1"  # "l1" or "mse"
    temporal_weight: float = 0.0  # interpolator only
    real_share: float = 0.2
    compressed: float = 0.0  # the share of inputs through an h264 round trip (kinema.data.cascade.CRF)
    init: str | None = None  # a folder holding this stage (a run, a shipped model) whose weights a new run starts from
    after: str | None = None  # upscaler: a folder whose upscaler makes the inputs (this one is for the passes after it)

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {', '.join(STAGES)}, got {self.stage!r}")
        presets = PRESETS[self.stage]
        if self.preset not in presets:
            raise ValueError(f"unknown {self.stage} preset {self.preset!r}; choose from {', '.join(presets)}")
        if self.loss not in ("l1", "mse"):
            raise ValueError(f"loss must be l1 or mse, got {self.loss!r}")
        if not 0.0 <= self.compressed <= 1.0 or (self.compressed and self.stage == "refiner"):
            raise ValueError("compressed inputs are a share in [0, 1], for the upscaler and the interpolator")
        if self.after and self.stage != "upscaler":
            raise ValueError("--after applies to the upscaler only")
        if self.temporal_weight and self.stage != "interpolator":
            raise ValueError("the temporal loss applies to the interpolator only")


def build_stage(stage: str, config) -> torch.nn.Module:
    return build(stage, config)


def stage_loss(model, cfg: StageTrainConfig, data, step: int) -> tuple[torch.Tensor, dict[str, float]]:
    device = next(model.parameters()).device

    def err(d: torch.Tensor) -> torch.Tensor:
        return d.abs().mean() if cfg.loss == "l1" else d.pow(2).mean()

    if cfg.stage == "interpolator":
        x_in, x, mask, _ = data.batch(step, cfg.batch)
        x_in, x, mask = x_in.to(device), x.to(device), mask.to(device)
        y = model(x_in, mask)
        main = err(y - x)
        temporal = err((y - x).diff(dim=2))  # the error of the frame differences
        loss = main + cfg.temporal_weight * temporal
        unknown = (1 - mask)[:, None, :, None, None]
        mse = ((y - x).pow(2) * unknown).sum() / (unknown.sum() * x.shape[1] * x.shape[3] * x.shape[4])
        parts = {cfg.loss: main.item(), "temporal": temporal.item()}
    elif cfg.stage == "refiner":
        lo, hi, cond = data.batch(step, cfg.batch)
        lo, hi = lo.to(device), hi.to(device)
        y = model(lo, cond.to(device))
        loss = err(y - hi)
        mse = (y - hi).pow(2).mean()
        parts = {cfg.loss: loss.item(), "input_psnr": (10 * torch.log10(4.0 / (lo - hi).pow(2).mean())).item()}
    else:
        lo, hi = (v.to(device) for v in data.batch(step, cfg.batch))
        y = model(lo)
        loss = err(y - hi)
        mse = (y - hi).pow(2).mean()
        parts = {cfg.loss: loss.item()}
    parts["psnr"] = (10 * torch.log10(4.0 / mse.detach().clamp_min(1e-10))).item()  # [-1, 1]: peak-to-peak 2
    return loss, parts


def model_card(cfg: StageTrainConfig, config, step: int) -> dict:
    return {"kind": f"kinema.{cfg.stage}", cfg.stage: asdict(config), "step": step, "train": asdict(cfg)}


def train_stage(run: str | Path, cfg: StageTrainConfig, real: list[Path] | None = None, resume: bool = False,
                progress: bool = True, pairs: str | Path | list | None = None) -> Path:
    """Train a stage into folder `run`; `real`: video files (interpolator) or images (upscaler) of real
    footage; `pairs`: the refiner's pairs folder(s) (kinema.data.refiner_pairs.build_pairs)."""
    from tqdm import tqdm

    run = Path(run)
    rank, world, device = dist_info()
    config = PRESETS[cfg.stage][cfg.preset]
    model, ema, opt, start = start_run(run, lambda: build_stage(cfg.stage, config), cfg.stage, cfg, resume, device,
                                       Path(cfg.init) if cfg.init else None)
    if cfg.stage == "refiner":
        if pairs is None:
            raise ValueError("training the refiner needs a pairs folder")
        from kinema.text.encoder import load_text_encoder

        data = RefinerPairs(pairs, load_text_encoder(), cfg.seed + rank)
    elif cfg.stage == "interpolator":
        data = InterpolationData(cfg.seed + rank, real_videos=real, real_share=cfg.real_share,
                                 compressed=cfg.compressed)
    else:
        after = load_component(cfg.after, "upscaler", device) if cfg.after else None
        data = UpscaleData(cfg.seed + rank, real_images=real, real_share=cfg.real_share, compressed=cfg.compressed,
                           after=after)
    ddp_model = wrap_ddp(model, world, device)
    if rank == 0:
        run.mkdir(parents=True, exist_ok=True)
        save_json(run / "train_config.json", {"train": asdict(cfg), cfg.stage: asdict(config),
                                              "real": [str(p) for p in real or []], "world_size": world,
                                              "pairs": [str(p) for p in pairs] if isinstance(pairs, (list, tuple))
                                              else str(pairs) if pairs else None})
        n = sum(p.numel() for p in model.parameters())
        print(f"{cfg.stage} ({cfg.preset}): {n / 1e6:.2f}M parameters, {world} process(es) on {device}, "
              f"steps {start} -> {cfg.steps}")
    log = RunLog(run, start, cfg.log_every, cfg.batch * world, enabled=rank == 0)
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, disable=not progress or rank != 0,
               dynamic_ncols=True, desc=f"train {cfg.stage}")
    for step in bar:
        lr = lr_at(step, cfg.lr, cfg.warmup, cfg.steps, cfg.cooldown)
        loss, parts = stage_loss(ddp_model, cfg, data, step * world + rank)
        due = step_and_log(model, ema, opt, loss, step, lr, cfg, log, bar, {"loss": ".4f", "psnr": ".1f"}, **parts)
        done = step + 1
        if rank == 0 and due:
            save_component(run, cfg.stage, ema.state_dict(), model_card(cfg, config, done))
            save_train_state(run, model, opt, {"step": done, "train": asdict(cfg)})
            log.plot(run / "loss.png")
    return run
