"""Judging a clip against its caption, as the last section of shared/shapes-world.md says.

Over the clip's first 2 seconds, each pixel is classed by its nearest palette colour (the eight
object colours and three backgrounds). Per object named by the caption, its region in a frame is
the largest 8-connected component of pixels nearest its colour. Then:
- background: the median colour of the border pixels is nearest the named background;
- colour: the region covers at least half the area its shape and size imply (the small size's
  when the caption names none) in at least 80% of frames;
- shape: the median over frames of region area / bounding-box area is nearest the named shape's
  fill ratio (circle pi/4, square 1, triangle 1/2);
- motion: from the centroid track: still moves less than 0.05 from where it starts; left, right,
  up and down move at least 0.25 the named way and less than a third of that across; falling and
  bouncing move down (at least 0.1) with positive acceleration fitted up to the lowest point,
  bouncing rises again (by at least 0.03) after it, falling does not;
- consistency: the region is present in every frame (half its area, as for colour), and its
  centroid never jumps more than 0.2 between neighbouring frames at 8 fps (0.2 * 8 / fps at
  other rates). Its colour cannot change: the region is defined by the named colour.
A clip with two objects gets an attribute only when both objects have it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from kinema.world.captions import Description, ObjectDescription
from kinema.world.shapes import BACKGROUNDS, FILL_RATIO, OBJECT_COLOURS, SIZES, SceneObject, in_view, view

PALETTE_NAMES = list(OBJECT_COLOURS) + list(BACKGROUNDS)
PALETTE = np.array([OBJECT_COLOURS.get(n) or BACKGROUNDS[n] for n in PALETTE_NAMES], dtype=np.int32)
JUDGED_SECONDS = 2.0
ATTRIBUTES = ("background", "colour", "shape", "motion", "consistency")


@dataclass
class ObjectVerdict:
    colour: bool
    shape: bool
    motion: bool
    consistency: bool
    presence: float  # share of frames where the region is present
    fill: float  # median area / bounding-box area
    track: list[tuple[float, float]]  # centroid per present frame, canvas units
    frames: list[int] | None = None  # which frames those are
    area: float = 0.0  # median region area over the frame's, as it would be without a zoom
    off_track: float | None = None  # directed clips: RMS distance from where the track or the camera puts it


@dataclass
class Verdict:
    background: bool
    objects: list[ObjectVerdict]

    def attribute(self, name: str) -> bool:
        if name == "background":
            return self.background
        return all(getattr(o, name) for o in self.objects)

    @property
    def all_correct(self) -> bool:
        return all(self.attribute(a) for a in ATTRIBUTES)

    def summary(self) -> dict:
        return {**{a: self.attribute(a) for a in ATTRIBUTES}, "all": self.all_correct}

    def to_dict(self) -> dict:
        return {**self.summary(), "objects": [asdict(o) for o in self.objects]}


def nearest_palette(frames: np.ndarray) -> np.ndarray:
    """Index into PALETTE_NAMES of each pixel's nearest palette colour: (T, H, W, 3) -> (T, H, W)."""
    d = ((frames[..., None, :].astype(np.int32) - PALETTE) ** 2).sum(-1)
    return d.argmin(-1)


def _region(mask: np.ndarray) -> tuple[int, int, float, float]:
    """(area, bounding-box area, centroid x, centroid y) of the largest 8-connected component; the centroid in
    pixel units from the frame's corner, pixel (i, j) covering [j, j + 1) x [i, i + 1) as the spec has it (pixel
    i shows the point (i + 0.5) / S), so that centroid / S is in frame units."""
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return 0, 0, 0.0, 0.0
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    area = int(stats[k, cv2.CC_STAT_AREA])
    box = int(stats[k, cv2.CC_STAT_WIDTH] * stats[k, cv2.CC_STAT_HEIGHT])
    return area, box, float(centroids[k, 0]) + 0.5, float(centroids[k, 1]) + 0.5


def judge_motion(motion: str, track: np.ndarray, fps: float) -> bool:
    """Whether a centroid track (n, 2) in canvas units, one row per frame, shows `motion`."""
    if len(track) < 3:
        return False
    x, y = track[:, 0], track[:, 1]
    dx, dy = x[-1] - x[0], y[-1] - y[0]
    if motion == "still":
        return float(np.hypot(x - x[0], y - y[0]).max()) < 0.05
    if motion in ("left", "right", "up", "down"):
        along, across = {"left": (-dx, dy), "right": (dx, dy), "up": (-dy, dx), "down": (dy, dx)}[motion]
        return along >= 0.25 and abs(across) < along / 3
    if motion in ("falling", "bouncing"):
        low = int(np.argmax(y >= y.max() - 0.01))  # first frame at the lowest point
        if y[low] - y[0] < 0.1 or low < 2:
            return False
        t = np.arange(low + 1) / fps
        accel = 2 * np.polyfit(t, y[:low + 1], 2)[0]
        rises = bool((y[low:] <= y[low] - 0.03).any())
        return accel > 0 and (rises if motion == "bouncing" else not rises)
    raise ValueError(f"unknown motion {motion!r}")


def judge_object(classes: np.ndarray, o: ObjectDescription, fps: float,
                 widths: np.ndarray | None = None) -> ObjectVerdict:
    """`widths`: the camera's view width at each frame (a zoom changes the area a size implies), 1 without."""
    t, h, w = classes.shape
    r = SIZES[o.size] if o.size else min(SIZES.values())
    widths = np.ones(t) if widths is None else widths
    colour_idx = PALETTE_NAMES.index(o.colour)
    present, fills, track, seen, areas = [], [], [], [], []
    for k in range(t):
        need = 0.5 * FILL_RATIO[o.shape] * (2 * r * w) * (2 * r * h) / widths[k] ** 2
        area, box, cx, cy = _region(classes[k] == colour_idx)
        ok = area >= need
        present.append(ok)
        if ok:
            fills.append(area / box)
            track.append((cx / w, cy / h))
            seen.append(k)
            areas.append(area * widths[k] ** 2 / (h * w))
    presence = float(np.mean(present))
    fill = float(np.median(fills)) if fills else 0.0
    shape = bool(fills) and min(FILL_RATIO, key=lambda s: abs(FILL_RATIO[s] - fill)) == o.shape
    track_arr = np.array(track).reshape(-1, 2)
    motion = judge_motion(o.motion, track_arr, fps) if presence >= 0.8 and o.motion else False
    jumps = np.hypot(*np.diff(track_arr, axis=0).T) if len(track_arr) > 1 else np.zeros(0)
    consistent = all(present) and bool((jumps <= 0.2 * 8 / fps).all())
    return ObjectVerdict(presence >= 0.8, bool(shape), bool(motion), consistent, presence, fill,
                         [(round(a, 4), round(b, 4)) for a, b in track], seen,
                         float(np.median(areas)) if areas else 0.0)


def judge(frames: np.ndarray, fps: float, description: Description, tracks: dict | None = None,
          seconds: float = JUDGED_SECONDS) -> Verdict:
    """Judge uint8 frames (T, H, W, 3) at `fps` over their first `seconds` against what a caption describes
    (and `tracks`, {object: points}, where it was given them). With a camera or a track, an object's motion is
    judged as v2 says (`directed_motion`)."""
    frames = np.asarray(frames)[: max(int(round(seconds * fps)), 1)]
    border = np.concatenate([frames[:, 0], frames[:, -1], frames[:, :, 0], frames[:, :, -1]]).reshape(-1, 3)
    median = np.median(border, axis=0)
    bg_names = list(BACKGROUNDS)
    bg = bg_names[int(np.argmin([((median - np.array(BACKGROUNDS[n])) ** 2).sum() for n in bg_names]))]
    classes = nearest_palette(frames)
    if description.camera == "still" and not tracks:
        return Verdict(bg == description.background, [judge_object(classes, o, fps) for o in description.objects])
    times = np.arange(len(frames)) / fps
    widths = view(description.camera, times)[2]
    objects = []
    for k, o in enumerate(description.objects):
        v = judge_object(classes, o, fps, widths)
        track = (tracks or {}).get(k)
        if track is not None or description.camera != "still":
            v.off_track = directed_motion(o, v, times, description.camera, track)
            v.motion = v.colour and v.off_track <= DIRECTED_RMS
        objects.append(v)
    return Verdict(bg == description.background, objects)


DIRECTED_RMS = 0.05  # v2: the most an object's centroid may stray (RMS) from where its track or the camera puts it


def directed_motion(o: ObjectDescription, v: ObjectVerdict, times: np.ndarray, camera: str, track=None) -> float:
    """RMS distance (frame units) of an object's measured centroids from where v2 expects them: on its track seen
    through the view; or, under a moving camera, moved by its motion's physics from where the clip shows it at
    the first frame it is seen, seen through the view (each minus its value at that frame)."""
    if not v.frames or len(v.frames) < 2:
        return float("inf")
    seen = np.array(v.frames)
    t = times[seen]
    size = o.size or min(SIZES, key=lambda s: abs(FILL_RATIO[o.shape] * (2 * SIZES[s]) ** 2 - v.area))
    cx, cy, w = view(camera, t)
    measured = np.array(v.track).reshape(-1, 2)
    if o.shape == "triangle":  # its area's centroid lies a third of its half-size below its centre
        measured = measured - np.stack([0 * w, SIZES[size] / (3 * w)], axis=1)
    if track is not None:
        expected = np.stack(in_view(SceneObject(o.colour, o.shape, size, "still", track[0][1], track[0][2],
                                                tuple(map(tuple, track))), camera, t)[:2], axis=1)
        return float(np.sqrt((np.sum((measured - expected) ** 2, axis=1)).mean()))
    x0, y0 = cx[0] + w[0] * (measured[0, 0] - 0.5), cy[0] + w[0] * (measured[0, 1] - 0.5)  # in the world
    obj = SceneObject(o.colour, o.shape, size, o.motion or "still", float(x0), float(y0))
    expected = np.stack(in_view(obj, camera, t - t[0])[:2], axis=1)
    drift = (measured - measured[0]) - (expected - expected[0])
    return float(np.sqrt((np.sum(drift**2, axis=1)).mean()))


def judge_long(frames: np.ndarray, fps: float, description: Description) -> list[Verdict]:
    """A long clip judged window by window, each JUDGED_SECONDS from t = 0 (the spec's v2, "Judging long ...
    clips"): background, colour, shape and consistency as in v1 within each window; motion as v2 says for a
    clip of any length, on each object's track over the whole clip (still: within 0.05 of where it was at
    t = 0; left/right/up/down: an average speed along the axis of 0.25 +- 0.1, walls allowed, at least 0.15
    the named way in the first window, under 0.08 across it per window; falling and bouncing: the v1 rule in
    the first window, then on the floor once landed, and (bouncing) each rebound no higher than the last).
    The clip follows its caption when every window's verdict is all correct."""
    n = max(int(round(JUDGED_SECONDS * fps)), 1)
    verdicts = []
    tracks: list[list] = [[] for _ in description.objects]  # each object's whole track so far, (x, y) or None
    for start in range(0, len(frames) - n + 1, n):
        v = judge(frames[start:start + n], fps, description)
        for o, ov, track in zip(description.objects, v.objects, tracks):
            window = np.array(ov.track).reshape(-1, 2)
            track.extend(ov.track)
            ov.motion = ov.presence >= 0.8 and long_motion(o, window, np.array(track).reshape(-1, 2), fps,
                                                            first=start == 0)
        verdicts.append(v)
    return verdicts


def long_motion(o: ObjectDescription, window: np.ndarray, whole: np.ndarray, fps: float, first: bool) -> bool:
    """An object's motion in one window of a long clip (`window`: its track there; `whole`: from t = 0)."""
    if len(window) < 3:
        return False
    if o.motion == "still":
        return float(np.hypot(*(window - whole[0]).T).max()) < 0.05
    if o.motion in ("left", "right", "up", "down"):
        axis, sign = {"left": (0, -1), "right": (0, 1), "up": (1, -1), "down": (1, 1)}[o.motion]
        along, across = window[:, axis], window[:, 1 - axis]
        speed = float(np.abs(np.diff(along)).mean() * fps)
        named_way = sign * (along[-1] - along[0]) >= 0.15 if first else True
        return named_way and abs(speed - 0.25) <= 0.1 and float(across.max() - across.min()) < 0.08
    r = SIZES[o.size] if o.size else max(SIZES.values())
    floor = 1 - r - 0.03
    if first:
        return judge_motion(o.motion, window, fps)
    y = window[:, 1]
    if o.motion == "falling":
        return bool((y >= floor).all())
    lows = [i for i in range(1, len(y) - 1) if y[i] >= y[i - 1] and y[i] >= y[i + 1]]  # y grows downwards
    peaks = [y[i] for i in range(1, len(y) - 1) if y[i] <= y[i - 1] and y[i] <= y[i + 1]]
    # a bounce's lowest frame may fall up to one frame's travel short of the floor contact between frames
    at_floor = all(y[i] >= floor - max(abs(y[i] - y[i - 1]), abs(y[i + 1] - y[i])) for i in lows)
    return at_floor and all(b >= a - 0.02 for a, b in zip(peaks, peaks[1:]))


def judge_clip(frames: np.ndarray, fps: float, description: Description,
               tracks: dict | None = None) -> tuple[Verdict, list[Verdict]]:
    """A clip's verdict and, for a clip of two windows or more, its windows' (judge_long): then each attribute
    holds for the clip only when it holds in every window. A directed clip (a camera, tracks) is judged whole."""
    n = max(int(round(JUDGED_SECONDS * fps)), 1)
    if description.camera != "still" or tracks:
        return judge(frames, fps, description, tracks, seconds=len(frames) / fps), []
    if len(frames) < 2 * n:
        return judge(frames, fps, description), []
    windows = judge_long(frames, fps, description)
    objects = [ObjectVerdict(*(all(getattr(w.objects[k], a) for w in windows)
                               for a in ("colour", "shape", "motion", "consistency")),
                             min(w.objects[k].presence for w in windows),
                             float(np.mean([w.objects[k].fill for w in windows])), [])
               for k in range(len(description.objects))]
    return Verdict(all(w.background for w in windows), objects), windows
