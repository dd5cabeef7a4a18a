#!/usr/bin/env bash
# runs/latent-32k trained on again: its state at step 32500 (cooled to lr 0), resumed with its optimizer
# at lr 3e-4 for 5000 steps and cooled to 0 over the last 2000: 7000 more, 39500 in all.
# Start: copy runs/latent-32k's files, after `bash runs/latent-32k/recipe.sh`, into this folder.
set -euo pipefail
kinema train --out runs/latent-39k --data runs/latent-dcae/cache --preset keyframes \
    --patch 1,2,2 --batch 32 --warmup 200 --caption-dropout 0.1 --seed 1 --checkpoint-every 100 --loss x0 \
    --t-mean 0.5 --t-std 1.0 --lr 3e-4 --ema 0.998 --recaption 0.5 \
    --steps "${STEPS:-39500}" --cooldown "${COOLDOWN:-2000}" --resume "$@"
