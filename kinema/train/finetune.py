"""Fine-tuning a model's denoiser with a LoRA adapter (kinema.models.lora) on a folder of captioned clips.

The base (a kinema model folder or a Wan folder) stays frozen; only the adapter's low-rank matrices train, on the
flow loss the base was trained with, in the base's own space (each clip encoded by its autoencoder on the fly) and
with its own text encoder. One loop for one process and torchrun alike (DDP over the adapter's parameters; each
step's random draws are made for the global batch and sliced, as in kinema.train.denoiser).

The output folder is an adapter folder (lora.safetensors + lora.json, written at every checkpoint and at the end)
with the run's log.jsonl and loss.png; `--lora OUT` puts it on generate, eval and serve.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist

from kinema.data.dataset import get_batch
from kinema.diffusion.rectified_flow import flow_draws, flow_loss
from kinema.models.lora import TARGETS, add_adapter, network, save_adapter
from kinema.train.common import RunConfig, RunLog, dist_info, global_mean, lr_at, step_generator

ADAPTER = "finetuned"  # the adapter's name inside the network while it trains


@dataclass
class FinetuneConfig(RunConfig):
    steps: int = 500
    batch: int = 2  # per process
    lr: float = 1e-3
    warmup: int = 20
    rank: int = 16
    alpha: float | None = None  # LoRA's alpha (scale alpha / rank); None: the rank (scale 1)
    targets: list[str] | None = None  # layer names the adapter trains (None: kinema.models.lora.TARGETS)
    caption_dropout: float = 0.1
    checkpoint_every: int = 100
    model: str = ""  # the base model folder
    data: str = ""  # the folder of NAME.mp4 + NAME.txt
    clip: dict = field(default_factory=dict)  # size, fps, seconds the clips are trained at


def adapter_loss(pipe, x: torch.Tensor, captions: list[str], cfg: FinetuneConfig,
                 gen: torch.Generator, world: int = 1, rank: int = 0, model=None) -> torch.Tensor:
    """The flow loss of the denoiser (with its adapter) on model-space clips x (B, 3, T, H, W) and their captions,
    in the base's space; the random draws made for a global batch of world * B and this process's share taken."""
    device = next(pipe.denoiser.parameters()).device
    b = len(x)
    n, mine = b * world, slice(rank * b, (rank + 1) * b)
    with torch.no_grad():
        x0 = pipe.autoencoder.encode(x.to(device)) if pipe.autoencoder is not None else x.to(device)
        text = pipe.text_encoder.encode(captions).to(device)
        null = pipe.text_encoder.empty().to(device)
    keep = (torch.rand(n, generator=gen, device=device) >= cfg.caption_dropout)[mine]
    t, noise = flow_draws((n, *x0.shape[1:]), pipe.flow, gen, device, x0.dtype)
    return flow_loss(model or pipe.denoiser, x0, text.where(keep, null), pipe.flow, draws=(t[mine], noise[mine]))


def finetune(out: str | Path, pipe, dataset, cfg: FinetuneConfig, progress: bool = True) -> Path:
    """Train a LoRA adapter of rank cfg.rank on `pipe`'s denoiser (a loaded kinema.pipeline.Pipeline) over
    `dataset` (items (frames uint8 (T, H, W, 3), caption) at the base's native size, frame rate and length); the
    adapter folder `out` gets lora.safetensors + lora.json, log.jsonl and loss.png."""
    from tqdm import tqdm

    out = Path(out)
    rank, world, device = dist_info()
    torch.manual_seed(cfg.seed)
    _, _, kind = network(pipe.denoiser)
    targets = cfg.targets or TARGETS[kind]
    alpha = cfg.alpha or cfg.rank
    params = add_adapter(pipe.denoiser, ADAPTER, cfg.rank, alpha, targets)
    if not params:
        raise ValueError(f"no layer of the {kind} denoiser is named like {targets}")
    model = pipe.denoiser
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                                          else None)
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        print(f"LoRA rank {cfg.rank} on {kind} layers {', '.join(targets)}: {sum(p.numel() for p in params):,} "
              f"trained parameters, {world} process(es) on {device}")
    log = RunLog(out, 0, cfg.log_every, cfg.batch * world, enabled=rank == 0)
    bar = tqdm(range(cfg.steps), disable=not progress or rank != 0, dynamic_ncols=True, desc="finetune")
    record = {"step": 0, "data": cfg.data, "train": asdict(cfg)}
    for step in bar:
        gen = step_generator(cfg.seed, step, 0, device)
        x, captions = get_batch(dataset, step * world + rank, cfg.batch)
        loss = adapter_loss(pipe, x, captions, cfg, gen, world, rank, model)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg.lr, cfg.warmup, cfg.steps, cfg.cooldown)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip))
        opt.step()
        logged = log.add(step, step + 1 == cfg.steps, loss=global_mean(loss), grad_norm=grad_norm,
                         lr=opt.param_groups[0]["lr"])
        if logged:
            bar.set_postfix(loss=f"{logged['loss']:.4f}")
        done = step + 1
        if rank == 0 and (done % cfg.checkpoint_every == 0 or done == cfg.steps):
            save_adapter(out, pipe.denoiser, ADAPTER, cfg.rank, alpha, targets, record | {"step": done})
            log.plot(out / "loss.png")
    if world > 1:
        dist.barrier()
    return out
