#!/usr/bin/env bash
# The recipe of kinema's default model (kinema/weights/default): the shapes world, 64x64, 2 s at 8 fps.
# Run from the repository root after `pip install -e .`. On the 2-core CPU of a developer machine it
# runs at ~0.75 steps/s; it checkpoints every 200 steps, and --resume continues exactly.
#
# Two phases. Phase 1 used logit-normal timesteps of mean 1.0; at step 1200 its samples still had no
# coherent layout (tokens picked their colours independently at high noise: see runs/default/NOTES.md),
# so phase 2 resumes with more weight on high noise, where the prompt alone decides the clip.
set -euo pipefail
common=(--out runs/default --data shapes --preset small --batch 12 --lr 4e-4 --warmup 200 --ema 0.999
        --caption-dropout 0.1 --seed 0 --checkpoint-every 200 --size 64 --fps 8 --seconds 2)
if [ ! -f runs/default/train_state.json ]; then
  kinema train "${common[@]}" --steps 1200 --t-mean 1.0 --t-std 1.0                   # phase 1
fi
kinema train "${common[@]}" --steps 3600 --t-mean 1.6 --t-std 1.2 --resume "$@"      # phase 2
# then: python runs/ship.py runs/default   (copies the EMA denoiser into kinema/weights/default)
