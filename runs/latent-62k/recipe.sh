#!/usr/bin/env bash
# runs/latent-52k trained on with the wider background vocabulary of kinema/data/captions.py (TRAIN
# backgrounds: eight wordings each, from both ends of the light-dark axis, instead of three): its state at
# step 52500 (cooled to lr 0) resumed with its optimizer at lr 3e-4 and cooled to 0 over the last 3000 steps,
# 62000 in all, on runs/latent-52k's cache. The cache keeps the captions it was encoded with; the new
# wordings come in through --recaption 0.5 (half of each batch captioned afresh from its scene).
# Needs runs/latent-52k's training state and cache: run `bash runs/latent-52k/recipe.sh` first.
set -euo pipefail
DATA=runs/latent-52k/cache exec bash runs/latent-resume.sh runs/latent-52k runs/latent-62k "${STEPS:-62000}" \
    "${COOLDOWN:-3000}" "$@"
