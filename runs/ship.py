"""Copy a run's EMA denoiser (and, for a latent-space run, its autoencoder) into the package as the
shipped default model, with the cascade's stages from their runs.

    python runs/ship.py runs/keyframes --interpolator runs/interpolator --upscaler runs/upscaler \
        [--steps 20 --guidance 4 --sampler euler --shift 1 --guidance-interval 0.2 1 --eta 0]

The sampling defaults chosen here are stored in the shipped denoiser.json. To change only those,
keeping the shipped weights, stages and recipe:

    python runs/ship.py --sampling-only [--steps 20 ... --shift 3]
"""
import argparse
import shutil
from pathlib import Path

import torch

from kinema.io.checkpoint import load_component, load_json, save_component, save_json
from kinema.pipeline.generate import DEFAULT_MODEL

p = argparse.ArgumentParser()
p.add_argument("run", nargs="?", help="the run folder whose EMA denoiser is shipped")
p.add_argument("--sampling-only", action="store_true", help="keep the shipped model; set its sampling defaults")
p.add_argument("--steps", type=int, default=20)
p.add_argument("--guidance", type=float, default=4.0)
p.add_argument("--sampler", default="euler")
p.add_argument("--shift", type=float, default=1.0)
p.add_argument("--eta", type=float, default=0.0, help="stochastic sampling (kinema.diffusion.samplers.euler)")
p.add_argument("--guidance-interval", type=float, nargs=2, default=(0.0, 1.0), metavar=("LO", "HI"))
p.add_argument("--interpolator", help="run folder of the interpolator (omitted: the default model has none)")
p.add_argument("--upscaler", help="run folder of the upscaler (omitted: the default model has none)")
a = p.parse_args()
sampling = {"steps": a.steps, "guidance": a.guidance, "sampler": a.sampler, "shift": a.shift,
            "guidance_interval": list(a.guidance_interval), "eta": a.eta}
if a.sampling_only:
    card = load_json(DEFAULT_MODEL / "denoiser.json")
    card["sampling"] = sampling
    save_json(DEFAULT_MODEL / "denoiser.json", card)
    raise SystemExit(f"sampling of the shipped model (step {card['step']}): {sampling}")
if a.run is None:
    p.error("give the run folder to ship, or --sampling-only")
run = Path(a.run)
DEFAULT_MODEL.mkdir(parents=True, exist_ok=True)
shutil.copyfile(run / "denoiser.safetensors", DEFAULT_MODEL / "denoiser.safetensors")
if (run / "autoencoder.json").is_file():  # shipped in float16 (half the size; loading casts back to float32)
    weights, ae_card = load_component(run, "autoencoder")
    save_component(DEFAULT_MODEL, "autoencoder", weights, ae_card, dtype=torch.float16)
else:
    for name in ("autoencoder.safetensors", "autoencoder.json"):
        (DEFAULT_MODEL / name).unlink(missing_ok=True)
for name in ("interpolator", "upscaler"):
    stage_run = getattr(a, name)
    if stage_run:
        weights, stage_card = load_component(stage_run, name)
        stage_card["recipe"] = f"{stage_run}/recipe.sh"
        save_component(DEFAULT_MODEL, name, weights, stage_card)
    else:
        for suffix in (".safetensors", ".json"):
            (DEFAULT_MODEL / (name + suffix)).unlink(missing_ok=True)
card = load_json(run / "denoiser.json")
card["sampling"] = sampling
card["recipe"] = f"{run}/recipe.sh"
save_json(DEFAULT_MODEL / "denoiser.json", card)
print(f"shipped {run} (step {card['step']}) to {DEFAULT_MODEL}")
