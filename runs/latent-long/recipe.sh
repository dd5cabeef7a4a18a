#!/usr/bin/env bash
# The shipped latent denoiser trained on for longer: runs/latent-ctrl's state at its step 1500 (the
# restart from runs/latent-recap step 11500 with a fresh AdamW, cooled to lr 0), resumed with its
# optimizer to lr 3e-4 again for 4500 steps and cooled to 0 over the last 2500: 7000 more, 8500 in all.
# Start: copy runs/latent-ctrl's files, after `bash runs/latent-ctrl/recipe.sh`, into this folder.
set -euo pipefail
kinema train --out runs/latent-long --data runs/latent-dcae/cache --preset keyframes \
    --patch 1,2,2 --batch 32 --warmup 200 --caption-dropout 0.1 --seed 1 --checkpoint-every 100 --loss x0 \
    --t-mean 0.5 --t-std 1.0 --lr 3e-4 --ema 0.998 --recaption 0.5 \
    --steps "${STEPS:-8500}" --cooldown "${COOLDOWN:-2500}" --resume "$@"
