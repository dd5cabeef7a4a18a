#!/usr/bin/env bash
# runs/latent-long trained on again: its state at step 8500 (cooled to lr 0), resumed with its optimizer
# at lr 3e-4 for 8000 steps and cooled to 0 over the last 3000: 11000 more, 19500 in all.
# Needs runs/latent-long's training state: run `bash runs/latent-long/recipe.sh` first.
set -euo pipefail
exec bash runs/latent-resume.sh runs/latent-long runs/latent-20k "${STEPS:-19500}" "${COOLDOWN:-3000}" "$@"
