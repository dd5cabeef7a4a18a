"""Near misses: a scene changed in exactly one thing its caption says (the verifier's negatives).

A near miss differs from a scene's description in exactly one thing a caption can say: one object's
colour, shape, motion or (where the caption names sizes) size, the background, or, in a two-object
scene, which object has which shape or motion. Trained against near misses
(kinema.data.dataset.NearMissPairs), a verifier learns to tell apart exactly the attributes a caption
names, the small ones (a shape's corners, which way a clip runs) included, rather than only the ones
that change most pixels.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from kinema.world.captions import Description, canonical, paraphrase
from kinema.world.shapes import (BACKGROUNDS, MOTIONS, OBJECT_COLOURS, SHAPES, SIZES, Scene, start_range)


def _restart(o, rng: np.random.Generator):
    """The object with a start that keeps it inside for its (possibly new) motion and size."""
    (xa, xb), (ya, yb) = start_range(SIZES[o.size], o.motion)
    x = o.x0 if xa <= o.x0 <= xb else float(rng.uniform(xa, xb))
    y = o.y0 if ya <= o.y0 <= yb else float(rng.uniform(ya, yb))
    return replace(o, x0=x, y0=y)


KINDS = ("colour", "shape", "motion", "background", "size", "swap_shape", "swap_motion")


def near_miss(scene: Scene, rng: np.random.Generator, name_sizes: bool,
              only: tuple[str, ...] | None = None) -> tuple[Scene, str]:
    """`scene` with one caption-visible attribute changed (the module docstring; sizes only if named), and
    which kind of change it is (one of KINDS); `only`: the kinds to choose among where the scene allows
    one of them (else any)."""
    objs = list(scene.objects)
    kinds = ["colour", "shape", "motion", "background"] + (["size"] if name_sizes else [])
    if len(objs) == 2:
        kinds += [k for k in ("swap_shape", "swap_motion") if getattr(objs[0], k[5:]) != getattr(objs[1], k[5:])]
    if only is not None and any(k in only for k in kinds):
        kinds = [k for k in kinds if k in only]
    kind = kinds[int(rng.integers(len(kinds)))]
    if kind == "background":
        return replace(scene, background=str(rng.choice([b for b in BACKGROUNDS if b != scene.background]))), kind
    if kind.startswith("swap_"):
        attr = kind[5:]
        a, b = getattr(objs[0], attr), getattr(objs[1], attr)
        objs = [_restart(replace(objs[0], **{attr: b}), rng), _restart(replace(objs[1], **{attr: a}), rng)]
        return replace(scene, objects=tuple(objs)), kind
    k = int(rng.integers(len(objs)))
    o = objs[k]
    if kind == "colour":
        used = {p.colour for p in objs}
        o = replace(o, colour=str(rng.choice([c for c in OBJECT_COLOURS if c not in used])))
    elif kind == "shape":
        o = replace(o, shape=str(rng.choice([s for s in SHAPES if s != o.shape])))
    elif kind == "motion":
        o = _restart(replace(o, motion=str(rng.choice([m for m in MOTIONS if m != o.motion]))), rng)
    else:
        o = _restart(replace(o, size="large" if o.size == "small" else "small"), rng)
    objs[k] = o
    return replace(scene, objects=tuple(objs)), kind


def caption_of(scene: Scene, rng: np.random.Generator, name_sizes: bool, p_canonical: float = 0.3) -> str:
    d = Description.of(scene, name_sizes=name_sizes)
    return canonical(d) if rng.random() < p_canonical else paraphrase(d, rng)


def exchanged(scene, attribute: str):
    """A two-object Scene (or caption Description) with one attribute's values exchanged between its objects."""
    a, b = scene.objects
    return replace(scene, objects=(replace(a, **{attribute: getattr(b, attribute)}),
                                   replace(b, **{attribute: getattr(a, attribute)})))
