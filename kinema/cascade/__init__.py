"""The cascade after the keyframe model: detail the decoder loses (refine), motion between keyframes
(interpolate) and upscaling (upscale).

Each stage is a separate component (`refiner.{safetensors,json}`, `interpolator.{safetensors,json}`,
`upscaler.{safetensors,json}`) that a model folder may hold beside its denoiser; `load_stage` reads one.
"""
from __future__ import annotations

from pathlib import Path

import torch

from kinema.cascade.interpolate import FrameFiller, InterpolatorConfig
from kinema.cascade.refine import Refiner, RefinerConfig
from kinema.cascade.upscale import Upscaler, UpscalerConfig
from kinema.io.checkpoint import CheckpointError, load_component, load_state_into


def has_stage(folder: str | Path, name: str) -> bool:
    return (Path(folder) / f"{name}.json").is_file()


STAGE_CLASSES = {"interpolator": (FrameFiller, InterpolatorConfig), "upscaler": (Upscaler, UpscalerConfig),
                 "refiner": (Refiner, RefinerConfig)}


def load_stage(folder: str | Path, name: str, device: str | torch.device = "cpu") -> FrameFiller | Upscaler | Refiner:
    """The interpolator, upscaler or refiner component in `folder`, in eval mode; CheckpointError on any fault."""
    folder = Path(folder)
    state, card = load_component(folder, name)
    if card.get("kind") != f"kinema.{name}" or not isinstance(card.get(name), dict):
        raise CheckpointError(f"{folder / (name + '.json')} is not a kinema {name} config")
    try:
        model_class, config_class = STAGE_CLASSES[name]
        model = model_class(config_class(**card[name]))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{folder / (name + '.json')} has a bad config: {e}") from None
    load_state_into(model, state, str(folder / f"{name}.safetensors"))
    model.step = card.get("step")
    return model.to(device).eval().requires_grad_(False)
