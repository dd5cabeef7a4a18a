"""Pictures and clips sent to the server for jobs to start from (`POST /api/uploads`).

An upload is checked whole before it is kept: it must open as a picture (kinema.io.video.read_image) or as a
video whose first frame decodes and whose length kinema extends (kinema.pipeline.inputs.read_start). It is
kept under its content's hash (`<id>.png` or `<id>.mp4`, with `<id>.json` saying what it is), written to a
temporary file and renamed, so a job never sees half an upload. The oldest are removed past `keep` files.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from kinema.io.checkpoint import atomic_write

UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


class Uploads:
    def __init__(self, folder: str | Path, keep: int = 200):
        self.folder, self.keep = Path(folder), keep
        self.folder.mkdir(parents=True, exist_ok=True)

    def add(self, data: bytes) -> dict:
        """Check `data` as a picture or a video and keep it; returns its record. ValueError when it is neither."""
        from kinema.io.video import VideoReader, read_image
        from kinema.pipeline.inputs import MAX_EXTEND_FRAMES

        upload_id = hashlib.sha256(data).hexdigest()[:32]
        known = self.get(upload_id)
        if known is not None:
            return known
        probe = self.folder / f".{upload_id}.probe"
        probe.write_bytes(data)
        try:
            try:
                picture = read_image(probe)[0]
                record = {"kind": "image", "width": picture.shape[1], "height": picture.shape[0], "frames": 1}
                suffix = ".png"
            except ValueError:
                try:
                    reader = VideoReader(probe)
                except ValueError:
                    raise ValueError("not a picture or a video kinema can read") from None
                if reader.frames > MAX_EXTEND_FRAMES:
                    raise ValueError(f"a video of {reader.frames} frames; kinema extends clips of up to "
                                     f"{MAX_EXTEND_FRAMES}") from None
                record = {"kind": "video", "width": reader.width, "height": reader.height, "frames": reader.frames,
                          "fps": reader.fps}
                suffix = ".mp4"
            record = {"id": upload_id, "bytes": len(data)} | record
            if record["kind"] == "image":  # kept as a PNG of the pixels read, whatever format it came in
                from PIL import Image

                atomic_write(self.folder / f"{upload_id}{suffix}", lambda p: Image.fromarray(picture).save(p, "PNG"))
            else:
                atomic_write(self.folder / f"{upload_id}{suffix}", lambda p: p.write_bytes(data))
            atomic_write(self.folder / f"{upload_id}.json", lambda p: p.write_text(json.dumps(record)))
        finally:
            probe.unlink(missing_ok=True)
        self._prune()
        return record

    def get(self, upload_id: str) -> dict | None:
        """The record of upload `upload_id`, None when there is none (or its files are gone)."""
        if not UPLOAD_ID.match(upload_id or ""):
            return None
        try:
            record = json.loads((self.folder / f"{upload_id}.json").read_text())
        except (OSError, ValueError):
            return None
        return record if self.path(record).is_file() else None

    def path(self, record: dict) -> Path:
        return self.folder / f"{record['id']}{'.png' if record['kind'] == 'image' else '.mp4'}"

    def _prune(self) -> None:
        records = sorted(self.folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
        for old in records[:max(len(records) - self.keep, 0)]:
            for f in self.folder.glob(f"{old.stem}.*"):
                f.unlink(missing_ok=True)
