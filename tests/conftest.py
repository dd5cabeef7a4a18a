"""Shared fixtures: tiny real components (the real MiniLM, a tiny denoiser trained for a few steps)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from kinema.data.dataset import ShapesDataset
from kinema.data.latents import LatentDataset, cache_latents
from kinema.models.autoencoder import AE_PRESETS
from kinema.train.autoencoder import AutoencoderTrainConfig, train_autoencoder
from kinema.models.denoiser import preset
from kinema.diffusion.rectified_flow import FlowConfig
from kinema.text.encoder import load_text_encoder
from kinema.train.denoiser import TrainConfig, train

TINY_CLIP = {"size": 32, "fps": 4, "seconds": 2.0}  # 8 frames of 32x32


@pytest.fixture(scope="session", autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def text_encoder():
    return load_text_encoder()


def tiny_train_config(**kw) -> TrainConfig:
    base = dict(steps=3, batch=2, lr=1e-3, warmup=1, checkpoint_every=100, log_every=1, clip=dict(TINY_CLIP))
    base.update(kw)
    return TrainConfig(**base)


def tiny_dataset() -> ShapesDataset:
    return ShapesDataset(0, TINY_CLIP["size"], TINY_CLIP["fps"], TINY_CLIP["seconds"])


def with_student(model: Path, run: Path, folder: Path) -> Path:
    """A copy of model folder `model` in `folder` whose few-step student is run folder `run`'s EMA denoiser."""
    from kinema.io.checkpoint import load_json, read_component, save_component
    from kinema.models.components import student_card

    shutil.copytree(model, folder, ignore=shutil.ignore_patterns("train_state*", "*.jsonl", "samples*"))
    weights, card = read_component(run, "denoiser")
    save_component(folder, "student", weights, student_card(card, load_json(folder / "denoiser.json")["sampling"], 3))
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, text_encoder):
    """A run folder with a tiny denoiser trained for a few steps: a real, loadable model folder."""
    run = tmp_path_factory.mktemp("tiny-run")
    train(run, tiny_dataset(), preset("tiny"), FlowConfig(), tiny_train_config(), text_encoder=text_encoder,
          progress=False)
    return run


@pytest.fixture(scope="session")
def going_on_model(tmp_path_factory, text_encoder):
    """A tiny latent model folder (32x32 at 4 fps: 3 latent frames) whose denoiser trained with given frames."""
    tmp = tmp_path_factory.mktemp("going-on")
    ae_cfg = AutoencoderTrainConfig(steps=2, batch=2, frames=5, size=32, warmup=1, checkpoint_every=100, log_every=1)
    train_autoencoder(tmp / "ae", ShapesDataset(0, 32, 8, 5 / 8), AE_PRESETS["tiny"], ae_cfg, progress=False)
    clip = {"size": 32, "fps": 4, "seconds": 2.0}
    cache = cache_latents(ShapesDataset(1, 32, 4, 2.0, late=0.5), tmp / "ae", tmp / "cache", 6, clip, text_encoder,
                          shard_size=6, batch=3, progress=False)
    train(tmp / "run", LatentDataset(cache), preset("tiny-latent", in_channels=4), FlowConfig(),
          tiny_train_config(steps=2, clip=clip, condition=0.5), text_encoder=text_encoder, progress=False)
    return tmp / "run"


@pytest.fixture(scope="session")
def directed_model(tmp_path_factory, text_encoder, going_on_model):
    """A tiny latent model folder that can be directed: its denoiser takes a layout (trained 2 steps on v2 scenes
    with cameras and tracks, on going_on_model's autoencoder) and it has a planner (trained a few steps)."""
    from kinema.train.planner import PlannerTrainConfig, train_planner

    tmp = tmp_path_factory.mktemp("directed")
    clip = {"size": 32, "fps": 4, "seconds": 2.0}
    cache = cache_latents(ShapesDataset(2, 32, 4, 2.0, p_camera=0.5, p_track=0.5), going_on_model, tmp / "cache", 6,
                          clip, text_encoder, shard_size=6, batch=3, progress=False)
    train(tmp / "run", LatentDataset(cache), preset("tiny-latent", in_channels=4, layout=4), FlowConfig(),
          tiny_train_config(steps=2, clip=clip, condition=0.5, layout=0.5), text_encoder=text_encoder, progress=False)
    train_planner(tmp / "run", text_encoder, PlannerTrainConfig(captions=48, steps=3, batch=16, held_out=16),
                  progress=False)
    return tmp / "run"
