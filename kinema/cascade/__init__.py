"""The cascade after the keyframe model: motion between keyframes (interpolate) and upscaling (upscale).

Each stage is a separate component (`interpolator.{safetensors,json}`, `upscaler.{safetensors,json}`)
that a model folder may hold beside its denoiser; `load_stage` reads one.
"""
from __future__ import annotations

from pathlib import Path

import torch

from kinema.cascade.interpolate import FrameFiller, InterpolatorConfig
from kinema.cascade.upscale import Upscaler, UpscalerConfig
from kinema.io.checkpoint import CheckpointError, load_component, load_state_into


def has_stage(folder: str | Path, name: str) -> bool:
    return (Path(folder) / f"{name}.json").is_file()


def load_stage(folder: str | Path, name: str, device: str | torch.device = "cpu") -> FrameFiller | Upscaler:
    """The interpolator or upscaler component in `folder`, in eval mode; CheckpointError on any fault."""
    folder = Path(folder)
    state, card = load_component(folder, name)
    if card.get("kind") != f"kinema.{name}" or not isinstance(card.get(name), dict):
        raise CheckpointError(f"{folder / (name + '.json')} is not a kinema {name} config")
    try:
        model = FrameFiller(InterpolatorConfig(**card[name])) if name == "interpolator" else Upscaler(UpscalerConfig(**card[name]))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{folder / (name + '.json')} has a bad config: {e}") from None
    load_state_into(model, state, str(folder / f"{name}.safetensors"))
    model.step = card.get("step")
    return model.to(device).eval().requires_grad_(False)
