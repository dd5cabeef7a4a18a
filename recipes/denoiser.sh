#!/bin/sh
# The shipped latent denoiser (docs/denoiser.md) in one run, ~7 h on 2 cores: 49152 seed-0 shapes-world clips
# (2 s, 64x64, 8 fps) encoded by the shipped autoencoder's encoder (runs/autoencoder-base: the grown decoder
# shares it) with their captions' MiniLM states (~25 min), then the `latent` preset (dim 128, depth 8, 1x2x2
# patches: 80 tokens a clip) with the x0 loss, logit-normal t (mean 0.5, std 1), batch 32, EMA 0.998, half of
# each batch captioned afresh from its scene, 62000 steps at lr 6e-4 cooled to 0 over the last 3000 (~0.37 s a
# step). The shipped weights came from a chain of nine resumed runs of these settings (lr 3e-4 after the first
# 8000 steps, the cache grown from 24576 clips); this recipe is that chain as one run.
. "$(dirname "$0")/common.sh"
AUTOENCODER=${AUTOENCODER:-$RUNS/autoencoder-base}
kinema cache-latents --autoencoder "$AUTOENCODER" --out "$RUNS/latents" --clips 49152 --seed 0 --no-progress
kinema train --out "$RUNS/denoiser" --data "$RUNS/latents" --preset latent --batch 32 --warmup 200 --seed 1 \
    --caption-dropout 0.1 --loss x0 --t-mean 0.5 --t-std 1.0 --lr 6e-4 --ema 0.998 --recaption 0.5 \
    --steps 62000 --cooldown 3000 --checkpoint-every 100 $(resume "$RUNS/denoiser")
