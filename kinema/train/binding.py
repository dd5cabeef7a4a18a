"""A binding loss: the denoiser must tie each word of a two-object caption to its own object.

`benchmarks/caption_sensitivity.py --two-objects` found that the shipped denoiser reads a two-object
caption as a bag of words: exchanging the two objects' colours, shapes or motions in the caption ("a
red circle falling and a blue square moving left" -> "a red circle moving left and a blue square
falling") raises its x0 error by 0-1.5%, where changing one object's colour raises it by 127%. The
flow loss can only teach binding through the few pixels where two objects' attributes meet, so it
learns it slowly; a two-object clip then gets the right words on the wrong objects.

For up to `items` two-object clips of a batch, the denoiser predicts the clean clip twice from the same
noisy clip: given a caption of the scene, and given the same wording of the scene with one attribute
(colour, shape or motion, where they differ) exchanged between the objects. The loss asks the exchanged
caption's error to exceed the true one's by a relative margin:

    loss = mean(relu(margin - (mse_exchanged - mse_true) / mse_true))    (mse_true not differentiated
                                                                          in the denominator)

the denoiser as a classifier of its captions ("Your Diffusion Model is Secretly a Zero-Shot
Classifier", Li et al. 2023) trained with hard negatives, as a margin ranking loss. Once a clip's
captions are told apart by the margin, it adds nothing.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
import torch.nn as nn

from kinema.data.captions import training_caption
from kinema.data.shapes import Scene
from kinema.diffusion.flow import FlowConfig, add_noise, sample_timesteps

ATTRIBUTES = ("colour", "shape", "motion")


def has_scenes(dataset) -> bool:
    """Whether a dataset gives the shapes-world scene of its items (`dataset.scene(i)`), as the loss needs."""
    return getattr(dataset, "scene", lambda i: None)(0) is not None


def exchanged(scene, attribute: str):
    """A two-object Scene (or caption Description) with one attribute's values exchanged between its objects."""
    a, b = scene.objects
    return replace(scene, objects=(replace(a, **{attribute: getattr(b, attribute)}),
                                   replace(b, **{attribute: getattr(a, attribute)})))


def binding_captions(scene: Scene, rng: np.random.Generator) -> tuple[str, str] | None:
    """(a caption of the two-object scene, the same wording with one attribute exchanged between its
    objects), the attribute drawn among those whose values differ; None for a one-object scene."""
    if len(scene.objects) != 2:
        return None
    a, b = scene.objects
    attribute = str(rng.choice([k for k in ATTRIBUTES if getattr(a, k) != getattr(b, k)]))
    state = rng.bit_generator.state  # both captions from the same draws: the same template and word choices
    true = training_caption(scene, rng)
    rng.bit_generator.state = state
    return true, training_caption(exchanged(scene, attribute), rng)


def binding_loss(model: nn.Module, x0: torch.Tensor, scenes: list[Scene | None], encoder, flow: FlowConfig,
                 seeds: list[int], generator: torch.Generator, items: int = 8, margin: float = 0.2
                 ) -> torch.Tensor | None:
    """The loss above over the batch's clean clips x0 (B, C, T, H, W) and their scenes (None where unknown),
    for at most `items` of its two-object clips; `seeds` (B) fix each item's captions. None when the batch
    has no two-object clip."""
    rows, true, other = [], [], []
    for j, scene in enumerate(scenes):
        pair = binding_captions(scene, np.random.default_rng([seeds[j], 13])) if scene is not None else None
        if pair is not None and len(rows) < items:
            rows.append(j)
            true.append(pair[0])
            other.append(pair[1])
    if not rows:
        return None
    x = x0[rows]
    n = len(rows)
    t = sample_timesteps(n, flow, generator, x.device)
    x_t = add_noise(x, torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype), t)
    text = encoder.encode(true + other).to(x.device)
    prediction = model(torch.cat([x_t, x_t]), torch.cat([t, t]), text)  # (2n, C, T, H, W)
    mse = (prediction.float() - torch.cat([x, x]).float()).pow(2).flatten(1).mean(1)
    mse_true, mse_other = mse[:n], mse[n:]
    return torch.relu(margin - (mse_other - mse_true) / mse_true.detach()).mean()
