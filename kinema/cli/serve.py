"""`kinema serve`: a web page and an HTTP API over a job queue (FastAPI, SQLite), with generation workers."""
from __future__ import annotations

import argparse
from pathlib import Path

from kinema.cli.common import UsageError, adapter, clip_bound, model_folder, number

NAME, HELP = "serve", "a web page and an HTTP API over a job queue (FastAPI, SQLite)"


def add_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument("--host", default="127.0.0.1", help="address to bind; other than loopback needs --token")
    s.add_argument("--port", type=number(int, 1, 65535), default=8000)
    s.add_argument("--workers", type=number(int, 1, 64), default=1, help="generation worker processes")
    s.add_argument("--data-dir", default="kinema-data", help="SQLite job database and videos")
    s.add_argument("--token", default=None, help="access token for every API route (or env KINEMA_TOKEN)")
    s.add_argument("--model", default=None, help="model folder (default: the shipped default model)")
    s.add_argument("--lora", action="append", type=adapter, default=[], metavar="DIR[:SCALE]",
                   help="a LoRA adapter (kinema finetune) on the denoiser, at SCALE (default 1); repeatable")
    s.add_argument("--compile", action="store_true",
                   help="compile each worker's denoiser with torch.compile and warm it up before the first job "
                        "(minutes at start on a CPU; then ~1.75x faster forward passes: for a server that runs long)")
    s.add_argument("--max-size", type=clip_bound("size"), default=256)
    s.add_argument("--max-seconds", type=clip_bound("seconds"), default=8.0)
    s.add_argument("--max-steps", type=number(int, 1, 1000), default=100)
    s.add_argument("--max-queued", type=number(int, 1, 100_000), default=64)


def run(args: argparse.Namespace) -> int:
    from kinema.io.video import check_folder
    from kinema.server.app import Limits
    from kinema.pipeline.folders import check_model
    from kinema.server.serve import serve

    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be in 1..65535, got {args.port}")
    try:
        check_folder(Path(args.data_dir))
    except ValueError as e:
        raise UsageError(f"--data-dir: {e}") from None
    if args.model or args.lora:  # a missing or corrupt model or adapter stops here, not in a worker
        check_model(model_folder(args.model), args.lora)
    limits = Limits(max_size=args.max_size, max_seconds=args.max_seconds, max_steps=args.max_steps,
                    max_queued=args.max_queued)
    try:
        serve(args.host, args.port, args.workers, args.data_dir, args.token, args.model, limits, tuple(args.lora),
              "inductor" if args.compile else None)
    except ValueError as e:
        raise UsageError(str(e)) from None
    return 0
