"""Training pairs for the refiner: a clip as the latent pipeline returns it, and the clip it should be.

The input is a shapes-world clip taken through the autoencoder, with its normalised latent degraded
before decoding in one of two ways:
- noise: Gaussian noise of a random scale sigma in [0, max_sigma] added to it: the decoder's own losses
  (small squares' rounded corners, small triangles' blobs; `benchmarks/latent_ceiling.py`) and a
  stand-in for a denoiser's imprecise latents;
- denoiser (with a latent model's denoiser): the latent noised to a random flow time t in
  [0, max_sigma] and replaced by the denoiser's one-step estimate of the clean latent given the
  caption: the soft, averaged outlines that denoiser itself leaves, so the refiner learns from the
  kind of input it will be given.
The target is the clip as rendered. Each pair carries a training caption of its
scene (paraphrases and synonyms), so the refiner learns what the words ask of a blob.

    pairs folder/
      pairs-00000.safetensors   degraded, target: uint8 (N, T, H, W, 3); sigma: (N,) latent noise scale or t
      pairs-00000.jsonl         one line per pair: index, caption, scene

Pairs are a pure function of (seed, index); shards already on disk are kept, so a stopped build resumes.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from kinema.data.dataset import ShapesDataset
from kinema.diffusion.rectified_flow import FlowConfig, add_noise
from kinema.io.checkpoint import atomic_write, load_tensors, save_tensors
from kinema.io.frames import to_frames, to_model_space


def round_trip(ae, clips: np.ndarray, edit) -> np.ndarray:
    """uint8 clips (B, T, H, W, 3) -> encoded, the normalised latent changed by edit(z), decoded, same shape."""
    x = to_model_space(clips)
    z = edit(ae.encode(x, chunk=4))
    return to_frames(ae.crop_to(ae.decode(z, chunk=4), *x.shape[2:]))


def degrade(ae, clips: np.ndarray, sigma: np.ndarray, generator: torch.Generator) -> np.ndarray:
    """uint8 clips (B, T, H, W, 3) -> the same clips encoded, noised by sigma (B,) in latent space, decoded."""
    def noised(z: torch.Tensor) -> torch.Tensor:
        return z + torch.as_tensor(sigma, dtype=z.dtype).view(-1, 1, 1, 1, 1) * torch.randn(z.shape, generator=generator)

    return round_trip(ae, clips, noised)


def pad_frames(z: torch.Tensor, multiple: int) -> torch.Tensor:
    """Latents (B, C, T, h, w) with the last frame repeated up to a whole number of `multiple` frames (the
    denoiser's temporal patch, as the pipeline makes them)."""
    pad = -z.shape[2] % multiple
    return torch.cat([z, z[:, :, -1:].expand(-1, -1, pad, -1, -1)], dim=2) if pad else z


def denoise_once(denoiser, flow: FlowConfig, encoder, ae, clips: np.ndarray, captions: list[str], t: np.ndarray,
                 generator: torch.Generator) -> np.ndarray:
    """uint8 clips (B, T, H, W, 3) -> encoded, noised to flow time t (B,), replaced by the latent `denoiser`'s
    estimate of the clean latent given the captions (encoded by `encoder`), decoded."""
    def estimate(z: torch.Tensor) -> torch.Tensor:
        tt = torch.as_tensor(t, dtype=z.dtype)
        z_t = add_noise(z, torch.randn(z.shape, generator=generator), tt)
        z_in = pad_frames(z_t, denoiser.config.patch[0])
        with torch.no_grad():
            out = denoiser(z_in, tt, encoder.encode(captions))[:, :, :z.shape[2]]
        if flow.prediction == "velocity":  # x0 = x_t - t v
            out = z_t - tt.view(-1, 1, 1, 1, 1) * out
        return out

    return round_trip(ae, clips, estimate)


def build_pairs(ae, out: str | Path, count: int, seed: int = 0, size: int = 64, fps: float = 8.0,
                seconds: float = 2.0, max_sigma: float = 0.5, shard_size: int = 256, batch: int = 16,
                progress: bool = True, denoiser=None, flow: FlowConfig | None = None, encoder=None) -> Path:
    """Write `count` pairs under `out` in shards; resumes at the first missing shard. With a latent `denoiser`
    (of `ae`'s latent space, its `flow` config, and the text `encoder`), the degradation is its one-step
    estimate from t in [0, max_sigma]; without one, latent noise of scale up to max_sigma."""
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ds = ShapesDataset(seed=seed, size=size, fps=fps, seconds=seconds)
    bar = tqdm(total=count, disable=not progress, desc="refiner-pairs", dynamic_ncols=True)
    for k, lo in enumerate(range(0, count, shard_size)):
        hi = min(lo + shard_size, count)
        path = out / f"pairs-{k:05d}.safetensors"
        if path.is_file():
            bar.update(hi - lo)
            continue
        degraded, targets, sigmas, lines = [], [], [], []
        for i in range(lo, hi, batch):
            idx = range(i, min(i + batch, hi))
            scenes = [ds.scene_and_caption(j) for j in idx]
            clips = np.stack([ds[j][0] for j in idx])
            rng = np.random.default_rng([seed, i, 3])
            sigma = rng.uniform(0.0, max_sigma, len(clips)).astype(np.float32)
            g = torch.Generator().manual_seed(seed * 1_000_003 + i)
            captions = [c for _, c in scenes]
            if denoiser is None:
                degraded.append(degrade(ae, clips, sigma, g))
            else:
                degraded.append(denoise_once(denoiser, flow, encoder, ae, clips, captions, sigma, g))
            targets.append(clips)
            sigmas.append(sigma)
            lines += [{"index": j, "caption": c, "scene": s.to_dict()} for j, (s, c) in zip(idx, scenes)]
            bar.update(len(clips))
        text = "".join(json.dumps(line) + "\n" for line in lines)
        atomic_write(path.with_suffix(".jsonl"), lambda p: p.write_text(text))
        save_tensors(path, {"degraded": torch.from_numpy(np.concatenate(degraded)),  # last: marks the shard done
                            "target": torch.from_numpy(np.concatenate(targets)),
                            "sigma": torch.from_numpy(np.concatenate(sigmas))})
    bar.close()
    return out


def load_pairs(folders: str | Path | list) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """All pairs of one or more folders: degraded, target uint8 (N, T, H, W, 3), and the captions (N)."""
    folders = folders if isinstance(folders, (list, tuple)) else [folders]
    shards = []
    for folder in folders:
        found = sorted(Path(folder).glob("pairs-*.safetensors"))
        if not found:
            raise FileNotFoundError(f"no refiner pairs in {folder}")
        shards += found
    parts = [load_tensors(p) for p in shards]
    captions = [json.loads(line)["caption"] for p in shards for line in p.with_suffix(".jsonl").read_text().splitlines()]
    return torch.cat([p["degraded"] for p in parts]), torch.cat([p["target"] for p in parts]), captions


class RefinerPairs:
    """Batches of refiner pairs from a folder, each a pure function of (seed, step): `frames`
    consecutive frames from each of `batch` random pairs, with its caption's embedding."""

    def __init__(self, folders: str | Path | list, text_encoder, seed: int = 0, frames: int = 8):
        self.degraded, self.target, captions = load_pairs(folders)
        self.text = text_encoder.encode(captions)
        self.seed, self.frames = seed, min(frames, self.target.shape[1])

    def batch(self, step: int, batch: int):
        """(degraded, target) float (B, 3, F, H, W) in [-1, 1] and the TextEmbedding of their captions."""
        rng = np.random.default_rng([self.seed, step, 11])
        idx = rng.integers(0, len(self.target), batch)
        first = rng.integers(0, self.target.shape[1] - self.frames + 1, batch)
        window = torch.as_tensor(first[:, None] + np.arange(self.frames))  # (B, F)
        rows = torch.as_tensor(idx)[:, None]

        def pick(clips: torch.Tensor) -> torch.Tensor:
            return to_model_space(clips[rows, window].numpy())

        return pick(self.degraded), pick(self.target), self.text.index(torch.as_tensor(idx))
