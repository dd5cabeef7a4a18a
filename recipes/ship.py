"""Ship trained components as kinema's default model (kinema/weights/default).

    python recipes/ship.py [RUN] [--autoencoder RUN] [--refiner RUN] [--interpolator RUN] [--upscaler RUN]
                           [--verifier RUN] [--planner RUN] [--student RUN [--student-steps N]] [--upscaler-light RUN]
                           [--steps N --guidance G --shift S --eta E ... (sampling settings)]

RUN is a `kinema train` run folder: its EMA denoiser (and, for a latent run, its autoencoder, stored in
float16) replaces the shipped one. Each component given replaces the shipped one; those not given stay.
The sampling options (the sampling fields of kinema.pipeline.settings.ClipSettings) set the shipped
model card's sampling defaults, their only home; those not given keep the shipped model's value. Everything is checked before anything is written.

--upscaler-light RUN ships RUN's upscaler (`kinema train-stage upscaler --after kinema/weights/default`) as the
`upscaler_light` component: the upscaler's passes after the first.

--student RUN ships RUN's EMA denoiser, a few-step student distilled from the shipped denoiser (recipes/student.sh),
as the `student` component: its card's sampling is the teacher's with --student-steps steps (default 4),
no guidance (folded in), eta 0 (the deterministic paths it was trained on) and --student-sampler (default unipc;
given alone, it sets the shipped student's; so do --candidates and --refine-passes given alone, which act after
the denoiser, whichever it is). --default-denoiser teacher keeps the
teacher the model's default (its card's sampling.denoiser), the student then asked for by name.

An autoencoder whose decoder alone was trained on (`kinema train-autoencoder --init ... --decoder-only`)
ships with --autoencoder: its encoder and latent statistics must equal those of the autoencoder it
replaces, so the latents the denoiser learned keep their meaning.
"""
import argparse
import shutil
from pathlib import Path

import torch

from kinema.io.checkpoint import load_json, read_component, save_component, save_json
from kinema.models.components import DEFAULT_MODEL, as_kind, has_component, student_card
from kinema.pipeline.settings import SAMPLING, TEACHER_SAMPLING, ClipSettings, add_clip_options, check_clip

STAGES = ("refiner", "interpolator", "upscaler", "upscaler_light", "verifier", "planner", "student")
TRAINED_AS = {"student": "denoiser", "upscaler_light": "upscaler"}  # the run's component each of these is

p = argparse.ArgumentParser()
p.add_argument("run", nargs="?", help="the run folder whose EMA denoiser is shipped (default: keep the shipped one)")
p.add_argument("--autoencoder", help="run folder of a decoder-only fine-tune of the run's (or the shipped) autoencoder")
p.add_argument("--recipe", default="recipes/denoiser.sh", help="the recipe that made RUN's denoiser (recorded in its card)")
for stage in STAGES:
    p.add_argument(f"--{stage.replace('_', '-')}", dest=stage, help=f"run folder of the {stage}")
p.add_argument("--student-recipe", default="recipes/student.sh",
               help="the recipe that made the --student run (recorded in its card)")
p.add_argument("--student-steps", type=int, default=4, help="the student's sampling steps (with --student)")
p.add_argument("--student-sampler", choices=("euler", "unipc"), default=None,
               help="the student's sampler (default with --student: unipc); without --student, set in the shipped "
                    "student's card")
p.add_argument("--default-denoiser", choices=("student", "teacher"), default=None,
               help="which of a model with a student makes clips by default (the card's sampling.denoiser; "
                    "default: keep the shipped choice, the student where none was made)")
add_clip_options(p, SAMPLING)
a = p.parse_args()


def same_latent_space(new: str, old: Path) -> None:
    """Refuse autoencoder `new` unless its encoder (as shipped, float16) and latent statistics are `old`'s."""
    (w_new, c_new), (w_old, c_old) = read_component(new, "autoencoder"), read_component(old, "autoencoder")
    enc = [k for k in w_old if k.startswith("encoder.")]
    same = all(k in w_new and torch.equal(w_new[k].half(), w_old[k].half()) for k in enc)
    stats = ("latent_shift", "latent_scale")
    if not (same and all(c_new["autoencoder"][k] == c_old["autoencoder"][k] for k in stats)):
        p.error(f"{new}'s encoder is not {old}'s: its latents mean something else to the denoiser")


# 1. check every source before anything is written, so that a bad argument leaves the shipped model whole
run = Path(a.run) if a.run else None
latent = run is not None and has_component(run, "autoencoder")
sources = {"denoiser": run, "autoencoder": a.autoencoder or (run if latent else None),
           **{stage: getattr(a, stage) for stage in STAGES}}
for kind, folder in sources.items():
    file = TRAINED_AS.get(kind, kind)  # (a student is a `kinema train` run: its denoiser)
    if folder and not (Path(folder) / f"{file}.safetensors").is_file():
        p.error(f"missing {Path(folder) / file}.safetensors")
if a.autoencoder:
    same_latent_space(a.autoencoder, run if latent else DEFAULT_MODEL)
card = load_json((run or DEFAULT_MODEL) / "denoiser.json")
shipped = DEFAULT_MODEL / "denoiser.json"
base = load_json(shipped)["sampling"] if shipped.is_file() else card["sampling"]  # those not given keep their value
card["sampling"] = {**base, **{k: getattr(a, k) for k in SAMPLING if getattr(a, k) is not None}}
if a.default_denoiser:
    card["sampling"]["denoiser"] = a.default_denoiser
try:
    check_clip("a check", ClipSettings(**{k: v if k != "guidance_interval" else tuple(v)
                                          for k, v in card["sampling"].items()}))
except ValueError as e:
    p.error(str(e))
if card["sampling"]["candidates"] > 1 and not (a.verifier or has_component(DEFAULT_MODEL, "verifier")):
    p.error("--candidates > 1 needs a verifier: --verifier RUN")

# 2. write: each component given, then the denoiser's card with its sampling defaults
DEFAULT_MODEL.mkdir(parents=True, exist_ok=True)
for kind, folder in sources.items():
    if not folder or kind == "denoiser":
        continue
    if kind == "student":  # the run's denoiser, with the teacher's sampling made few-step and unguided
        weights, run_card = read_component(folder, "denoiser")
        component = {**student_card(run_card, card["sampling"], a.student_steps, a.student_sampler or "unipc"),
                     "teacher_step": card.get("step")}
    elif kind in TRAINED_AS:  # a `kinema train-stage upscaler --after` run: its upscaler, as the later passes' one
        weights, run_card = read_component(folder, TRAINED_AS[kind])
        component = as_kind(run_card, TRAINED_AS[kind], kind)
    else:
        weights, component = read_component(folder, kind)
    component["recipe"] = a.student_recipe if kind == "student" else f"recipes/{kind.split('_')[0]}.sh"
    save_component(DEFAULT_MODEL, kind, weights, component, dtype=torch.float16 if kind == "autoencoder" else None)
if run is not None:
    shutil.copyfile(run / "denoiser.safetensors", DEFAULT_MODEL / "denoiser.safetensors")
    card["recipe"] = a.recipe
    if not latent:
        for name in ("autoencoder.safetensors", "autoencoder.json"):
            (DEFAULT_MODEL / name).unlink(missing_ok=True)
# the settings after the denoiser (candidates, refiner passes) are the student's as the teacher's; not its sampling
follow = {k: card["sampling"][k] for k in SAMPLING if k not in TEACHER_SAMPLING and getattr(a, k) is not None}
if (a.student_sampler or follow) and not a.student and has_component(DEFAULT_MODEL, "student"):
    student = load_json(DEFAULT_MODEL / "student.json")  # the shipped student's card alone (weights and digest stay)
    student["sampling"].update(follow, **({"sampler": a.student_sampler} if a.student_sampler else {}))
    save_json(DEFAULT_MODEL / "student.json", student)
save_json(DEFAULT_MODEL / "denoiser.json", card)
print(f"shipped to {DEFAULT_MODEL}: {', '.join(k for k, v in sources.items() if v) or 'sampling only'}; "
      f"sampling {card['sampling']}")
