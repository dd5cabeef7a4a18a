"""A clip's layout (kinema.text.layout.Layout) as the denoiser takes it, and the layout of a shapes-world scene.

Grounding as GLIGEN does it (Li et al. 2023, "GLIGEN: Open-Set Grounded Text-to-Image Generation"): each object
is a phrase's embedding paired with where it is, here a box over time as in Boximator (Wang et al. 2024) and
Tora's trajectories (Zhang et al. 2024). A `Layout` holds, per clip and object slot,

    phrases  (B, K, D)        the text encoder's pooled embedding of the object's phrase ("a large red circle")
    boxes    (B, K, T, S, 3)  its centre (x, y) in frame units and half-size r in the frame, for each of the
                              S pictures that each of the T latent frames holds (S = 4 for kinema's causal
                              autoencoder; latent frame 0 holds picture 0 alone, repeated)
    present  (B, K) bool      which slots hold an object

The denoiser turns it into one vector per token (`token_features`): each object's Gaussian footprint on the
token's cells, in every picture, mapped to a vector and multiplied by its phrase's: the token learns both
that an object is there and which one. Camera motion is in the boxes (positions and sizes in the frame).
"""
from __future__ import annotations

import numpy as np
import torch
from einops import rearrange

from kinema.text.layout import Layout
from kinema.world.shapes import MAX_OBJECTS, SIZES


SIZE_SCALE = SIZES["large"]  # the second footprint channel carries r / SIZE_SCALE


def takes_layout(denoiser: torch.nn.Module) -> bool:
    """Whether a denoiser takes a layout (its config's `layout`: the pictures a latent frame holds; 0 or absent: no)."""
    return bool(getattr(denoiser.config, "layout", 0))


def token_features(layout: Layout, grid: tuple[int, int, int], patch: tuple[int, int, int]) -> torch.Tensor:
    """Each object's footprint on every token: (B, K, N, pt*ph*pw * S * 2), N = prod(grid) tokens in the
    denoiser's order (t, h, w). A cell's footprint is exp(-d^2 / 2r^2) at its centre, d its distance to the
    object's centre and r the object's half-size in the frame, and the same times r / SIZE_SCALE."""
    b, k, t, s, _ = layout.boxes.shape
    pt, ph, pw = patch
    h, w = grid[1] * ph, grid[2] * pw  # the latent's cells
    if t != grid[0] * pt:
        raise ValueError(f"the layout covers {t} latent frames, the clip has {grid[0] * pt}")
    cy = (torch.arange(h, device=layout.boxes.device, dtype=torch.float32) + 0.5) / h
    cx = (torch.arange(w, device=layout.boxes.device, dtype=torch.float32) + 0.5) / w
    x, y, r = (layout.boxes.float()[..., i, None, None] for i in range(3))  # (B, K, T, S, 1, 1)
    d2 = (cx - x) ** 2 + (cy[:, None] - y) ** 2  # (B, K, T, S, h, w)
    g = torch.exp(-d2 / (2 * r.clamp(min=1e-3) ** 2)) * layout.present[:, :, None, None, None, None].float()
    feats = torch.stack([g, g * r / SIZE_SCALE], dim=-1)  # (B, K, T, S, h, w, 2)
    return rearrange(feats, "b k (t pt) s (h ph) (w pw) c -> b k (t h w) (pt ph pw s c)", pt=pt, ph=ph, pw=pw)


def picture_times(latent_frames: int, subframes: int, fps: float, start: float = 0.0) -> np.ndarray:
    """The times (T, S) of the pictures each latent frame holds: picture 0 for latent frame 0 (repeated), then
    pictures S(j-1)+1 .. Sj for latent frame j, picture k at start + k / fps."""
    k = np.concatenate([np.zeros((1, subframes)), 1 + np.arange(subframes)[None] + subframes * np.arange(latent_frames - 1)[:, None]])
    return start + k / fps


def scene_layout(scenes: list, fps: float, latent_frames: int, subframes: int, encode, starts: list[float] | None = None,
                 dim: int = 384) -> Layout:
    """The layouts of shapes-world scenes (kinema.world.shapes.Scene), each seen from `starts[i]` seconds:
    every object's phrase (its colour, shape and size, canonically worded) embedded by `encode`
    (list of str -> (n, dim) tensor: the text encoder's pooled vectors), and where the camera shows it."""
    from kinema.world.captions import ObjectDescription, object_phrase
    from kinema.world.shapes import in_view

    n = len(scenes)
    boxes = torch.zeros(n, MAX_OBJECTS, latent_frames, subframes, 3)
    present = torch.zeros(n, MAX_OBJECTS, dtype=torch.bool)
    phrases: list[str] = []
    slots: list[tuple[int, int]] = []
    for i, scene in enumerate(scenes):
        times = picture_times(latent_frames, subframes, fps, starts[i] if starts else 0.0)
        for k, o in enumerate(scene.objects[:MAX_OBJECTS]):
            boxes[i, k] = torch.from_numpy(np.stack(in_view(o, scene.camera, times), axis=-1))
            present[i, k] = True
            phrases.append(object_phrase(ObjectDescription(o.colour, o.shape, o.size, None)))
            slots.append((i, k))
    vectors = torch.zeros(n, MAX_OBJECTS, dim)
    if phrases:
        unique = sorted(set(phrases))
        table = dict(zip(unique, encode(unique).float().cpu()))
        for (i, k), p in zip(slots, phrases):
            vectors[i, k] = table[p]
    return Layout(vectors, boxes, present)
