"""A video diffusion transformer (DiT) with text cross-attention.

    model(x, t, cond) -> prediction        x, prediction: (B, C, T, H, W); t: (B,) in [0, 1]

The model holds no diffusion math: what the prediction means (clean clip or velocity) and how it
is guided belongs to kinema.diffusion. The input space is a parameter (`in_channels`): pixels now,
an autoencoder's latents later.

Layout: the clip is cut into (pt, ph, pw) patches -> N = T/pt * H/ph * W/pw tokens of width D.
Each block: self-attention over space and time (one full 3D attention, or factorised into
attention within a frame then across frames), cross-attention to the prompt's tokens, and an MLP;
each sub-layer is modulated by adaLN-Zero (DiT, Peebles & Xie 2023) from the timestep and the
pooled prompt. Positions enter through 3D rotary embeddings (RoPE split over t, h, w).

Precision: the weights may be bfloat16 (`model.to(torch.bfloat16)`, kinema.models.precision); the model
then takes and returns float32 clips, so the sampler's state and its updates stay float32 (20 small
Euler steps would be lost to bf16's 8-bit mantissa). Also float32 in a bf16 model: the timestep's
sinusoids (arguments up to 1000) and the rotary angles and rotation (positions times frequencies),
and the normalisations' statistics (torch accumulates them in float32). Everything else, the matrix
products and attention, runs in bf16. On CPUs without bf16 units bf16 is ~70x slower than float32, and with
them it pays only for wide models (benchmarks/precision.py), so `--precision auto` picks bf16 only for those on
such a CPU; on CUDA it is bf16.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from kinema.models.layout import token_features
from kinema.text.encoder import TextEmbedding


@dataclass(frozen=True)
class DenoiserConfig:
    in_channels: int = 3  # 3 for pixels in [-1, 1]; an autoencoder's latent channels otherwise
    patch: tuple[int, int, int] = (2, 8, 8)  # (pt, ph, pw)
    dim: int = 256
    depth: int = 8
    heads: int = 4
    mlp_ratio: float = 4.0
    text_dim: int = 384
    attention: str = "full"  # "full": one 3D attention; "factorised": space then time
    rope_theta: float = 100.0
    layout: int = 0  # pictures per latent frame of a layout it takes (kinema.models.layout); 0: it takes none

    def __post_init__(self) -> None:
        if self.attention not in ("full", "factorised"):
            raise ValueError(f"attention must be 'full' or 'factorised', got {self.attention!r}")
        if self.dim % self.heads or (self.dim // self.heads) % 2:
            raise ValueError(f"head width dim/heads = {self.dim}/{self.heads} must be an even integer (3D RoPE)")


PRESETS: dict[str, DenoiserConfig] = {
    "tiny": DenoiserConfig(patch=(2, 8, 8), dim=48, depth=2, heads=2),  # tests
    "tiny-latent": DenoiserConfig(patch=(1, 2, 2), dim=48, depth=2, heads=2),  # tests, in a latent space
    "small": DenoiserConfig(patch=(4, 8, 8), dim=192, depth=8, heads=4),  # the default model (7.5M)
    # the shipped latent model: a 2 s 64x64 clip at 8 fps is a 16x5x8x8 latent -> 1x2x2 patches, 80 tokens
    "latent": DenoiserConfig(in_channels=16, patch=(1, 2, 2), dim=128, depth=8, heads=4),
    "base": DenoiserConfig(patch=(2, 8, 8), dim=384, depth=12, heads=6),  # for a GPU
}


def preset(name: str, **overrides) -> DenoiserConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return replace(PRESETS[name], **overrides)


# ---------------------------------------------------------------------------------------------
# Pieces
# ---------------------------------------------------------------------------------------------

def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of t in [0, 1] (scaled by 1000, as DiT's integer steps): (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = 1000.0 * t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def rope_3d(grid: tuple[int, int, int], head_dim: int, theta: float, device: torch.device) -> torch.Tensor:
    """Rotary angles for a (T, H, W) token grid: (N, head_dim / 2), t-angles then h then w."""
    dh = dw = 2 * (head_dim // 6)
    dt = head_dim - dh - dw
    angles = []
    for axis, (n, d) in enumerate(zip(grid, (dt, dh, dw))):
        freqs = 1.0 / theta ** (torch.arange(0, d, 2, device=device, dtype=torch.float32) / d)
        pos = torch.arange(n, device=device, dtype=torch.float32)
        a = pos[:, None] * freqs[None]  # (n, d/2)
        shape = [1, 1, 1, d // 2]
        shape[axis] = n
        angles.append(a.view(shape).expand(*grid, d // 2))
    return torch.cat(angles, dim=-1).reshape(-1, head_dim // 2)


def rope_rotations(angles: torch.Tensor) -> torch.Tensor:
    """Angles (N, hd/2) -> the unit complex numbers e^(i angle) that rotate by them (N, hd/2) complex64."""
    return torch.polar(torch.ones_like(angles), angles)


def apply_rope(x: torch.Tensor, rope: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs (x[2i], x[2i+1]) of x (B, heads, N, hd) by the rotations `rope` (N, hd/2) complex:
    the pair as one complex number times e^(i angle), one complex product (as Llama's RoPE) in float32."""
    z = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)).contiguous())
    return torch.view_as_real(z * rope).flatten(-2).type_as(x)


class TanhGELU(nn.Module):
    """GELU with the tanh approximation (as nn.GELU(approximate="tanh"), the DiT/Wan choice), computed as
    x * sigmoid(2z) with z = sqrt(2/pi) (x + 0.044715 x^3): the same function, since
    0.5 (1 + tanh(z)) = sigmoid(2z), but about 1.8x faster than torch's tanh kernel on AVX2 CPUs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # 2z = x (1.5957691216057308 + 0.0713548162726 x^2)
        return x * torch.sigmoid(x * torch.addcmul(x.new_full((), 1.5957691216057308), x, x, value=0.0713548162726))


def per_token(v: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
    """A modulation for every token: (B, D) -> (B, 1, D), shared by all tokens; (B, Tg, D), one per frame of the
    token grid (per-frame noise levels) -> (B, N, D)."""
    if v.dim() == 2:
        return v[:, None]
    return v[:, :, None].expand(-1, -1, grid[1] * grid[2], -1).flatten(1, 2)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return torch.addcmul(shift, x, 1 + scale)  # x (1 + scale) + shift, in one pass over x


class SelfAttention(nn.Module):
    """Multi-head self-attention with QK-norm and 3D RoPE over a token grid, in one of three
    groupings: "full" (all N tokens), "space" (within each frame), "time" (across frames)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q_norm = nn.RMSNorm(dim // heads, eps=1e-6)
        self.k_norm = nn.RMSNorm(dim // heads, eps=1e-6)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, rope: torch.Tensor, grid: tuple[int, int, int],
                group: str) -> torch.Tensor:
        t, h, w = grid
        q, k, v = rearrange(self.qkv(x), "b n (three hd_h) -> three b n hd_h", three=3).unbind(0)
        q, k, v = (rearrange(z, "b n (heads hd) -> b heads n hd", heads=self.heads) for z in (q, k, v))
        q, k = apply_rope(self.q_norm(q), rope), apply_rope(self.k_norm(k), rope)  # (B, h, N, hd)
        if group == "full":
            out = F.scaled_dot_product_attention(q, k, v)
        elif group == "space":
            q, k, v = (rearrange(z, "b e (t s) d -> (b t) e s d", t=t) for z in (q, k, v))
            out = rearrange(F.scaled_dot_product_attention(q, k, v), "(b t) e s d -> b e (t s) d", t=t)
        elif group == "time":
            q, k, v = (rearrange(z, "b e (t s) d -> (b s) e t d", t=t) for z in (q, k, v))
            out = rearrange(F.scaled_dot_product_attention(q, k, v), "(b s) e t d -> b e (t s) d", s=h * w)
        else:
            raise ValueError(group)
        return self.proj(rearrange(out, "b heads n hd -> b n (heads hd)"))


class CrossAttention(nn.Module):
    """Queries from video tokens, keys and values from the prompt's tokens (masked padding)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.q_norm = nn.RMSNorm(dim // heads, eps=1e-6)
        self.k_norm = nn.RMSNorm(dim // heads, eps=1e-6)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q = self.q_norm(rearrange(self.q(x), "b n (e d) -> b e n d", e=self.heads))  # (B, h, N, hd)
        k, v = rearrange(self.kv(ctx), "b l (two e d) -> two b e l d", two=2, e=self.heads).unbind(0)
        out = F.scaled_dot_product_attention(q, self.k_norm(k), v, attn_mask=mask[:, None, None, :])
        return self.proj(rearrange(out, "b e n d -> b n (e d)"))


class Block(nn.Module):
    """adaLN-Zero transformer block: self-attention(s), cross-attention, MLP. Identity at init."""

    def __init__(self, cfg: DenoiserConfig):
        super().__init__()
        d = cfg.dim
        self.groups = ("full",) if cfg.attention == "full" else ("space", "time")
        self.norms = nn.ModuleList(nn.LayerNorm(d, elementwise_affine=False, eps=1e-6) for _ in self.groups)
        self.attns = nn.ModuleList(SelfAttention(d, cfg.heads) for _ in self.groups)
        self.norm_cross = nn.LayerNorm(d, eps=1e-6)
        self.cross = CrossAttention(d, cfg.heads)
        self.norm_mlp = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        hidden = int(d * cfg.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), TanhGELU(), nn.Linear(hidden, d))
        # (shift, scale, gate) per self-attention and for the MLP, and a gate for cross-attention
        self.n_mod = 3 * len(self.groups) + 3 + 1
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(d, self.n_mod * d))
        nn.init.zeros_(self.ada[1].weight)
        nn.init.zeros_(self.ada[1].bias)

    def forward(self, x, c, ctx, mask, rope, grid):
        mods = [per_token(m, grid) for m in self.ada(c).chunk(self.n_mod, dim=-1)]  # each (B, 1 or N, D)
        for i, (norm, attn, group) in enumerate(zip(self.norms, self.attns, self.groups)):
            shift, scale, gate = mods[3 * i: 3 * i + 3]
            x = torch.addcmul(x, gate, attn(modulate(norm(x), shift, scale), rope, grid, group))  # x + gate * attn
        shift, scale, gate, gate_cross = mods[-4:]
        x = torch.addcmul(x, gate_cross, self.cross(self.norm_cross(x), ctx, mask))
        return torch.addcmul(x, gate, self.mlp(modulate(self.norm_mlp(x), shift, scale)))


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------

class VideoDiT(nn.Module):
    def __init__(self, cfg: DenoiserConfig):
        super().__init__()
        self.config = cfg
        d = cfg.dim
        patch_dim = cfg.in_channels * math.prod(cfg.patch)
        self.patch_embed = nn.Linear(patch_dim, d)
        self.t_embed = nn.Sequential(nn.Linear(256, d), nn.SiLU(), nn.Linear(d, d))
        self.pooled_embed = nn.Sequential(nn.Linear(cfg.text_dim, d), nn.SiLU(), nn.Linear(d, d))
        self.text_proj = nn.Sequential(nn.Linear(cfg.text_dim, d), TanhGELU(), nn.Linear(d, d))
        if cfg.layout:  # grounding: each object's footprint (where) times its phrase (what), summed into the tokens
            self.layout_where = nn.Linear(math.prod(cfg.patch) * cfg.layout * 2, d, bias=False)
            self.layout_what = nn.Linear(cfg.text_dim, d)
            self.layout_out = nn.Sequential(nn.SiLU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.final_norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
        self.final = nn.Linear(d, patch_dim)
        for m in self.modules():
            if isinstance(m, nn.Linear) and m not in (self.final, self.final_ada[1]):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        for b in self.blocks:  # restore the zero init of adaLN-Zero after the sweep above
            nn.init.zeros_(b.ada[1].weight)
            nn.init.zeros_(b.ada[1].bias)
        zeroed = (self.final, self.final_ada[1]) + ((self.layout_out[1],) if cfg.layout else ())
        for layer in zeroed:  # a layout input starts as no change: a trained model gains it as it was
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def grid(self, shape: tuple[int, ...]) -> tuple[int, int, int]:
        """Token grid of an input of shape (B, C, T, H, W); ValueError if it does not tile."""
        _, c, t, h, w = shape
        pt, ph, pw = self.config.patch
        if c != self.config.in_channels:
            raise ValueError(f"denoiser expects {self.config.in_channels} channels, got {c}")
        if t % pt or h % ph or w % pw:
            raise ValueError(f"input (T, H, W) = ({t}, {h}, {w}) is not divisible by the patch {self.config.patch}")
        return t // pt, h // ph, w // pw

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: TextEmbedding) -> torch.Tensor:
        """x (B, C, T, H, W) at flow times t: (B,), one per clip, or (B, T), one per frame (frames at t = 0 are
        known: a picture, the end of an earlier clip); the prompts `cond` -> the prediction, x's shape."""
        b, c, T, H, W = x.shape
        grid = self.grid(x.shape)
        pt, ph, pw = self.config.patch
        h = rearrange(x, "b c (t pt) (h ph) (w pw) -> b (t h w) (pt ph pw c)", pt=pt, ph=ph, pw=pw)
        h = self.patch_embed(h.to(self.patch_embed.weight.dtype))  # (B, N, D), in the weights' dtype
        angles = rope_3d(grid, self.config.dim // self.config.heads, self.config.rope_theta, x.device)
        rope = rope_rotations(angles)  # (N, hd/2) complex, shared by every block
        if t.dim() == 2:  # per frame: each patch of frames takes its first frame's time -> (B, Tg)
            if t.shape != (b, T):
                raise ValueError(f"per-frame times must be (B, T) = ({b}, {T}), got {tuple(t.shape)}")
            t = t[:, ::pt]
        pooled = self.pooled_embed(cond.pooled.to(h.dtype))  # (B, D)
        temb = self.t_embed(timestep_embedding(t.flatten(), 256).to(h.dtype)).unflatten(0, t.shape)  # (B[, Tg], D)
        cvec = temb + (pooled[:, None] if t.dim() == 2 else pooled)  # (B, D), or (B, Tg, D) per frame
        ctx = self.text_proj(cond.tokens.to(h.dtype))  # (B, L, D)
        if self.config.layout and cond.layout is not None:  # (B, K, N, F) footprints x (B, K, 1, D) phrases
            where = self.layout_where(token_features(cond.layout, grid, self.config.patch).to(h.dtype))
            what = self.layout_what(cond.layout.phrases.to(h.dtype))[:, :, None]
            h = h + self.layout_out((where * what).sum(1))  # (B, N, D)
        for block in self.blocks:
            h = block(h, cvec, ctx, cond.mask, rope, grid)  # (B, N, D)
        shift, scale = (per_token(m, grid) for m in self.final_ada(cvec).chunk(2, dim=-1))
        h = self.final(modulate(self.final_norm(h), shift, scale))  # (B, N, pt*ph*pw*C)
        return rearrange(h, "b (t h w) (pt ph pw c) -> b c (t pt) (h ph) (w pw)",
                         t=grid[0], h=grid[1], w=grid[2], pt=pt, ph=ph, pw=pw, c=c).to(x.dtype)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
