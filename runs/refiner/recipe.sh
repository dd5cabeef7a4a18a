#!/bin/sh
# runs/refiner: the refiner of the shipped latent model's decoded clips (kinema.cascade.refine).
# 1. 3072 pairs: shapes-world clips through the shipped autoencoder, latent noise up to 0.5 (~8 min on 2 threads)
# 2. 1500 steps on them with MSE at constant lr (~40 min on 2 threads)
# 3. 2048 pairs degraded by the shipped denoiser's one-step estimate from t up to 0.7 (~6 min)
# 4. resumed to 2700 steps on both sets, the lr decaying to 0 over the last 600 (~30 min)
set -e
cd "$(dirname "$0")/../.."
kinema refine-pairs --out runs/refiner/pairs --count 3072 --seed 1
train() {
  kinema train-stage refiner --out runs/refiner --preset small --batch 4 --lr 1e-3 --loss mse \
    --checkpoint-every 100 "$@"
}
[ -f runs/refiner/train_state.json ] || train --pairs runs/refiner/pairs --steps 1500
kinema refine-pairs --model kinema/weights/default --out runs/refiner/pairs-denoiser --count 2048 --seed 2 \
  --max-sigma 0.7
train --pairs runs/refiner/pairs runs/refiner/pairs-denoiser --steps 2700 --cooldown 600 --resume
