"""A generation worker: a process apart from the web process that loads the model once and takes
jobs from the queue until its parent (the server) goes away.

Progress is written to the job row as sampling goes (at most every 0.2 s); a cancelled, deleted or taken-back job
makes the next write fail and the worker drops it. The video is written to a temporary file and
renamed into place before the job is marked done (see kinema.server.jobs for why that order).
"""
from __future__ import annotations

import os
import re
import signal
import sys
import time
import traceback
from pathlib import Path


def without_paths(text: str) -> str:
    """An error as API clients see it: each file path cut to its last part, so no server folder is named."""
    return re.sub(r"(?:~|\.{1,2})?(?:/[^/\s'\"]+)+/", "", text)


class _Stop(Exception):
    """The job was cancelled, deleted or taken back while it ran."""


def _die_with_parent() -> None:
    """Linux: ask the kernel to SIGKILL this process when its parent dies."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def given(job: dict, store, uploads, s):
    """What a job is given (kinema.pipeline.inputs.Given), read from its uploads and, for a job that extends
    another, that job's video; ValueError when one has gone since the job was queued."""
    from kinema.pipeline.inputs import read_given

    def upload(name: str, kind: str) -> Path | None:
        if not job.get(name):
            return None
        record = uploads.get(job[name])
        if record is not None and record["kind"] == kind:
            return uploads.path(record)
        if name == "extend" and store.video_path(job[name]).is_file():
            return store.video_path(job[name])
        raise ValueError(f"{name}: {job[name]} is gone (deleted since the job was queued)")

    return read_given(s, upload("image", "image"), upload("last_image", "image"), upload("extend", "video"),
                      job.get("storyboard"))


def warm_up(pipe, compile_backend: str) -> float:
    """Compile the denoisers' forward passes (kinema.models.precision.compile_forward) and make a clip of two windows
    with each, so the shapes a job meets (the first window's candidates under guidance, a later window's one)
    are compiled before the first job; seconds taken."""
    from kinema.models.precision import compile_forward
    from kinema.pipeline import ClipSettings

    t0 = time.perf_counter()
    seconds = float(pipe.clip.get("seconds") or 2.0) + (1.0 if pipe.goes_on else 0.0)  # (windows, where it can)
    for name, module in (("teacher", pipe.denoiser), ("student", pipe.student)):
        if module is not None:
            compile_forward(module, compile_backend)
            pipe.make("a red circle moving right on a black background",
                      pipe.resolve(ClipSettings(seconds=seconds, denoiser=name if pipe.student is not None else None)))
    return time.perf_counter() - t0


def worker_main(data_dir: str, model: str | None, threads: int, parent: int, poll: float = 0.2,
                lora: tuple = (), compile_backend: str | None = None) -> None:
    _die_with_parent()
    import numpy as np
    import torch

    from dataclasses import fields

    from kinema.pipeline import ClipSettings, Pipeline
    from kinema.server.jobs import JobStore
    from kinema.server.uploads import Uploads

    torch.set_num_threads(max(threads, 1))
    store, uploads = JobStore(data_dir), Uploads(Path(data_dir) / "uploads")
    pipe = Pipeline.load(model, lora=list(lora))
    if compile_backend:  # (before any job: a job's first forward passes would wait for the compile)
        print(f"kinema worker {os.getpid()}: compiling the denoiser ({compile_backend})", file=sys.stderr, flush=True)
        print(f"kinema worker {os.getpid()}: compiled and warm after {warm_up(pipe, compile_backend):.0f} s",
              file=sys.stderr, flush=True)
    while os.getppid() == parent:
        job = store.claim()
        if job is None:
            time.sleep(poll)
            continue
        job_id, run = job["id"], job["run"]
        settings = ClipSettings(**{f.name: job[f.name] for f in fields(ClipSettings) if job.get(f.name) is not None})

        reported = [0.0]

        def callback(k: int, n: int) -> None:
            """Progress to the job's row (which says whether it was cancelled meanwhile): at most every 0.2 s, as the
            page reads it, and at the last step; a write per step would cost more than a tiny model's step."""
            now = time.monotonic()
            if k < n and now - reported[0] < 0.2:
                return
            reported[0] = now
            if not store.progress(job_id, run, k, n):
                raise _Stop()

        try:
            t0 = time.perf_counter()
            store.drop_previews(job_id)  # (those of an interrupted run of it)
            s = pipe.resolve(settings, job.get("tracks") is not None)  # checked by the web process
            inputs = given(job, store, uploads, s)
            made, pieces, n = {}, [], 0
            for piece in pipe.frames(job["prompt"], s, callback, made=made, **inputs._asdict(), tracks=job.get("tracks")):
                store.add_previews(job_id, n, piece)  # the page shows the frames as they come
                pieces.append(piece)
                n += len(piece)
            video = pipe.video(job["prompt"], s, np.concatenate(pieces), made, *inputs)
            video.metadata["job"] = job_id
            path = store.video_path(job_id)
            video.save(path)
            timings = {**{k: round(v, 4) for k, v in pipe.timings.items() if k != "load"},
                       "total": round(time.perf_counter() - t0, 4)}
            if not store.finish(job_id, run, timings):  # deleted or taken back meanwhile
                if store.get(job_id) is None:
                    path.unlink(missing_ok=True)
            store.drop_previews(job_id)  # (the video is there now)
        except _Stop:
            store.mark_cancelled(job_id, run)
            store.drop_previews(job_id)
        except Exception as e:  # the job fails with its reason; the worker goes on
            traceback.print_exc(file=sys.stderr)
            store.fail(job_id, run, without_paths(f"{type(e).__name__}: {e}"))
            store.drop_previews(job_id)
