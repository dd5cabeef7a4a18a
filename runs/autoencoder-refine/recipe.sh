#!/bin/sh
# The shipped 4x8x8 autoencoder's decoder, grown and trained on (session 21): runs/autoencoder-dcae (step 5000)
# with a second 2D res block at each decoder level and a full-resolution stage of width 32 (their last convs
# start at zero, so at step 0 it decodes exactly as runs/autoencoder-dcae), trained decoder-only: the encoder,
# hence every cached latent and the denoiser trained on them, stays as it was. Same data as its parent (9-frame
# 64x64 clips, 15% real footage crops, batch 8); AdamW 4e-4 after 200 warm-up steps, constant to step 2000,
# then decaying linearly to 0 by step 3000; EMA 0.998. Resumes where it stopped. ~1 s a step on 2 cores.
set -e
resume=$([ -f runs/autoencoder-refine/train_state.json ] && echo --resume || true)
kinema train-autoencoder --init runs/autoencoder-dcae --decoder-only --decoder-blocks 2 --refine-width 32 \
  --out runs/autoencoder-refine --steps 3000 --cooldown 1000 --batch 8 --frames 9 --size 64 --real-share 0.15 \
  --lr 4e-4 --checkpoint-every 100 $resume "$@"
