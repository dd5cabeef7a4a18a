#!/bin/sh
# The shipped causal video autoencoder (docs/autoencoder.md), ~3.9 h on 2 cores:
# 1. 4x8x8, 16 latent channels, DC-AE shortcuts (`small` preset), 9-frame 64x64 clips with 15% crops of real
#    footage, batch 8, AdamW 8e-4, 5000 steps cooled over the last 1500 (~2.2 s a step: 3 h);
# 2. its decoder grown (a second 2D block per level, a full-resolution stage of width 32, both starting as the
#    identity) and trained 3000 more steps with the encoder frozen, so its latents stay (~1 s a step: 0.9 h).
. "$(dirname "$0")/common.sh"
kinema train-autoencoder --out "$RUNS/autoencoder-base" --preset small --batch 8 --frames 9 --size 64 \
    --real-share 0.15 --lr 8e-4 --steps 5000 --cooldown 1500 --checkpoint-every 100 $(resume "$RUNS/autoencoder-base")
kinema train-autoencoder --out "$RUNS/autoencoder" --init "$RUNS/autoencoder-base" --decoder-only --decoder-blocks 2 \
    --detail-width 32 --batch 8 --frames 9 --size 64 --real-share 0.15 --lr 4e-4 --steps 3000 --cooldown 1000 \
    --checkpoint-every 100 $(resume "$RUNS/autoencoder")
