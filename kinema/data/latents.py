"""Latent caching: a dataset's clips encoded once by the autoencoder, with their text embeddings.

    cache folder/
      cache.json                 clip settings, count, the autoencoder's card, the text encoder
      shard-00000.safetensors    latent (N, C, T, h, w) fp16, tokens (N, L, D) fp16, mask (N, L), pooled (N, D)
      shard-00000.jsonl          one line per item of the shard, in order: what the embeddings say, and
                                 (shapes world) the scene, so training can caption the clip afresh
      autoencoder.{safetensors,json}   a copy of the autoencoder the latents belong to

Denoiser training reads a cache through `LatentDataset` (all shards in memory: a 64x64, 2 s clip
at 4x8x8 is 10 KB of latent), so each step costs only the denoiser. A cache fixes one caption per
clip; with `recaption=p` each item of a batch gets, with probability p, a fresh caption of its scene
(a new draw per epoch, encoded then), so the model sees each clip in many wordings, as it does when
it trains on rendered clips. A teacher's pairs (kinema.data.teacher_pairs) are such a cache whose shards also hold
each clip's starting noise; caches joined by recipes/join_caches.py are read as one, pairs beside clips.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch

from kinema.world.captions import training_caption
from kinema.io.frames import to_model_space
from kinema.world.shapes import Scene
from kinema.io.checkpoint import CheckpointError, atomic_write, load_json, load_tensors, save_json, save_tensors
from kinema.models.layout import Layout, scene_layout
from kinema.text.encoder import TEXT_ENCODER_NAME, TextEmbedding


def cache_latents(dataset, autoencoder_dir: str | Path, out: str | Path, count: int, clip: dict,
                  text_encoder, shard_size: int = 1024, batch: int = 16, progress: bool = True) -> Path:
    """Encode items 0..count-1 of `dataset` into shards under `out`; resumes at the first missing shard."""
    from tqdm import tqdm

    from kinema.models.components import load_component

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    ae = load_component(autoencoder_dir, "autoencoder", device)
    ae_card = load_json(Path(autoencoder_dir) / "autoencoder.json")
    for name in ("autoencoder.safetensors", "autoencoder.json"):
        shutil.copyfile(Path(autoencoder_dir) / name, out / name)
    meta = {"kind": "kinema.latent-cache", "count": count, "shard_size": shard_size, "clip": clip,
            "autoencoder": ae_card, "text_encoder": TEXT_ENCODER_NAME}
    save_json(out / "cache.json", meta)
    shards = range(0, count, shard_size)
    bar = tqdm(total=count, disable=not progress, desc="cache-latents", dynamic_ncols=True)
    for k, lo in enumerate(shards):
        hi = min(lo + shard_size, count)
        path = out / f"shard-{k:05d}.safetensors"
        if path.is_file():  # done in an earlier run
            _add_scenes(dataset, out / f"shard-{k:05d}.jsonl")
            bar.update(hi - lo)
            continue
        latents, captions = [], []
        for i in range(lo, hi, batch):
            items = [dataset[j] for j in range(i, min(i + batch, hi))]
            x = to_model_space(np.stack([f for f, _ in items])).to(device)
            latents.append(ae.encode(x).half().cpu())
            captions += [c for _, c in items]
            bar.update(len(items))
        text = text_encoder.encode(captions)
        save_tensors(path, {"latent": torch.cat(latents), "tokens": text.tokens.half(), "mask": text.mask,
                            "pooled": text.pooled.half()})
        lines = [{"index": lo + j, "caption": c} | _scene_record(dataset, lo + j) for j, c in enumerate(captions)]
        _write_lines(out / f"shard-{k:05d}.jsonl", lines)
    bar.close()
    return out


def _scene_record(dataset, i: int) -> dict:
    """{"scene": ..., "start": seconds} for item i of a shapes-world dataset, {} for footage (whose caption is all
    there is)."""
    if not hasattr(dataset, "scene_and_caption"):
        return {}
    return {"scene": dataset.scene_and_caption(i)[0].to_dict(), "start": dataset.start(i)}


def _write_lines(path: Path, lines: list[dict]) -> None:
    text = "".join(json.dumps(line) + "\n" for line in lines)
    atomic_write(path, lambda p: p.write_text(text))


def _add_scenes(dataset, path: Path) -> None:
    """Give a shard written before scenes were recorded its scenes, checked against its captions."""
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    if not hasattr(dataset, "scene_and_caption") or all("scene" in line for line in lines):
        return
    for line in lines:
        caption = dataset.scene_and_caption(line["index"])[1]
        if caption != line["caption"]:
            raise CheckpointError(f"{path}: item {line['index']} was cached from other data ({line['caption']!r}, "
                                  f"this dataset says {caption!r}); use the arguments the cache was made with")
        line.update(_scene_record(dataset, line["index"]))
    _write_lines(path, lines)


def _cache_lines(folder: str | Path) -> list[dict]:
    shards = sorted(Path(folder).glob("shard-*.safetensors"))
    return [json.loads(line) for p in shards for line in p.with_suffix(".jsonl").read_text().splitlines()]


def cache_scenes(folder: str | Path) -> list[Scene] | None:
    """The shapes-world scene of each item of a cache folder, in order; None where any item records none
    (footage, or a cache written before scenes were recorded)."""
    lines = _cache_lines(folder)
    if not all("scene" in line for line in lines):
        return None
    return [Scene.from_dict(line["scene"]) for line in lines]


class LatentDataset:
    """Items (latent (C, T, h, w) float, TextEmbedding of one) from a cache folder; `batch(i0, n)`.

    recaption: the chance that an item is captioned afresh from its scene (needs `text_encoder` and a
    cache with scenes); the draw depends on (seed, item index), so a resumed run sees the same batches."""

    def __init__(self, folder: str | Path, recaption: float = 0.0, text_encoder=None, seed: int = 0):
        self.folder = Path(folder)
        self.meta = load_json(self.folder / "cache.json")
        if self.meta.get("kind") != "kinema.latent-cache":
            raise CheckpointError(f"{self.folder / 'cache.json'} is not a kinema latent cache")
        shards = sorted(self.folder.glob("shard-*.safetensors"))
        if not shards:
            raise CheckpointError(f"no shards in latent cache {self.folder}")
        parts = [load_tensors(p) for p in shards]
        self.latent = torch.cat([p["latent"] for p in parts]).float()
        self.text = TextEmbedding.cat([TextEmbedding(p["tokens"].float(), p["mask"], p["pooled"].float()) for p in parts])
        # a teacher's pairs (kinema.data.teacher_pairs): each clip's own starting noise, trained on instead of fresh;
        # in a cache joined with clips (recipes/join_caches.py), `paired` says which items have one
        self.noise = self.paired = None
        if any("noise" in p for p in parts):
            self.noise = torch.cat([p["noise"] if "noise" in p else torch.zeros_like(p["latent"]) for p in parts]).float()
            self.paired = torch.cat([torch.full((len(p["latent"]),), "noise" in p) for p in parts])
        self.clip = self.meta["clip"]
        self.recaption, self.encoder, self.seed = recaption, text_encoder, seed
        self.scenes = cache_scenes(self.folder)
        if self.scenes is not None and len(self.scenes) != len(self.latent):
            self.scenes = None
        lines = _cache_lines(self.folder)
        starts = [line.get("start", 0.0) for line in lines]
        self.starts = starts if len(starts) == len(self.latent) else [0.0] * len(self.latent)
        # a teacher's pairs made with their layout or without (kinema.data.teacher_pairs), where the lines say
        laid_out = [line.get("layout", True) for line in lines]  # (a clip, not a teacher's sample: its own layout)
        self.laid_out = torch.tensor(laid_out, dtype=torch.bool) if len(laid_out) == len(self.latent) else None
        self.late = torch.tensor(self.starts) > 0
        if recaption > 0:
            if text_encoder is None:
                raise ValueError("recaption needs a text encoder")
            if self.scenes is None:
                raise CheckpointError(f"latent cache {self.folder} records no scene for some clips, so they cannot be "
                                      "captioned afresh (run `kinema cache-latents` again with the arguments it was "
                                      "made with: it adds them)")

    def __len__(self) -> int:
        return len(self.latent)

    def scene(self, i: int) -> Scene | None:
        """The shapes-world scene of item i (modulo the length), None where the cache records none."""
        return self.scenes[i % len(self)] if self.scenes is not None else None

    def pair_noise(self, first: int, n: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The starting noise of `batch(first, n)`'s clips and (n,) bool, which of them have one (a teacher's pairs;
        the rest, clips, are trained from fresh noise); None where the cache holds no teacher's pairs."""
        if self.noise is None:
            return None
        idx = torch.arange(first, first + n) % len(self)
        return self.noise[idx], self.paired[idx]

    def layout(self, first: int, n: int, subframes: int, encode) -> Layout:
        """The layouts (kinema.models.layout) of `batch(first, n)`'s clips: their objects' phrases embedded by
        `encode` (list of str -> pooled vectors) and where the clips show them. Needs a cache with scenes."""
        if self.scenes is None:
            raise CheckpointError(f"latent cache {self.folder} records no scenes, so its clips have no layout")
        idx = [int(i) for i in torch.arange(first, first + n) % len(self)]
        return scene_layout([self.scenes[i] for i in idx], float(self.clip["fps"]), self.latent.shape[2], subframes,
                            encode, [self.starts[i] for i in idx])

    def has_layout(self, first: int, n: int) -> torch.Tensor:
        """(n,) bool: which items of `batch(first, n)` may be given their layout: all, except a teacher's pairs
        that the teacher made without theirs."""
        if self.laid_out is None:
            return torch.ones(n, dtype=torch.bool)
        return self.laid_out[torch.arange(first, first + n) % len(self)]

    def going_on(self, first: int, n: int) -> torch.Tensor:
        """(n,) bool: which items of `batch(first, n)` start late in a long clip (ShapesDataset's `late`) and so
        are trained only as going on from their first frames."""
        return self.late[torch.arange(first, first + n) % len(self)]

    def batch(self, first: int, n: int) -> tuple[torch.Tensor, TextEmbedding]:
        idx = torch.arange(first, first + n) % len(self)
        text = self.text.index(idx)
        if self.recaption > 0:
            rngs = [np.random.default_rng([self.seed, i, 7]) for i in range(first, first + n)]
            fresh = [j for j, rng in enumerate(rngs) if rng.random() < self.recaption]
            if fresh:  # rows of `text`, then the fresh captions' rows, picked into batch order
                captions = [training_caption(self.scenes[int(idx[j])], rngs[j]) for j in fresh]
                pick = torch.arange(n)
                pick[fresh] = n + torch.arange(len(fresh))
                text = TextEmbedding.cat([text, self.encoder.encode(captions).to("cpu")]).index(pick)
        return self.latent[idx], text
