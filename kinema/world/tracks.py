"""Tracks (shared/shapes-world.md, v2 "Tracks"): where an object's centre goes, read, checked and drawn.

The file format is the spec's: `{"tracks": [{"object": 0, "points": [[t, x, y], ...]}]}`, `object` counting
the caption's objects from 0, times in seconds and increasing, positions in world units. `check_tracks` checks
tracks against the caption they go with before any work (`TrackError`, a ValueError); `random_track` draws the
paths training clips follow (straight, bent, or with a pause).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from kinema.world.shapes import MAX_OBJECTS, SAFE_SECONDS, SIZES, SceneObject, Track, wholly_in_view

MAX_TRACK_SECONDS = 600.0


class TrackError(ValueError):
    """A track file that cannot be followed: malformed, back in time, out of the world, or about no object."""


def check_tracks(data, sizes: list[str | None], caption: bool = True) -> dict[int, Track]:
    """Parsed tracks file `data` for a caption whose objects have `sizes` (None where it names none: checked at
    the small size) -> {object index: track}. TrackError names what is wrong, and where. caption False: `sizes`
    is not a caption's but the most objects any caption names."""
    if not isinstance(data, dict) or not isinstance(data.get("tracks"), list):
        raise TrackError('tracks must be a JSON object {"tracks": [{"object": 0, "points": [[t, x, y], ...]}, ...]}')
    out: dict[int, Track] = {}
    for k, item in enumerate(data["tracks"]):
        where = f"tracks[{k}]"
        if not isinstance(item, dict) or set(item) - {"object", "points"} or "points" not in item:
            raise TrackError(f'{where} must be {{"object": N, "points": [[t, x, y], ...]}}')
        obj = item.get("object", 0)
        if not isinstance(obj, int) or isinstance(obj, bool) or obj < 0:
            raise TrackError(f"{where}: object must be a whole number from 0, got {obj!r}")
        if obj >= len(sizes):
            named = "one object" if len(sizes) == 1 else f"{len(sizes)} objects"
            raise TrackError(f"{where}: object {obj} is not in the caption, which names {named} (0-{len(sizes) - 1})"
                             if caption else f"{where}: object {obj}: a caption names at most {named} (0-{len(sizes) - 1})")
        if obj in out:
            raise TrackError(f"{where}: object {obj} has two tracks")
        points = item["points"]
        if not isinstance(points, list) or not points:
            raise TrackError(f"{where}: points must be a non-empty list of [t, x, y]")
        r = SIZES[sizes[obj] or "small"]
        track = []
        for j, p in enumerate(points):
            if (not isinstance(p, (list, tuple)) or len(p) != 3
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in p)):
                raise TrackError(f"{where}.points[{j}] must be three numbers [t, x, y], got {p!r}")
            t, x, y = map(float, p)
            if not 0 <= t <= MAX_TRACK_SECONDS:
                raise TrackError(f"{where}.points[{j}]: time {t:g} s is outside [0, {MAX_TRACK_SECONDS:g}]")
            if track and t <= track[-1][0]:
                raise TrackError(f"{where}.points[{j}]: time {t:g} s goes back in time (the point before is at "
                                 f"{track[-1][0]:g} s); times must increase")
            if not (r <= x <= 1 - r and r <= y <= 1 - r):
                raise TrackError(f"{where}.points[{j}]: ({x:g}, {y:g}) leaves the world: a {sizes[obj] or 'small'} "
                                 f"object's centre must stay in [{r:g}, {1 - r:g}] to keep its body inside it")
            track.append((t, x, y))
        out[obj] = tuple(track)
    return out


def load_tracks(path: str | Path) -> dict:
    """A tracks file's JSON, its form checked (as `check_tracks` does for a caption of two objects of unnamed
    size) before any model loads; TrackError for a missing or non-JSON file too. The caption's own objects are
    checked against it by `check_tracks` once the caption is read."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, IsADirectoryError):
        raise TrackError(f"tracks file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TrackError(f"tracks file {path} is not JSON: {e}") from None
    check_tracks(data, [None] * MAX_OBJECTS, caption=False)
    return data


def tracks_json(tracks: dict[int, Track]) -> dict:
    """{object: track} -> the spec's JSON form (what `check_tracks` reads back)."""
    return {"tracks": [{"object": k, "points": [[round(v, 4) for v in p] for p in tr]}
                       for k, tr in sorted(tracks.items())]}


def random_track(rng: np.random.Generator, size: str, camera: str = "still", seconds: float = SAFE_SECONDS,
                 tries: int = 200) -> Track:
    """A path for training: straight (one segment), bent (two), or with a pause between two segments, at
    0.1-0.45 units a second, its body inside the world throughout and, with a camera, wholly in view for
    `seconds`; times from 0 to at most `seconds`."""
    r = SIZES[size]
    for _ in range(tries):
        kind = int(rng.integers(3))  # 0 straight, 1 bent, 2 with a pause
        t, p = 0.0, rng.uniform(r, 1 - r, 2)
        points = [(t, float(p[0]), float(p[1]))]
        segments = 1 if kind == 0 else 2
        for s in range(segments):
            if kind == 2 and s == 1:  # the pause: stay put a while
                t += float(rng.uniform(0.25, 0.75))
                points.append((t, float(p[0]), float(p[1])))
            d = float(rng.uniform(0.8, 1.6)) / segments
            angle, speed = float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(0.1, 0.45))
            p = p + speed * d * np.array([math.cos(angle), math.sin(angle)])
            t += d
            points.append((t, float(p[0]), float(p[1])))
        track = tuple(points)
        inside = all(r <= x <= 1 - r and r <= y <= 1 - r for _, x, y in track)
        if inside and t <= seconds and (camera == "still" or wholly_in_view(
                SceneObject("red", "circle", size, "still", track[0][1], track[0][2],
                            track), camera, seconds)):
            return track
    raise ValueError(f"no track of a {size} object stays in view as the camera does {camera!r}")
