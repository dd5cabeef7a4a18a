#!/bin/sh
# runs/refiner-refine: the shipped refiner (runs/refiner, step 2700) fine-tuned on pairs made through the shipped
# autoencoder with its grown decoder (runs/autoencoder-refine, session 21): the refiner had learned to restore
# what the old decoder lost; the new decoder's clips are sharper, with other faults.
# 1. 1024 pairs: shapes-world clips through the shipped autoencoder, latent noise up to 0.5
# 2. 1024 pairs degraded by the shipped denoiser's one-step estimate from t up to 0.7
# 3. 600 steps from the shipped refiner, MSE, lr 5e-4 decaying to 0 over the last 400 (--init: the refiner that
#    kinema/weights/default held before this run was shipped, runs/refiner step 2700, as at commit f1c96b0)
set -e
cd "$(dirname "$0")/../.."
[ -f runs/refiner-refine/train_state.json ] || kinema refine-pairs --out runs/refiner-refine/pairs --count 1024 --seed 11 --no-progress
[ -f runs/refiner-refine/train_state.json ] || kinema refine-pairs --model kinema/weights/default --out runs/refiner-refine/pairs-denoiser --count 1024 --seed 12 \
  --max-sigma 0.7 --no-progress
resume=$([ -f runs/refiner-refine/train_state.json ] && echo --resume || true)
kinema train-stage refiner --out runs/refiner-refine --preset small --batch 4 --lr 5e-4 --loss mse \
  --pairs runs/refiner-refine/pairs runs/refiner-refine/pairs-denoiser --steps 600 --cooldown 400 \
  --checkpoint-every 100 --no-progress $([ -z "$resume" ] && echo --init kinema/weights/default) $resume "$@"
