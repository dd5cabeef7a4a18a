#!/bin/sh
# The shipped denoiser taught to take a layout (docs/denoiser.md, "Directed clips"; kinema.models.layout): each
# object's phrase and where the clip shows it, so tracks, the camera and the plan steer it. Fine-tuned from the
# shipped model on a fresh 12288-clip cache of the spec's v2 world: 30% of scenes filmed by a moving camera, each
# object following a random track (straight, bent, with a pause) with chance 0.4, 20% late windows of long clips;
# 70% of clips are given their layout, half their first frames as before. Batch 64, lr 2e-4, the last quarter
# cooled. On 2 CPU cores: the cache ~16 minutes, ~0.8 s a step. DENOISER: the model folder to start from.
. "$(dirname "$0")/common.sh"
DENOISER=${DENOISER:-kinema/weights/default}
kinema cache-latents --autoencoder "$DENOISER" --out "$RUNS/latents-directed" --clips 12288 --seed 5 --camera 0.3 \
    --tracks 0.4 --late 0.2 --late-until 30 --no-progress
kinema train --out "$RUNS/directed" --data "$RUNS/latents-directed" --init "$DENOISER" --preset latent \
    --batch 64 --warmup 100 --seed 6 --caption-dropout 0.1 --loss x0 --t-mean 0.5 --t-std 1.0 --lr 2e-4 --ema 0.998 \
    --recaption 0.5 --condition 0.5 --layout 0.7 --steps 2400 --cooldown 600 --checkpoint-every 200 \
    $(resume "$RUNS/directed")
