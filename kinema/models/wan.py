"""Wan2.1 / Wan2.2 text-to-video models in diffusers' folder format, run under kinema's pipeline.

A Wan folder is what `WanPipeline.save_pretrained` writes (and what the Wan-AI "-Diffusers" checkpoints are):
`model_index.json` naming `WanPipeline`, and one sub-folder per component:

    transformer/    WanTransformer3DModel (diffusers): the video diffusion transformer, a velocity predictor
    transformer_2/  Wan2.2 A14B only: the low-noise expert, used below `boundary_ratio`
    vae/            AutoencoderKLWan (diffusers): the causal video autoencoder (4x8x8, or 4x16x16 in Wan2.2 5B)
    text_encoder/   UMT5EncoderModel (transformers), with tokenizer/ beside it
    scheduler/      the solver and its time shift (FlowMatchEulerDiscreteScheduler, or UniPC in Wan2.1 folders)

The networks run from diffusers and transformers (`pip install "kinema[wan]"`); everything around them is kinema's:
the time grid is the folder scheduler's (its sigmas), the solver is kinema's sampler of the same method (euler or
unipc), guidance is kinema's `guided_velocity`, and the starting noise is drawn as diffusers draws it (one CPU
generator seeded with the seed, in the latent's shape), so a clip equals diffusers' `WanPipeline` output for the
same seed, steps, guidance and size. Each component is wrapped here to speak kinema's interfaces:
`WanDenoiser(x, t, cond) -> velocity`, `WanAutoencoder.encode/decode` on [-1, 1] clips (B, 3, T, H, W), and
`WanTextEncoder.encode(prompts) -> TextEmbedding`.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from kinema.io.checkpoint import CheckpointError
from kinema.text.encoder import TextEmbedding

PIPELINES = ("WanPipeline",)  # the diffusers pipeline classes whose folders load here (text to video)
COMPONENTS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")  # each a sub-folder
SAMPLER_OF = {"FlowMatchEulerDiscreteScheduler": "euler", "UniPCMultistepScheduler": "unipc"}
MAX_TOKENS = 512  # WanPipeline's max_sequence_length
FPS = 16  # Wan's clips: 81 frames at 16 fps
FRAMES = 81


def is_wan_folder(folder: str | Path) -> bool:
    return (Path(folder) / "model_index.json").is_file()


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not readable JSON ({e})") from None


def read_index(folder: str | Path) -> dict:
    """The folder's model_index.json, checked: a Wan text-to-video pipeline with every component there, each with
    the class the index names and shapes that fit one another. CheckpointError otherwise (before any weight loads)."""
    folder = Path(folder)
    index = _json(folder / "model_index.json")
    if index.get("_class_name") not in PIPELINES:
        raise CheckpointError(f"{folder / 'model_index.json'}: a {index.get('_class_name')!r} folder; kinema runs "
                              f"{', '.join(PIPELINES)} (text to video) folders")
    needed = list(COMPONENTS) + (["transformer_2"] if (index.get("transformer_2") or [None])[0] else [])
    for name in needed:
        entry = index.get(name)
        if not entry or entry[0] is None or not (folder / name).is_dir():
            raise CheckpointError(f"{folder}: no {name} (model_index.json names {entry}; the folder "
                                  f"{'has' if (folder / name).is_dir() else 'lacks'} {name}/)")
    configs = {name: _json(folder / name / ("scheduler_config.json" if name == "scheduler" else "config.json"))
               for name in needed if name != "tokenizer"}
    for name, cfg in configs.items():
        if cfg.get("_class_name", cfg.get("architectures", [index[name][1]])[0]) != index[name][1] and \
                cfg.get("_class_name") is not None:
            raise CheckpointError(f"{folder / name}: a {cfg.get('_class_name')}, but model_index.json names "
                                  f"{index[name][1]}")
    tr, vae, te = configs["transformer"], configs["vae"], configs["text_encoder"]
    if tr.get("in_channels") != vae.get("z_dim") and not index.get("expand_timesteps"):
        raise CheckpointError(f"{folder}: mismatched: the transformer reads {tr.get('in_channels')} channels, the "
                              f"vae makes {vae.get('z_dim')}")
    if tr.get("text_dim") != te.get("d_model"):
        raise CheckpointError(f"{folder}: mismatched: the transformer reads text of width {tr.get('text_dim')}, the "
                              f"text encoder makes {te.get('d_model')}")
    if index["scheduler"][1] not in SAMPLER_OF:
        raise CheckpointError(f"{folder / 'scheduler'}: a {index['scheduler'][1]}; kinema samples Wan folders with "
                              f"{', '.join(SAMPLER_OF)}")
    return {"index": index, **configs}


def weight_bytes(folder: str | Path, component: str, dtype: torch.dtype | None = None) -> int:
    """Bytes the component's weights take in memory (in `dtype`, or as stored), read from the safetensors
    headers alone."""
    from safetensors import SafetensorError, safe_open

    files = sorted((Path(folder) / component).glob("*.safetensors"))
    if not files:
        raise CheckpointError(f"{Path(folder) / component}: no safetensors weights (kinema loads no pickled files)")
    total = 0
    for f in files:
        try:
            with safe_open(f, "pt") as st:
                for name in st.keys():
                    sl = st.get_slice(name)
                    size = (torch.finfo(dtype).bits // 8 if dtype is not None else
                            {"F32": 4, "F16": 2, "BF16": 2, "F64": 8}.get(sl.get_dtype(), 4))
                    total += math.prod(sl.get_shape()) * size
        except (SafetensorError, OSError) as e:
            raise CheckpointError(f"{f}: not readable safetensors ({e})") from None
    return total


def card_of(folder: str | Path, configs: dict | None = None) -> dict:
    """The kinema card of a Wan folder (what `denoiser.json` says of a kinema model): the clip it makes (any size
    that is a multiple of `size_multiple`, at 16 fps, 81 frames), the flow it was trained in and its sampling
    defaults (WanPipeline's: 50 steps, guidance 5, the scheduler's shift)."""
    configs = configs or read_index(folder)
    index, tr, vae, sch = configs["index"], configs["transformer"], configs["vae"], configs["scheduler"]
    spatial = int(vae.get("scale_factor_spatial", 8)) * int(tr.get("patch_size", [1, 2, 2])[1])
    return {"kind": "wan", "pipeline": index["_class_name"], "step": None, "space": "latent",
            "flow": {"prediction": "velocity"},
            "clip": {"size": None, "size_multiple": spatial, "fps": FPS, "seconds": FRAMES / FPS},
            "sampling": {"steps": 50, "guidance": 5.0, "sampler": SAMPLER_OF[index["scheduler"][1]], "eta": 0.0,
                         "regions": 0.0, "steer": 0.0, "candidates": 1, "refine_passes": 0,
                         "guidance_interval": [0.0, 1.0],
                         "shift": float(sch.get("flow_shift", sch.get("shift", 1.0)))}}


@dataclass(frozen=True)
class WanDenoiserConfig:
    """What kinema's pipeline reads of a denoiser: its input channels and its patch (time, height, width)."""
    in_channels: int
    patch: tuple[int, int, int]


class WanDenoiser(nn.Module):
    """A Wan transformer (or Wan2.2's two experts) as kinema's denoiser: model(x, t, cond) -> velocity.

    x (B, C, T, h, w) latents, t (B,) times in [0, 1] (t = sigma; Wan's timestep is 1000 t, a whole number where
    the folder's scheduler gives whole ones), cond a TextEmbedding of UMT5 tokens (B, 512, D)."""

    def __init__(self, transformer: nn.Module, transformer_2: nn.Module | None = None,
                 boundary: float | None = None, whole_timesteps: bool = False, expand_timesteps: bool = False):
        super().__init__()
        self.transformer, self.transformer_2 = transformer, transformer_2
        self.boundary, self.whole, self.expand = boundary, whole_timesteps, expand_timesteps
        cfg = transformer.config
        self.config = WanDenoiserConfig(int(cfg.in_channels), tuple(int(p) for p in cfg.patch_size))

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: TextEmbedding) -> torch.Tensor:
        if t.dim() != 1:
            raise ValueError("a Wan text-to-video transformer takes one time per clip, not one per frame")
        timestep = t * 1000.0
        if self.whole:
            timestep = timestep.to(torch.float64).floor()  # (as diffusers' UniPC: int64 timesteps)
        model = self.transformer
        if self.transformer_2 is not None and float(timestep[0]) < self.boundary * 1000.0:
            model = self.transformer_2  # Wan2.2: the low-noise expert
        dtype = next(model.parameters()).dtype
        if self.expand:  # Wan2.2 5B: one timestep per token (B, T * h/2 * w/2)
            pt, ph, pw = self.config.patch
            n = (x.shape[2] // pt) * (x.shape[3] // ph) * (x.shape[4] // pw)
            timestep = timestep[:, None].expand(-1, n)
        out = model(hidden_states=x.to(dtype), timestep=timestep.to(x.device), encoder_hidden_states=
                    cond.tokens.to(x.device, dtype), return_dict=False)[0]
        return out.float()


@dataclass(frozen=True)
class WanLatentSpace:
    """What kinema's pipeline reads of an autoencoder: the latent's shape for a clip."""
    latent_channels: int
    time_factor: int
    space_factor: int

    def latent_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        r, s = self.time_factor, self.space_factor
        return (self.latent_channels, 1 + math.ceil((frames - 1) / r), math.ceil(height / s), math.ceil(width / s))


class WanAutoencoder(nn.Module):
    """AutoencoderKLWan as kinema's autoencoder: [-1, 1] clips (B, 3, T, H, W) <-> latents normalised by the
    folder's latents_mean / latents_std (what the transformer works in). Decoding is tiled on CUDA."""

    def __init__(self, vae: nn.Module):
        super().__init__()
        self.vae = vae
        c = vae.config
        self.cfg = WanLatentSpace(int(c.z_dim), int(c.get("scale_factor_temporal", 4)),
                                  int(c.get("scale_factor_spatial", 8)))
        self.register_buffer("mean", torch.tensor(c.latents_mean).view(1, -1, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(c.latents_std).view(1, -1, 1, 1, 1), persistent=False)

    def encode(self, x: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
        dtype = next(self.vae.parameters()).dtype
        z = self.vae.encode(x.to(dtype)).latent_dist.mode().float()
        return (z - self.mean) / self.std

    def decode(self, z: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
        dtype = next(self.vae.parameters()).dtype
        return self.vae.decode((z * self.std + self.mean).to(dtype), return_dict=False)[0].float()


class WanTextEncoder:
    """UMT5 and its tokenizer as kinema's text encoder: prompts -> TextEmbedding, the tokens past each prompt's
    length zeroed (as WanPipeline does: the transformer reads all 512), pooled = the mean of the real tokens."""

    def __init__(self, tokenizer, model: nn.Module, device: str | torch.device):
        self.tokenizer, self.model, self.device = tokenizer, model, torch.device(device)
        self._empty: TextEmbedding | None = None

    @torch.no_grad()
    def encode(self, prompts: list[str]) -> TextEmbedding:
        from diffusers.pipelines.wan.pipeline_wan import prompt_clean

        b = self.tokenizer([prompt_clean(p) for p in prompts], padding="max_length", max_length=MAX_TOKENS,
                           truncation=True, add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
        ids, mask = b.input_ids.to(self.device), b.attention_mask.to(self.device)
        hidden = self.model(ids, mask).last_hidden_state.float()
        m = mask.bool()
        hidden = hidden * m[..., None]
        pooled = hidden.sum(1) / m.sum(1, keepdim=True).clamp(min=1)
        return TextEmbedding(hidden, m, pooled)

    def empty(self) -> TextEmbedding:
        if self._empty is None:
            self._empty = self.encode([""])
        return self._empty


@dataclass
class WanParts:
    denoiser: WanDenoiser
    autoencoder: WanAutoencoder
    text_encoder: WanTextEncoder
    card: dict
    schedule: Callable[[int, float], list[float]]


def activation_bytes(configs: dict, size: int, frames: int, dtype: torch.dtype) -> int:
    """An estimate of the peak working memory of one clip (size x size, `frames` frames) beyond the weights: the
    transformer's tokens for both guidance branches through one block (attention and feed-forward), and the
    decoder's widest activations over 4 frames at a time (tiles of 256 px on CUDA)."""
    tr, vae = configs["transformer"], configs["vae"]
    c, t, h, w = WanLatentSpace(int(vae["z_dim"]), int(vae.get("scale_factor_temporal", 4)),
                                int(vae.get("scale_factor_spatial", 8))).latent_shape(frames, size, size)
    patch = tr.get("patch_size", [1, 2, 2])
    tokens = t * (h // patch[1]) * (w // patch[2])
    dim = int(tr["num_attention_heads"]) * int(tr["attention_head_dim"])
    element = torch.finfo(dtype).bits // 8
    transformer = 2 * tokens * (8 * dim + 2 * int(tr["ffn_dim"])) * element
    side = min(size, 256)
    decoder = 4 * side * side * int(vae.get("base_dim", 96)) * 4 * 6  # float32, a few live copies
    return transformer + decoder


def load_wan(folder: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
             free: int | None = None, configs: dict | None = None) -> WanParts:
    """The Wan folder's components on `device` (the transformer and text encoder in `dtype`, the autoencoder in
    float32), after checking the folder and that its weights fit the device's `free` bytes (with the working
    memory of one 480 px, 81-frame clip on CUDA; MemoryError otherwise, before anything loads). `configs`: the
    folder's `read_index`, where the caller has read it already."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    folder, device = Path(folder), torch.device(device)
    configs = configs or read_index(folder)
    try:
        import diffusers
        import transformers
        from diffusers.utils import logging as d_logging
        from transformers.utils import logging as t_logging
    except ImportError:
        raise CheckpointError(f"{folder}: a Wan folder needs diffusers: pip install \"kinema[wan]\"") from None
    d_logging.set_verbosity_error()
    t_logging.set_verbosity_error()
    d_logging.disable_progress_bar()
    t_logging.disable_progress_bar()
    card = card_of(folder, configs)
    index = configs["index"]
    experts = ["transformer"] + (["transformer_2"] if "transformer_2" in configs else [])
    need = sum(weight_bytes(folder, name, dtype) for name in experts + ["text_encoder"])
    need += weight_bytes(folder, "vae", torch.float32)
    if device.type == "cuda":
        need += activation_bytes(configs, 480, FRAMES, dtype)
    if free is not None and need > free:
        raise MemoryError(f"{folder}: needs about {need / 2**30:.1f} GiB on {device}, which has "
                          f"{free / 2**30:.1f} GiB free")

    def component(name: str, library, **kw):
        cls = getattr(library, index[name][1], None)
        if cls is None:
            raise CheckpointError(f"{folder / name}: {index[name][1]} is not in this {library.__name__}")
        try:
            return cls.from_pretrained(folder / name, use_safetensors=True, **kw)
        except (OSError, ValueError, RuntimeError, KeyError) as e:
            raise CheckpointError(f"{folder / name}: cannot load it: {str(e).splitlines()[0][:300]}") from None

    transformers_ = [component(n, diffusers, torch_dtype=dtype).to(device).eval().requires_grad_(False)
                     for n in experts]
    vae = component("vae", diffusers, torch_dtype=torch.float32).to(device).eval().requires_grad_(False)
    if device.type == "cuda":
        vae.enable_tiling()
    text_model = component("text_encoder", transformers, torch_dtype=dtype).to(device).eval().requires_grad_(False)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder / "tokenizer")
    scheduler = getattr(diffusers, index["scheduler"][1]).from_pretrained(folder / "scheduler")
    scheduler.set_timesteps(2)
    whole = not torch.is_floating_point(scheduler.timesteps)
    shift_key = "flow_shift" if "flow_shift" in scheduler.config else "shift"

    def schedule(steps: int, shift: float) -> list[float]:
        """The folder scheduler's times (its sigmas, 1 -> 0) for `steps` steps at time shift `shift`."""
        s = type(scheduler).from_config(scheduler.config, **{shift_key: shift})
        s.set_timesteps(steps)
        return [float(v) for v in s.sigmas]

    denoiser = WanDenoiser(transformers_[0], transformers_[1] if len(transformers_) > 1 else None,
                           index.get("boundary_ratio"), whole, bool(index.get("expand_timesteps")))
    return WanParts(denoiser, WanAutoencoder(vae).to(device), WanTextEncoder(tokenizer, text_model, device), card,
                    schedule)
