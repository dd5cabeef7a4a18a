"""`kinema teacher-pairs`: a latent model's noise-to-clip pairs under guidance, for a few-step student (reflow)."""
from __future__ import annotations

import argparse

from kinema.cli.common import PRECISIONS, UsageError, clip_bound, fraction, load_pipeline, number, positive_int

NAME, HELP = "teacher-pairs", "sample a model's noise -> clip pairs (deterministic, guided) to distill a student from"


def add_arguments(t: argparse.ArgumentParser) -> None:
    t.add_argument("--model", default=None, help="the teacher: a latent kinema model folder (default: the shipped one)")
    t.add_argument("--out", required=True, help="pairs folder (a latent cache with each clip's noise); an interrupted "
                   "run continues")
    t.add_argument("--count", type=positive_int, default=4096)
    t.add_argument("--steps", type=number(int, 1, 1000), default=None, help="teacher steps (default: the model's)")
    t.add_argument("--guidance", type=number(float, 0, 100), default=None)
    t.add_argument("--shift", type=number(float, 0, 100, lo_open=True), default=None)
    t.add_argument("--guidance-interval", type=float, nargs=2, default=None, metavar=("LO", "HI"))
    t.add_argument("--seed", type=clip_bound("seed"), default=0, help="the captions' and the noise's seed")
    t.add_argument("--camera", type=fraction, default=0.0, metavar="P",
                   help="share of the captions' scenes filmed by a moving camera (pans, zooms: the spec's v2)")
    t.add_argument("--tracks", type=fraction, default=0.0, metavar="P",
                   help="share of the captions' scenes whose objects follow drawn tracks (the spec's v2)")
    t.add_argument("--physics", type=fraction, default=0.0, metavar="P",
                   help="share of the captions' scenes whose objects all fall or bounce (still camera, no tracks)")
    t.add_argument("--late", type=fraction, default=0.0, metavar="P",
                   help="share of the items that start later in their long clip (from 2 s to --late-until): the "
                        "teacher goes on from their first latent frames as rendered, as in a long clip's later windows")
    t.add_argument("--late-until", type=clip_bound("seconds"), default=30.0, metavar="S",
                   help="latest start of a --late item, in seconds")
    t.add_argument("--layout", type=fraction, default=0.0, metavar="P",
                   help="share of the samples the teacher makes with their scene's layout (where each object is, as "
                        "a plan gives it), so a student learns to follow one; needs a denoiser that takes a layout")
    t.add_argument("--batch", type=number(int, 1, 4096), default=64)
    t.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    t.add_argument("--precision", choices=PRECISIONS, default="auto")
    t.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from kinema.data.dataset import ShapesDataset
    from kinema.data.teacher_pairs import make_teacher_pairs
    from kinema.pipeline.windows import OWN_CONTEXT_LATENTS
    from kinema.models.layout import takes_layout

    args.lora = []
    pipe = load_pipeline(args)
    if pipe.autoencoder is None or pipe.clip["size"] is None:
        raise UsageError(f"--model {pipe.name}: teacher pairs need a latent kinema model")
    if args.layout and not takes_layout(pipe.denoiser):
        raise UsageError(f"--layout {args.layout:g}: the denoiser of --model {pipe.name} takes no layout")
    sampling = pipe.sampling
    interval = tuple(args.guidance_interval or sampling["guidance_interval"])
    clip = pipe.clip
    out = make_teacher_pairs(pipe, ShapesDataset(args.seed, int(clip["size"]), float(clip["fps"]),
                                                 float(clip["seconds"]), p_camera=args.camera, p_track=args.tracks,
                                                 p_physics=args.physics, late=args.late, late_until=args.late_until),
                             args.out, args.count,
                             args.steps or sampling["steps"],
                             sampling["guidance"] if args.guidance is None else args.guidance,
                             sampling["shift"] if args.shift is None else args.shift, interval, args.seed, args.batch,
                             progress=not args.no_progress, layout=args.layout,
                             context=OWN_CONTEXT_LATENTS)
    print(f"pairs: {out} (train a student on them: kinema train --data {out} --init MODEL --preset latent ...)")
    return 0
