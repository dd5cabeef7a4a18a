#!/usr/bin/env bash
# The recipe of kinema's default model (kinema/weights/default): the shapes world, 64x64, 2 s at 8 fps.
# Run from the repository root after `pip install -e .`. On the 2-core CPU of a developer machine it
# runs at ~0.75 steps/s; it checkpoints every 200 steps, and --resume continues exactly, so each
# phase below picks up where the previous one stopped (the log is runs/default/log.jsonl).
#
# Phase 1 used logit-normal timesteps of mean 1.0; at step 1200 its samples still had no coherent
# layout, so phase 2 leans harder on high noise, where the prompt alone decides the clip. Phase 3
# cools down: a lower learning rate and a shorter EMA. See runs/default/NOTES.md.
set -euo pipefail
common=(--out runs/default --data shapes --preset small --batch 12 --warmup 200
        --caption-dropout 0.1 --seed 0 --checkpoint-every 200 --size 64 --fps 8 --seconds 2)
step() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["step"])' runs/default/train_state.json 2>/dev/null || echo 0; }
if [ "$(step)" -lt 1200 ]; then  # phase 1
  kinema train "${common[@]}" --steps 1200 --lr 4e-4 --ema 0.999 --t-mean 1.0 --t-std 1.0 $([ "$(step)" -gt 0 ] && echo --resume)
fi
if [ "$(step)" -lt 2600 ]; then  # phase 2
  kinema train "${common[@]}" --steps 2600 --lr 4e-4 --ema 0.999 --t-mean 1.6 --t-std 1.2 --resume
fi
kinema train "${common[@]}" --steps 4000 --lr 1e-4 --ema 0.995 --t-mean 1.6 --t-std 1.2 --resume "$@"  # phase 3
# then: python runs/ship.py runs/default   (copies the EMA denoiser into kinema/weights/default)
