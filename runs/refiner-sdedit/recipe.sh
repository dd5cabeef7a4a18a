#!/bin/sh
# runs/refiner-sdedit: runs/refiner's step-2700 refiner (shipped in session 14) trained on with a third set of
# pairs whose input is the shipped denoiser's own sampling back from flow time t up to 0.6 (SDEdit; kinema
# refine-pairs --degradation sample): the squares with rounded tops and the blobbed triangles it draws, which
# the one-step estimate and latent noise did not show.
# Start: copy runs/refiner's step-2700 state (refiner.{json,safetensors}, train_state.{json,safetensors}) and
# its log up to step 2700 into this folder; the other two pair sets are runs/refiner's.
set -e
cd "$(dirname "$0")/../.."
kinema refine-pairs --model kinema/weights/default --degradation sample --max-sigma 0.6 --count 2048 --seed 3 \
  --out runs/refiner/pairs-sample
kinema train-stage refiner --out runs/refiner-sdedit --preset small --batch 4 --lr 5e-4 --loss mse \
  --checkpoint-every 100 --pairs runs/refiner/pairs runs/refiner/pairs-denoiser runs/refiner/pairs-sample \
  --steps "${STEPS:-3900}" --cooldown "${COOLDOWN:-600}" --resume
