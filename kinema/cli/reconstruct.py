"""`kinema reconstruct`: encode then decode a video, streamed: what the latent space keeps."""
from __future__ import annotations

import argparse

from kinema.cli.common import UsageError, check_video_to_mp4, model_folder, number

NAME, HELP = "reconstruct", "encode then decode a video: what the latent space keeps"


def add_arguments(r: argparse.ArgumentParser) -> None:
    r.add_argument("input", help="a video file")
    r.add_argument("-o", "--output", required=True, help="output .mp4")
    r.add_argument("--autoencoder", default=None, help="folder with autoencoder.{safetensors,json} (default: the shipped one)")
    r.add_argument("--chunk", type=number(int, 1, 64), default=4, help="latent frames per streamed chunk")
    r.add_argument("--tile", type=number(int, 4, 256), default=32, help="latent tile side for large frames")


def run(args: argparse.Namespace) -> int:
    from kinema.pipeline.reconstruct import reconstruct_file

    check_video_to_mp4("reconstruct", args.input, args.output)
    try:
        stats = reconstruct_file(args.input, args.output, model_folder(args.autoencoder), chunk=args.chunk,
                                 tile=args.tile)
    except ValueError as e:
        raise UsageError(str(e)) from None
    print(f"{args.output}: {stats['frames']} frames {stats['width']}x{stats['height']} at {stats['fps']:g} fps, "
          f"latent {stats['latent']}, PSNR {stats['psnr']:.2f} dB, {stats['seconds']:.1f} s")
    return 0
