"""Motion between keyframes: a model that fills in the unknown frames of a clip from the known ones.

    model(x, mask) -> clip        x, clip: (B, C, T, H, W) in [-1, 1]; mask: (B, T), 1 = known frame

The conditioning is general: any set of frames may be known. Interpolation knows every m-th frame;
image-to-video knows the first; extending a clip knows the first k. The unknown frames start from a
first guess and the network predicts a correction from the known frames, the mask and the guess;
known frames pass through exactly.

The first guess is flow-guided by default (`flow_guess`): dense optical flow between the two known
frames around a gap (OpenCV's DIS, Kroeger et al. 2016), the flow from each in-between time back to
them approximated as in Super SloMo (Jiang et al. 2018), both known frames warped there and blended
by time. Linear blending between the nearest known frames before and after (`first_guess`, which
holds the nearest one where only one side is known) serves frames known on one side only, and is
the config's alternative (`guess="linear"`).

The network is a small 3D convolutional U-Net (two per-frame downsamplings, residual blocks with
3x3x3 kernels at quarter resolution, each +-2 frames and +-8 pixels of view), zero-initialised
at the output, so an untrained model returns the first guess, and training teaches it what the
guess gets wrong (occlusions, flow errors, shapes the flow tears). Trained with L1 or MSE (and
optionally a temporal term on frame differences) by `kinema train-stage interpolator`; see
kinema.train.cascade.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from kinema.models.blocks import ResBlock


GUESSES = ("flow", "linear")


@dataclass(frozen=True)
class InterpolatorConfig:
    channels: int = 16  # at full resolution; x2 at half, x4 at quarter
    blocks: int = 3  # residual blocks at quarter resolution
    guess: str = "flow"  # first guess: flow-warped blend ("flow") or cross-fade ("linear")

    def __post_init__(self) -> None:
        if self.guess not in GUESSES:
            raise ValueError(f"guess must be one of {', '.join(GUESSES)}, got {self.guess!r}")


INTERPOLATOR_PRESETS: dict[str, InterpolatorConfig] = {
    "tiny": InterpolatorConfig(channels=8, blocks=1),
    "small": InterpolatorConfig(channels=16, blocks=3),
}


def first_guess(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Linear blend between the nearest known frames before and after each frame (hold at the ends).

    x: (B, C, T, H, W); mask: (B, T) with at least one known frame per clip -> (B, C, T, H, W)."""
    b, _, t = x.shape[:3]
    known = mask.bool()
    if not known.any(dim=1).all():
        raise ValueError("every clip needs at least one known frame")
    idx = torch.arange(t, device=x.device).expand(b, t)
    big = t * 4
    # index of the last known frame at or before k, and of the first known frame at or after k
    prev = torch.where(known, idx, torch.full_like(idx, -big)).cummax(dim=1).values
    nxt = torch.where(known, idx, torch.full_like(idx, big)).flip(1).cummin(dim=1).values.flip(1)
    prev_ok, next_ok = prev >= 0, nxt < t
    prev = torch.where(prev_ok, prev, nxt)
    nxt = torch.where(next_ok, nxt, prev)
    span = (nxt - prev).clamp(min=1).float()
    w = torch.where(nxt > prev, (idx - prev).float() / span, torch.zeros_like(span))  # (B, T)
    def gather(i: torch.Tensor) -> torch.Tensor:  # frames i (B, T) of x -> (B, C, T, H, W)
        return torch.gather(x, 2, i[:, None, :, None, None].expand(x.shape))

    w = w[:, None, :, None, None].to(x.dtype)
    return gather(prev) * (1 - w) + gather(nxt) * w


def _gray_u8(frames: torch.Tensor) -> np.ndarray:
    """(C=3, T, H, W) in [-1, 1] -> uint8 luma (T, H, W), what DIS reads."""
    luma = 0.299 * frames[0] + 0.587 * frames[1] + 0.114 * frames[2]
    return ((luma.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()


def _warp(frame: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample frame (C, H, W) at each pixel + flow (N, H, W, 2) (pixels, x then y) -> (N, C, H, W)."""
    n, h, w = flow.shape[:3]
    ys, xs = torch.meshgrid(torch.arange(h, dtype=flow.dtype), torch.arange(w, dtype=flow.dtype), indexing="ij")
    gx = (xs + flow[..., 0]) * (2 / max(w - 1, 1)) - 1
    gy = (ys + flow[..., 1]) * (2 / max(h - 1, 1)) - 1
    grid = torch.stack([gx, gy], dim=-1).to(frame.device, frame.dtype)
    return F.grid_sample(frame.expand(n, *frame.shape), grid, mode="bilinear", padding_mode="border",
                         align_corners=True)


@torch.no_grad()
def flow_guess(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Flow-guided first guess. For each gap between known frames p < q, DIS flow F_pq and F_qp; the
    flow from time s in (0, 1) back to each is approximated as in Super SloMo (Jiang et al. 2018),
    F_sp = -(1-s) s F_pq + s^2 F_qp and F_sq = (1-s)^2 F_pq - s (1-s) F_qp; both known frames are
    warped to s and blended with weights 1-s and s. Frames known on one side only, and frames under
    12 pixels a side (too small for DIS): `first_guess`.

    x: (B, C, T, H, W) in [-1, 1], C = 3; mask: (B, T) -> (B, C, T, H, W)."""
    import cv2

    guess = first_guess(x, mask)
    if x.shape[1] != 3 or min(x.shape[3:]) < 12:
        return guess
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    for i in range(x.shape[0]):
        known = mask[i].nonzero().flatten().tolist()
        gray = None
        for p, q in zip(known, known[1:]):
            if q - p < 2:
                continue
            if gray is None:
                gray = _gray_u8(x[i])
            f_pq = torch.from_numpy(dis.calc(gray[p], gray[q], None))  # (H, W, 2)
            f_qp = torch.from_numpy(dis.calc(gray[q], gray[p], None))
            s = torch.arange(1, q - p, dtype=f_pq.dtype)[:, None, None, None] / (q - p)  # (N, 1, 1, 1)
            to_p = -(1 - s) * s * f_pq + s * s * f_qp  # (N, H, W, 2)
            to_q = (1 - s) ** 2 * f_pq - s * (1 - s) * f_qp
            s = s.permute(0, 3, 1, 2).to(x.device, x.dtype)  # (N, 1, 1, 1) over (N, C, H, W)
            blend = (1 - s) * _warp(x[i, :, p], to_p) + s * _warp(x[i, :, q], to_q)  # (N, C, H, W)
            guess[i, :, p + 1:q] = blend.transpose(0, 1)
    return guess


def _frame_conv(c_in: int, c_out: int, stride: int = 1) -> nn.Conv3d:
    """A 3x3 convolution within each frame (kernel 1x3x3)."""
    return nn.Conv3d(c_in, c_out, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1))


class Interpolator(nn.Module):
    def __init__(self, cfg: InterpolatorConfig, channels: int = 3):
        super().__init__()
        self.config, c = cfg, cfg.channels
        self.inp = nn.Conv3d(2 * channels + 1, c, 3, padding=1)  # known frames, mask, first guess
        self.down1 = _frame_conv(c, 2 * c, stride=2)
        self.down2 = _frame_conv(2 * c, 4 * c, stride=2)
        self.mid = nn.Sequential(*(ResBlock(4 * c, nn.Conv3d, pre_activation=True) for _ in range(cfg.blocks)))
        self.up2 = nn.Conv3d(4 * c, 2 * c, 3, padding=1)
        self.up1 = nn.Conv3d(2 * c, c, 3, padding=1)
        self.out = nn.Conv3d(c, channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    @property
    def reach(self) -> int:
        """Frames either side that one output frame depends on: one per 3x3x3 convolution."""
        return 4 + 2 * self.config.blocks

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T, H, W), unknown frames arbitrary; mask: (B, T) -> the clip with every frame filled."""
        b, c, t, h, w = x.shape
        if h % 4 or w % 4:
            raise ValueError(f"frame size {h}x{w} must be divisible by 4 (pad it: see interpolate_clip)")
        m = mask.to(x.dtype)[:, None, :, None, None]  # (B, 1, T, 1, 1)
        guess = flow_guess(x, mask) if self.config.guess == "flow" else first_guess(x, mask)
        known = x * m
        h0 = F.silu(self.inp(torch.cat([known, m.expand(b, 1, t, h, w), guess], dim=1)))  # (B, c, T, H, W)
        h1 = F.silu(self.down1(h0))  # (B, 2c, T, H/2, W/2)
        h2 = self.mid(self.down2(h1))  # (B, 4c, T, H/4, W/4)
        u1 = F.silu(self.up2(F.interpolate(h2, scale_factor=(1, 2, 2), mode="nearest"))) + h1
        u0 = F.silu(self.up1(F.interpolate(u1, scale_factor=(1, 2, 2), mode="nearest"))) + h0
        out = guess + self.out(u0)
        return known + out * (1 - m)  # known frames pass through exactly


# ---------------------------------------------------------------------------------------------
# Frame-rate conversion with the model
# ---------------------------------------------------------------------------------------------

def fine_factor(fps_in: float, fps_out: float, max_factor: int = 12) -> int:
    """The grid the model fills: m frames per input frame. The smallest m up to max_factor for which
    fps_in * m is a whole multiple of fps_out, so every output frame lies on the grid (4 -> 24 fps:
    6; 8 -> 12 fps: 3); otherwise max_factor, and output frames take the nearest grid frame (at most
    1 / (2 * max_factor * fps_in) seconds off)."""
    if fps_out <= fps_in:
        return 1
    for m in range(1, max_factor + 1):
        ratio = fps_in * m / fps_out
        if abs(ratio - round(ratio)) < 1e-6:
            return m
    return max_factor


def interpolate_clip(model: Interpolator, frames: np.ndarray, fps_in: float, fps_out: float, n_out: int,
                     window: int = 16, callback=None) -> np.ndarray:
    """uint8 frames (T, H, W, 3) at fps_in -> (n_out, H, W, 3) at fps_out, in one go (see Interpolation)."""
    return Interpolation(model, fps_in, fps_out, len(frames), n_out, window, callback).push(frames)


class Interpolation:
    """A clip's frames at fps_in -> its n_out frames at fps_out, as its frames arrive: `push(frames)` returns the
    output frames that are now final, in order (all of them once the n_in-th frame is in).

    The model runs on the fine grid (m frames per input frame, `fine_factor`), `window` input frames
    at a time (`first` in the first segment, so a stream's first second is out sooner) with enough context
    on each side to cover the model's reach (so the result is the same as one pass over the whole clip,
    and the same however the frames arrive) and memory does not grow with length; output frames are then
    taken from the fine grid (the last input frame is held past the end). The first output frame is the
    first input frame itself (the model passes known frames through), out as soon as it is in. (The context
    is 5 input frames each side at 8 -> 24 fps: segments of 16 cost a third less than segments of 8.)"""

    def __init__(self, model: Interpolator, fps_in: float, fps_out: float, n_in: int, n_out: int, window: int = 16,
                 callback=None, first: int = 8):
        self.model, self.n_in, self.callback = model, n_in, callback
        self.m = m = fine_factor(fps_in, fps_out)
        self.pos = np.minimum(np.rint(np.arange(n_out) / fps_out * fps_in * m).astype(int), (n_in - 1) * m)  # grid
        self.ctx = -(-model.reach // m) + 1  # input frames of context: the reach, plus the known frame behind it
        self.starts = [0] + list(range(min(first, window), n_in - 1, window))  # segment k: starts[k]..starts[k + 1]
        self.frames, self.base = None, 0  # the input frames kept (from input frame `base` on)
        self.done = 0  # segments (m > 1) or output frames (m == 1) made
        self.first_out = False  # (m > 1) whether output frame 0, input frame 0, is out

    def push(self, frames: np.ndarray) -> np.ndarray:
        self.frames = frames if self.frames is None else np.concatenate([self.frames, frames])
        have = self.base + len(self.frames)  # input frames received
        if self.m == 1:  # no faster than the input: the nearest input frames
            ready = int(np.searchsorted(self.pos, have))  # (pos is non-decreasing)
            out, self.done = self.frames[self.pos[self.done:ready] - self.base], ready
            return out
        out = []
        if not self.first_out and len(self.pos) and have:  # (pos[0] is 0: the model keeps it as it is)
            out.append(self.frames[:1])
            self.first_out = True
        while self.done < len(self.starts):
            a = self.starts[self.done]
            b = self.starts[self.done + 1] if self.done + 1 < len(self.starts) else self.n_in - 1
            lo, hi = max(a - self.ctx, 0), min(b + self.ctx, self.n_in - 1)
            if hi >= have:
                break
            out.append(self._segment(a, b, lo, hi)[1 if a == 0 else 0:])
            self.done += 1
            if self.callback:
                self.callback(self.done, len(self.starts))
        keep_from = max(self.starts[self.done] - self.ctx, 0) if self.done < len(self.starts) else have
        self.frames, self.base = self.frames[keep_from - self.base:], keep_from
        h, w = frames.shape[1:3]
        return np.concatenate(out) if out else np.empty((0, h, w, 3), np.uint8)

    @torch.no_grad()
    def _segment(self, a: int, b: int, lo: int, hi: int) -> np.ndarray:
        """The output frames on the fine grid in [a*m, b*m) (up to b*m itself for the last segment)."""
        from kinema.io.frames import to_frames, to_model_space

        m, seg = self.m, self.frames[lo - self.base:hi + 1 - self.base]  # input frames lo..hi
        h, w = seg.shape[1:3]
        ph, pw = (-h) % 4, (-w) % 4
        device = next(self.model.parameters()).device
        t_fine = (hi - lo) * m + 1
        x = torch.zeros(1, 3, t_fine, h + ph, w + pw)
        x[:, :, ::m] = F.pad(to_model_space(seg), (0, pw, 0, ph, 0, 0), mode="replicate")
        mask = torch.zeros(1, t_fine)
        mask[:, ::m] = 1
        y = self.model(x.to(device), mask.to(device)).cpu()[..., :h, :w]
        fine = to_frames(y)[0]  # (t_fine, h, w, 3)
        pos = self.pos
        keep = (pos >= a * m) & ((pos < b * m) | ((b == self.n_in - 1) & (pos <= b * m)))
        return fine[pos[keep] - lo * m]
