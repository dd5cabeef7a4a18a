"""`kinema eval`: accuracy of generated (or rendered) clips against their captions."""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
from dataclasses import replace
from pathlib import Path

from kinema.cli.common import UsageError, add_model_options, load_pipeline, positive_int

NAME, HELP = "eval", "generate clips for captions and judge them against the captions"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from kinema.pipeline.settings import add_clip_options

    p.add_argument("--captions", default=None, help="captions file: .txt (canonical) or .jsonl, or a built-in set: "
                   "builtin (the default: 64 captions, half in held-out wording) or directed (the spec's v2: tracks, "
                   "camera, pairs of objects, physics)")
    p.add_argument("--out", default="eval-out", help="folder for clips, results and the contact sheet")
    p.add_argument("--rendered", action="store_true", help="judge clips rendered by the shapes world (the ceiling)")
    p.add_argument("--rendered-keyframes", action="store_true",
                   help="judge keyframes rendered by the shapes world at the model's native size and frame rate "
                        "(encoded and decoded by a latent model's autoencoder), taken to --size and --fps by the "
                        "model's cascade (the cascade's ceiling)")
    p.add_argument("--start", choices=("image", "clip"), default=None,
                   help="start each clip from its scene as the shapes world renders it: frame 0 (image to video), or "
                        "its first 2 seconds (continuation: the output is those, then --seconds more); the given "
                        "frames' PSNR is reported")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--limit", type=positive_int, default=None, help="only the first N captions")
    add_model_options(p)
    add_clip_options(p)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from kinema.eval.evaluate import evaluate, format_table, load_captions, rendered_clip
    from kinema.models.refiner import refine_frames
    from kinema.pipeline import check_clip
    from kinema.pipeline.reconstruct import reconstruct_clip
    from kinema.pipeline.inputs import Start
    from kinema.pipeline.reconstruct import psnr
    from kinema.pipeline.settings import settings_from

    # 1. read and check the captions and settings
    try:
        items = load_captions(args.captions)[: args.limit]
        for item in items:
            check_clip(item.caption, settings_from(args))
    except ValueError as e:
        raise UsageError(str(e)) from None
    if sum(map(bool, (args.rendered, args.rendered_keyframes, args.start))) > 1:
        raise UsageError("--rendered, --rendered-keyframes and --start exclude each other")
    out = Path(args.out)

    # 2. the clip maker: the shapes world itself (the ceiling), its keyframes through the model's cascade
    #    stages (the cascade's ceiling; through the autoencoder first for a latent model), or the model
    if args.rendered:
        make = rendered_clip(args.seed, args.size, args.fps, args.seconds)
        source = "rendered by the shapes world"
    elif args.rendered_keyframes:
        pipe = load_pipeline(args)
        native = rendered_clip(args.seed, pipe.native_size(settings_from(args)), float(pipe.clip["fps"]), args.seconds)
        ae = pipe.autoencoder
        source = (f"keyframes rendered by the shapes world, then{' the autoencoder and' if ae else ''} "
                  f"the cascade stages{' (refiner first)' if pipe.refiner else ''} of {pipe.name}")

        def make(i, item):
            s = pipe.resolve(settings_from(args, args.seed + i))
            keyframes = native(i, item)[0]
            if ae is not None:  # a latent model's keyframes are at best what its latent space keeps of them
                keyframes = reconstruct_clip(ae, keyframes)
            if s.refine_passes:  # and what its refiner restores, given the caption
                keyframes = refine_frames(pipe.refiner, keyframes, pipe.text_encoder.encode([item.caption]),
                                          s.refine_passes)
            return pipe.cascade(keyframes, s), s.fps
    else:
        pipe = load_pipeline(args)
        try:
            s = pipe.resolve(settings_from(args))  # --candidates without a verifier stops here
        except ValueError as e:
            raise UsageError(str(e)) from None
        steps = f", {s.steps} steps" if s.denoiser == "student" else ""
        source = f"model {pipe.name} ({pipe.made_by(s)}{steps})" + (
            f", best of {s.candidates} by the verifier (step {pipe.verifier.step})" if s.candidates > 1 else "") + (
            f", {s.refine_passes} refiner passes" if s.refine_passes > 1 else "")
        clips, given_psnr = out / "clips", []
        if args.start and not pipe.goes_on:
            raise UsageError(f"--start needs a model trained to go on from given frames; {pipe.name} was not")
        native = rendered_clip(args.seed, pipe.native_size(s), float(pipe.clip["fps"]), float(pipe.clip["seconds"]))

        def make(i, item):
            start = None
            if args.start:
                given = native(i, item)[0]
                start = Start(given[:1] if args.start == "image" else given, args.start, "shapes world",
                              float(pipe.clip["fps"]))
            s_i = pipe.resolve(settings_from(args, args.seed + i))
            if item.seconds:  # a caption of the directed set's own length (physics: 6 s)
                s_i = replace(s_i, seconds=item.seconds)
            video = pipe.make(item.caption, s_i, start=start, tracks=item.tracks)
            if start is not None:
                shown = start.native(float(pipe.clip["fps"]), pipe.native_size(s))
                given_psnr.append(psnr(video.frames[:len(shown)], shown) if video.frames.shape[1:] == shown.shape[1:]
                                  else float("nan"))
            video.save(clips / f"{i:04d}.mp4")
            return video.frames, video.fps

    # 3. judge every clip, write results.json and contact_sheet.png
    with tqdm(total=len(items), desc="eval", file=sys.stderr, disable=args.json) as bar:
        result = evaluate(items, make, out, bar)
    result["source"] = source
    if not (args.rendered or args.rendered_keyframes) and args.start:
        result["given_psnr"] = float(np.nanmean(given_psnr))
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"{len(items)} captions, clips {source}, {args.size}x{args.size} at {args.fps:g} fps")
        print(format_table(result))
        if "windows" in result:
            print(f"2-second windows that follow their caption: {100 * result['windows']:.1f}%")
        if "given_psnr" in result:
            print(f"given frames: {result['given_psnr']:.2f} dB PSNR")
        print(f"contact sheet: {out / 'contact_sheet.png'}; per-clip results: {out / 'results.json'}")
    return 0
