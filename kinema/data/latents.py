"""Latent caching: a dataset's clips encoded once by the autoencoder, with their text embeddings.

    cache folder/
      cache.json                 clip settings, count, the autoencoder's card, the text encoder
      shard-00000.safetensors    latent (N, C, T, h, w) fp16, tokens (N, L, D) fp16, mask (N, L), pooled (N, D)
      shard-00000.jsonl          one line per item of the shard, in order: what the embeddings say
      autoencoder.{safetensors,json}   a copy of the autoencoder the latents belong to

Denoiser training reads a cache through `LatentDataset` (all shards in memory: a 64x64, 2 s clip
at 4x8x8 is 10 KB of latent), so each step costs only the denoiser.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch

from kinema.data.dataset import to_model_space
from kinema.io.checkpoint import CheckpointError, atomic_write, load_json, load_tensors, save_json, save_tensors
from kinema.text.encoder import TEXT_ENCODER_NAME, TextEmbedding


def cache_latents(dataset, autoencoder_dir: str | Path, out: str | Path, count: int, clip: dict,
                  text_encoder, shard_size: int = 1024, batch: int = 16, progress: bool = True) -> Path:
    """Encode items 0..count-1 of `dataset` into shards under `out`; resumes at the first missing shard."""
    from tqdm import tqdm

    from kinema.autoencoder.vae import load_autoencoder

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ae = load_autoencoder(autoencoder_dir)
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
            bar.update(hi - lo)
            continue
        latents, captions = [], []
        for i in range(lo, hi, batch):
            items = [dataset[j] for j in range(i, min(i + batch, hi))]
            x = to_model_space(np.stack([f for f, _ in items]))
            latents.append(ae.encode(x).half())
            captions += [c for _, c in items]
            bar.update(len(items))
        text = text_encoder.encode(captions)
        save_tensors(path, {"latent": torch.cat(latents), "tokens": text.tokens.half(), "mask": text.mask,
                            "pooled": text.pooled.half()})
        lines = "".join(json.dumps({"index": lo + j, "caption": c}) + "\n" for j, c in enumerate(captions))
        atomic_write(out / f"shard-{k:05d}.jsonl", lambda p: p.write_text(lines))
    bar.close()
    return out


class LatentDataset:
    """Items (latent (C, T, h, w) float, TextEmbedding of one) from a cache folder; `batch(i0, n)`."""

    def __init__(self, folder: str | Path):
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
        self.clip = self.meta["clip"]

    def __len__(self) -> int:
        return len(self.latent)

    def batch(self, first: int, n: int) -> tuple[torch.Tensor, TextEmbedding]:
        idx = torch.arange(first, first + n) % len(self)
        return self.latent[idx], self.text.index(idx)
