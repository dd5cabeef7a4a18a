"""`kinema upscale`: raise a video's resolution with the upscaler, streamed chunk by chunk."""
from __future__ import annotations

import argparse
import time

from kinema.cli.common import UsageError, add_video_options, check_memory, clip_bound, video_stage

NAME, HELP = "upscale", "raise a video's resolution with the upscaler"


def add_arguments(up: argparse.ArgumentParser) -> None:
    add_video_options(up, "upscaler")
    up.add_argument("--size", type=clip_bound("size"), required=True, help="short side of the output, in pixels")


def run(args: argparse.Namespace) -> int:
    from kinema.io.video import Mp4Writer, VideoReader
    from kinema.models.upscaler import upscale_clip

    model = video_stage(args, "upscaler")
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
    check_memory(8 * w * h * 3 * 4 * 12, f"upscaling to {w}x{h}")  # a chunk of 8 frames, float working copies
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
