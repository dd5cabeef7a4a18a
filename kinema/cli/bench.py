"""`kinema bench`: the denoiser beside diffusers' Wan transformer and the machine's ceilings."""
from __future__ import annotations

import argparse

NAME, HELP = "bench", "the denoiser against diffusers' Wan transformer and the machine's ceilings"


def add_arguments(b: argparse.ArgumentParser) -> None:
    b.add_argument("--json", action="store_true", help="print the report as JSON")
    b.add_argument("--plot", default="bench.png", help="PNG of the results (default: bench.png)")
    b.add_argument("--quick", action="store_true", help="fewer configurations and steps (a smoke run)")


def run(args: argparse.Namespace) -> int:
    import json

    from kinema.eval.bench import format_report, plot, run_bench

    report = run_bench(quick=args.quick)
    plot(report, args.plot)
    print(json.dumps(report, indent=2) if args.json else format_report(report) + f"\n\nplot: {args.plot}")
    return 0
