#!/usr/bin/env bash
# runs/latent-20k trained on again: its state at step 19500 (cooled to lr 0), resumed with its optimizer
# at lr 3e-4 for 10000 steps and cooled to 0 over the last 3000: 13000 more, 32500 in all.
# Needs runs/latent-20k's training state: run `bash runs/latent-20k/recipe.sh` first.
set -euo pipefail
exec bash runs/latent-resume.sh runs/latent-20k runs/latent-32k "${STEPS:-32500}" "${COOLDOWN:-3000}" "$@"
