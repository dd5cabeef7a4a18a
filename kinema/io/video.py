"""Reading and writing clips: mp4 (h264, yuv420p) through PyAV, GIF through Pillow, PNG frames.

Frames are uint8 arrays (T, H, W, 3). Each writer records `metadata` (prompt, seed, model,
settings) in the file: the mp4 container's `comment` tag, the GIF's comment, each PNG's text
chunk. Files are written to a temporary name and renamed.
"""
from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from kinema.io.checkpoint import atomic_write, publish, temporary_beside

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".gif"}


def output_kind(path: str | Path) -> str:
    """'mp4', 'gif' or 'png' (a folder of PNG frames) from the output path; ValueError otherwise."""
    p = str(path)
    suffix = Path(p).suffix.lower()
    if suffix == ".mp4":
        return "mp4"
    if suffix == ".gif":
        return "gif"
    if p.endswith("/") or suffix == "":
        return "png"
    raise ValueError(f"unsupported output {p!r}: use a .mp4 or .gif path, or a folder (ending in /) for PNG frames")


def check_output(path: str | Path) -> None:
    """ValueError for an output path kinema cannot write (`output_kind`'s kinds), before any work."""
    kind = output_kind(path)
    p = Path(path)
    if kind == "png":
        check_folder(p)
        return
    if p.exists() and not p.is_file():
        raise ValueError(f"output {p} exists and is not a regular file (a folder or a device): choose a file name")
    if not p.parent.is_dir():
        raise ValueError(f"output folder {p.parent} does not exist")
    if not os.access(p.parent, os.W_OK):
        raise ValueError(f"output folder {p.parent} is not writable")


def check_folder(p: Path) -> None:
    """ValueError unless `p` is a folder kinema can write into, or can be made as one."""
    if p.exists() and not p.is_dir():
        raise ValueError(f"{p} is not a folder: PNG frames go into a folder (a path ending in /), clips into a "
                         ".mp4 or .gif file")
    existing = next(a for a in (p, *p.parents) if a.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise ValueError(f"cannot write into {existing}")


class Y4MWriter:
    """YUV4MPEG2 to a binary stream, frame by frame (`kinema generate -o -`): `ffplay -` and `mpv -` show each
    frame as it comes. 4:4:4, BT.601 in the limited range players assume; `write(frames)` flushes after each piece.
    A reader that goes away raises BrokenPipeError from `write`."""

    def __init__(self, stream, fps: float, width: int, height: int):
        rate = Fraction(fps).limit_denominator(1001)
        self.stream, self.shape = stream, (height, width)
        self.header = f"YUV4MPEG2 W{width} H{height} F{rate.numerator}:{rate.denominator} Ip A1:1 C444\n".encode()
        self.frames = 0

    def write(self, frames: np.ndarray) -> None:
        if frames.shape[1:3] != self.shape:
            raise ValueError(f"frames of {frames.shape[2]}x{frames.shape[1]}, the stream is {self.shape[1]}x{self.shape[0]}")
        out = [self.header] if self.frames == 0 else []
        for f in frames:
            out += [b"FRAME\n", rgb_to_yuv444(f).tobytes()]
        self.stream.write(b"".join(out))
        self.stream.flush()
        self.frames += len(frames)


def rgb_to_yuv444(frame: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> uint8 planes (3, H, W): Y, Cb, Cr of BT.601, limited range (Y 16-235, C 16-240)."""
    x = frame.astype(np.float32)
    m = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]], np.float32) / 255
    yuv = np.einsum("hwc,kc->khw", x, m) + np.array([16, 128, 128], np.float32)[:, None, None]
    return np.clip(np.rint(yuv), 0, 255).astype(np.uint8)


def h264_round_trip(frames: np.ndarray, crf: float, fps: float = 8.0) -> np.ndarray:
    """uint8 frames (T, H, W, 3), H and W even, as they come back from an h264 (yuv420p) encoding at constant
    rate factor `crf` (0 near lossless, 23 x264's default, 51 worst) and a decoding, in memory: the damage every
    real video carries (blocks, ringing, halved chroma), which the cascade's stages train on
    (kinema.data.cascade)."""
    import io

    import av

    t, h, w, _ = frames.shape
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": f"{crf:g}", "preset": "veryfast", "x264-params": "mbtree=0"}
        for frame in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        out.mux(stream.encode())
    buf.seek(0)
    with av.open(buf) as inp:
        return np.stack([f.to_ndarray(format="rgb24") for f in inp.decode(video=0)])


class Mp4Writer:
    """Streaming h264/yuv420p mp4 writer: `with Mp4Writer(path, fps, w, h, meta) as out: out.write(frames)`.

    Frames go to a temporary file beside `path`, renamed over it only when the block ends without
    an error and at least one frame was written, so an existing file is never replaced by a half-written
    or empty one."""

    def __init__(self, path: str | Path, fps: float, width: int, height: int, metadata: dict | None = None):
        if height % 2 or width % 2:
            raise ValueError(f"h264 yuv420p needs even width and height, got {width}x{height}")
        self.path, self.fps, self.size = Path(path), fps, (width, height)
        self.comment = json.dumps(metadata or {}, sort_keys=True)
        self.frames = 0

    def __enter__(self) -> "Mp4Writer":
        import av

        self.temporary = temporary_beside(self.path, ".mp4")
        self.tmp = self.temporary.__enter__()
        self.container = av.open(str(self.tmp), mode="w", format="mp4")
        self.container.metadata["comment"] = self.comment
        self.stream = self.container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1000))
        self.stream.width, self.stream.height = self.size
        self.stream.pix_fmt = "yuv420p"
        # mbtree=0: x264's macroblock-tree rate control gave 2-3 different encodings of the same frames in a
        # process that had run torch (the same seed made different files); without it the bytes are the same.
        self.stream.options = {"crf": "12", "preset": "medium", "x264-params": "mbtree=0"}
        return self

    def write(self, frames: np.ndarray) -> None:
        import av

        for frame in frames:
            for packet in self.stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                self.container.mux(packet)
            self.frames += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None and self.frames:
                for packet in self.stream.encode():
                    self.container.mux(packet)
            self.container.close()
            if exc_type is None and self.frames:
                publish(self.tmp, self.path)
        finally:
            self.temporary.__exit__(None, None, None)
        if exc_type is None and not self.frames:
            raise ValueError(f"no frames to write: {self.path} was left as it was")


class VideoReader:
    """Streaming reader: `.fps`, `.width`, `.height`, `.frames` (the container's count, or an estimate from its
    duration), and `.chunks(n)` yielding uint8 (<=n, H, W, 3). Opening it decodes the first frame, so a file
    with no decodable frame is refused (ValueError) before any work."""

    def __init__(self, path: str | Path):
        import av

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no video at {self.path}")
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                self.fps = float(stream.average_rate or stream.guessed_rate or 8)
                self.width, self.height = stream.codec_context.width, stream.codec_context.height
                seconds = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else \
                    (container.duration or 0) / 1e6
                self.frames = int(stream.frames or round(seconds * self.fps))
                first = next(container.decode(stream), None)
        except (av.error.FFmpegError, IndexError, ValueError, OverflowError) as e:
            raise ValueError(f"cannot read video {self.path}: {e}") from None
        if not self.width or not self.height or first is None:
            raise ValueError(f"cannot read video {self.path}: no decodable frame")
        if not 0 < self.fps < 10_000:
            raise ValueError(f"cannot read video {self.path}: frame rate {self.fps:g}")

    def memory(self, factor: float = 1.0) -> int:
        """Bytes that all its frames take as uint8 RGB, times `factor`."""
        return int(max(self.frames, 1) * self.width * self.height * 3 * factor)

    def chunks(self, n: int):
        import av

        buf = []
        try:
            with av.open(str(self.path)) as container:
                for frame in container.decode(container.streams.video[0]):
                    buf.append(frame.to_ndarray(format="rgb24"))
                    if len(buf) == n:
                        yield np.stack(buf)
                        buf = []
        except av.error.FFmpegError as e:
            raise ValueError(f"cannot read video {self.path}: {e}") from None
        if buf:
            yield np.stack(buf)


def _write_gif(frames: np.ndarray, path: Path, fps: float, comment: str) -> None:
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], loop=0,
                   duration=int(round(1000 / fps)), comment=comment.encode())


def write_video(frames: np.ndarray, path: str | Path, fps: float, metadata: dict | None = None) -> Path:
    """Write frames (T, H, W, 3) uint8 as mp4, GIF or a folder of PNGs (see `output_kind`)."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"frames must be uint8 (T, H, W, 3) with T >= 1, got {frames.dtype} {frames.shape}")
    kind = output_kind(path)
    path = Path(path)
    comment = json.dumps(metadata or {}, sort_keys=True)
    if kind == "png":
        from PIL import Image
        from PIL.PngImagePlugin import PngInfo

        path.mkdir(parents=True, exist_ok=True)
        info = PngInfo()
        info.add_text("kinema", comment)
        for k, f in enumerate(frames):
            atomic_write(path / f"{k:04d}.png", lambda p, f=f: Image.fromarray(f).save(p, format="PNG", pnginfo=info))
        return path
    if kind == "mp4":
        with Mp4Writer(path, fps, frames.shape[2], frames.shape[1], metadata) as out:
            out.write(frames)
        return path
    atomic_write(path, lambda p: _write_gif(frames, p, fps, comment))
    return path


def read_video(path: str | Path) -> tuple[np.ndarray, float]:
    """All frames of a video file as uint8 (T, H, W, 3), and its frame rate."""
    reader = VideoReader(path)
    return np.concatenate(list(reader.chunks(64))), reader.fps


MAX_PICTURE_PIXELS = 4096 * 4096


def read_image(path: str | Path) -> np.ndarray:
    """A picture file as uint8 (1, H, W, 3); ValueError for a file that is not a picture kinema can use."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no picture at {path}")
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_PICTURE_PIXELS:
                raise ValueError(f"{im.width}x{im.height} is larger than {MAX_PICTURE_PIXELS} pixels")
            if min(im.width, im.height) < 8:
                raise ValueError(f"{im.width}x{im.height} is too small")
            return np.asarray(im.convert("RGB"))[None]
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ValueError(f"cannot read picture {path}: {e}") from None


def read_metadata(path: str | Path) -> dict:
    """The metadata kinema recorded in an mp4 or GIF it wrote."""
    path = Path(path)
    if path.suffix.lower() == ".gif":
        from PIL import Image

        with Image.open(path) as im:
            return json.loads(im.info.get("comment", b"{}").decode())
    import av

    with av.open(str(path)) as container:
        return json.loads(container.metadata.get("comment", "{}"))


def resample_clip(frames: np.ndarray, fps: float, new_fps: float, n_frames: int, size: int) -> np.ndarray:
    """Nearest-in-time frames at new_fps (n_frames of them, the last repeated if short), centre-cropped
    to a square and resized to size x size."""
    import cv2

    idx = np.minimum(np.round(np.arange(n_frames) * fps / new_fps).astype(int), len(frames) - 1)
    out = []
    for f in frames[idx]:
        h, w = f.shape[:2]
        s = min(h, w)
        f = f[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        out.append(cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA if s > size else cv2.INTER_CUBIC))
    return np.stack(out)
