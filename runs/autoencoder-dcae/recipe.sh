#!/bin/sh
# The 4x8x8 autoencoder with DC-AE's shortcuts (session 9; `small` preset, shortcuts=True): otherwise
# runs/autoencoder/recipe.sh exactly (16 latent channels; 9-frame 64x64 clips, 15% real footage crops,
# batch 8, AdamW 8e-4 after 200 warm-up steps, EMA 0.998), so its log compares step for step with that
# run's (session 2, no shortcuts). Steps 0-400 ran on one thread beside a no-shortcut twin; resume with --resume.
set -e
kinema train-autoencoder --out runs/autoencoder-dcae --preset small --steps ${STEPS:-3000} --batch 8 --frames 9 --size 64 \
    --real-share 0.15 --checkpoint-every 100 --lr 8e-4 "$@"
