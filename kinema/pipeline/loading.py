"""Reading a model folder into the parts of a Pipeline (kinema.pipeline.pipeline), each checked against the others.

A kinema folder: the denoiser (`denoiser.*`, its card naming the text encoder, the space, the clip and the
sampling defaults), the autoencoder of a latent denoiser, and the optional stages (refiner, interpolator,
upscaler and its light later passes, verifier, planner, student). A Wan folder in diffusers' format is read by
kinema.models.wan. Anything that does not fit is a CheckpointError naming the file, before any clip is made.
"""
from __future__ import annotations

from pathlib import Path

import torch

from kinema.diffusion.rectified_flow import FlowConfig
from kinema.io.checkpoint import CheckpointError
from kinema.models.components import DEFAULT_MODEL, has_component, load_component
from kinema.models.precision import compute_dtype, keep_freed_memory, stage_dtype
from kinema.models.wan import is_wan_folder
from kinema.pipeline import settings
from kinema.pipeline.settings import SAMPLING
from kinema.text.encoder import load_text_encoder

CASCADE = ("refiner", "interpolator", "upscaler")  # the stages after the keyframes, each optional


def read_folder(path: str | Path | None, device: str, precision: str) -> dict:
    """The model folder at `path` (default: the shipped model; or a Wan folder) on `device`, as the keyword
    arguments of Pipeline(...): the denoiser's weights in float32 or bfloat16 (`precision`: "auto" asks the
    hardware, kinema.models.precision), the stages' computation likewise."""
    if torch.device(device).type == "cpu":  # (activations freed and allocated again stay mapped: faster passes)
        keep_freed_memory()
    folder = Path(path) if path else DEFAULT_MODEL
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no model folder there")
    if is_wan_folder(folder):  # another's model, in diffusers' format (kinema.models.wan)
        from kinema.models.wan import load_wan, read_index

        configs = read_index(folder)
        tr = configs["transformer"]
        dtype = compute_dtype(precision, device, tr.get("num_attention_heads", 0) * tr.get("attention_head_dim", 0))
        wan = load_wan(folder, device, dtype, settings.free_memory(device), configs)
        return dict(denoiser=wan.denoiser, card=wan.card, text_encoder=wan.text_encoder, source=str(folder),
                    autoencoder=wan.autoencoder, schedule=wan.schedule)
    model = load_component(folder, "denoiser", device)
    card = model.card
    try:
        FlowConfig(**card["flow"])
        clip, sampling = card["clip"], card["sampling"]
        missing = [k for k in SAMPLING if k not in sampling]
        if missing or {"size", "fps"} - set(clip):
            raise ValueError(f"no {(missing or ['clip size and fps'])[0]} in its card")
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{folder / 'denoiser.json'}: bad config: {e}") from None
    autoencoder = load_component(folder, "autoencoder", device) if card.get("space") == "latent" else None
    if autoencoder is not None and autoencoder.cfg.latent_channels != model.config.in_channels:
        raise CheckpointError(f"{folder / 'autoencoder.json'}: mismatched: its {autoencoder.cfg.latent_channels} "
                              f"latent channels do not fit the denoiser's {model.config.in_channels} input channels")
    stages = {kind: load_component(folder, kind, device) if has_component(folder, kind) else None
              for kind in CASCADE + ("upscaler_light", "verifier", "planner")}
    verifier = stages["verifier"]
    if verifier is not None:
        size, fps, v_fps = int(clip["size"]), float(clip["fps"]), verifier_clip(verifier).get("fps")
        if size % verifier.config.size or (v_fps and (fps / v_fps) % 1):
            raise CheckpointError(f"{folder / 'verifier.json'}: mismatched: it reads {verifier.config.size}x"
                                  f"{verifier.config.size} clips{f' at {v_fps:g} fps' if v_fps else ''}; the "
                                  f"denoiser's {size}x{size} at {fps:g} fps are not whole multiples of that")
    student = load_student(folder, model, device) if has_component(folder, "student") else None
    dtype = compute_dtype(precision, device, model.config.dim)
    return dict(denoiser=model.to(device, dtype), card=card, text_encoder=load_text_encoder(device=device),
                source=str(folder), autoencoder=autoencoder, stage_dtype=stage_dtype(precision, device),
                student=student and student.to(device, dtype), **stages)


def load_student(folder: Path, teacher: torch.nn.Module, device: str) -> torch.nn.Module:
    """The folder's student (a denoiser distilled from `teacher`), checked to take the teacher's inputs and to
    carry its own sampling defaults."""
    student = load_component(folder, "student", device)
    sampling = student.card.get("sampling")
    missing = [k for k in SAMPLING if not isinstance(sampling, dict) or k not in sampling]
    if missing:
        raise CheckpointError(f"{folder / 'student.json'}: bad config: no {missing[0]} in its sampling")
    if student.config.in_channels != teacher.config.in_channels or student.config.patch != teacher.config.patch:
        raise CheckpointError(f"{folder / 'student.json'}: mismatched: it does not take the denoiser's latents")
    return student


def verifier_clip(verifier: torch.nn.Module) -> dict:
    """The clips a verifier was trained on: size, and fps where its card records it."""
    return verifier.card.get("clip") or {"size": verifier.config.size}
