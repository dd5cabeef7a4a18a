"""Training the denoiser: one loop for one process (CPU or GPU) and for torchrun alike.

A run folder holds:
  denoiser.safetensors / denoiser.json      EMA weights and config: a model folder `generate` loads
  train_state.safetensors / train_state.json raw weights, AdamW state, step: what `--resume` reads
  log.jsonl, loss.png                        the loss log and its plot
  autoencoder.safetensors / .json            (latent space) the autoencoder whose latents it denoises

Every random draw of step s comes from one generator seeded by (seed, s), drawn for the global batch (all
processes' items) and sliced, and the data items of step s are fixed by s: a run resumed from step s continues
exactly as if it had not stopped, and N processes of batch B train as one process of batch N*B (DDP averages
their gradients; the same loss and weights within float rounding: tests/test_torchrun.py).
"""
from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist

from kinema.data.dataset import get_batch
from kinema.data.latents import LatentDataset
from kinema.diffusion.rectified_flow import FlowConfig, flow_draws, flow_loss, over
from kinema.io.checkpoint import save_component, save_json
from kinema.models.denoiser import DenoiserConfig, VideoDiT, count_parameters
from kinema.models.precision import compute_dtype
from kinema.text.encoder import TEXT_ENCODER_NAME, TextEncoder, load_text_encoder
from kinema.train.common import (PARALLEL, RunConfig, RunLog, dist_info, full_state, is_writer, lr_at,
                                 save_train_state, start_run, step_and_log, step_generator, wrap_ddp)

# The sampling settings a newly trained model's card starts with; from then on the card is their only home
# (recipes/ship.py sets the shipped model's own). kinema.pipeline.settings.ClipSettings names each one.
FIRST_SAMPLING = {"steps": 20, "guidance": 4.0, "sampler": "euler", "shift": 1.0, "guidance_interval": [0.0, 1.0],
                  "eta": 0.0, "regions": 0.0, "steer": 0.0, "candidates": 1, "refine_passes": 1}


@dataclass
class TrainConfig(RunConfig):
    FIXED_ON_RESUME = ("clip.size", "clip.fps", "clip.seconds")
    steps: int = 4000
    batch: int = 12  # per process
    lr: float = 4e-4
    warmup: int = 200
    weight_decay: float = 0.01
    ema: float = 0.999
    caption_dropout: float = 0.1  # the share of captions replaced by "" (the unconditional branch)
    checkpoint_every: int = 250
    precision: str = "auto"  # "fp32" | "bf16" | "auto" (bf16 autocast on CUDA, fp32 on CPU)
    clip: dict = field(default_factory=lambda: {"size": 64, "fps": 8, "seconds": 2.0})
    data: str = "shapes"  # "shapes" or a folder of captioned clips
    recaption: float = 0.0  # a latent cache: the chance an item gets a fresh caption (kinema.data.latents)
    init: str | None = None  # a model folder whose denoiser weights a new run starts from
    condition: float = 0.0  # the share of clips given some of their frames (given_frames): picture, clip to go on
    layout: float = 0.0  # the share of clips given their layout (kinema.models.layout: objects, tracks, camera)
    parallel: str = "ddp"  # under torchrun: "ddp" (a copy per process) or "fsdp" (sharded: kinema.train.common.shard)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """bf16 autocast where it is fast (compute_dtype), None for float32."""
    dtype = compute_dtype(precision, device)
    return None if dtype == torch.float32 else dtype


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------

def given_frames(batch: int, frames: int, share: float, generator: torch.Generator,
                 going_on: torch.Tensor | None = None) -> torch.Tensor:
    """Which frames of each clip are given clean, (batch, frames) bool: with chance `share` a clip gets one of
    its first frame (image to video), its first 2 or 3 frames (going on from a clip: a latent frame holds 4
    pictures), or its first and last frames; at least one frame is always left to make. Training on them
    teaches the denoiser every way a clip can start (kinema.diffusion.samplers.guided_velocity's `known`).
    going_on: (batch,) bool, clips that always get their first 2 or 3 frames (a window late in a long clip)."""
    device = generator.device
    given = torch.rand(batch, generator=generator, device=device) < share
    kind = torch.randint(0, 4, (batch,), generator=generator, device=device)
    if going_on is not None:
        going_on = going_on.to(device)
        given, kind = given | going_on, kind.where(~going_on, 1 + kind % 2)
    first = torch.tensor([1, 2, 3, 1], device=device)[kind].clamp(max=frames - 1)[:, None]
    idx = torch.arange(frames, device=device)[None]
    known = (idx < first) | ((kind[:, None] == 3) & (idx == frames - 1) & (idx > 0))
    return known & given[:, None]


def model_card(denoiser: DenoiserConfig, flow: FlowConfig, train: TrainConfig, step: int, space: str) -> dict:
    """The JSON saved beside the denoiser: everything needed to rebuild and use it."""
    return {"kind": "kinema.denoiser", "denoiser": asdict(denoiser), "flow": asdict(flow),
            "space": space, "text_encoder": TEXT_ENCODER_NAME, "clip": train.clip, "step": step,
            "train": asdict(train), "sampling": dict(FIRST_SAMPLING)}


def save_checkpoint(run: Path, model, ema, opt, denoiser_cfg, flow_cfg, train_cfg, step: int, space: str) -> None:
    """The EMA weights as the run's denoiser component, and the resumable state (called on every process: sharded
    weights are gathered; the writer process writes)."""
    ema_state = full_state(ema)
    if is_writer():
        save_component(run, "denoiser", ema_state, model_card(denoiser_cfg, flow_cfg, train_cfg, step, space))
    save_train_state(run, model, opt, {"step": step, "denoiser": asdict(denoiser_cfg), "flow": asdict(flow_cfg),
                                       "train": asdict(train_cfg)})


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------

def train(run: str | Path, dataset, denoiser_cfg: DenoiserConfig, flow_cfg: FlowConfig, cfg: TrainConfig,
          resume: bool = False, text_encoder: TextEncoder | None = None, progress: bool = True) -> Path:
    """Train a denoiser into folder `run` on `dataset`: items (frames uint8 (T,H,W,3), caption) in pixel
    space, or a LatentDataset (latents and text embeddings cached by an autoencoder), in whose space
    the denoiser then works; the run folder gets a copy of that autoencoder, making it a model folder."""
    from tqdm import tqdm

    run = Path(run)
    rank, world, device = dist_info()
    if cfg.parallel not in PARALLEL:
        raise ValueError(f"parallel must be one of {', '.join(PARALLEL)}, got {cfg.parallel!r}")
    model, ema, opt, start = start_run(run, lambda: VideoDiT(denoiser_cfg), "denoiser", cfg, resume, device,
                                       Path(cfg.init) if cfg.init else None, sharded=cfg.parallel == "fsdp" and world > 1)
    ddp_model = wrap_ddp(model, world, device, cfg.parallel)
    encoder = text_encoder or load_text_encoder(device=str(device))
    null = encoder.empty()
    amp = autocast_dtype(cfg.precision, device)

    latent = isinstance(dataset, LatentDataset)
    space = "latent" if latent else "pixels"
    if latent and dataset.latent.shape[1] != denoiser_cfg.in_channels:
        raise ValueError(f"the latent cache has {dataset.latent.shape[1]} channels, the denoiser takes {denoiser_cfg.in_channels}")
    if rank == 0:
        run.mkdir(parents=True, exist_ok=True)
        if latent:
            for name in ("autoencoder.safetensors", "autoencoder.json"):
                shutil.copyfile(dataset.folder / name, run / name)
        save_json(run / "train_config.json", {"train": asdict(cfg), "denoiser": asdict(denoiser_cfg),
                                              "flow": asdict(flow_cfg), "world_size": world})
        print(f"denoiser: {count_parameters(model) / 1e6:.2f}M parameters, {world} process(es) on {device}, "
              f"precision {'bf16' if amp else 'fp32'}, steps {start} -> {cfg.steps}")
    log = RunLog(run, start, cfg.log_every, cfg.batch * world, enabled=rank == 0)
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, disable=not progress or rank != 0,
               dynamic_ncols=True, desc="train")
    n, mine = cfg.batch * world, slice(rank * cfg.batch, (rank + 1) * cfg.batch)  # the global batch, this share
    if cfg.layout and not (latent and denoiser_cfg.layout and dataset.scenes is not None):
        raise ValueError("layout training needs a denoiser that takes a layout and a latent cache with scenes")
    phrases: dict[str, torch.Tensor] = {}  # each object phrase's pooled embedding, encoded once

    def encode_phrases(texts: list[str]) -> torch.Tensor:
        new = [p for p in texts if p not in phrases]
        if new:
            phrases.update(zip(new, encoder.encode(new).pooled.cpu()))
        return torch.stack([phrases[p] for p in texts])

    for step in bar:
        gen = step_generator(cfg.seed, step, 0, device)  # the same on every process: draws for the global batch
        first = step * n  # the global batch's first item (this process's: first + rank * batch)
        if latent:
            x0, text = dataset.batch(first + rank * cfg.batch, cfg.batch)
        else:
            x0, captions = get_batch(dataset, step * world + rank, cfg.batch)
            text = encoder.encode(captions)
        x0, text = x0.to(device), text.to(device)
        keep = (torch.rand(n, generator=gen, device=device) >= cfg.caption_dropout)[mine]
        lr = lr_at(step, cfg.lr, cfg.warmup, cfg.steps, cfg.cooldown)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            going_on = dataset.going_on(first, n) if latent else None
            known = (given_frames(n, x0.shape[2], cfg.condition, gen, going_on)[mine]
                     if cfg.condition or (going_on is not None and going_on.any()) else None)
            t, noise = flow_draws((n, *x0.shape[1:]), flow_cfg, gen, device, x0.dtype)
            if cfg.layout:  # the clips' objects where they are, for a share of them (the rest: text alone)
                given = ((torch.rand(n, generator=gen, device=device) < cfg.layout)
                         & dataset.has_layout(first, n).to(device))[mine]  # (a teacher's pairs: as it made them)
                layout = dataset.layout(first + rank * cfg.batch, cfg.batch, denoiser_cfg.layout, encode_phrases)
                text = text.with_layout(layout.to(device).drop(given))
            paired = dataset.pair_noise(first, n) if latent else None
            if paired is not None:  # a teacher's pairs: the straight line from each clip's own noise (reflow)
                own, has = paired  # (clips joined with them: fresh noise)
                noise = torch.where(over(has.to(device), noise), own.to(device, x0.dtype), noise)
            loss = flow_loss(ddp_model, x0, text.where(keep, null.to(device)), flow_cfg, known=known,
                             draws=(t[mine], noise[mine]))
        due = step_and_log(model, ema, opt, loss, step, lr, cfg, log, bar, {"loss": ".4f"})
        done = step + 1
        if due:
            save_checkpoint(run, model, ema, opt, denoiser_cfg, flow_cfg, cfg, done, space)
            if rank == 0:
                log.plot(run / "loss.png")
    if world > 1:
        dist.barrier()
    return run

