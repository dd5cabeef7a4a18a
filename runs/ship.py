"""Copy a run's EMA denoiser (and, for a latent-space run, its autoencoder) into the package as the
shipped default model, with the cascade's stages and the verifier from their runs.

    python runs/ship.py runs/keyframes --interpolator runs/interpolator --upscaler runs/upscaler \
        --verifier runs/verifier [--steps 20 --guidance 4 --sampler euler --shift 1 --guidance-interval 0.2 1 \
        --eta 0 --candidates 1]

or, keeping the shipped interpolator, upscaler and verifier: python runs/ship.py RUN --keep-stages [--steps ...].

The sampling defaults chosen here are stored in the shipped denoiser.json. To change only those,
keeping the shipped weights, stages and recipe (and, with --verifier, to ship a verifier too):

    python runs/ship.py --sampling-only [--steps 20 ... --shift 3] [--verifier runs/verifier --candidates 4]

A refiner (kinema.cascade.refine) ships with --refiner RUN, in either form; --no-refiner removes the shipped one.

An autoencoder whose decoder alone was trained on (`kinema train-autoencoder --init ... --decoder-only`) ships
with --autoencoder RUN, in either form, in place of the run's (or the shipped) one: its encoder and latent
statistics must equal those of the autoencoder it replaces, so the latents the denoiser learned keep their meaning.
"""
import argparse
import shutil
from pathlib import Path

import torch

from kinema.io.checkpoint import load_component, load_json, save_component, save_json
from kinema.pipeline.generate import DEFAULT_MODEL
from kinema.verifier.model import has_verifier

p = argparse.ArgumentParser()
p.add_argument("run", nargs="?", help="the run folder whose EMA denoiser is shipped")
p.add_argument("--sampling-only", action="store_true", help="keep the shipped model; set its sampling defaults")
p.add_argument("--steps", type=int, default=20)
p.add_argument("--guidance", type=float, default=4.0)
p.add_argument("--sampler", default="euler")
p.add_argument("--shift", type=float, default=1.0)
p.add_argument("--eta", type=float, default=0.0, help="stochastic sampling (kinema.diffusion.samplers.euler)")
p.add_argument("--guidance-interval", type=float, nargs=2, default=(0.0, 1.0), metavar=("LO", "HI"))
p.add_argument("--candidates", type=int, default=1, help="keyframe clips per prompt, the verifier keeps the best")
p.add_argument("--refine-passes", type=int, default=1, help="times the refiner runs over the decoded keyframes")
p.add_argument("--verifier", help="run folder of the verifier (omitted: the default model has none)")
p.add_argument("--interpolator", help="run folder of the interpolator (omitted: the default model has none)")
p.add_argument("--upscaler", help="run folder of the upscaler (omitted: the default model has none)")
p.add_argument("--refiner", help="run folder of the refiner (omitted: the shipped one, if any, stays)")
p.add_argument("--no-refiner", action="store_true", help="remove the shipped refiner")
p.add_argument("--autoencoder", help="run folder of a decoder-only fine-tune of the run's (or the shipped) autoencoder")
p.add_argument("--keep-stages", action="store_true",
               help="keep the shipped interpolator, upscaler and verifier as they are (their run folders keep no weights)")
a = p.parse_args()
sampling = {"steps": a.steps, "guidance": a.guidance, "sampler": a.sampler, "shift": a.shift,
            "guidance_interval": list(a.guidance_interval), "eta": a.eta, "candidates": a.candidates,
            "refine_passes": a.refine_passes}
if a.candidates > 1 and not a.verifier and not ((a.sampling_only or a.keep_stages) and has_verifier(DEFAULT_MODEL)):
    p.error("--candidates > 1 needs --verifier (or, with --sampling-only or --keep-stages, a shipped verifier)")


def ship_component(run: str | None, name: str) -> None:
    """Copy component `name` from its run folder into the shipped model, or remove it there (run None)."""
    if run:
        weights, card = load_component(run, name)
        card["recipe"] = f"{run}/recipe.sh"
        save_component(DEFAULT_MODEL, name, weights, card)
    else:
        for suffix in (".safetensors", ".json"):
            (DEFAULT_MODEL / (name + suffix)).unlink(missing_ok=True)


def same_latent_space(new: str, old: Path) -> None:
    """Refuse autoencoder `new` unless its encoder (as shipped, float16) and latent statistics are `old`'s."""
    (w_new, c_new), (w_old, c_old) = load_component(new, "autoencoder"), load_component(old, "autoencoder")
    enc = [k for k in w_old if k.startswith("encoder.")]
    same = all(k in w_new and torch.equal(w_new[k].half(), w_old[k].half()) for k in enc)
    stats = ("latent_shift", "latent_scale")
    if not (same and all(c_new["autoencoder"][k] == c_old["autoencoder"][k] for k in stats)):
        p.error(f"{new}'s encoder is not {old}'s: its latents mean something else to the denoiser")


def ship_autoencoder(folder: str | Path) -> None:
    """Shipped in float16 (half the size; loading casts back to float32)."""
    weights, card = load_component(folder, "autoencoder")
    save_component(DEFAULT_MODEL, "autoencoder", weights, card, dtype=torch.float16)


if a.autoencoder:
    same_latent_space(a.autoencoder, Path(a.run) if a.run and not a.sampling_only else DEFAULT_MODEL)
if a.refiner and not (Path(a.refiner) / "refiner.safetensors").is_file():
    p.error(f"missing {a.refiner}/refiner.safetensors")
if a.refiner or a.no_refiner:
    ship_component(None if a.no_refiner else a.refiner, "refiner")
if a.sampling_only:
    if a.verifier:  # otherwise the shipped verifier, if any, stays
        ship_component(a.verifier, "verifier")
    if a.autoencoder:
        ship_autoencoder(a.autoencoder)
    card = load_json(DEFAULT_MODEL / "denoiser.json")
    card["sampling"] = sampling
    save_json(DEFAULT_MODEL / "denoiser.json", card)
    raise SystemExit(f"sampling of the shipped model (step {card['step']}): {sampling}")
if a.run is None:
    p.error("give the run folder to ship, or --sampling-only")
run = Path(a.run)
stages = {} if a.keep_stages else {n: getattr(a, n) for n in ("interpolator", "upscaler", "verifier")}
if a.keep_stages and (a.interpolator or a.upscaler or a.verifier):
    p.error("--keep-stages keeps the shipped stages: give no --interpolator, --upscaler or --verifier")
# every source before anything is written, so that a bad argument leaves the shipped model whole
latent = (run / "autoencoder.json").is_file()  # a latent-space run ships its autoencoder too
sources = [(run, "denoiser")] + ([(run, "autoencoder")] if latent else [])
for folder, name in sources + [(Path(f), n) for n, f in stages.items() if f]:
    if not (folder / f"{name}.safetensors").is_file():
        p.error(f"missing {folder / name}.safetensors")
DEFAULT_MODEL.mkdir(parents=True, exist_ok=True)
shutil.copyfile(run / "denoiser.safetensors", DEFAULT_MODEL / "denoiser.safetensors")
if latent:
    ship_autoencoder(a.autoencoder or run)
else:
    for name in ("autoencoder.safetensors", "autoencoder.json"):
        (DEFAULT_MODEL / name).unlink(missing_ok=True)
for name, folder in stages.items():
    ship_component(folder, name)
card = load_json(run / "denoiser.json")
card["sampling"] = sampling
card["recipe"] = f"{run}/recipe.sh"
save_json(DEFAULT_MODEL / "denoiser.json", card)
print(f"shipped {run} (step {card['step']}) to {DEFAULT_MODEL}")
