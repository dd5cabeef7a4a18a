#!/usr/bin/env bash
# The recipe of kinema's default model (kinema/weights/default): the shapes world, 64x64, 2 s at 8 fps.
# Run from the repository root after `pip install -e .`. On the 2-core CPU of a developer machine it
# runs at ~0.7 steps/s; it checkpoints every 200 steps and continues with --resume after a stop.
set -euo pipefail
kinema train --out runs/default --data shapes --preset small \
  --steps 3600 --batch 12 --lr 4e-4 --warmup 200 --ema 0.999 --caption-dropout 0.1 --t-mean 1.0 --t-std 1.0 \
  --seed 0 --checkpoint-every 200 --size 64 --fps 8 --seconds 2 "$@"
# then: python runs/ship.py runs/default   (copies the EMA denoiser into kinema/weights/default)
