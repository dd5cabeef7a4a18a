#!/usr/bin/env bash
# The latent keyframe model of runs/latent-dcae, trained on from that run's step-6500 state (before its
# cool-down; the same steps, lr 6e-4 constant, as runs/latent-dcae/recipe.sh up to 6500) with fresh captions:
# the latent cache holds one caption per clip, so that run saw each clip in one wording for ~10 epochs and
# missed held-out wordings the pixel model (fresh caption per sample) got right. Here each item is captioned
# afresh from its recorded scene with chance 0.5, a new draw per epoch (`--recaption 0.5`).
# Start: copy runs/latent-dcae's denoiser.{json,safetensors} and train_state.{json,safetensors} at step 6500,
# and its log.jsonl, into this folder. The cache is runs/latent-dcae's, given its scenes by
#   kinema cache-latents --autoencoder runs/autoencoder-dcae --out runs/latent-dcae/cache --clips 24576 --seed 0
set -euo pipefail
kinema train --out runs/latent-recap --data runs/latent-dcae/cache --preset keyframes --patch 1,2,2 --batch 32 \
    --warmup 200 --caption-dropout 0.1 --seed 0 --checkpoint-every 100 --loss x0 --t-mean 0.5 --t-std 1.0 \
    --lr 6e-4 --ema 0.998 --recaption 0.5 --steps "${STEPS:-11500}" --cooldown "${COOLDOWN:-1500}" --resume "$@"
# then: python runs/ship.py runs/latent-recap --keep-stages --steps 20 --guidance 4 --shift 3 --eta 1 \
#           --guidance-interval 0.2 1 --candidates 2
