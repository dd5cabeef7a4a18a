"""A causal video autoencoder (VAE): clips <-> latents, kinema's denoising space.

    encode: (B, 3, T, H, W) in [-1, 1]  ->  latent (B, C_z, 1 + ceil((T-1)/r_t), H/r_s, W/r_s)
    decode: latent                      ->  (B, 3, T', H', W')   (crop back with `crop_to`)

Causality in time, as in video VAEs since MAGVIT-v2 and Wan: the first frame is encoded on its own
(a still image is a one-frame video) and later frames in groups of r_t; no latent depends on later
frames. The trick that gives both at once: frame 0's per-frame features are repeated r_t times to
make the first group (and the decoder keeps one frame of the first group); every group is then
folded into channels (space-to-depth in time), and all temporal mixing happens in causal
convolutions at the latent rate (left padding only). Normalisation is per frame (GroupNorm over channels and space of
one frame), never over time, so it cannot leak the future either.

Layout:
  encoder  per frame: pixel-unshuffle 2 -> conv -> [res block, stride-2 conv] per level   (2D)
           fold r_t frames into channels -> 1x1 conv -> causal 3D res blocks -> (mean, logvar)
  decoder  causal 3D res blocks -> 1x1 conv -> unfold into r_t frames
           per frame: [res block(s), upsample x2 + conv] per level -> conv -> pixel-shuffle 2  (2D)
           optionally (`detail_width`) a full-resolution stage: the last features upsampled x2, a
           res block, a conv to RGB added to the pixel-shuffled frame: sharp edges need more than one
           3x3 conv at half resolution
  shortcuts (`shortcuts=True`, DC-AE: Chen et al. 2024, "Deep Compression Autoencoder for Efficient
           High-Resolution Diffusion Models"): beside each change of resolution or width a parameter-free
           path, space-to-channels then group means on the way down, channel repeats then channels-to-space
           on the way up, so the convolutions learn residuals; high-compression autoencoders train faster.

Streaming: every causal convolution can carry its last (k - 1) input frames from one chunk of
latents to the next (`cache`), so `encode`/`decode` with `chunk=n` process n latent frames at a
time and give the same result as one pass, with memory flat in the clip's length. `tile=` also
cuts large frames into overlapping spatial tiles blended linearly (approximate at the seams).

The latent's scale and shift (per channel, measured on data after training) are stored in the
config: `normalize` maps raw latents to roughly unit variance for the denoiser, `denormalize` back.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange



@dataclass(frozen=True)
class AutoencoderConfig:
    latent_channels: int = 16
    time_factor: int = 4  # r_t: frames per latent frame (after the first)
    space_factor: int = 8  # r_s: pixels per latent pixel along H and W (a power of 2, >= 2)
    widths: tuple[int, ...] = (32, 64, 128)  # 2D widths at H/2, H/4, ..., H/r_s
    time_width: int = 128  # width of the causal 3D blocks at the latent rate
    time_blocks: int = 2
    shortcuts: bool = False  # DC-AE's parameter-free residual paths around each change of resolution (below)
    decoder_blocks: int = 1  # 2D res blocks per decoder level (the encoder has one)
    detail_width: int = 0  # > 0: a decoder stage at full resolution of this width (below); 0: none
    latent_scale: tuple[float, ...] = ()  # per channel; set after training (empty: 1)
    latent_shift: tuple[float, ...] = ()  # per channel; set after training (empty: 0)

    def __post_init__(self) -> None:
        levels = int(math.log2(self.space_factor))
        if self.space_factor < 2 or 2**levels != self.space_factor:
            raise ValueError(f"space_factor must be a power of 2 >= 2, got {self.space_factor}")
        if len(self.widths) != levels:
            raise ValueError(f"space_factor {self.space_factor} needs {levels} widths, got {len(self.widths)}")
        if self.time_factor < 1:
            raise ValueError(f"time_factor must be >= 1, got {self.time_factor}")
        if self.decoder_blocks < 1 or self.detail_width < 0:
            raise ValueError(f"decoder_blocks must be >= 1 and detail_width >= 0, got {self.decoder_blocks}, "
                             f"{self.detail_width}")
        if self.shortcuts:  # each shortcut averages or repeats whole groups of channels
            w, tw, c = self.widths, self.time_width, self.latent_channels
            pairs = [(4 * a, b) for a, b in zip(w, w[1:])] + [(self.time_factor * w[-1], tw), (tw, c)]
            if any(big % small for big, small in pairs):
                raise ValueError(f"shortcuts need widths {w}, time_width {tw} and latent_channels {c} whose channel "
                                 f"counts divide one another (4 x each width by the next; r_t x the last by time_width)")

    @property
    def compression(self) -> str:
        return f"{self.time_factor}x{self.space_factor}x{self.space_factor}"

    def latent_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        """(C, T, H, W) of the latent of a clip (after padding to whole groups and tiles)."""
        r, s = self.time_factor, self.space_factor
        return (self.latent_channels, 1 + math.ceil((frames - 1) / r), math.ceil(height / s), math.ceil(width / s))


AE_PRESETS: dict[str, AutoencoderConfig] = {
    "tiny": AutoencoderConfig(latent_channels=4, widths=(8, 8, 16), time_width=16, time_blocks=1, shortcuts=True),  # tests
    "small": AutoencoderConfig(shortcuts=True),  # 4x8x8, the default
    "small-4x4x4": AutoencoderConfig(latent_channels=8, space_factor=4, widths=(32, 64), shortcuts=True),
}


# ---------------------------------------------------------------------------------------------
# Pieces
# ---------------------------------------------------------------------------------------------

class FrameNorm(nn.GroupNorm):
    """GroupNorm over (channels in a group, H, W) of each frame separately: never mixes frames, so it
    is causal in time. Takes (N, C, H, W) or (B, C, T, H, W)."""

    def __init__(self, channels: int):
        super().__init__(min(32, channels // 4) or 1, channels, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            return super().forward(x)
        b = x.shape[0]
        y = super().forward(rearrange(x, "b c t h w -> (b t) c h w"))
        return rearrange(y, "(b t) c h w -> b c t h w", b=b)


class CausalConv3d(nn.Conv3d):
    """3D convolution padded on the left in time (zeros, or the previous chunk's frames from `cache`)."""

    def __init__(self, cin: int, cout: int, kernel: int = 3):
        super().__init__(cin, cout, kernel, padding=(0, kernel // 2, kernel // 2))
        self.context = kernel - 1

    def forward(self, x: torch.Tensor, cache: dict | None = None) -> torch.Tensor:  # (B, C, T, H, W)
        if self.context:
            past = cache.get(self) if cache is not None else None
            if past is None:
                past = x.new_zeros(x.shape[:2] + (self.context,) + x.shape[3:])
            x = torch.cat([past, x], dim=2)
            if cache is not None:
                cache[self] = x[:, :, -self.context:].detach()
        return super().forward(x)


class CausalResBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.norm1, self.conv1 = FrameNorm(width), CausalConv3d(width, width)
        self.norm2, self.conv2 = FrameNorm(width), CausalConv3d(width, width)

    def forward(self, x: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)), cache)
        return x + self.conv2(F.silu(self.norm2(h)), cache)


class ResBlock2d(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.norm1, self.conv1 = FrameNorm(width), nn.Conv2d(width, width, 3, padding=1)
        self.norm2, self.conv2 = FrameNorm(width), nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W)
        return x + self.conv2(F.silu(self.norm2(self.conv1(F.silu(self.norm1(x))))))


def average_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """(N, C, ...) -> (N, channels, ...): the mean of each group of C / channels neighbouring channels."""
    return x.unflatten(1, (channels, x.shape[1] // channels)).mean(2)


def repeat_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """(N, C, ...) -> (N, channels, ...): each channel repeated channels / C times (average_channels' adjoint)."""
    return x.repeat_interleave(channels // x.shape[1], dim=1)


def down_shortcut(x: torch.Tensor, channels: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, channels, H/2, W/2): space to channels, then group means (Chen et al. 2024, DC-AE)."""
    return average_channels(F.pixel_unshuffle(x, 2), channels)


def up_shortcut(x: torch.Tensor, channels: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, channels, 2H, 2W): channels repeated, then channels to space (DC-AE)."""
    return F.pixel_shuffle(repeat_channels(x, 4 * channels), 2)


class Upsample2d(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def zero_last(block: ResBlock2d) -> ResBlock2d:
    """A res block whose second conv starts at zero: the identity until it trains."""
    nn.init.zeros_(block.conv2.weight)
    nn.init.zeros_(block.conv2.bias)
    return block


class DetailStage(nn.Module):
    """The decoder's full-resolution stage: (N, w0, H/2, W/2) features -> (N, 3, H, W), a correction added to
    the frame. Its output conv starts at zero, so adding it to a trained decoder changes nothing at first."""

    def __init__(self, cin: int, width: int):
        super().__init__()
        self.up = Upsample2d(cin, width)
        self.block = ResBlock2d(width)
        self.norm = FrameNorm(width)
        self.out = nn.Conv2d(width, 3, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.out(F.silu(self.norm(self.block(self.up(h)))))


# ---------------------------------------------------------------------------------------------
# Encoder and decoder
# ---------------------------------------------------------------------------------------------

class Encoder(nn.Module):
    def __init__(self, cfg: AutoencoderConfig):
        super().__init__()
        w = cfg.widths
        self.stem = nn.Conv2d(3 * 4, w[0], 3, padding=1)  # after pixel-unshuffle 2
        self.blocks = nn.ModuleList(ResBlock2d(c) for c in w)
        self.downs = nn.ModuleList(nn.Conv2d(w[i], w[i + 1], 3, stride=2, padding=1) for i in range(len(w) - 1))
        self.fold = nn.Conv3d(w[-1] * cfg.time_factor, cfg.time_width, 1)
        self.time = nn.ModuleList(CausalResBlock(cfg.time_width) for _ in range(cfg.time_blocks))
        self.norm = FrameNorm(cfg.time_width)
        self.out = CausalConv3d(cfg.time_width, 2 * cfg.latent_channels)
        with torch.no_grad():  # start with a narrow posterior (std ~0.05): noise must not drown the latent
            self.out.weight[cfg.latent_channels:].zero_()
            self.out.bias[cfg.latent_channels:].fill_(-6.0)
        self.r, self.shortcuts, self.latent_channels = cfg.time_factor, cfg.shortcuts, cfg.latent_channels

    def forward(self, x: torch.Tensor, cache: dict | None = None, first: bool = True) -> torch.Tensor:
        # x: (B, 3, T, H, W), T = 1 + r*(n-1) if `first` (the clip's start), else r*n
        b = x.shape[0]
        h = rearrange(x, "b c t h w -> (b t) c h w")
        h = self.stem(F.pixel_unshuffle(h, 2))  # (B*T, w0, H/2, W/2)
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i < len(self.downs):
                h = self.downs[i](F.silu(h)) + (down_shortcut(h, self.downs[i].out_channels) if self.shortcuts else 0)
        h = rearrange(h, "(b t) c h w -> b t c h w", b=b)
        if first:  # the first group is frame 0 alone: r copies of its features
            h = torch.cat([h[:, :1].expand(-1, self.r - 1, -1, -1, -1), h], dim=1)
        h = rearrange(h, "b (n r) c h w -> b (r c) n h w", r=self.r)  # (B, r*w, n, h, w)
        h = self.fold(h) + (average_channels(h, self.fold.out_channels) if self.shortcuts else 0)
        for block in self.time:
            h = block(h, cache)
        out = self.out(F.silu(self.norm(h)), cache)  # (B, 2*C_z, n, h, w): mean, logvar
        if self.shortcuts:  # the mean also gets the features' group means
            mean, logvar = out.chunk(2, dim=1)
            out = torch.cat([mean + average_channels(h, self.latent_channels), logvar], dim=1)
        return out


FRAMES_PER_PASS = 4  # frames the decoder's 2D part draws at once when no gradient is kept


class Decoder(nn.Module):
    def __init__(self, cfg: AutoencoderConfig):
        super().__init__()
        w = cfg.widths
        self.inp = CausalConv3d(cfg.latent_channels, cfg.time_width)
        self.time = nn.ModuleList(CausalResBlock(cfg.time_width) for _ in range(cfg.time_blocks))
        self.norm = FrameNorm(cfg.time_width)
        self.unfold = nn.Conv3d(cfg.time_width, w[-1] * cfg.time_factor, 1)
        self.blocks = nn.ModuleList(ResBlock2d(c) for c in reversed(w))
        # blocks beyond the first at each level; their last conv starts at zero (each is the identity then),
        # so a trained decoder grown by them decodes exactly as before
        self.more = nn.ModuleList(nn.Sequential(*(zero_last(ResBlock2d(c)) for _ in range(cfg.decoder_blocks - 1)))
                                  for c in reversed(w))
        self.ups = nn.ModuleList(Upsample2d(w[i + 1], w[i]) for i in reversed(range(len(w) - 1)))
        self.out_norm = FrameNorm(w[0])
        self.out = nn.Conv2d(w[0], 3 * 4, 3, padding=1)  # before pixel-shuffle 2
        self.detail = DetailStage(w[0], cfg.detail_width) if cfg.detail_width else None
        self.r, self.shortcuts = cfg.time_factor, cfg.shortcuts

    def forward(self, z: torch.Tensor, cache: dict | None = None, first: bool = True) -> torch.Tensor:
        # z: (B, C_z, n, h, w) -> (B, 3, T, h*r_s, w*r_s), T = 1 + r*(n-1) if `first`, else r*n
        b = z.shape[0]
        h = self.inp(z, cache) + (repeat_channels(z, self.inp.out_channels) if self.shortcuts else 0)
        for block in self.time:
            h = block(h, cache)
        h = self.unfold(F.silu(self.norm(h))) + (repeat_channels(h, self.unfold.out_channels) if self.shortcuts else 0)
        h = rearrange(h, "b (r c) n h w -> b (n r) c h w", r=self.r)
        if first:  # the first latent stands for frame 0 alone: keep the last of its r frames
            h = h[:, self.r - 1:]
        h = rearrange(h, "b t c h w -> (b t) c h w")
        # every frame is drawn on its own from here: without gradients, a few frames at a time keep the
        # full-resolution activations small (the same result as all at once)
        step = h.shape[0] if torch.is_grad_enabled() else FRAMES_PER_PASS
        y = torch.cat([self.draw(h[i:i + step]) for i in range(0, h.shape[0], step)])
        return rearrange(y, "(b t) c h w -> b c t h w", b=b)

    def draw(self, h: torch.Tensor) -> torch.Tensor:
        """(N, w[-1], h, w) features of N frames -> (N, 3, h*r_s, w*r_s): the 2D part of the decoder."""
        for i, block in enumerate(self.blocks):
            h = self.more[i](block(h))
            if i < len(self.ups):
                h = self.ups[i](F.silu(h)) + (up_shortcut(h, self.ups[i].conv.out_channels) if self.shortcuts else 0)
        h = F.silu(self.out_norm(h))  # (N, w0, H/2, W/2)
        y = F.pixel_shuffle(self.out(h), 2)  # (N, 3, H, W)
        if self.detail is not None:
            y = y + self.detail(h)
        return y


# ---------------------------------------------------------------------------------------------
# The autoencoder
# ---------------------------------------------------------------------------------------------

class VideoAutoencoder(nn.Module):
    def __init__(self, cfg: AutoencoderConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder, self.decoder = Encoder(cfg), Decoder(cfg)

    # -- shapes --------------------------------------------------------------------------------
    def pad(self, x: torch.Tensor, first: bool = True) -> torch.Tensor:
        """Pad the end with copies of the last frame to whole groups (T = 1 + r*k for a clip's start,
        r*k for a later piece of a stream), and H, W (replicate) to multiples of r_s."""
        r, s = self.cfg.time_factor, self.cfg.space_factor
        t, hgt, wid = x.shape[2:]
        x = torch.cat([x, x[:, :, -1:].expand(-1, -1, (-(t - 1) if first else -t) % r, -1, -1)], 2)
        ph, pw = (-hgt) % s, (-wid) % s
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph, 0, 0), mode="replicate")
        return x

    def crop_to(self, x: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
        """Drop the decoded padding: whatever lies past (frames, H, W)."""
        return x[:, :, :frames, :height, :width]

    # -- latents -------------------------------------------------------------------------------
    def encode_moments(self, x: torch.Tensor, cache: dict | None = None,
                       first: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw (mean, logvar) of padded frames (1 + r*k of them if `first`, else r*k)."""
        mean, logvar = self.encoder(x, cache, first).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self._stat("latent_shift", z, 0.0)) / self._stat("latent_scale", z, 1.0)

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        return z * self._stat("latent_scale", z, 1.0) + self._stat("latent_shift", z, 0.0)

    def _stat(self, name: str, z: torch.Tensor, default: float) -> torch.Tensor | float:
        values = getattr(self.cfg, name)
        if not values:
            return default
        return torch.tensor(values, dtype=z.dtype, device=z.device).view(1, -1, 1, 1, 1)

    @torch.no_grad()
    def encode(self, x: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
        """Clip (B, 3, T, H, W) in [-1, 1] -> normalised latent (posterior means); `chunk` latent frames at a time."""
        x = self.pad(x)
        r = self.cfg.time_factor
        n = 1 + (x.shape[2] - 1) // r
        chunk = chunk or n
        cache: dict = {}
        parts = []
        for i in range(0, n, chunk):  # latent i stands for frames r*(i-1)+1 .. r*i (frame 0 for i = 0)
            lo, hi = max(r * (i - 1) + 1, 0), r * (i + chunk - 1) + 1
            parts.append(self.encode_step(x[:, :, lo:hi], cache, first=i == 0))
        return torch.cat(parts, dim=2)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, chunk: int | None = None, tile: int | None = None) -> torch.Tensor:
        """Normalised latent -> padded clip (B, 3, 1 + r*(n-1), H, W); see `crop_to`. Streams `chunk` latent frames."""
        return torch.cat(list(self.decode_chunks(z, chunk, tile)), dim=2)

    def decode_chunks(self, z: torch.Tensor, chunk: int | None = None, tile: int | None = None):
        """Yield the decoded clip `chunk` latent frames at a time (r*chunk frames; r*(chunk-1)+1 at first)."""
        n = z.shape[2]
        chunk = chunk or n
        caches: list[dict] = []
        for i in range(0, n, chunk):
            yield self.decode_step(z[:, :, i:i + chunk], caches, first=i == 0, tile=tile)

    def decode_after(self, context: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """A decoder, with gradients, of clips that begin with the normalised latent frames `context` (B, C, k, h, w),
        decoded once here: z (B, C, T, h, w) -> its padded clip, the context's pictures first; of z only the frames
        after the first k are read."""
        caches: list[dict] = []
        with torch.no_grad():
            head = self.decode_step(context, caches, first=True)
        k = context.shape[2]
        return lambda z: torch.cat([head, self.decode_step(z[:, :, k:], [dict(c) for c in caches], first=False)], 2)

    def decode_step(self, z: torch.Tensor, caches: list[dict], first: bool, tile: int | None = None) -> torch.Tensor:
        """Decode the next latent frames of a stream (normalised); `caches` carries state between calls."""
        z = self.denormalize(z)
        tiles = spatial_tiles(z.shape[3], z.shape[4], tile)
        while len(caches) < len(tiles):
            caches.append({})
        if len(tiles) == 1:
            return self.decoder(z, caches[0], first)
        s = self.cfg.space_factor
        out = weight = None
        for (y0, y1, x0, x1), cache in zip(tiles, caches):
            dec = self.decoder(z[..., y0:y1, x0:x1], cache, first)
            if out is None:
                shape = dec.shape[:3] + (z.shape[3] * s, z.shape[4] * s)
                out, weight = dec.new_zeros(shape), dec.new_zeros((1, 1, 1) + shape[3:])
            ramp = blend_ramp(y1 - y0, x1 - x0, s, y0 > 0, y1 < z.shape[3], x0 > 0, x1 < z.shape[4]).to(dec)
            out[..., y0 * s:y1 * s, x0 * s:x1 * s] += dec * ramp
            weight[..., y0 * s:y1 * s, x0 * s:x1 * s] += ramp
        return out / weight

    def encode_step(self, x: torch.Tensor, cache: dict, first: bool) -> torch.Tensor:
        """Encode the next frames of a stream (1 + r*k at first, then r*k) to normalised latent means."""
        return self.normalize(self.encode_moments(x, cache, first)[0])

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """Training pass on a padded clip (1 + r*k frames): (reconstruction, mean, logvar), sampling the posterior."""
        mean, logvar = self.encode_moments(x)
        z = mean + torch.randn(mean.shape, generator=generator, device=mean.device) * (0.5 * logvar).exp()
        return self.decoder(z), mean, logvar


TILE_MARGIN, TILE_RAMP = 4, 4  # latent pixels: each tile's ignored rim, and the cross-fade between neighbours


def spatial_tiles(h: int, w: int, tile: int | None) -> list[tuple[int, int, int, int]]:
    """Overlapping latent tiles (y0, y1, x0, x1) of side `tile` covering an h x w latent.

    Neighbours overlap by 2 * TILE_MARGIN + TILE_RAMP: in the overlap each tile's outer rim (where
    zero padding differs from the true surroundings) gets weight 0 and the middle cross-fades."""
    overlap = 2 * TILE_MARGIN + TILE_RAMP
    if tile is None or (h <= tile and w <= tile):
        return [(0, h, 0, w)]
    if tile <= 2 * overlap:
        raise ValueError(f"tile {tile} must be larger than {2 * overlap} latent pixels")

    def starts(n: int) -> list[int]:
        if n <= tile:
            return [0]
        return sorted(set(list(range(0, n - tile, tile - overlap)) + [n - tile]))

    return [(y, min(y + tile, h), x, min(x + tile, w)) for y in starts(h) for x in starts(w)]


def blend_ramp(th: int, tw: int, s: int, top: bool, bottom: bool, left: bool, right: bool) -> torch.Tensor:
    """Weights of a decoded tile (pixels): on a side that meets a neighbour, 0 over the margin, then a linear ramp."""
    m, r = TILE_MARGIN * s, TILE_RAMP * s

    def axis(n: int, lo: bool, hi: bool) -> torch.Tensor:
        v = torch.ones(n * s)
        edge = torch.cat([torch.zeros(m), torch.linspace(0.0, 1.0, r + 2)[1:-1]])
        if lo:
            v[: m + r] = edge
        if hi:
            v[-(m + r):] = torch.minimum(v[-(m + r):], edge.flip(0))
        return v

    return (axis(th, top, bottom)[:, None] * axis(tw, left, right)[None]).view(1, 1, 1, th * s, tw * s)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
