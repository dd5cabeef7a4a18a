"""The plan: where each object of a prompt goes, decided before anything is rendered.

Planning the layout first and rendering it second, as LVD (Lian et al. 2023) and VideoDirectorGPT (Lin et al.
2023) plan boxes with a language model and PhysGen (Liu et al. 2024) simulates the motion with a physics engine
for the video model to render:
1. the planner (kinema.models.planner) reads what the prompt's scene holds: its objects (colour, shape, size,
   motion), its background and its camera; an explicit camera replaces the prompt's;
2. the shapes world's physics (kinema.world.shapes: constant speeds and elastic walls, gravity, bounces that
   lose a fifth of their speed) moves each object from a start, and tracks given by the user replace an
   object's motion;
3. of several draws of the starts, the plan keeps the one whose objects stay furthest apart in the frame;
4. the denoiser renders it: the plan's scene is its layout (kinema.models.layout), and the plan's own words (the
   scene as the planner read it, in the captions' canonical wording) are its text, as DALL-E 3 (Betker et al.
   2023) and Sora recaption a user's prompt into the wording their model was trained on; the prompt as typed
   stays in the metadata;
5. the refiner restores each object's outline under that object's own words, in the part of the frame the plan
   puts it in (`Plan.regions`).
The plan is recorded in the clip's metadata in the spec's track format, so it can be edited and given back.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import torch

from kinema.models.planner import decode
from kinema.world.captions import Description, canonical, object_phrase, scene_for
from kinema.world.shapes import (BACKGROUNDS, CENTROID_BELOW, OBJECT_COLOURS, PHYSICS_MOTIONS, Scene, Track, in_view,
                                 positions)
from kinema.world.tracks import check_tracks, tracks_json

PLAN_DRAWS = 24  # starts drawn; the plan keeps the one that keeps the objects furthest apart
TRACK_POINTS_PER_SECOND = 8  # a physics path is recorded as points this often


@dataclass(frozen=True)
class Plan:
    description: Description  # what the prompt says, as the planner read it (camera: the one asked for)
    scene: Scene  # sizes, starts, motions and tracks: where every object is at every time
    given: tuple[int, ...]  # the objects that follow tracks the user gave

    @property
    def words(self) -> str:
        """The scene as the planner read it, in the canonical caption's words: what the denoiser reads."""
        return canonical(self.description)

    def object_words(self) -> list[str]:
        """Each object alone in the scene, in the canonical caption's words (its region's prompt: `regions`)."""
        return [canonical(replace(self.description, objects=(o,))) for o in self.description.objects]

    def regions(self, times: np.ndarray, size: int) -> np.ndarray:
        """Which object's words make each cell of a size x size grid over the frame at each of `times` (seconds):
        (T, size, size) int, the object whose planned centre is nearest in units of its half-size (the frame split
        between the objects, each part made under its own words: kinema.text.encoder.Regions). `times` (T, S):
        the S pictures a latent frame holds; a cell goes to the object that comes nearest in any of them, and an
        object that moves more than its half-size among them leaves its cells to the whole scene's words (index
        K, the number of objects): under its own words alone a falling object faded (docs/plan.md)."""
        times = np.asarray(times, dtype=float).reshape(len(times), -1)  # (T, S)
        c = (np.arange(size) + 0.5) / size
        far, fast = [], []
        for o in self.scene.objects:
            x, y, r = in_view(o, self.scene.camera, times)  # (T, S) each
            dx, dy = c[None, None, None, :] - x[..., None, None], c[None, None, :, None] - y[..., None, None]
            far.append((np.hypot(dx, dy) / r[..., None, None]).min(axis=1))  # (T, size, size)
            fast.append(np.hypot(np.ptp(x, axis=1), np.ptp(y, axis=1)) > r.min(axis=1))  # (T,)
        owner = np.argmin(np.stack(far), axis=0)  # (T, size, size)
        for k, quick in enumerate(fast):
            owner = np.where((owner == k) & quick[:, None, None], len(self.scene.objects), owner)
        return owner

    def falling(self) -> list[int]:
        """The objects that fall or bounce (and follow no track): their paths are simulated."""
        return [k for k, o in enumerate(self.scene.objects) if o.motion in PHYSICS_MOTIONS and o.track is None]

    def near(self, times: np.ndarray, size: int, margin: float) -> dict[int, np.ndarray]:
        """Where each falling or bouncing object (by index; no track) is, give or take: on a size x size grid over
        the frame at each of `times` (T, S) seconds (the S pictures of a latent frame; or (T,)), (T, size, size)
        bool, the cells within two half-sizes and `margin` of its planned centre in any of the pictures, and nearer
        to it than to another object (in units of each one's half-size)."""
        times = np.asarray(times, dtype=float).reshape(len(times), -1)  # (T, S)
        c = (np.arange(size) + 0.5) / size
        rel, reach = [], []  # each object's distance in half-sizes, and its reach: (T, S, size, size)
        for o in self.scene.objects:
            x, y, r = (v[..., None, None] for v in in_view(o, self.scene.camera, times))
            d = np.hypot(c[None, None, None, :] - x, c[None, None, :, None] - y)
            rel.append(d / r)
            reach.append(d <= 2 * r + margin)
        return {k: (reach[k] & (rel[k] <= np.min(rel, axis=0))).any(axis=1) for k in self.falling()}

    def steered_cells(self, times: np.ndarray, size: int) -> np.ndarray:
        """Which cells of a size x size grid the pull onto the plan may change at each of `times` (T, S) seconds:
        (T, size, size) bool, those `near` a falling or bouncing object, within a cell. The rest of the clip, and
        another object, stay as the denoiser drew them."""
        cells = np.zeros((len(times), size, size), dtype=bool)
        for near in self.near(times, size, 1 / size).values():
            cells |= near
        return cells

    def energy(self, to_pixels: Callable[[torch.Tensor], torch.Tensor], times: np.ndarray,
               sharpness: float = 3000.0) -> Callable[[torch.Tensor], torch.Tensor]:
        """How far the falling and bouncing objects of a clip are drawn from their simulated paths: a function of
        a clip z that `to_pixels` turns into pictures (B, 3, F, H, W) in [-1, 1], shown at `times` (F,) seconds, and
        returns the squared distance, summed over pictures and objects, between where the plan puts the object's
        pixels' centroid and the centroid of its pixels: those `near` where the plan puts it (within 0.1 of the
        frame) and nearer its colour than the background's (soft: a sigmoid of the difference of squared RGB
        distances over `sharpness`). Pictures where it shows under 4 pixels' worth are left out."""
        times = np.asarray(times, dtype=float)
        bg = torch.tensor(BACKGROUNDS[self.scene.background], dtype=torch.float32).view(1, 3, 1, 1, 1)
        targets = {}  # object: (colour (1, 3, 1, 1, 1), where its pixels' centroid should be (F, 2))
        for k in self.falling():
            o = self.scene.objects[k]
            x, y, r = in_view(o, self.scene.camera, times)
            y = y + CENTROID_BELOW[o.shape] * r  # a triangle's pixels sit below its centre
            targets[k] = (torch.tensor(OBJECT_COLOURS[o.colour], dtype=torch.float32).view(1, 3, 1, 1, 1),
                          torch.from_numpy(np.stack([x, y], -1)).float())
        windows: dict[int, dict[int, torch.Tensor]] = {}  # frame size: each object's window (F, size, size)

        def energy(z: torch.Tensor) -> torch.Tensor:
            rgb = (to_pixels(z).float()[:, :, :len(times)] + 1) * 127.5  # (B, 3, F, H, W)
            f, size = rgb.shape[2], rgb.shape[-1]
            if size not in windows:
                windows[size] = {k: torch.from_numpy(v).float() for k, v in self.near(times, size, 0.1).items()}
            g = (torch.arange(size, device=rgb.device) + 0.5) / size  # pixel centres in frame units
            far_bg = ((rgb - bg.to(rgb)) ** 2).sum(1)  # (B, F, H, W)
            total = rgb.new_zeros(())
            for k, (colour, centre) in targets.items():
                m = torch.sigmoid((far_bg - ((rgb - colour.to(rgb)) ** 2).sum(1)) / sharpness)  # (B, F, H, W)
                m = m * windows[size][k][:f].to(m)
                mass = m.sum((-2, -1)).clamp(min=1e-3)  # (B, F)
                cx, cy = (m * g).sum((-2, -1)) / mass, (m * g[:, None]).sum((-2, -1)) / mass
                centre = centre[:f].to(rgb)
                seen = (mass > 4).float()
                total = total + (seen * ((cx - centre[:, 0]) ** 2 + (cy - centre[:, 1]) ** 2)).sum()
            return total

        return energy

    def tracks(self, seconds: float) -> dict[int, Track]:
        """Every object's path over `seconds` as track points (its own track where it has one)."""
        out = {}
        for k, o in enumerate(self.scene.objects):
            if o.track is not None:
                out[k] = o.track
            else:
                t = np.arange(int(round(seconds * TRACK_POINTS_PER_SECOND)) + 1) / TRACK_POINTS_PER_SECOND
                x, y = positions(o, t)
                out[k] = tuple((float(a), float(b), float(c)) for a, b, c in zip(t, x, y))
        return out

    def record(self, seconds: float) -> dict:
        """The plan as the clip's metadata records it: what was read, the camera, each object and its track
        (the spec's format, which `--tracks` takes back)."""
        return {"read": self.words, "camera": self.scene.camera,
                "objects": [{"object": k, "phrase": object_phrase(replace(d, size=o.size)), "size": o.size,
                             "motion": "track" if o.track is not None else o.motion,
                             "given": k in self.given}
                            for k, (d, o) in enumerate(zip(self.description.objects, self.scene.objects))],
                **tracks_json(self.tracks(seconds))}


@torch.no_grad()
def read_prompt(planner: torch.nn.Module, encoder, prompt: str) -> Description:
    """What the planner reads in a prompt."""
    device = next(planner.parameters()).device
    return decode(planner(encoder.encode([prompt]).to(device)))[0]


def separation(scene: Scene, seconds: float) -> float:
    """The least gap between two objects' bodies in the frame over the clip (centre distance less both
    half-sizes, at 8 times a second); inf for one object."""
    if len(scene.objects) < 2:
        return float("inf")
    t = np.linspace(0.0, seconds, int(8 * seconds) + 1)
    (xa, ya, ra), (xb, yb, rb) = (in_view(o, scene.camera, t) for o in scene.objects[:2])
    return float((np.hypot(xa - xb, ya - yb) - ra - rb).min())


def make_plan(description: Description, seed: int, seconds: float, tracks: dict | None = None,
              camera: str | None = None) -> Plan:
    """The plan of a prompt read as `description`: `camera` (if given) replaces its camera, `tracks` ({object:
    points}, the spec's JSON already read, or None) replace those objects' motions; of PLAN_DRAWS draws of the
    starts (and of unnamed sizes) from `seed`, the one that keeps the objects furthest apart. TrackError (a
    ValueError) for tracks the description cannot take."""
    if camera is not None:
        description = replace(description, camera=camera)
    given = check_tracks(tracks, [o.size for o in description.objects]) if tracks is not None else {}
    rng = np.random.default_rng([seed, 41])
    draws = [scene_for(description, rng, given) for _ in range(PLAN_DRAWS if len(description.objects) > 1 else 1)]
    best = max(draws, key=lambda scene: separation(scene, seconds))
    return Plan(description, best, tuple(sorted(given)))
