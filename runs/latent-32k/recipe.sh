#!/usr/bin/env bash
# runs/latent-20k trained on again: its state at step 19500 (cooled to lr 0), resumed with its optimizer
# at lr 3e-4 for 10000 steps and cooled to 0 over the last 3000: 13000 more, 32500 in all.
# Start: copy runs/latent-20k's files, after `bash runs/latent-20k/recipe.sh`, into this folder.
set -euo pipefail
kinema train --out runs/latent-32k --data runs/latent-dcae/cache --preset keyframes \
    --patch 1,2,2 --batch 32 --warmup 200 --caption-dropout 0.1 --seed 1 --checkpoint-every 100 --loss x0 \
    --t-mean 0.5 --t-std 1.0 --lr 3e-4 --ema 0.998 --recaption 0.5 \
    --steps "${STEPS:-32500}" --cooldown "${COOLDOWN:-3000}" --resume "$@"
