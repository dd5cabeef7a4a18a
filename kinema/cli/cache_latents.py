"""`kinema cache-latents`: encode a dataset's clips to latents, with their text embeddings, for training."""
from __future__ import annotations

import argparse
from pathlib import Path

from kinema.cli.common import UsageError, clip_bound, fraction, positive_int

NAME, HELP = "cache-latents", "encode a dataset's clips to latents with their text embeddings"


def add_arguments(c: argparse.ArgumentParser) -> None:
    c.add_argument("--autoencoder", required=True, help="folder with autoencoder.{safetensors,json}")
    c.add_argument("--out", required=True, help="cache folder (shards, cache.json); an interrupted run continues")
    c.add_argument("--data", default="shapes", help="'shapes' or a folder of NAME.mp4 + NAME.txt")
    c.add_argument("--clips", type=positive_int, default=8192, help="how many clips (shapes world)")
    c.add_argument("--size", type=clip_bound("size"), default=64)
    c.add_argument("--fps", type=clip_bound("fps"), default=8.0)
    c.add_argument("--seconds", type=clip_bound("seconds"), default=2.0)
    c.add_argument("--seed", type=clip_bound("seed"), default=0)
    c.add_argument("--late", type=fraction, default=0.0, metavar="P",
                   help="share of shapes-world clips rendered from later in a long clip (walls, landings), "
                        "trained only as going on from their first frames")
    c.add_argument("--late-until", type=clip_bound("seconds"), default=30.0, metavar="S",
                   help="latest start of a --late clip, in seconds")
    c.add_argument("--camera", type=fraction, default=0.0, metavar="P",
                   help="share of shapes-world scenes filmed by a moving camera (pans, zooms: the spec's v2)")
    c.add_argument("--tracks", type=fraction, default=0.0, metavar="P",
                   help="chance that a shapes-world object follows a random track (straight, bent, with a pause) "
                        "instead of its motion; its caption then names no motion")
    c.add_argument("--physics", type=fraction, default=0.0, metavar="P",
                   help="share of shapes-world scenes whose objects all fall or bounce (still camera, no tracks); "
                        "with --late, their later windows show the rebounds shrinking and the landings")
    c.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from kinema.data.latents import cache_latents
    from kinema.text.encoder import load_text_encoder

    if not (Path(args.autoencoder) / "autoencoder.json").is_file():
        raise UsageError(f"no autoencoder in {args.autoencoder} (expected autoencoder.json + .safetensors)")
    clip = {"size": args.size, "fps": args.fps, "seconds": args.seconds}
    if args.data == "shapes":
        from kinema.data.dataset import ShapesDataset

        dataset, count = ShapesDataset(args.seed, args.size, args.fps, args.seconds, late=args.late,
                                       late_until=args.late_until, p_camera=args.camera, p_track=args.tracks,
                                       p_physics=args.physics), args.clips
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
