"""The shapes world v2 (shared/shapes-world.md): scenes, physics, a camera, tracks and an anti-aliased renderer.

Geometry is in world units: x, y in [0, 1], origin top-left, y pointing down. A scene is a
background, one or two objects and a camera; `render(scene, size, fps, seconds)` returns uint8 frames
(T, H, W, 3) showing the world at t = k / fps through the camera's view. An object moves by its
motion's physics, or follows its track (points (t, x, y), straight at constant speed between them)
when it has one. Everything is a pure function of the scene, so the same scene renders the same
world at any size and frame rate.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

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
MAX_OBJECTS = 2  # a scene has one or two objects
MOTIONS = ("still", "left", "right", "up", "down", "falling", "bouncing")
FILL_RATIO: dict[str, float] = {"circle": math.pi / 4, "square": 1.0, "triangle": 0.5}
CENTROID_BELOW: dict[str, float] = {"circle": 0.0, "square": 0.0, "triangle": 1 / 3}  # area centroid, in half-sizes

SPEED = 0.25  # canvas units per second, for left/right/up/down
GRAVITY = 1.0  # canvas units per second squared, for falling/bouncing
RESTITUTION = 0.8  # bouncing: vertical speed kept at each floor contact
SAFE_SECONDS = 2.0  # the start keeps the whole body inside for this long
FALL_START_MAX_Y = 0.35
SUPERSAMPLE = 4  # sub-pixels per pixel side
# the camera (v2): the view's centre pans PAN_SPEED a second; a zoom scales the view's width by ZOOM[c] a second
CAMERAS = ("still", "pan left", "pan right", "pan up", "pan down", "zoom in", "zoom out")
PAN_SPEED = 0.15
ZOOM = {"zoom in": 0.8, "zoom out": 1.25}

Track = tuple[tuple[float, float, float], ...]  # (t, x, y) points, t increasing


@dataclass(frozen=True)
class SceneObject:
    colour: str
    shape: str
    size: str  # "small" | "large"
    motion: str
    x0: float  # start centre
    y0: float
    track: Track | None = None  # where the centre goes; then motion, walls and gravity do not act

    @property
    def r(self) -> float:
        return SIZES[self.size]


@dataclass(frozen=True)
class Scene:
    background: str
    objects: tuple[SceneObject, ...] = field(default_factory=tuple)
    camera: str = "still"

    def __post_init__(self) -> None:
        if self.camera not in CAMERAS:
            raise ValueError(f"unknown camera {self.camera!r}; expected one of {', '.join(CAMERAS)}")

    def to_dict(self) -> dict:
        d = {"background": self.background, "objects": [asdict(o) for o in self.objects]}
        for o in d["objects"]:
            if o["track"] is None:
                del o["track"]
        return d | ({"camera": self.camera} if self.camera != "still" else {})

    @staticmethod
    def from_dict(d: dict) -> "Scene":
        def obj(o: dict) -> SceneObject:
            track = o.get("track")
            return SceneObject(**{**o, "track": None if track is None else tuple(tuple(map(float, p)) for p in track)})
        return Scene(d["background"], tuple(obj(o) for o in d["objects"]), d.get("camera", "still"))


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
    if obj.track is not None:  # straight lines at constant speed between points, held before and after
        tt, xs, ys = np.asarray(obj.track, dtype=np.float64).T
        return np.interp(t, tt, xs), np.interp(t, tt, ys)
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


def view(camera: str, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The camera's view at times t: its centre (cx, cy) and width w in world units, each shaped like t."""
    t = np.asarray(t, dtype=np.float64)
    cx, cy, w = np.full_like(t, 0.5), np.full_like(t, 0.5), np.ones_like(t)
    if camera.startswith("pan "):
        dx, dy = {"pan left": (-1, 0), "pan right": (1, 0), "pan up": (0, -1), "pan down": (0, 1)}[camera]
        cx, cy = cx + dx * PAN_SPEED * t, cy + dy * PAN_SPEED * t
    elif camera in ZOOM:
        w = ZOOM[camera] ** t
    elif camera != "still":
        raise ValueError(f"unknown camera {camera!r}; expected one of {', '.join(CAMERAS)}")
    return cx, cy, w


def in_view(obj: SceneObject, camera: str, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where `obj` shows in the frame at times t: its centre (x, y) in frame units ([0, 1] is the frame) and its
    half-size there, each shaped like t (the world seen through `view`)."""
    x, y = positions(obj, t)
    cx, cy, w = view(camera, t)
    return (x - cx) / w + 0.5, (y - cy) / w + 0.5, obj.r / w


def wholly_in_view(obj: SceneObject, camera: str, seconds: float = SAFE_SECONDS) -> bool:
    """Whether obj's body stays inside the frame for the first `seconds` (checked at 32 frames a second)."""
    x, y, r = in_view(obj, camera, np.linspace(0.0, seconds, int(32 * seconds) + 1))
    return bool(((x - r >= 0) & (x + r <= 1) & (y - r >= 0) & (y + r <= 1)).all())


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


def place(rng: np.random.Generator, colour: str, shape: str, size: str, motion: str, camera: str = "still",
          tries: int = 50) -> SceneObject:
    """An object started uniformly over what keeps its body inside the world (and, with a camera, wholly in
    view) for its first SAFE_SECONDS; ValueError when no start does."""
    (xa, xb), (ya, yb) = start_range(SIZES[size], motion)
    for _ in range(tries if camera != "still" else 1):
        o = SceneObject(colour, shape, size, motion, float(rng.uniform(xa, xb)), float(rng.uniform(ya, yb)))
        if camera == "still" or wholly_in_view(o, camera):
            return o
    raise ValueError(f"no start keeps a {size} {motion} object in view as the camera does {camera!r}")


def sample_object(rng: np.random.Generator, colour: str, camera: str = "still",
                  motions: tuple[str, ...] = MOTIONS) -> SceneObject:
    """A random object moving in one of `motions`; with a camera, drawn again until it can stay in view (a
    large object moving left cannot as the camera pans right)."""
    while True:
        shape = SHAPES[rng.integers(len(SHAPES))]
        size = ("small", "large")[rng.integers(2)]
        motion = motions[rng.integers(len(motions))]
        try:
            return place(rng, colour, shape, size, motion, camera)
        except ValueError:
            continue


PHYSICS_MOTIONS = ("falling", "bouncing")


def sample_scene(rng: np.random.Generator, p_two: float = 0.5, p_camera: float = 0.0, p_track: float = 0.0,
                 p_physics: float = 0.0) -> Scene:
    """A random scene: background, one or two objects of different colours (uniform choices); with chance
    `p_physics` a still camera and objects that all fall or bounce (gravity's scenes, weighed more in training);
    otherwise with chance `p_camera` a moving camera (then starts stay wholly in view for SAFE_SECONDS), and
    each object with chance `p_track` a random track (kinema.world.tracks.random_track) instead of its motion.
    The draws of a v1 scene (p_camera = p_track = p_physics = 0) are those of v1."""
    background = list(BACKGROUNDS)[rng.integers(len(BACKGROUNDS))]
    n = 2 if rng.random() < p_two else 1
    colours = rng.choice(list(OBJECT_COLOURS), size=n, replace=False)
    physics = p_physics > 0 and rng.random() < p_physics
    camera = "still"
    if not physics and p_camera > 0 and rng.random() < p_camera:
        camera = CAMERAS[1 + int(rng.integers(len(CAMERAS) - 1))]
    objects = []
    for c in colours:
        o = sample_object(rng, str(c), camera, PHYSICS_MOTIONS if physics else MOTIONS)
        if not physics and p_track > 0 and rng.random() < p_track:
            from kinema.world.tracks import random_track

            o = replace(o, motion="still", track=random_track(rng, o.size, camera))
            o = replace(o, x0=o.track[0][1], y0=o.track[0][2])
        objects.append(o)
    return Scene(background, tuple(objects), camera)


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
    """Render a scene to uint8 frames (T, H, W, 3), frame k at time start + k / fps, through its camera's view
    (objects' bodies stay inside the world, so everything outside it in view is background)."""
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    n = num_frames(seconds, fps)
    if n < 1:
        raise ValueError(f"{seconds} s at {fps} fps has no frames")
    t = start + np.arange(n) / fps
    bg = np.array(BACKGROUNDS[scene.background], dtype=np.float64)
    frames = np.empty((n, size, size, 3), dtype=np.float64)
    frames[:] = bg
    tracks = [in_view(o, scene.camera, t) for o in scene.objects]  # frame positions and half-sizes
    for k in range(n):
        img = frames[k]
        for obj, (xs, ys, rs) in zip(scene.objects, tracks):  # later objects are drawn on top
            rows, cols, cov = coverage(obj.shape, float(xs[k]), float(ys[k]), float(rs[k]), size)
            col = np.array(OBJECT_COLOURS[obj.colour], dtype=np.float64)
            win = img[rows, cols]
            img[rows, cols] = win + (col - win) * cov[..., None]
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)
