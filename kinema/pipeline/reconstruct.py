"""Encode and decode video files of any length through the autoencoder with flat memory.

Frames are read, encoded, decoded and written a chunk at a time; the causal convolutions carry
their state from chunk to chunk, so the result equals a one-pass reconstruction while memory
holds only one chunk (plus, for frames larger than the tile, one spatial tile at a time).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from kinema.models.autoencoder import VideoAutoencoder
from kinema.models.components import load_component
from kinema.io.frames import to_frames, to_model_space
from kinema.io.video import Mp4Writer, VideoReader


def regroup(chunks, first: int, rest: int):
    """Re-cut a stream of frame arrays into pieces of `first` frames, then `rest` frames (last may be short)."""
    buf, want = [], first
    have = 0
    for c in chunks:
        buf.append(c)
        have += len(c)
        while have >= want:
            allf = np.concatenate(buf)
            yield allf[:want]
            buf, have, want = [allf[want:]], have - want, rest
    if have:
        yield np.concatenate(buf)


@torch.inference_mode()
def reconstruct_stream(ae: VideoAutoencoder, chunks, chunk: int = 4, tile: int | None = 32):
    """Yield (original uint8 frames, reconstructed uint8 frames) piece by piece from a stream of frame arrays."""
    r = ae.cfg.time_factor
    enc_cache: dict = {}
    dec_caches: list[dict] = []
    for k, frames in enumerate(regroup(chunks, 1 + r * (chunk - 1), r * chunk)):
        first = k == 0
        n, h, w = len(frames), frames.shape[1], frames.shape[2]
        x = ae.pad(to_model_space(frames), first)  # only the clip's last piece is short of whole groups
        z = ae.encode_step(x, enc_cache, first)
        y = ae.decode_step(z, dec_caches, first, tile)
        yield frames, to_frames(y[:, :, :n, :h, :w])[0], tuple(z.shape[1:])



def reconstruct_clip(ae: VideoAutoencoder, frames: np.ndarray, chunk: int = 4, tile: int | None = 32) -> np.ndarray:
    """One clip's round trip: uint8 frames (T, H, W, 3) -> what the latent space keeps of them, same shape."""
    return np.concatenate([rec for _, rec, _ in reconstruct_stream(ae, [frames], chunk, tile)])

def reconstruct_file(src: str | Path, dst: str | Path, autoencoder: str | Path | VideoAutoencoder,
                     chunk: int = 4, tile: int | None = 32) -> dict:
    """Encode and decode `src` into mp4 `dst` at its own size and frame rate; returns figures incl. PSNR."""
    t0 = time.perf_counter()
    reader = VideoReader(src)  # a file with no decodable frame stops here, before the model loads
    w, h = reader.width, reader.height
    if w < 2 or h < 2:
        raise ValueError(f"{src}: {w}x{h} frames are too small to encode")
    ae = autoencoder if isinstance(autoencoder, VideoAutoencoder) else load_component(autoencoder, "autoencoder")
    sq_err, count, frames_done, latent_t = 0.0, 0, 0, 0
    meta = {"reconstructed_from": str(src), "autoencoder": ae.cfg.compression, "generator": "kinema reconstruct"}
    with Mp4Writer(dst, reader.fps, w - w % 2, h - h % 2, meta) as out:
        for orig, rec, zshape in reconstruct_stream(ae, reader.chunks(16), chunk, tile):
            out.write(rec[:, : h - h % 2, : w - w % 2])
            sq_err += float(((orig.astype(np.float64) - rec) ** 2).sum())
            count += orig.size
            frames_done += len(orig)
            latent_t += zshape[1]
    mse = sq_err / max(count, 1)
    return {"frames": frames_done, "width": w, "height": h, "fps": reader.fps, "psnr": psnr_from_mse(mse),
            "latent": (zshape[0], latent_t) + zshape[2:], "seconds": time.perf_counter() - t0}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of uint8 frames a against b, in dB."""
    return psnr_from_mse(float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean()))


def psnr_from_mse(mse: float, peak: float = 255.0) -> float:
    return float("inf") if mse == 0 else 10 * np.log10(peak * peak / mse)
