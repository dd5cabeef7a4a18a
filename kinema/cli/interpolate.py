"""`kinema interpolate`: raise a video's frame rate with the interpolator."""
from __future__ import annotations

import argparse
import time

from kinema.cli.common import UsageError, add_video_options, check_memory, clip_bound, video_stage

NAME, HELP = "interpolate", "raise a video's frame rate with the interpolator"


def add_arguments(ip: argparse.ArgumentParser) -> None:
    add_video_options(ip, "interpolator")
    ip.add_argument("--fps", type=clip_bound("fps"), required=True, help="frame rate of the output")


def run(args: argparse.Namespace) -> int:
    from kinema.io.video import VideoReader, read_video, write_video
    from kinema.models.interpolator import interpolate_clip

    model = video_stage(args, "interpolator")
    try:
        reader = VideoReader(args.input)  # a corrupt file, or one with no decodable frame, stops here
    except ValueError as e:
        raise UsageError(str(e)) from None
    ratio = max(args.fps / reader.fps, 1.0)  # the whole clip is read, then written at the new rate
    check_memory(reader.memory(1 + ratio + 8), f"{reader.frames} frames of {reader.width}x{reader.height} at "
                 f"{args.fps:g} fps")
    t0 = time.perf_counter()
    frames, fps_in = read_video(args.input)
    n_out = max(round(len(frames) / fps_in * args.fps), 1)
    out = interpolate_clip(model, frames, fps_in, args.fps, n_out)
    write_video(out, args.output, args.fps, {"generator": "kinema interpolate", "source": str(args.input),
                                            "fps_in": fps_in, "fps": args.fps, "interpolator_step": model.step})
    print(f"{args.output}: {len(frames)} frames at {fps_in:g} fps -> {n_out} at {args.fps:g} fps, "
          f"{time.perf_counter() - t0:.1f} s")
    return 0
