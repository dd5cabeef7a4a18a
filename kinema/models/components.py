"""A model folder's components, and the one way to load each.

A model folder holds components side by side, each as `KIND.safetensors` (weights) beside
`KIND.json` (its config under the key KIND, `"kind": "kinema.KIND"`, its training step and record):

    denoiser      the video diffusion transformer (kinema.models.denoiser); the one a folder must have
    student       a few-step denoiser distilled from it (guidance folded in: one forward pass a step), with its
                  own sampling defaults; which of the two makes a clip: kinema.pipeline.Pipeline.resolve
    autoencoder   the causal video autoencoder whose latents a latent denoiser works in
    refiner       restores, as the prompt says, what decoding loses
    interpolator  the motion between keyframes, up to the frame rate asked for
    upscaler      doubles the size pass by pass, up to the size asked for
    upscaler_light  a lighter upscaler for the passes after the first (each has 4x the pixels of the one before)
    verifier      scores how well a clip follows its caption (choosing among candidates)
    planner       reads what a prompt's scene holds, for the plan of where its objects go (kinema.pipeline.plan)

`load_component(folder, kind)` reads any of them through KINDS; a missing, corrupt or mismatched one
is a CheckpointError in one wording ("<file>: <what is wrong>").
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from kinema.io.checkpoint import CheckpointError, built_empty, load_state_into, read_component
from kinema.models.autoencoder import AutoencoderConfig, VideoAutoencoder
from kinema.models.denoiser import DenoiserConfig, VideoDiT
from kinema.models.interpolator import Interpolator, InterpolatorConfig
from kinema.models.planner import Planner, PlannerConfig
from kinema.models.refiner import Refiner, RefinerConfig
from kinema.models.upscaler import Upscaler, UpscalerConfig
from kinema.models.verifier import Verifier, VerifierConfig

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "weights" / "default"  # the shipped model folder


@dataclass(frozen=True)
class Kind:
    """How a component is built: its network class and its config dataclass."""
    model: Callable[..., nn.Module]
    config: type


KINDS: dict[str, Kind] = {
    "denoiser": Kind(VideoDiT, DenoiserConfig),
    "student": Kind(VideoDiT, DenoiserConfig),
    "autoencoder": Kind(VideoAutoencoder, AutoencoderConfig),
    "refiner": Kind(Refiner, RefinerConfig),
    "interpolator": Kind(Interpolator, InterpolatorConfig),
    "upscaler": Kind(Upscaler, UpscalerConfig),
    "upscaler_light": Kind(Upscaler, UpscalerConfig),
    "verifier": Kind(Verifier, VerifierConfig),
    "planner": Kind(Planner, PlannerConfig),
}


def config_from_dict(config_class: type, d: dict):
    """A component's config from its JSON: lists become the tuples the dataclasses hold (patch, widths, ...)."""
    return config_class(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def has_component(folder: str | Path, kind: str) -> bool:
    return (Path(folder) / f"{kind}.json").is_file()


def build(kind: str, config) -> nn.Module:
    """A fresh network of `kind` from its config object."""
    return KINDS[kind].model(config)


def load_component(folder: str | Path, kind: str, device: str | torch.device = "cpu") -> nn.Module:
    """The `kind` component of the model folder `folder`, in eval mode without gradients; its JSON as
    `.card` and its training step as `.step`. CheckpointError for a missing, corrupt or mismatched one."""
    if kind not in KINDS:
        raise ValueError(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)}")
    folder = Path(folder)
    state, card = read_component(folder, kind)
    source = folder / f"{kind}.json"
    if card.get("kind") != f"kinema.{kind}" or not isinstance(card.get(kind), dict):
        raise CheckpointError(f"{source}: not a kinema {kind} config")
    try:
        model = built_empty(lambda: build(kind, config_from_dict(KINDS[kind].config, card[kind])))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{source}: bad config: {e}") from None
    load_state_into(model, state, str(folder / f"{kind}.safetensors"))
    model.card, model.step = card, card.get("step")
    return model.to(device).eval().requires_grad_(False)


def as_kind(card: dict, trained_as: str, kind: str) -> dict:
    """The card of a component trained as `trained_as` (a `kinema train-stage upscaler --after` run's upscaler) saved
    as another kind of the same network (`upscaler_light`)."""
    if KINDS[trained_as] != KINDS[kind]:
        raise ValueError(f"a {trained_as} is not the network of a {kind}")
    return {**{k: v for k, v in card.items() if k not in ("kind", trained_as, "sha256")},
            "kind": f"kinema.{kind}", kind: card[trained_as]}


def student_card(run_card: dict, teacher_sampling: dict, steps: int, sampler: str = "unipc") -> dict:
    """The card of a `kinema train` run's denoiser (`run_card`, its denoiser.json) distilled to a few steps from a
    teacher (recipes/student.sh) as a model folder's `student`: the teacher's sampling defaults (`teacher_sampling`)
    with `steps` steps of `sampler` (UniPC: 2.3 points over Euler at 4 steps, six seeds, docs/denoiser.md), no
    guidance (folded in by the distillation) and eta 0 (the deterministic paths it learned)."""
    card = {k: v for k, v in run_card.items() if k not in ("kind", "denoiser", "sampling")}
    return {"kind": "kinema.student", "student": run_card["denoiser"], **card,
            "sampling": {**{k: v for k, v in teacher_sampling.items() if k != "denoiser"},  # the model's choice
                         "steps": steps, "sampler": sampler, "guidance": 1.0, "eta": 0.0}}
