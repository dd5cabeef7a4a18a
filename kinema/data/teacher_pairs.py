"""A teacher's noise-to-clip pairs, for distilling a few-step student from it (reflow).

Rectified flow's reflow (Liu et al. 2022, "Flow Straight and Fast"; InstaFlow, Liu et al. 2023, for text to
image): sample the teacher's ODE from noise z to a clip x0 under its guidance, deterministically (euler, eta 0),
and train a student on the straight line between the pair, x_t = (1 - t) x0 + t z, to give x0. The student's
paths are straight where the teacher's curve, so a few Euler steps follow them; and since the teacher's x0 came
with guidance, the student needs none (one forward pass a step: guidance distillation, Meng et al. 2023).

With `layout` > 0 that share of the teacher's samples is made with the scene's layout (kinema.models.layout: where
each object is, as a plan gives it), and each pair records whether it was ("layout" in its line), so a student
learns to follow a layout from the teacher that follows it (`kinema train --layout`: only those pairs get theirs).

Items that start late in a long clip (ShapesDataset's `late`: a falling object at rest, a bounce's lower rebounds)
are sampled as the pipeline makes a long clip's later windows: their first latent frames given (as many as
kinema.pipeline.windows.OWN_CONTEXT_LATENTS), encoded from the clip as rendered, the teacher making the rest;
each pair records its start, and `kinema train` trains such items only as going on from their first frames.

A pairs folder is a latent cache (kinema.data.latents: the teacher's clips as `latent`, the prompts' embeddings,
the scenes, the autoencoder) whose shards also hold each clip's starting noise (`noise`); `LatentDataset` reads
it, and `kinema train` then trains on the pairs' own noise.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch

from kinema.diffusion.rectified_flow import over
from kinema.diffusion.samplers import euler, guided_velocity
from kinema.models.layout import scene_layout, takes_layout
from kinema.io.checkpoint import atomic_write, load_json, save_json, save_tensors
from kinema.io.frames import to_model_space
from kinema.text.encoder import TextEmbedding


def going_on(pipe, dataset, items, starts: list[float], z: torch.Tensor, context: int):
    """For a batch whose noise is z (B, C, T, h, w): which latent frames are given, (B, T) bool (the first `context`
    of each item that starts late, none of the others), and their clean latents (z's shape: the late items' clips
    as rendered, encoded by pipe's autoencoder); (None, None) when no item starts late."""
    late = [k for k, start in enumerate(starts) if start > 0]
    if not late:
        return None, None
    device = next(pipe.denoiser.parameters()).device
    known = torch.zeros(z.shape[0], z.shape[2], dtype=torch.bool, device=device)
    known[late, :min(context, z.shape[2] - 1)] = True
    x_known = torch.zeros(z.shape, device=device)
    clips = np.stack([dataset[items[k]][0] for k in late])  # (L, T, H, W, 3), rendered from each item's start
    x_known[late] = pipe.autoencoder.encode(to_model_space(clips).to(device))[:, :, :z.shape[2]].float()
    return known, x_known


@torch.no_grad()
def make_teacher_pairs(pipe, dataset, out: str | Path, count: int, steps: int, guidance: float, shift: float,
                       interval: tuple[float, float], seed: int = 0, batch: int = 64, shard_size: int = 1024,
                       progress: bool = True, layout: float = 0.0, *, context: int) -> Path:
    """`count` pairs from the latent model `pipe` (a loaded kinema.pipeline.Pipeline) for the captions of `dataset`
    (a ShapesDataset: item i's scene and training caption), written as shards of `shard_size` into `out`; each
    batch's noise comes from (seed, its first item), so an interrupted run continues where it stopped. `layout`:
    the share of samples made with their scene's layout (item i's draw from (seed, i)). `context`: how many latent
    frames a late item is given (kinema.pipeline.windows.OWN_CONTEXT_LATENTS, which the CLI passes)."""
    from tqdm import tqdm

    if pipe.autoencoder is None:
        raise ValueError(f"the model {pipe.name} works in pixels: teacher pairs are latent clips")
    if layout and not takes_layout(pipe.denoiser):
        raise ValueError(f"the model {pipe.name}'s denoiser takes no layout: teacher pairs with layouts need one")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("autoencoder.safetensors", "autoencoder.json"):
        shutil.copyfile(Path(pipe.source) / name, out / name)
    clip = {k: pipe.clip[k] for k in ("size", "fps", "seconds")}
    teacher = {"model": pipe.name, "step": pipe.card.get("step"), "steps": steps, "guidance": guidance,
               "shift": shift, "guidance_interval": list(interval), "sampler": "euler", "eta": 0.0, "seed": seed,
               "layout": layout}
    save_json(out / "cache.json", {"kind": "kinema.latent-cache", "count": count, "shard_size": shard_size,
                                   "clip": clip, "autoencoder": load_json(out / "autoencoder.json"),
                                   "text_encoder": pipe.card.get("text_encoder"), "teacher": teacher})
    device = next(pipe.denoiser.parameters()).device
    n_frames = round(float(clip["seconds"]) * float(clip["fps"]))
    c, t, h, w = pipe.autoencoder.cfg.latent_shape(n_frames, int(clip["size"]), int(clip["size"]))
    times = pipe.schedule(steps, shift)
    bar = tqdm(total=count, disable=not progress, desc="teacher pairs", dynamic_ncols=True)
    for k, lo in enumerate(range(0, count, shard_size)):
        hi = min(lo + shard_size, count)
        path = out / f"shard-{k:05d}.safetensors"
        if path.is_file():
            bar.update(hi - lo)
            continue
        latents, noises, lines, texts = [], [], [], []
        for i in range(lo, hi, batch):
            items = range(i, min(i + batch, hi))
            scenes = [dataset.scene_and_caption(j) for j in items]
            captions = [caption for _, caption in scenes]
            cond = pipe.text_encoder.encode(captions)
            laid_out = [bool(np.random.default_rng([seed, j, 43]).random() < layout) for j in items]
            starts = [float(dataset.start(j)) for j in items]
            if layout:  # the scene's objects where they are, for the samples drawn to have them (as training drops them)
                boxes = scene_layout([scene for scene, _ in scenes], float(clip["fps"]), t,
                                     pipe.denoiser.config.layout, lambda ps: pipe.text_encoder.encode(ps).pooled,
                                     starts=starts)
                cond = cond.with_layout(boxes.drop(torch.tensor(laid_out)))
            z = torch.randn((len(captions), c, t, h, w), generator=torch.Generator().manual_seed(hash((seed, i)) % 2**63))
            known, x_known = going_on(pipe, dataset, items, starts, z, context)
            velocity = guided_velocity(pipe.denoiser, pipe.flow, cond.to(device), pipe.text_encoder.empty().to(device),
                                       guidance, interval, known=known, x_known=x_known)
            x0 = euler(velocity, z.to(device), times)
            if known is not None:  # the given frames are the clip's own (the sampler leaves them at their noise)
                x0 = torch.where(over(known, x0), x_known, x0)
            latents.append(x0.half().cpu())
            noises.append(z.half())
            texts.append(cond)
            lines += [{"index": j, "caption": cap, "scene": scene.to_dict(), "start": start, "layout": given}
                      for j, (scene, cap), given, start in zip(items, scenes, laid_out, starts)]
            bar.update(len(captions))
        text = TextEmbedding.cat(texts)
        body = "".join(json.dumps(line) + "\n" for line in lines)
        atomic_write(path.with_suffix(".jsonl"), lambda p: p.write_text(body))  # (the shard itself last: done)
        save_tensors(path, {"latent": torch.cat(latents), "noise": torch.cat(noises), "tokens": text.tokens.half(),
                            "mask": text.mask, "pooled": text.pooled.half()})
    bar.close()
    return out
