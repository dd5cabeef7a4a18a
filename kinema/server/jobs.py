"""The job queue: jobs and their results in SQLite and files under the server's data directory.

    DATA/jobs.sqlite3        one row per job (WAL mode: the web process and workers share it)
    DATA/videos/ID.mp4       a finished job's clip (written to a temporary name, then renamed)

States: queued -> running -> done | failed | cancelled (queued -> cancelled too). A worker claims
the oldest queued job in one write transaction, so N workers never take the same job, and gets a
fresh `run` token: every later write of that worker names the token, so a worker left over from
an earlier server can no longer touch a job the new server has taken back. After a crash,
`recover()` looks at every job left `running`: if its video file exists (it was renamed into
place, so it is whole) the job is done; otherwise it is queued again, or failed with its reason
once it has been tried `max_attempts` times. No job is lost and none is completed twice.

At start (`JobStore.open`) the database is checked (SQLite's quick_check and the jobs table's columns):
a damaged one is moved aside (`jobs.sqlite3.damaged-TIME`) and a new one made, and every finished video
the database does not list (after damage, or a database emptied by hand) is listed again from the
settings its file records, so no finished job is forgotten while its video stays on disk.
"""
from __future__ import annotations

import json
import sqlite3
import time
import uuid
from pathlib import Path

from kinema.io.checkpoint import remove_stale_temps

STATES = ("queued", "running", "done", "failed", "cancelled")
TERMINAL = ("done", "failed", "cancelled")

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    state TEXT NOT NULL,
    settings TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    step INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    run TEXT,
    cancel INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    timings TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, seq);
"""


class QueueFull(Exception):
    """The queue holds as many waiting jobs as the server allows."""


COLUMNS = {"id", "seq", "state", "settings", "created", "started", "finished", "step", "total", "attempts", "run",
           "cancel", "error", "timings"}


def database_problem(path: Path) -> str | None:
    """What is wrong with the job database at `path` (None: nothing, or no database yet)."""
    if not path.is_file():
        return None
    if path.stat().st_size == 0:  # emptied: a log of writes left beside it belongs to the database that was
        return "emptied, beside the log of its last writes" if Path(f"{path}-wal").exists() else None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            columns = {r[1] for r in db.execute("PRAGMA table_info(jobs)").fetchall()}
        finally:
            db.close()
    except sqlite3.DatabaseError as e:
        return str(e)
    if check != "ok":
        return f"integrity check: {check}"
    if columns and columns != COLUMNS:
        return "its jobs table is not kinema's"
    return None


class JobStore:
    def __init__(self, data_dir: str | Path, max_attempts: int = 2):
        self.dir = Path(data_dir)
        self.videos = self.dir / "videos"
        self.videos.mkdir(parents=True, exist_ok=True)
        self.previews = self.dir / "previews"  # a running job's frames so far, one PNG each, for the page
        self.path = self.dir / "jobs.sqlite3"
        self.max_attempts = max_attempts
        db = self._connect()
        try:
            db.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:
            raise ValueError(f"the job database {self.path.name} cannot be used ({e}): start the server again to "
                             "have it moved aside, or move it out of the data folder") from None
        finally:
            db.close()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)  # autocommit; explicit BEGINs
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=30000")
        return db

    def _write(self, sql: str, args: tuple = ()) -> int:
        """One write statement in its own immediate transaction; returns the rows changed."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            n = db.execute(sql, args).rowcount
            db.execute("COMMIT")
            return n
        finally:
            db.close()

    @staticmethod
    def open(data_dir: str | Path, max_attempts: int = 2) -> tuple["JobStore", list[str]]:
        """The store of `data_dir` for a starting server, checked and repaired (see the module's docstring), with a
        line for each repair made. ValueError (one line) when a damaged database cannot be moved aside."""
        path, notes = Path(data_dir) / "jobs.sqlite3", []
        problem = database_problem(path)
        if problem:
            aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
            try:
                for suffix in ("", "-wal", "-shm"):
                    if Path(f"{path}{suffix}").exists():
                        Path(f"{path}{suffix}").rename(f"{aside}{suffix}")
            except OSError as e:
                raise ValueError(f"the job database {path.name} is damaged ({problem}) and could not be moved aside "
                                 f"({e.strerror}): move it out of the data folder and start again") from None
            notes.append(f"the job database was damaged ({problem}): moved aside to {aside.name}")
        store = JobStore(data_dir, max_attempts)
        listed, unreadable = store.list_videos()
        if listed or unreadable:
            notes.append(f"listed {listed} finished job(s) again from their videos"
                         + (f"; {unreadable} video(s) record no settings" if unreadable else ""))
        return store, notes

    def list_videos(self) -> tuple[int, int]:
        """Add a finished job for each video whose job the database lacks, from the settings the file records;
        returns (jobs added, videos without readable settings)."""
        from dataclasses import fields

        from kinema.io.video import read_metadata
        from kinema.pipeline.settings import ClipSettings

        names = ["prompt", *(f.name for f in fields(ClipSettings))]
        db = self._connect()
        try:
            known = {r[0] for r in db.execute("SELECT id FROM jobs").fetchall()}
        finally:
            db.close()
        added = unreadable = 0
        for video in sorted(self.videos.glob("*.mp4"), key=lambda v: v.stat().st_mtime):
            if video.stem in known or len(video.stem) != 32:
                continue
            try:
                meta = read_metadata(video)
                settings = {k: meta[k] for k in ("prompt", "seed")} | {k: meta[k] for k in names if k in meta}
            except Exception:  # noqa: BLE001 - any unreadable file is counted, not fatal
                unreadable += 1
                continue
            when, steps = video.stat().st_mtime, int(settings.get("steps") or 0)
            self._write("INSERT INTO jobs (id, seq, state, settings, created, started, finished, step, total, attempts) "
                        "VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs), 'done', ?, ?, ?, ?, ?, ?, 1)",
                        (video.stem, json.dumps(settings), when, when, when, steps, steps))
            added += 1
        return added, unreadable

    def video_path(self, job_id: str) -> Path:
        return self.videos / f"{uuid.UUID(hex=job_id).hex}.mp4"  # only a well-formed id becomes a path

    # -- the web process ---------------------------------------------------------------------
    def create(self, settings: dict, max_queued: int) -> dict:
        job_id = uuid.uuid4().hex
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            queued = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'queued'").fetchone()[0]
            if queued >= max_queued:
                db.execute("ROLLBACK")
                raise QueueFull(f"the queue is full ({queued} jobs waiting)")
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()[0]
            db.execute("INSERT INTO jobs (id, seq, state, settings, created, total) VALUES (?, ?, 'queued', ?, ?, ?)",
                       (job_id, seq, json.dumps(settings), time.time(), int(settings.get("steps") or 0)))
            db.execute("COMMIT")
        finally:
            db.close()
        return self.get(job_id)

    def get(self, job_id: str) -> dict | None:
        db = self._connect()
        try:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        finally:
            db.close()
        return _public(row) if row else None

    def list(self, limit: int = 50, offset: int = 0, state: str | None = None) -> list[dict]:
        db = self._connect()
        try:
            if state:
                rows = db.execute("SELECT * FROM jobs WHERE state = ? ORDER BY seq DESC LIMIT ? OFFSET ?",
                                  (state, limit, offset)).fetchall()
            else:
                rows = db.execute("SELECT * FROM jobs ORDER BY seq DESC LIMIT ? OFFSET ?", (limit, offset)).fetchall()
        finally:
            db.close()
        return [_public(r) for r in rows]

    def counts(self) -> dict[str, int]:
        db = self._connect()
        try:
            rows = db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        finally:
            db.close()
        return {s: 0 for s in STATES} | {r[0]: r[1] for r in rows}

    def cancel(self, job_id: str) -> dict | None:
        """Queued: cancelled at once. Running: flagged; its worker stops at the next step."""
        self._write("UPDATE jobs SET state = 'cancelled', finished = ? WHERE id = ? AND state = 'queued'",
                    (time.time(), job_id))
        self._write("UPDATE jobs SET cancel = 1 WHERE id = ? AND state = 'running'", (job_id,))
        return self.get(job_id)

    def delete(self, job_id: str) -> bool:
        """Remove a job and its video; a running job is cancelled first (its worker then finds it gone)."""
        n = self._write("DELETE FROM jobs WHERE id = ?", (job_id,))
        self.video_path(job_id).unlink(missing_ok=True)
        self.drop_previews(job_id)
        return n > 0

    # -- previews: the frames of a running job as they are made ------------------------------------
    def preview_path(self, job_id: str, k: int) -> Path:
        return self.previews / uuid.UUID(hex=job_id).hex / f"{k:05d}.png"

    def add_previews(self, job_id: str, first: int, frames) -> None:
        """Frames first, first + 1, ... of a running job, each a PNG written whole (temporary name, then renamed)."""
        from PIL import Image

        from kinema.io.checkpoint import atomic_write

        self.preview_path(job_id, 0).parent.mkdir(parents=True, exist_ok=True)
        for k, frame in enumerate(frames, first):
            atomic_write(self.preview_path(job_id, k), lambda p: Image.fromarray(frame).save(p, "PNG"))

    def preview_count(self, job_id: str) -> int:
        folder = self.preview_path(job_id, 0).parent
        return sum(1 for _ in folder.glob("[0-9]*.png")) if folder.is_dir() else 0

    def drop_previews(self, job_id: str) -> None:
        import shutil

        shutil.rmtree(self.preview_path(job_id, 0).parent, ignore_errors=True)

    # -- workers ---------------------------------------------------------------------------------
    def claim(self) -> dict | None:
        """Take the oldest queued job: (job with its `run` token), or None."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT id FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                db.execute("ROLLBACK")
                return None
            run = uuid.uuid4().hex
            db.execute("UPDATE jobs SET state = 'running', started = ?, run = ?, attempts = attempts + 1, step = 0, "
                       "error = NULL WHERE id = ?", (time.time(), run, row["id"]))
            db.execute("COMMIT")
        finally:
            db.close()
        job = self.get(row["id"])
        return job | {"run": run} if job else None

    def progress(self, job_id: str, run: str, step: int, total: int) -> bool:
        """Record step k of n; False when the job was cancelled, deleted or taken back (stop working)."""
        n = self._write("UPDATE jobs SET step = ?, total = ? WHERE id = ? AND run = ? AND state = 'running' "
                        "AND cancel = 0", (step, total, job_id, run))
        return n > 0

    def finish(self, job_id: str, run: str, timings: dict) -> bool:
        return self._write("UPDATE jobs SET state = 'done', finished = ?, step = total, timings = ? "
                           "WHERE id = ? AND run = ? AND state = 'running'",
                           (time.time(), json.dumps(timings), job_id, run)) > 0

    def fail(self, job_id: str, run: str, error: str) -> bool:
        return self._write("UPDATE jobs SET state = 'failed', finished = ?, error = ? WHERE id = ? AND run = ? "
                           "AND state = 'running'", (time.time(), error[:2000], job_id, run)) > 0

    def mark_cancelled(self, job_id: str, run: str) -> bool:
        return self._write("UPDATE jobs SET state = 'cancelled', finished = ? WHERE id = ? AND run = ? "
                           "AND state = 'running' AND cancel = 1", (time.time(), job_id, run)) > 0

    # -- start-up ------------------------------------------------------------------------------
    def recover(self) -> dict[str, int]:
        """Settle the jobs a crash left running (see the module's docstring); returns what was done."""
        done = requeued = failed = cancelled = 0
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            for row in db.execute("SELECT id, attempts, cancel FROM jobs WHERE state = 'running'").fetchall():
                now = time.time()
                if self.video_path(row["id"]).is_file():
                    db.execute("UPDATE jobs SET state = 'done', finished = ?, step = total, run = NULL WHERE id = ?",
                               (now, row["id"]))
                    done += 1
                elif row["cancel"]:
                    db.execute("UPDATE jobs SET state = 'cancelled', finished = ?, run = NULL WHERE id = ?", (now, row["id"]))
                    cancelled += 1
                elif row["attempts"] >= self.max_attempts:
                    db.execute("UPDATE jobs SET state = 'failed', finished = ?, run = NULL, error = ? WHERE id = ?",
                               (now, f"interrupted by a server stop on each of {row['attempts']} attempts", row["id"]))
                    failed += 1
                else:
                    db.execute("UPDATE jobs SET state = 'queued', started = NULL, step = 0, run = NULL WHERE id = ?",
                               (row["id"],))
                    requeued += 1
            db.execute("COMMIT")
        finally:
            db.close()
        remove_stale_temps(self.videos)  # half-written videos of interrupted jobs
        return {"done": done, "requeued": requeued, "failed": failed, "cancelled": cancelled}


def _public(row: sqlite3.Row) -> dict:
    settings = json.loads(row["settings"])
    return {"id": row["id"], "state": row["state"], **settings,
            "progress": {"step": row["step"], "total": row["total"]},
            "created": row["created"], "started": row["started"], "finished": row["finished"],
            "attempts": row["attempts"], "cancel_requested": bool(row["cancel"]), "error": row["error"],
            "timings": json.loads(row["timings"]) if row["timings"] else None}
