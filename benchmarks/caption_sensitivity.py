"""Which words of a caption does a denoiser use? For rendered one-object shapes-world clips, noised to
time t, the denoiser's clean-clip error (x0 MSE) with the true canonical caption against the same
caption with one attribute swapped for another value (colour, shape, motion, background). Where a
swap leaves the error unchanged, the model ignores that attribute at that noise level; the prompt
can then not steer it. Motion swaps exchange opposite directions (left/right, up/down, falling/
still, bouncing/still), the subtlest change of wording.

    python benchmarks/caption_sensitivity.py [--model FOLDER ...] [--clips 32] [--motion left right up down]
        [--times 0.3 0.5 0.7 0.85 0.95] [--two-objects] [--scenes-from CACHE]

`--motion` keeps only scenes with those motions: with the four straight ones, the motion swap is a
pure change of direction.

`--two-objects` asks about binding instead: two-object scenes whose objects differ in shape, size and
motion, and each swap exchanges one attribute between the two objects ("a red circle falling and a
blue square moving left" -> "a red circle moving left and a blue square falling"). The caption then
names the same words, only bound to the other object; where the error does not rise, the model does not
tie a word to its object.

`--scenes-from CACHE` takes the scenes from a latent cache a model trained on: its 'true' column beside
the same command's without it shows how much better the model knows its training scenes than fresh ones.

For a latent model the clip is encoded by its autoencoder first, and the error is the latent's.
"""
import argparse
from dataclasses import replace

import numpy as np
import torch

from kinema.world.captions import Description, canonical
from kinema.io.frames import to_model_space
from kinema.data.latents import cache_scenes
from kinema.world.shapes import BACKGROUNDS, OBJECT_COLOURS, SHAPES, render, sample_scene
from kinema.pipeline.pipeline import Pipeline
from kinema.world.near_misses import exchanged

OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up", "falling": "still", "still": "falling",
            "bouncing": "still"}
TIMES = (0.3, 0.5, 0.7, 0.85, 0.95)


def swapped(d: Description, attribute: str) -> Description:
    """The description with one attribute of its object (or its background) changed."""
    o = d.objects[0]
    if attribute == "background":
        return replace(d, background=next(b for b in BACKGROUNDS if b != d.background))
    new = {"colour": next(c for c in OBJECT_COLOURS if c != o.colour),
           "shape": next(s for s in SHAPES if s != o.shape), "motion": OPPOSITE[o.motion]}[attribute]
    return replace(d, objects=(replace(o, **{attribute: new}),))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", action="append", help="model folder (repeatable; default: the shipped model)")
    p.add_argument("--clips", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--motion", nargs="+", choices=sorted(OPPOSITE), help="only scenes with these motions")
    p.add_argument("--times", nargs="+", type=float, default=TIMES, help="the noise levels t measured")
    p.add_argument("--scenes-from", metavar="CACHE",
                   help="take the scenes, in order, from a latent cache (what a model trained on) instead of "
                        "drawing fresh ones: the 'true' column against a fresh run's is the gap between them")
    p.add_argument("--two-objects", action="store_true",
                   help="binding: two-object scenes, each attribute exchanged between the objects")
    a = p.parse_args()
    attributes = ("colour", "shape", "size", "motion") if a.two_objects else ("colour", "shape", "motion", "background")
    scenes_in = cache_scenes(a.scenes_from) if a.scenes_from else None  # read once, before any model loads
    if a.scenes_from and scenes_in is None:
        raise SystemExit(f"{a.scenes_from} records no shapes-world scenes")
    for model in a.model or [None]:
        pipe = Pipeline.load(model)
        clip = pipe.clip
        rng = np.random.default_rng(a.seed)
        if a.scenes_from:
            drawn = iter(s for s in scenes_in if len(s.objects) == (2 if a.two_objects else 1))
        else:
            drawn = iter(lambda: sample_scene(rng, p_two=1.0 if a.two_objects else 0.0), None)
        scenes = []
        while len(scenes) < a.clips:
            scene = next(drawn, None)
            if scene is None:
                raise SystemExit(f"{a.scenes_from} has too few {'two' if a.two_objects else 'one'}-object scenes "
                                 f"for {a.clips} clips")
            objects = Description.of(scene).objects
            if a.two_objects:
                if all(getattr(objects[0], k) != getattr(objects[1], k) for k in attributes):
                    scenes.append(scene)
            elif a.motion is None or objects[0].motion in a.motion:
                scenes.append(scene)
        x0 = to_model_space(np.stack([render(s, int(clip["size"]), float(clip["fps"]), float(clip["seconds"]))
                                      for s in scenes]))
        if pipe.autoencoder is not None:  # (B, 3, T, H, W) -> (B, c, t, h, w)
            x0 = pipe.autoencoder.encode(x0)
        descriptions = [Description.of(s) for s in scenes]
        captions = {"true": [canonical(d) for d in descriptions]}
        for attribute in attributes:
            change = exchanged if a.two_objects else swapped
            captions[attribute] = [canonical(change(d, attribute)) for d in descriptions]
        cond = {k: pipe.text_encoder.encode(v) for k, v in captions.items()}
        noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(a.seed))
        print(f"{pipe.name} (step {pipe.card.get('step')}): x0 MSE with the true caption, and its increase "
              f"when one attribute is swapped ({a.clips} clips)")
        print(f"{'t':>6} {'true':>8} " + " ".join(f"{k:>11}" for k in captions if k != "true"))
        for t in a.times:
            tt = torch.full((len(x0),), t)
            x_t = (1 - t) * x0 + t * noise
            with torch.no_grad():
                err = {k: float((pipe.denoiser(x_t, tt, c) - x0).pow(2).mean()) for k, c in cond.items()}
            print(f"{t:>6.3g} {err['true']:>8.4f} " + " ".join(
                f"{100 * (err[k] / err['true'] - 1):>+10.1f}%" for k in captions if k != "true"))


if __name__ == "__main__":
    main()
