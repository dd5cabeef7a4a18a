#!/usr/bin/env bash
# The control for runs/latent-bind: the same restart from the shipped latent denoiser (runs/latent-recap
# step 11500's EMA weights, --init: fresh AdamW, 200-step warm-up), the same data, seed, lr 3e-4 and
# cool-down over the last 500 of 1500 steps, but no binding loss. It tells how much of runs/latent-bind's
# drop on `kinema eval` came from the restart rather than from the loss.
# Start: the latent cache, rebuilt on a fresh machine in ~10 min by
#   cp kinema/weights/default/autoencoder.safetensors runs/autoencoder-dcae/
#   kinema cache-latents --autoencoder runs/autoencoder-dcae --out runs/latent-dcae/cache --clips 24576 --seed 0
# and runs/latent-recap/denoiser.safetensors (= kinema/weights/default/denoiser.safetensors).
set -euo pipefail
resume=()
[ -f runs/latent-ctrl/train_state.json ] && resume=(--resume)
kinema train --out runs/latent-ctrl --init runs/latent-recap --data runs/latent-dcae/cache --preset keyframes \
    --patch 1,2,2 --batch 32 --warmup 200 --caption-dropout 0.1 --seed 1 --checkpoint-every 100 --loss x0 \
    --t-mean 0.5 --t-std 1.0 --lr 3e-4 --ema 0.998 --recaption 0.5 \
    --steps "${STEPS:-1500}" --cooldown "${COOLDOWN:-500}" "${resume[@]}" "$@"
