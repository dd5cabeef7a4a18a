"""Does a model know which way its clips run? For prompts naming a straight motion (left, right, up,
down) with random colours, shapes and backgrounds, the share of clips whose object (the largest region
nearest the named colour) ends up displaced the named way, and the share displaced the opposite way.
A model blind to the direction of time or of the axes scores about the same on both.

    python benchmarks/motion_direction.py [--model FOLDER ...] [--clips 48] [--candidates 1]

Clips are made at the model's native size and frame rate (the keyframes, no cascade stages), so the
figure is the denoiser's own.
"""
import argparse
import random

import numpy as np

from kinema.world.judge import PALETTE_NAMES, _region, nearest_palette
from kinema.pipeline import ClipSettings, Pipeline

AXES = {"left": (0, -1), "right": (0, 1), "up": (1, -1), "down": (1, 1)}


def displacement(frames: np.ndarray, colour: str) -> np.ndarray | None:
    """(dx, dy) in canvas units of the named colour's largest region from the first to the last frame
    where it is present; None if present in fewer than two frames."""
    classes = nearest_palette(frames)
    k = PALETTE_NAMES.index(colour)
    track = [(x, y) for area, _, x, y in (_region(c == k) for c in classes) if area > 0]
    if len(track) < 2:
        return None
    return (np.array(track[-1]) - np.array(track[0])) / frames.shape[1]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", action="append", help="model folder (repeatable; default: the shipped model)")
    p.add_argument("--clips", type=int, default=48)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--candidates", type=int, default=1, help="keyframe clips a prompt, the verifier's pick kept "
                   "(default 1: the denoiser's own figure)")
    a = p.parse_args()
    rng = random.Random(a.seed)
    colours = [n for n in PALETTE_NAMES if n not in ("black", "white", "gray")]
    jobs = [(rng.choice(list(AXES)), rng.choice(colours), rng.choice(["circle", "square", "triangle"]),
             rng.choice(["black", "white", "gray"])) for _ in range(a.clips)]
    for model in a.model or [None]:
        pipe = Pipeline.load(model)
        size, fps = int(pipe.clip["size"]), float(pipe.clip["fps"])
        right = wrong = absent = 0
        for i, (motion, colour, shape, bg) in enumerate(jobs):
            prompt = f"a {colour} {shape} moving {motion} on a {bg} background"
            clip = pipe(prompt, ClipSettings(seed=a.seed + i, size=size, fps=fps, candidates=a.candidates))
            d = displacement(clip.frames, colour)
            if d is None:
                absent += 1
                continue
            axis, sign = AXES[motion]
            along = sign * d[axis]
            right += along >= 0.1
            wrong += along <= -0.1
        n = len(jobs)
        print(f"{pipe.name} (step {pipe.card.get('step')}): {n} clips, moved the named way {100 * right / n:.1f}%, "
              f"the opposite way {100 * wrong / n:.1f}%, object missing {100 * absent / n:.1f}%")


if __name__ == "__main__":
    main()
