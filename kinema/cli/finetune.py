"""`kinema finetune`: a LoRA adapter for a model's denoiser (kinema's own or a Wan folder) on captioned clips."""
from __future__ import annotations

import argparse
from pathlib import Path

from kinema.cli.common import (PRECISIONS, UsageError, add_run_options, clip_bound, fraction, load_pipeline,
                               non_negative_int, number)

NAME, HELP = "finetune", "train a LoRA adapter for a model's denoiser on a folder of captioned clips"


def add_arguments(f: argparse.ArgumentParser) -> None:
    add_run_options(f, steps=500, batch=2, lr=1e-3, checkpoint_every=100)
    f.add_argument("--model", default=None, help="the base: a kinema model folder or a Wan folder (diffusers' "
                   "format); default: the shipped model")
    f.add_argument("--data", required=True, help="a folder of NAME.mp4 + NAME.txt (the clip and its caption)")
    f.add_argument("--rank", type=number(int, 1, 1024), default=16, help="the adapter's rank")
    f.add_argument("--alpha", type=number(float, 0, 1e6, lo_open=True), default=None,
                   help="LoRA alpha (the adapter's output scales by alpha / rank); default: the rank")
    f.add_argument("--targets", nargs="+", default=None, metavar="NAME",
                   help="layer names the adapter trains (default: attention and feed-forward)")
    f.add_argument("--warmup", type=non_negative_int, default=20)
    f.add_argument("--caption-dropout", type=fraction, default=0.1)
    f.add_argument("--size", type=clip_bound("size"), default=None,
                   help="clip size, for a model that makes any size (a Wan folder; default 64); a kinema model "
                   "trains at its own")
    f.add_argument("--seconds", type=clip_bound("seconds"), default=None,
                   help="clip length, for a Wan folder (default: 17 frames); a kinema model trains at its own")
    f.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    f.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="the frozen base's weights (the adapter trains in float32)")


def run(args: argparse.Namespace) -> int:
    from kinema.data.dataset import VideoFolderDataset
    from kinema.pipeline.settings import ClipSettings
    from kinema.train.finetune import FinetuneConfig, finetune

    # 1. what needs no model: the output folder, the clips and their captions
    out = Path(args.out)
    if (out / "lora.json").exists() or (out.exists() and not out.is_dir()):
        raise UsageError(f"--out {out} already holds an adapter (or is a file): choose another folder")
    if args.resume:
        raise UsageError("--resume: an adapter run is short; start it again into a new folder")
    if not 0 <= args.caption_dropout < 1:
        raise UsageError("--caption-dropout must be in [0, 1)")
    try:
        VideoFolderDataset(args.data)  # every clip and caption read once: an unreadable one stops here
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(f"--data: {e}") from None

    # 2. the base, then the clip it trains at
    args.lora = []
    pipe = load_pipeline(args)
    native = pipe.clip
    if native["size"] is not None and (args.size or args.seconds):
        raise UsageError(f"a kinema model fine-tunes at its own clip ({native['size']}x{native['size']}, "
                         f"{native['fps']:g} fps, {native['seconds']:g} s): leave out --size and --seconds")
    size = pipe.native_size(ClipSettings(size=args.size or 64))
    seconds = args.seconds or (float(native["seconds"]) if native["size"] is not None else 17 / float(native["fps"]))
    try:
        pipe.resolve(ClipSettings(size=size, seconds=seconds))
    except ValueError as e:
        raise UsageError(str(e)) from None
    clip = {"size": size, "fps": float(native["fps"]), "seconds": seconds}
    dataset = VideoFolderDataset(args.data, size, clip["fps"], seconds)
    cfg = FinetuneConfig(steps=args.steps, batch=args.batch, lr=args.lr, warmup=args.warmup, cooldown=args.cooldown,
                         seed=args.seed, checkpoint_every=args.checkpoint_every, rank=args.rank, alpha=args.alpha,
                         targets=args.targets, caption_dropout=args.caption_dropout,
                         model=str(args.model or "default"), data=str(args.data), clip=clip)
    try:
        finetune(out, pipe, dataset, cfg, progress=not args.no_progress)
    except ValueError as e:
        raise UsageError(str(e)) from None
    print(f"adapter: {out} (use it with --lora {out})")
    return 0
