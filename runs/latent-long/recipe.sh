#!/usr/bin/env bash
# The shipped latent denoiser trained on for longer: runs/latent-ctrl's state at its step 1500 (the
# restart from runs/latent-recap step 11500 with a fresh AdamW, cooled to lr 0), resumed with its
# optimizer to lr 3e-4 again for 4500 steps and cooled to 0 over the last 2500: 7000 more, 8500 in all.
# Needs runs/latent-ctrl's training state: run `bash runs/latent-ctrl/recipe.sh` first.
set -euo pipefail
exec bash runs/latent-resume.sh runs/latent-ctrl runs/latent-long "${STEPS:-8500}" "${COOLDOWN:-2500}" "$@"
