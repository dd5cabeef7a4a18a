#!/bin/sh
# The shipped denoiser taught to go on from given frames (docs/denoiser.md, "Frames given"): recipes/denoiser.sh's
# run fine-tuned 1464 steps with half of its clips given their first frame, first 2 or 3 frames, or first and
# last frame clean (kinema train --condition 0.5), on a fresh 24576-clip cache, batch 64, lr 2e-4 cooled over the
# last quarter. Shipped from the lent GPU (an H200: 7 minutes with the cache); on 2 CPU cores ~0.7 s a step,
# about 30 minutes with the cache. DENOISER: the model folder to start from (default: the shipped one).
. "$(dirname "$0")/common.sh"
DENOISER=${DENOISER:-kinema/weights/default}
kinema cache-latents --autoencoder "$DENOISER" --out "$RUNS/latents-conditioned" --clips 24576 --seed 0 --no-progress
kinema train --out "$RUNS/conditioned" --data "$RUNS/latents-conditioned" --init "$DENOISER" --preset latent \
    --batch 64 --warmup 100 --seed 2 --caption-dropout 0.1 --loss x0 --t-mean 0.5 --t-std 1.0 --lr 2e-4 --ema 0.998 \
    --recaption 0.5 --condition 0.5 --steps 1464 --cooldown 366 --checkpoint-every 500 $(resume "$RUNS/conditioned")
