"""The `kinema` command: one module per subcommand, each with its NAME, HELP, add_arguments and run.

Each subcommand checks its arguments before any heavy work (loading models, rendering) and exits
with status 2 and one clear line on bad input.
"""
from __future__ import annotations

import argparse
import sys

from kinema.cli import (bench, cache_latents, evaluate, finetune, generate, interpolate, reconstruct, refiner_pairs,
                        serve, teacher_pairs, train, train_autoencoder, train_planner, train_stage, train_verifier,
                        upscale)
from kinema.cli.common import Parser, UsageError

COMMANDS = (generate, evaluate, serve,  # making clips
            interpolate, upscale, reconstruct,  # the stages on a video file
            train, train_autoencoder, cache_latents, train_verifier, refiner_pairs, train_stage, finetune,  # training
            teacher_pairs, train_planner,
            bench)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="kinema", description="kinema: text to video")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        p = sub.add_parser(command.NAME, help=command.HELP)
        command.add_arguments(p)
        p.set_defaults(run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # a bad option (reported in one line), or --help
        return e.code if isinstance(e.code, int) else 2
    from kinema.io.checkpoint import CheckpointError

    try:
        return args.run(args)
    except (UsageError, CheckpointError) as e:
        print(f"kinema {args.command}: error: {one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of our output went away
        return 141
    except (MemoryError, RuntimeError) as e:  # torch's allocators raise RuntimeError when memory runs out
        if not isinstance(e, MemoryError) and "memory" not in str(e).lower():
            raise
        print(f"kinema {args.command}: error: not enough memory for this request ({one_line(e)})", file=sys.stderr)
        return 2


def one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


def freeze_imports() -> None:
    """Import torch, then move every object alive so far out of the cyclic collector's sight.

    Importing torch leaves about a million Python objects that live as long as the process;
    gc.freeze() keeps the collector, and the interpreter's exit, from walking them again (about
    0.4 s of a 4 s `kinema generate` on a 2-core CPU). For processes of their own only: tests call
    main() directly, without freezing."""
    import gc
    import importlib

    importlib.import_module("torch")
    gc.freeze()


def run() -> None:
    """The console script (and `python -m kinema`): main() in a process of its own."""
    freeze_imports()
    sys.exit(main())


if __name__ == "__main__":
    run()
