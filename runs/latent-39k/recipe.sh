#!/usr/bin/env bash
# runs/latent-32k trained on again: its state at step 32500 (cooled to lr 0), resumed with its optimizer
# at lr 3e-4 for 5000 steps and cooled to 0 over the last 2000: 7000 more, 39500 in all.
# Needs runs/latent-32k's training state: run `bash runs/latent-32k/recipe.sh` first.
set -euo pipefail
exec bash runs/latent-resume.sh runs/latent-32k runs/latent-39k "${STEPS:-39500}" "${COOLDOWN:-2000}" "$@"
