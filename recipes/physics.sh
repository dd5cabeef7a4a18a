#!/bin/sh
# The shipped directed denoiser taught gravity's later windows (docs/denoiser.md, "Physics windows"): bouncing
# clips failed in their later windows, the drawn object coming to rest or turning 0.04-0.07 above the floor.
# Fine-tuned from the shipped model on a fresh 8192-clip cache of the v2 world: 30% of scenes whose objects all
# fall or bounce (--physics), 40% of still scenes rendered from 2-10 s into their long clip (shrinking rebounds,
# landings), and as recipes/directed.sh otherwise (30% moving camera, tracks with chance 0.4, 70% given their
# layout, half their first frames). Batch 64, lr 1e-4, 1200 steps, the last 400 cooled. On 2 CPU cores: the
# cache ~6 minutes, ~1 s a step. DENOISER: the model folder to start from.
. "$(dirname "$0")/common.sh"
DENOISER=${DENOISER:-kinema/weights/default}
kinema cache-latents --autoencoder "$DENOISER" --out "$RUNS/latents-physics" --clips 8192 --seed 7 --camera 0.3 \
    --tracks 0.4 --late 0.4 --late-until 10 --physics 0.3 --no-progress
kinema train --out "$RUNS/physics" --data "$RUNS/latents-physics" --init "$DENOISER" --preset latent \
    --batch 64 --warmup 50 --seed 8 --caption-dropout 0.1 --loss x0 --t-mean 0.5 --t-std 1.0 --lr 1e-4 --ema 0.998 \
    --recaption 0.5 --condition 0.5 --layout 0.7 --steps 1200 --cooldown 400 --checkpoint-every 200 \
    $(resume "$RUNS/physics")
