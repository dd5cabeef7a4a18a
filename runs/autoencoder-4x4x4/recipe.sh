#!/bin/sh
# The milder 4x4x4 autoencoder (`small-4x4x4` preset: 8 latent channels, widths 32 and 64, DC-AE's
# shortcuts), trained on the same data and settings as runs/autoencoder-dcae (9-frame 64x64 clips, 15%
# real footage crops, batch 8, AdamW 8e-4 after 200 warm-up steps, EMA 0.998), for ${STEPS:-1500} steps
# with lr decaying linearly to 0 over the last ${COOLDOWN:-500} (session 10, one thread beside the 4x8x8
# run's cool-down). Pass --resume to continue.
set -e
kinema train-autoencoder --out runs/autoencoder-4x4x4 --preset small-4x4x4 --steps ${STEPS:-1500} --batch 8 --frames 9 \
    --size 64 --real-share 0.15 --checkpoint-every 100 --lr 8e-4 --cooldown ${COOLDOWN:-500} "$@"
