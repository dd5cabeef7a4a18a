"""`kinema refiner-pairs`: the refiner's training pairs, clips as the latent pipeline returns them and as rendered."""
from __future__ import annotations

import argparse

from kinema.cli.common import UsageError, clip_bound, model_folder, number, positive_int

NAME, HELP = "refiner-pairs", "make the refiner's training pairs: autoencoded and rendered clips"


def add_arguments(rp: argparse.ArgumentParser) -> None:
    rp.add_argument("--autoencoder", default=None, help="folder with autoencoder.{safetensors,json} (default: the shipped one)")
    rp.add_argument("--out", required=True, help="pairs folder (shards); an interrupted run continues")
    rp.add_argument("--count", type=positive_int, default=3072)
    rp.add_argument("--max-sigma", type=number(float, 0, 5), default=0.5,
                    help="largest latent noise scale, or with --model largest flow time t (uniform from 0)")
    rp.add_argument("--model", help="a latent model folder: degrade by its denoiser's one-step estimate from "
                                    "noise (its autoencoder is used)")
    rp.add_argument("--seed", type=clip_bound("seed"), default=1)
    rp.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from kinema.data.refiner_pairs import build_pairs
    from kinema.diffusion.rectified_flow import FlowConfig
    from kinema.models.components import load_component
    from kinema.text.encoder import load_text_encoder

    if not 0 <= args.max_sigma <= (1 if args.model else 5):
        raise UsageError(f"--max-sigma must be in [0, {1 if args.model else 5}]")
    if args.model and args.autoencoder:
        raise UsageError("--model brings its own autoencoder; leave out --autoencoder")
    ae = load_component(model_folder(args.model or args.autoencoder), "autoencoder")
    one_step = {}
    if args.model:
        denoiser = load_component(args.model, "denoiser")
        if denoiser.card.get("space") != "latent":
            raise UsageError(f"{args.model} is a pixel-space model; --model needs a latent one")
        one_step = {"denoiser": denoiser, "flow": FlowConfig(**denoiser.card["flow"]), "encoder": load_text_encoder()}
    out = build_pairs(ae, args.out, args.count, seed=args.seed, max_sigma=args.max_sigma,
                      progress=not args.no_progress, **one_step)
    print(f"pairs: {out}")
    return 0
