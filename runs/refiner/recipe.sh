#!/bin/sh
# runs/refiner: the refiner of the shipped latent model's decoded clips (kinema.cascade.refine).
# 1. 3072 pairs: shapes-world clips through the shipped autoencoder, latent noise up to 0.5 (~7 min on 2 threads)
# 2. the refiner, trained on them with MSE
set -e
cd "$(dirname "$0")/../.."
STEPS=${STEPS:-1500}
kinema refine-pairs --out runs/refiner/pairs --count 3072 --seed 1
kinema train-stage refiner --pairs runs/refiner/pairs --out runs/refiner --preset small --steps "$STEPS" \
  --batch 4 --lr 1e-3 --loss mse --checkpoint-every 100 ${RESUME:+--resume}
