"""`kinema train-verifier`: the verifier a pipeline uses to choose among candidate clips."""
from __future__ import annotations

import argparse

from kinema.cli.common import UsageError, add_run_options, check_cooldown, clip_bound

NAME, HELP = "train-verifier", "train the verifier that scores how well a clip follows its caption"


def add_arguments(tv: argparse.ArgumentParser) -> None:
    add_run_options(tv, steps=3000, batch=64, lr=1e-3, checkpoint_every=200)
    tv.add_argument("--size", type=clip_bound("size"), default=32, help="clip size it reads: the keyframes' native size")
    tv.add_argument("--fps", type=clip_bound("fps"), default=4.0, help="the keyframes' native frame rate")
    tv.add_argument("--seconds", type=clip_bound("seconds"), default=2.0)


def run(args: argparse.Namespace) -> int:
    from kinema.models.verifier import VerifierConfig
    from kinema.train.verifier import VerifierTrainConfig, train_verifier

    check_cooldown(args)
    if args.size % 8 or args.size < 16:
        raise UsageError(f"--size must be a multiple of 8 from 16, got {args.size}")
    frames = round(args.seconds * args.fps)
    if not 1 <= frames <= VerifierConfig.max_frames:
        raise UsageError(f"{args.seconds:g} s at {args.fps:g} fps is {frames} frames; the verifier reads 1 to "
                         f"{VerifierConfig.max_frames}")
    cfg = VerifierTrainConfig(steps=args.steps, batch=args.batch, lr=args.lr, cooldown=args.cooldown, seed=args.seed,
                              checkpoint_every=args.checkpoint_every,
                              clip={"size": args.size, "fps": args.fps, "seconds": args.seconds})
    out = train_verifier(args.out, cfg, resume=args.resume, progress=not args.no_progress)
    print(f"trained: {out}")
    return 0
