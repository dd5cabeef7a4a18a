"""Shared fixtures: tiny real components (the real MiniLM, a tiny denoiser trained for a few steps)."""
from __future__ import annotations

import pytest
import torch

from kinema.data.dataset import ShapesDataset
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


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, text_encoder):
    """A run folder with a tiny denoiser trained for a few steps: a real, loadable model folder."""
    run = tmp_path_factory.mktemp("tiny-run")
    train(run, tiny_dataset(), preset("tiny"), FlowConfig(), tiny_train_config(), text_encoder=text_encoder,
          progress=False)
    return run
