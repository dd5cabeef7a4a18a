"""`kinema train`: train a denoiser on the shapes world, a folder of captioned clips, or a latent cache."""
from __future__ import annotations

import argparse
from pathlib import Path

from kinema.cli.common import (PRECISIONS, UsageError, add_run_options, check_cooldown, check_memory, clip_bound, fraction,
                               non_negative_int, number)

NAME, HELP = "train", "train a denoiser on the shapes world or a folder of captioned clips"


def add_arguments(t: argparse.ArgumentParser) -> None:
    add_run_options(t, steps=4000, batch=12, lr=4e-4, checkpoint_every=250)
    t.add_argument("--data", default="shapes",
                   help="'shapes', a folder of NAME.mp4 + NAME.txt, or a latent cache (kinema cache-latents)")
    t.add_argument("--preset", default="small", help="denoiser size preset: tiny, small, latent, base")
    t.add_argument("--init", help="start a new run from this model folder's denoiser weights (fresh optimizer)")
    t.add_argument("--warmup", type=non_negative_int, default=200)
    t.add_argument("--ema", type=number(float, 0, 1), default=0.999)
    t.add_argument("--caption-dropout", type=fraction, default=0.1)
    t.add_argument("--recaption", type=fraction, default=0.0, metavar="P",
                   help="a latent cache of the shapes world: caption each item afresh from its scene with "
                   "chance P (a new wording every epoch; the cache holds one per clip)")
    t.add_argument("--t-mean", type=number(float, -10, 10), default=1.0, help="logit-normal timestep mean (> 0 leans to noise)")
    t.add_argument("--t-std", type=number(float, 0, 10, lo_open=True), default=1.0, help="logit-normal timestep spread")
    t.add_argument("--condition", type=fraction, default=0.0, metavar="P",
                   help="the share of clips given their first frame(s), or first and last, clean: the denoiser learns "
                   "to start from a picture and to go on from a clip (image to video, --extend, long clips)")
    t.add_argument("--layout", type=fraction, default=0.0, metavar="P",
                   help="a latent cache of the shapes world: the share of clips given their layout (each object's "
                   "phrase and where the clip shows it: tracks, a camera), which the denoiser then takes; of a "
                   "teacher's pairs (kinema teacher-pairs --layout), only those the teacher made with theirs")
    t.add_argument("--loss", choices=("velocity", "x0"), default="velocity",
                   help="where the flow loss is measured (x0: equal weight at every noise level)")
    t.add_argument("--precision", choices=PRECISIONS, default="auto")
    t.add_argument("--parallel", choices=("ddp", "fsdp"), default="ddp",
                   help="under torchrun: a whole copy of the model per process (ddp), or the model sharded over "
                   "them (fsdp: FSDP2, for a model that does not fit one device)")
    t.add_argument("--size", type=clip_bound("size"), default=64, help="training clip size")
    t.add_argument("--fps", type=clip_bound("fps"), default=8.0)
    t.add_argument("--seconds", type=clip_bound("seconds"), default=2.0)


def run(args: argparse.Namespace) -> int:
    from kinema.diffusion.rectified_flow import FlowConfig
    from kinema.models.denoiser import preset
    from kinema.train.denoiser import TrainConfig, train

    clip = {"size": args.size, "fps": args.fps, "seconds": args.seconds}
    overrides = {}
    if not 0 <= args.caption_dropout < 1:
        raise UsageError("--caption-dropout must be in [0, 1)")
    check_cooldown(args)
    is_cache = (Path(args.data) / "cache.json").is_file()
    if not 0 <= args.recaption <= 1 or (args.recaption and not is_cache):
        raise UsageError("--recaption must be in [0, 1], and only a latent cache takes it (rendered clips are "
                         "captioned afresh anyway)")
    if is_cache:  # a latent cache: the denoiser works in its latent space
        from kinema.data.latents import LatentDataset
        from kinema.text.encoder import load_text_encoder

        import torch

        encoder = load_text_encoder(device="cuda" if torch.cuda.is_available() else "cpu") if args.recaption else None
        dataset = LatentDataset(args.data, args.recaption, encoder, args.seed)
        clip, overrides["in_channels"] = dataset.clip, dataset.latent.shape[1]
        if args.layout:  # the pictures each latent frame holds
            overrides["layout"] = int(dataset.meta["autoencoder"]["autoencoder"]["time_factor"])
        grid = tuple(dataset.latent.shape[2:])
    elif args.layout:
        raise UsageError("--layout needs a latent cache of the shapes world (kinema cache-latents)")
    elif args.data == "shapes":
        from kinema.data.dataset import ShapesDataset

        dataset = ShapesDataset(args.seed, args.size, args.fps, args.seconds)
        grid = (round(args.seconds * args.fps), args.size, args.size)
    else:
        from kinema.data.dataset import VideoFolderDataset

        try:
            dataset = VideoFolderDataset(args.data, args.size, args.fps, args.seconds)
        except (FileNotFoundError, ValueError) as e:
            raise UsageError(str(e)) from None
        grid = (round(args.seconds * args.fps), args.size, args.size)
    if args.init and (Path(args.init) / "denoiser.json").is_file() and "layout" not in overrides:
        from kinema.io.checkpoint import load_json

        layout = load_json(Path(args.init) / "denoiser.json").get("denoiser", {}).get("layout", 0)
        if layout:  # a denoiser that takes a layout keeps that input (and its weights), given one or not
            overrides["layout"] = layout
    try:
        denoiser_cfg = preset(args.preset, **overrides)
        flow_cfg = FlowConfig(t_mean=args.t_mean, t_std=args.t_std, loss=args.loss)
    except ValueError as e:
        raise UsageError(str(e)) from None
    check_memory(args.batch * 3 * grid[0] * grid[1] * grid[2] * 4 * 16, f"a batch of {args.batch} clips of "
                 f"{'x'.join(map(str, grid))}")
    if any(n % p for n, p in zip(grid, denoiser_cfg.patch)):
        raise UsageError(f"a {'x'.join(map(str, grid))} (T x H x W) clip does not tile into patches {denoiser_cfg.patch}")
    if args.init and not (Path(args.init) / "denoiser.json").is_file():
        raise UsageError(f"--init {args.init}: no denoiser.json there")
    cfg = TrainConfig(steps=args.steps, batch=args.batch, lr=args.lr, warmup=args.warmup, cooldown=args.cooldown,
                      ema=args.ema, caption_dropout=args.caption_dropout, seed=args.seed,
                      checkpoint_every=args.checkpoint_every, precision=args.precision, clip=clip, data=args.data,
                      recaption=args.recaption, init=args.init, condition=args.condition, parallel=args.parallel,
                      layout=args.layout)
    out = train(args.out, dataset, denoiser_cfg, flow_cfg, cfg, resume=args.resume, progress=not args.no_progress)
    print(f"trained: {out}")
    return 0
