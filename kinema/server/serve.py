"""`kinema serve`: the web process (uvicorn + the FastAPI app) and N worker processes over one queue."""
from __future__ import annotations

import ipaddress
import multiprocessing as mp
import os
from dataclasses import replace
from pathlib import Path

from kinema.server.app import Limits, create_app
from kinema.server.jobs import JobStore
from kinema.server.worker import worker_main

TOKEN_ENV = "KINEMA_TOKEN"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1, data_dir: str | Path = "kinema-data",
          token: str | None = None, model: str | None = None, limits: Limits = Limits(), lora: tuple = (),
          compile_backend: str | None = None) -> None:
    import uvicorn

    from kinema.models.components import DEFAULT_MODEL, has_component
    from kinema.pipeline.folders import directs, folder_card, goes_on

    token = token or os.environ.get(TOKEN_ENV) or None
    if not is_loopback(host) and not token:
        raise ValueError(f"binding to {host} needs an access token: pass --token or set {TOKEN_ENV}")
    if not has_component(model or DEFAULT_MODEL, "verifier"):  # nothing to choose among candidates with: one clip a job
        limits = replace(limits, max_candidates=1)
    card = folder_card(model or DEFAULT_MODEL)  # (a bad model folder stops here, in one line)
    limits = replace(limits, given_frames=goes_on(card), model_seconds=float(card["clip"].get("seconds", 2.0)),
                     size_multiple=int(card["clip"].get("size_multiple") or 2),
                     directs=directs(model or DEFAULT_MODEL, card),
                     student=has_component(model or DEFAULT_MODEL, "student"))
    store, notes = JobStore.open(data_dir)  # a damaged database is moved aside, its finished jobs listed again
    for note in notes:
        print(f"kinema serve: {note}", flush=True)
    recovered = store.recover()
    if any(recovered.values()):
        print(f"recovered after a stop: {recovered}", flush=True)
    threads = max(1, (os.cpu_count() or 1) // max(workers, 1))
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=worker_main, args=(str(data_dir), model, threads, os.getpid(), 0.2, tuple(lora), compile_backend), daemon=True,
                         name=f"kinema-worker-{i}") for i in range(workers)]
    for p in procs:
        p.start()
    app = create_app(data_dir, limits, token, model_name=Path(model).name if model else "default")
    print(f"kinema serve: http://{host}:{port}/ with {workers} worker(s), data in {data_dir}", flush=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(timeout=5)
