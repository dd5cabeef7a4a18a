#!/bin/sh
# The shipped denoiser taught long clips (docs/denoiser.md, "Long clips"): recipes/conditioned.sh's model fine-tuned
# 4884 steps on a fresh 24576-clip cache of which ~30% are windows from later in a 30-second clip (objects off the
# walls, landed, bouncing lower: `kinema cache-latents --late 0.3`), each of those given its first 2 or 3 latent
# frames (it goes on from them); the rest as in recipes/conditioned.sh (half given frames, half text alone).
# Batch 64, lr 2e-4, the last quarter cooled. Shipped from the lent GPU (an H200: 102 s for the cache, 7 minutes
# in all); on 2 CPU cores ~0.7 s a step, about 1.5 h with the cache. DENOISER: the model folder to start from.
. "$(dirname "$0")/common.sh"
DENOISER=${DENOISER:-kinema/weights/default}
kinema cache-latents --autoencoder "$DENOISER" --out "$RUNS/latents-long" --clips 24576 --seed 1 --late 0.3 \
    --late-until 30 --no-progress
kinema train --out "$RUNS/long" --data "$RUNS/latents-long" --init "$DENOISER" --preset latent \
    --batch 64 --warmup 100 --seed 3 --caption-dropout 0.1 --loss x0 --t-mean 0.5 --t-std 1.0 --lr 2e-4 --ema 0.998 \
    --recaption 0.5 --condition 0.5 --steps 4884 --cooldown 1221 --checkpoint-every 500 $(resume "$RUNS/long")
