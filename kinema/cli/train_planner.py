"""`kinema train-planner`: the reader that tells the plan what a prompt's scene holds (kinema.models.planner)."""
from __future__ import annotations

import argparse
import json

from kinema.cli.common import non_negative_int, number, positive_int

NAME, HELP = "train-planner", "train the planner's reader of prompts (objects, motions, background, camera)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="folder for planner.safetensors + planner.json")
    p.add_argument("--captions", type=positive_int, default=16384, help="training captions (random v2 scenes)")
    p.add_argument("--held-out", type=positive_int, default=1024, help="captions in held-out wording it is judged on")
    p.add_argument("--steps", type=positive_int, default=2000)
    p.add_argument("--batch", type=positive_int, default=128)
    p.add_argument("--lr", type=number(float, 0, 1, lo_open=True), default=1e-3)
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from kinema.text.encoder import load_text_encoder
    from kinema.train.planner import PlannerTrainConfig, train_planner

    cfg = PlannerTrainConfig(captions=args.captions, steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed,
                             held_out=args.held_out)
    result = train_planner(args.out, load_text_encoder(), cfg, progress=not args.no_progress)
    print(json.dumps(result))
    print(f"trained: {args.out}")
    return 0
