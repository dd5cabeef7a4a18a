"""What every kinema training loop shares: processes, the optimizer, EMA, resumable state, the log.

A run folder's resumable state is `train_state.safetensors` (raw weights as `model.*`, AdamW
moments as `opt.<param>.<key>`) beside `train_state.json` (step, param groups, configs).
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import torch
import torch.distributed as dist

from kinema.io.checkpoint import (CheckpointError, atomic_write, load_json, load_state_into, load_tensors, read_component,
                                  save_json, save_tensors)
from kinema.train.plot import plot_loss


@dataclass
class RunConfig:
    """What every training run has; each component's config adds its own fields and its own defaults where they
    differ (the commands set steps, batch, lr and checkpoints per component: kinema.cli.common.add_run_options)."""
    steps: int = 1000
    batch: int = 8  # per process
    lr: float = 1e-3
    warmup: int = 100
    cooldown: int = 0  # the last `cooldown` steps decay lr linearly to 0 (lr_at)
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.99)
    ema: float = 0.995
    grad_clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = 200
    log_every: int = 10

    # settings a resumed run must share with the run it continues ("clip.size": the size in the `clip` dict),
    # each refused by its command-line option's name when it differs
    FIXED_ON_RESUME: ClassVar[tuple[str, ...]] = ()


def check_resumed_settings(cfg: RunConfig, saved: dict, source: Path) -> None:
    """CheckpointError naming the option when `cfg` differs from the saved config in a FIXED_ON_RESUME setting."""
    now = asdict(cfg)
    for key in cfg.FIXED_ON_RESUME:
        a, b = saved, now
        for part in key.split("."):
            a, b = (a or {}).get(part) if isinstance(a, dict) else None, b.get(part)
        if a != b:
            option = "--" + key.split(".")[-1].replace("_", "-")
            raise CheckpointError(f"{source} was started with {option} {a}; resume it with the same {option} "
                                  f"(not {b}), or start a new run")


def dist_info() -> tuple[int, int, torch.device]:
    """(rank, world size, device): torchrun's environment if present, else one process."""
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


def make_optimizer(model: torch.nn.Module, lr: float, betas, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices and kernels only (not on norms and biases)."""
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.dim() >= 2 else no_decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=tuple(betas))


def lr_at(step: int, lr: float, warmup: int, steps: int = 0, cooldown: int = 0) -> float:
    """Warm-up, stable, decay (Hägele et al. 2024, "Scaling Laws and Compute-Optimal Training Beyond Fixed
    Training Durations"): linear warm-up to lr over `warmup` steps, then constant (EMA does the
    averaging), then, when `cooldown` > 0, a linear decay to 0 over the last `cooldown` of `steps` steps.
    A run trained at constant lr can be resumed with a cool-down added at its end."""
    scale = min(1.0, (step + 1) / max(warmup, 1))
    if cooldown > 0:
        scale = min(scale, (steps - step) / cooldown)
    return lr * max(scale, 0.0)


PARALLEL = ("ddp", "fsdp")  # how torchrun's processes share a model: whole copies, or sharded (FSDP2)


def wrap_ddp(model: torch.nn.Module, world: int, device: torch.device, parallel: str = "ddp") -> torch.nn.Module:
    """The module the loss runs through: DistributedDataParallel under torchrun (a whole copy in each process,
    gradients averaged), the model itself otherwise, or when `parallel` is "fsdp" (start_run sharded it already)."""
    if world == 1 or parallel == "fsdp":
        return model
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def shard(module: torch.nn.Module) -> None:
    """FSDP2 (`fully_shard`; Zhao et al. 2023, "PyTorch FSDP"): each of the module's blocks, then the rest, split
    over the processes, each holding 1/N of every weight, gradient and optimizer moment; a block's weights are
    gathered for its forward and backward and freed after. For a model that does not fit one device."""
    from torch.distributed.fsdp import fully_shard

    for block in getattr(module, "blocks", []):
        fully_shard(block)
    fully_shard(module)


def full(value):
    """A tensor whole: a sharded one (DTensor) gathered from every process (a collective: call it on all)."""
    from torch.distributed.tensor import DTensor

    return value.full_tensor() if isinstance(value, DTensor) else value


def full_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The module's state dict with every tensor whole (gathered where sharded: call it on every process)."""
    return {k: full(v) for k, v in module.state_dict().items()}


def is_writer() -> bool:
    """Whether this process writes the run's files (rank 0, or the only process)."""
    return not dist.is_initialized() or dist.get_rank() == 0


def optimizer_step(model: torch.nn.Module, ema: torch.nn.Module, opt: torch.optim.Optimizer, loss: torch.Tensor,
                   step: int, lr: float, grad_clip: float, ema_target: float) -> float:
    """One update: set lr, backward, clip, AdamW step, EMA; returns the gradient norm before clipping."""
    for group in opt.param_groups:
        group["lr"] = lr
    opt.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = full(torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip))
    opt.step()
    ema_update(ema, model, ema_decay(step, ema_target))
    return float(grad_norm)


@torch.no_grad()
def step_and_log(model: torch.nn.Module, ema: torch.nn.Module, opt: torch.optim.Optimizer, loss: torch.Tensor,
                 step: int, lr: float, cfg, log: "RunLog", bar, show: dict[str, str], **parts: float) -> bool:
    """One optimizer step (clipping, EMA), its record in the run's log (the progress bar shows the record's keys
    in `show`, with their formats, and the rate), and whether a checkpoint is due after it (every
    cfg.checkpoint_every steps, and at the end)."""
    grad_norm = optimizer_step(model, ema, opt, loss, step, lr, cfg.grad_clip, cfg.ema)
    record = log.add(step, step + 1 == cfg.steps, loss=global_mean(loss), grad_norm=grad_norm, lr=lr, **parts)
    if record:
        bar.set_postfix({k: f"{record[k]:{fmt}}" for k, fmt in show.items()} | {"rate": f"{record['samples_per_s']:.1f}/s"})
    done = step + 1
    return done % cfg.checkpoint_every == 0 or done == cfg.steps


def global_mean(value: torch.Tensor) -> float:
    """A per-process value (a loss) averaged over the processes (itself in one process)."""
    value = value.detach().float().clone()
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(value)
        value /= dist.get_world_size()
    return value.item()


def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p.detach(), 1.0 - decay)


def ema_decay(step: int, target: float) -> float:
    """EMA decay with a warm-up, (1 + s) / (10 + s), capped at the target."""
    return min(target, (1 + step) / (10 + step))


def start_run(run: Path, build, component: str, cfg, resume: bool, device: torch.device, init: Path | None = None,
              sharded: bool = False):
    """(model, ema, optimizer, first step) for a run folder: `build()` makes the module; on resume the
    raw weights and optimizer come from train_state.*, the EMA from the saved component `component`.
    A new run may start from the weights of a saved `component` in folder `init` (a fresh optimizer):
    every tensor there must belong to the model; those it lacks (a part switched on since) or holds in
    another shape (a patch size changed since) keep their initialisation and are named. A folder that
    already holds a run is refused unless resuming. `sharded`: the model and its EMA are sharded over the
    processes (FSDP2, `shard`) once their weights are in, before the optimizer is made over the shards."""
    torch.manual_seed(cfg.seed)
    model, ema = build().to(device), build().to(device)
    if init is not None and not resume:
        state, _ = read_component(init, component)
        fresh = load_state_into(model, state, str(init / f"{component}.safetensors"), allow_missing=True,
                                allow_reshaped=True)
        print(f"initialised from {init}" + (f"; new, from scratch: {', '.join(fresh)}" if fresh else ""))
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    start, saved = 0, None
    if resume:
        meta, tensors = load_train_state(run, model)
        check_resumed_settings(cfg, meta.get("train"), run / "train_state.json")
        start, saved = meta["step"], (meta, tensors)
        ema_state, _ = read_component(run, component)
        load_state_into(ema, ema_state, str(run / f"{component}.safetensors"))
    elif (run / "train_state.json").is_file():
        raise CheckpointError(f"{run} already holds a run: pass --resume to continue it, or choose another folder")
    if sharded:
        shard(model)
        shard(ema)
    opt = make_optimizer(model, cfg.lr, cfg.betas, cfg.weight_decay)
    if saved is not None:
        load_optimizer_state(opt, *saved, run / "train_state.json")
    return model, ema, opt, start


def step_generator(seed: int, step: int, rank: int, device: torch.device) -> torch.Generator:
    """The generator of every random draw of one step: a run is a pure function of (seed, step, rank)."""
    return torch.Generator(device=device).manual_seed(hash((seed, step, rank)) % 2**63)


def save_train_state(run: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, meta: dict) -> None:
    """train_state.* of the model and optimizer, whole (gathered where sharded: call it on every process then;
    the writer process writes)."""
    state = {f"model.{k}": v for k, v in full_state(model).items()}
    opt_state = opt.state_dict()
    for idx, s in opt_state["state"].items():
        for key, value in s.items():
            state[f"opt.{idx}.{key}"] = full(torch.as_tensor(value))
    if is_writer():
        save_tensors(run / "train_state.safetensors", state)
        save_json(run / "train_state.json", {**meta, "param_groups": opt_state["param_groups"]})


def load_train_state(run: Path, model: torch.nn.Module) -> tuple[dict, dict[str, torch.Tensor]]:
    """Restore raw weights from a run folder; returns the saved meta (with 'step') and the saved tensors, whose
    optimizer state `load_optimizer_state` restores."""
    if not (run / "train_state.json").is_file():
        raise CheckpointError(f"nothing to resume in {run} (no train_state.json)")
    meta = load_json(run / "train_state.json")
    step, groups = meta.get("step"), meta.get("param_groups")
    if not isinstance(step, int) or step < 0 or not isinstance(groups, list) or not isinstance(meta.get("train"), dict):
        raise CheckpointError(f"{run / 'train_state.json'}: damaged: no step, optimizer groups or training settings")
    tensors = load_tensors(run / "train_state.safetensors")
    load_state_into(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, str(run))
    return meta, tensors


def load_optimizer_state(opt: torch.optim.Optimizer, meta: dict, tensors: dict[str, torch.Tensor],
                         source: Path) -> None:
    """The optimizer's saved state (whole tensors), each moment sharded as its parameter is."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    params = [p for group in opt.param_groups for p in group["params"]]
    opt_state = {"state": {}, "param_groups": meta["param_groups"]}
    try:
        for k, v in tensors.items():
            if k.startswith("opt."):
                _, idx, key = k.split(".", 2)
                p = params[int(idx)]
                if isinstance(p, DTensor) and v.shape == p.shape:
                    v = distribute_tensor(v.to(p.device), p.device_mesh, p.placements)
                opt_state["state"].setdefault(int(idx), {})[key] = v
        opt.load_state_dict(opt_state)
    except (KeyError, ValueError, TypeError, IndexError, RuntimeError) as e:
        raise CheckpointError(f"{source}: damaged: its optimizer state does not fit ({e})") from None


class RunLog:
    """log.jsonl of a run (truncated to the resumed step) with averaged records every `every` steps."""

    def __init__(self, run: Path, start: int, every: int, batch: int, enabled: bool = True):
        self.path, self.every, self.batch, self.enabled = run / "log.jsonl", every, batch, enabled
        self.values: dict[str, list[float]] = {}
        self.t_last, self.seen = time.time(), 0
        if enabled and self.path.exists():  # keep only the lines before the step we continue from
            kept, damaged = [], 0
            for line in self.path.read_text(errors="replace").splitlines():
                try:
                    if json.loads(line)["step"] <= start:
                        kept.append(line)
                except (ValueError, KeyError, TypeError):
                    damaged += int(bool(line.strip()))
            if damaged:
                print(f"{self.path}: {damaged} damaged line(s) dropped", file=sys.stderr)
            atomic_write(self.path, lambda p: p.write_text("".join(l + "\n" for l in kept)))

    def add(self, step: int, last: bool, **values: float) -> dict | None:
        """Record step `step` (0-based); returns the written record on logging steps."""
        for k, v in values.items():
            if not math.isfinite(v):
                raise FloatingPointError(f"{k} at step {step} is not finite ({v})")
            self.values.setdefault(k, []).append(v)
        self.seen += self.batch
        done = step + 1
        if not self.enabled or not (done % self.every == 0 or last):
            return None
        record = {"step": done, **{k: sum(v) / len(v) for k, v in self.values.items()},
                  "samples_per_s": self.seen / (time.time() - self.t_last), "time": time.time()}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        self.values, self.t_last, self.seen = {}, time.time(), 0
        return record

    def plot(self, out: Path) -> None:
        if self.enabled:
            plot_loss(self.path, out)
