"""The shapes world v1 (shared/shapes-world.md): scenes, physics and an anti-aliased renderer.

Geometry is in canvas units: x, y in [0, 1], origin top-left, y pointing down. A scene is a
background and one or two objects; `render(scene, size, fps, seconds)` returns uint8 frames
(T, H, W, 3) showing the world at t = k / fps. Everything is a pure function of the scene, so the
same scene renders the same world at any size and frame rate.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

OBJECT_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (40, 80, 230),
    "yellow": (240, 210, 40),
    "purple": (150, 60, 200),
    "cyan": (40, 200, 210),
    "orange": (245, 140, 30),
    "pink": (240, 110, 180),
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "gray": (128, 128, 128),
}
SHAPES = ("circle", "square", "triangle")
SIZES: dict[str, float] = {"small": 0.08, "large": 0.14}
MOTIONS = ("still", "left", "right", "up", "down", "falling", "bouncing")
FILL_RATIO: dict[str, float] = {"circle": math.pi / 4, "square": 1.0, "triangle": 0.5}

SPEED = 0.25  # canvas units per second, for left/right/up/down
GRAVITY = 1.0  # canvas units per second squared, for falling/bouncing
RESTITUTION = 0.8  # bouncing: vertical speed kept at each floor contact
SAFE_SECONDS = 2.0  # the start keeps the whole body inside for this long
FALL_START_MAX_Y = 0.35
SUPERSAMPLE = 4  # sub-pixels per pixel side


@dataclass(frozen=True)
class SceneObject:
    colour: str
    shape: str
    size: str  # "small" | "large"
    motion: str
    x0: float  # start centre
    y0: float

    @property
    def r(self) -> float:
        return SIZES[self.size]


@dataclass(frozen=True)
class Scene:
    background: str
    objects: tuple[SceneObject, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        return {"background": self.background, "objects": [asdict(o) for o in self.objects]}

    @staticmethod
    def from_dict(d: dict) -> "Scene":
        return Scene(d["background"], tuple(SceneObject(**o) for o in d["objects"]))


# ---------------------------------------------------------------------------------------------
# Physics
# ---------------------------------------------------------------------------------------------

def _reflect(p: np.ndarray, r: float) -> np.ndarray:
    """Fold an unbounded coordinate into [r, 1 - r] by elastic reflection off the walls."""
    length = 1.0 - 2.0 * r
    u = np.mod(p - r, 2.0 * length)
    return r + np.where(u <= length, u, 2.0 * length - u)


def _drop_y(y0: float, r: float, t: np.ndarray, restitution: float) -> np.ndarray:
    """Height under gravity from rest at y0, hitting the floor y = 1 - r.

    restitution 0 stops dead on the floor (falling); otherwise the vertical speed reverses and is
    scaled by `restitution` at each contact (bouncing)."""
    floor = 1.0 - r
    t_hit = math.sqrt(2.0 * max(floor - y0, 0.0) / GRAVITY)
    y = np.where(t < t_hit, y0 + 0.5 * GRAVITY * t**2, floor)
    if restitution <= 0:
        return y
    v = GRAVITY * t_hit * restitution  # upward speed after the first contact
    start = t_hit
    while v > 1e-4 and start < float(t.max(initial=0.0)):
        flight = 2.0 * v / GRAVITY
        tau = t - start
        inside = (tau >= 0) & (tau < flight)
        y = np.where(inside, floor - (v * tau - 0.5 * GRAVITY * tau**2), y)
        start += flight
        v *= restitution
    return y


def positions(obj: SceneObject, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre (x, y) of `obj` at times t (seconds), each an array shaped like t."""
    t = np.asarray(t, dtype=np.float64)
    r = obj.r
    x = np.full_like(t, obj.x0)
    y = np.full_like(t, obj.y0)
    if obj.motion in ("left", "right"):
        x = _reflect(obj.x0 + (SPEED if obj.motion == "right" else -SPEED) * t, r)
    elif obj.motion in ("up", "down"):
        y = _reflect(obj.y0 + (SPEED if obj.motion == "down" else -SPEED) * t, r)
    elif obj.motion == "falling":
        y = _drop_y(obj.y0, r, t, 0.0)
    elif obj.motion == "bouncing":
        y = _drop_y(obj.y0, r, t, RESTITUTION)
    elif obj.motion != "still":
        raise ValueError(f"unknown motion {obj.motion!r}; expected one of {MOTIONS}")
    return x, y


def start_range(shape_r: float, motion: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """The (x, y) intervals of start centres that keep the body inside for SAFE_SECONDS."""
    lo, hi = shape_r, 1.0 - shape_r
    travel = SPEED * SAFE_SECONDS
    xr, yr = (lo, hi), (lo, hi)
    if motion == "left":
        xr = (lo + travel, hi)
    elif motion == "right":
        xr = (lo, hi - travel)
    elif motion == "up":
        yr = (lo + travel, hi)
    elif motion == "down":
        yr = (lo, hi - travel)
    elif motion in ("falling", "bouncing"):
        yr = (lo, FALL_START_MAX_Y)
    return xr, yr


def sample_object(rng: np.random.Generator, colour: str) -> SceneObject:
    shape = SHAPES[rng.integers(len(SHAPES))]
    size = ("small", "large")[rng.integers(2)]
    motion = MOTIONS[rng.integers(len(MOTIONS))]
    (xa, xb), (ya, yb) = start_range(SIZES[size], motion)
    return SceneObject(colour, shape, size, motion, float(rng.uniform(xa, xb)), float(rng.uniform(ya, yb)))


def sample_scene(rng: np.random.Generator, p_two: float = 0.5) -> Scene:
    """A random scene: background, one or two objects of different colours (uniform choices)."""
    background = list(BACKGROUNDS)[rng.integers(len(BACKGROUNDS))]
    n = 2 if rng.random() < p_two else 1
    colours = rng.choice(list(OBJECT_COLOURS), size=n, replace=False)
    return Scene(background, tuple(sample_object(rng, str(c)) for c in colours))


def num_frames(seconds: float, fps: float) -> int:
    return int(round(seconds * fps))


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------

def _inside(shape: str, dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    """Membership of offsets (dx, dy) from the centre in a shape of half-size r."""
    if shape == "circle":
        return dx * dx + dy * dy <= r * r
    if shape == "square":
        return (np.abs(dx) <= r) & (np.abs(dy) <= r)
    if shape == "triangle":  # apex (0, -r), base from (-r, r) to (r, r)
        return (dy >= -r) & (dy <= r) & (np.abs(dx) <= (dy + r) / 2.0)
    raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")


def coverage(shape: str, cx: float, cy: float, r: float, size: int) -> tuple[slice, slice, np.ndarray]:
    """Anti-aliased coverage in [0, 1] of one shape on a size x size canvas, in its bounding window.

    Returns (rows, cols, cov): cov has the window's shape; pixels outside the window are 0."""
    s = SUPERSAMPLE
    r0 = max(int(math.floor((cy - r) * size)) - 1, 0)
    r1 = min(int(math.ceil((cy + r) * size)) + 1, size)
    c0 = max(int(math.floor((cx - r) * size)) - 1, 0)
    c1 = min(int(math.ceil((cx + r) * size)) + 1, size)
    if r1 <= r0 or c1 <= c0:
        return slice(0, 0), slice(0, 0), np.zeros((0, 0))
    sub = (np.arange(s) + 0.5) / s  # sub-pixel centres within a pixel
    ys = ((np.arange(r0, r1)[:, None] + sub[None, :]) / size).reshape(-1)
    xs = ((np.arange(c0, c1)[:, None] + sub[None, :]) / size).reshape(-1)
    m = _inside(shape, xs[None, :] - cx, ys[:, None] - cy, r)
    cov = m.reshape(r1 - r0, s, c1 - c0, s).mean(axis=(1, 3))
    return slice(r0, r1), slice(c0, c1), cov


def render(scene: Scene, size: int = 64, fps: float = 8, seconds: float = 2.0, start: float = 0.0) -> np.ndarray:
    """Render a scene to uint8 frames (T, H, W, 3), frame k at time start + k / fps."""
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    n = num_frames(seconds, fps)
    if n < 1:
        raise ValueError(f"{seconds} s at {fps} fps has no frames")
    t = start + np.arange(n) / fps
    bg = np.array(BACKGROUNDS[scene.background], dtype=np.float64)
    frames = np.empty((n, size, size, 3), dtype=np.float64)
    frames[:] = bg
    tracks = [positions(o, t) for o in scene.objects]
    for k in range(n):
        img = frames[k]
        for obj, (xs, ys) in zip(scene.objects, tracks):  # later objects are drawn on top
            rows, cols, cov = coverage(obj.shape, float(xs[k]), float(ys[k]), obj.r, size)
            col = np.array(OBJECT_COLOURS[obj.colour], dtype=np.float64)
            win = img[rows, cols]
            img[rows, cols] = win + (col - win) * cov[..., None]
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)
