"""Training the verifier (kinema.verifier), with the habits of the denoiser's loop.

Each step draws `batch` scenes with their near misses (kinema.world.near_misses): clips v, v' and captions
c, c'. All 2B captions are scored against all 2B clips, and the loss is the symmetric contrastive
cross-entropy (CLIP's): each caption picks its clip among all of them, each clip its caption. A near
miss is one of the negatives, the hardest; once the easy ones are told apart the softmax puts its weight
on it. Clips are augmented (noise, blur) because the clips the verifier will judge are a denoiser's, not
the renderer's. A run folder holds `verifier.{safetensors,json}` (EMA weights), `train_state.*` for
exact resume, `log.jsonl` and `loss.png`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from kinema.io.frames import to_model_space
from kinema.data.dataset import NearMissPairs
from kinema.io.checkpoint import save_component, save_json
from kinema.text.encoder import TEXT_ENCODER_NAME, TextEmbedding, TextEncoder, load_text_encoder
from kinema.train.common import (RunConfig, RunLog, dist_info, lr_at, save_train_state, start_run,
                                 step_and_log, step_generator, wrap_ddp)
from kinema.models.verifier import Verifier, VerifierConfig


@dataclass
class VerifierTrainConfig(RunConfig):
    FIXED_ON_RESUME = ("clip.size", "clip.fps", "clip.seconds")
    steps: int = 3000
    batch: int = 64  # scenes per process (each with its near miss)
    weight_decay: float = 0.01
    noise: float = 0.2  # augmentation: Gaussian noise of std up to this, on half the clips
    p_two: float = 0.5
    clip: dict = field(default_factory=lambda: {"size": 32, "fps": 4, "seconds": 2.0})


def augment(x: torch.Tensor, noise: float, gen: torch.Generator) -> torch.Tensor:
    """Half the clips (B, 3, T, H, W) get Gaussian noise (std uniform up to `noise`); independently, half
    are blended with a 3x3 box blur of themselves (weight uniform in [0, 1])."""
    b = x.shape[0]
    u = torch.rand(4, b, generator=gen).to(x.device)[..., None, None, None, None]
    std = torch.where(u[0] < 0.5, u[1] * noise, torch.zeros_like(u[1]))
    x = x + std * torch.randn(x.shape, generator=gen).to(x.device)
    blurred = F.avg_pool3d(x, (1, 3, 3), stride=1, padding=(0, 1, 1), count_include_pad=False)
    w = torch.where(u[2] < 0.5, u[3], torch.zeros_like(u[3]))
    return x + w * (blurred - x)


def verifier_loss(model, v: torch.Tensor, v_miss: torch.Tensor, c: TextEmbedding, c_miss: TextEmbedding
                  ) -> tuple[torch.Tensor, dict[str, float]]:
    """The module docstring's loss for B scenes: clips (B, 3, T, S, S) and their captions."""
    b = v.shape[0]
    text = TextEmbedding.cat([c, c_miss])
    s = model(torch.cat([v, v_miss]), text, matrix=True)  # (2B captions, 2B clips)
    target = torch.arange(2 * b, device=v.device)
    loss = (F.cross_entropy(s, target) + F.cross_entropy(s.T, target)) / 2
    i = torch.arange(b, device=v.device)
    acc = ((s[i, i] > s[i, b + i]).float().mean() + (s[b + i, b + i] > s[b + i, i]).float().mean()) / 2
    return loss, {"pair_accuracy": float(acc)}


def model_card(cfg: VerifierTrainConfig, config: VerifierConfig, step: int) -> dict:
    return {"kind": "kinema.verifier", "verifier": asdict(config), "text_encoder": TEXT_ENCODER_NAME,
            "clip": cfg.clip, "step": step, "train": asdict(cfg)}


def train_verifier(run: str | Path, cfg: VerifierTrainConfig, config: VerifierConfig | None = None,
                   resume: bool = False, text_encoder: TextEncoder | None = None, progress: bool = True) -> Path:
    """Train a verifier into folder `run` on the shapes world's near-miss pairs."""
    from tqdm import tqdm

    run = Path(run)
    rank, world, device = dist_info()
    clip = cfg.clip
    config = config or VerifierConfig(size=int(clip["size"]))
    if config.size != int(clip["size"]):
        raise ValueError(f"the verifier reads {config.size}x{config.size} clips but the data is {clip['size']}")
    model, ema, opt, start = start_run(run, lambda: Verifier(config), "verifier", cfg, resume, device)
    ddp_model = wrap_ddp(model, world, device)
    encoder = text_encoder or load_text_encoder(device=str(device))
    data = NearMissPairs(cfg.seed, int(clip["size"]), float(clip["fps"]), float(clip["seconds"]), cfg.p_two)
    if rank == 0:
        run.mkdir(parents=True, exist_ok=True)
        save_json(run / "train_config.json", {"train": asdict(cfg), "verifier": asdict(config), "world_size": world})
        n = sum(p.numel() for p in model.parameters())
        print(f"verifier: {n / 1e6:.2f}M parameters, {world} process(es) on {device}, steps {start} -> {cfg.steps}")
    log = RunLog(run, start, cfg.log_every, cfg.batch * world, enabled=rank == 0)
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, disable=not progress or rank != 0,
               dynamic_ncols=True, desc="train verifier")
    for step in bar:
        gen = step_generator(cfg.seed, step, rank, torch.device("cpu"))
        first = (step * world + rank) * cfg.batch
        items = [data[first + j] for j in range(cfg.batch)]
        v = to_model_space(np.stack([it[0] for it in items]))
        v_miss = to_model_space(np.stack([it[2] for it in items]))
        videos = augment(torch.cat([v, v_miss]), cfg.noise, gen).to(device)
        texts = encoder.encode([it[1] for it in items] + [it[3] for it in items]).to(device)
        c, c_miss = texts.split(cfg.batch)
        loss, parts = verifier_loss(ddp_model, *videos.split(cfg.batch), c, c_miss)
        lr = lr_at(step, cfg.lr, cfg.warmup, cfg.steps, cfg.cooldown)
        due = step_and_log(model, ema, opt, loss, step, lr, cfg, log, bar, {"loss": ".3f", "pair_accuracy": ".3f"}, **parts)
        done = step + 1
        if rank == 0 and due:
            save_component(run, "verifier", ema.state_dict(), model_card(cfg, config, done))
            save_train_state(run, model, opt, {"step": done, "train": asdict(cfg), "verifier": asdict(config)})
            log.plot(run / "loss.png")
    return run
