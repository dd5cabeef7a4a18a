#!/bin/sh
# The refiner (docs/cascade.md): restores, as the prompt says, what the autoencoder's decoder loses. Pairs are
# shapes-world clips through the model's autoencoder, their latents degraded by noise up to 0.5 (3072 pairs) or
# replaced by its denoiser's one-step estimate from t up to 0.7 (2048 pairs), against the clips as rendered
# (~15 min); then 2700 steps of MSE, cooled over the last 600 (~1.5 s a step: 1.1 h). MODEL: the model folder
# whose autoencoder and denoiser make the pairs (default: the shipped one).
. "$(dirname "$0")/common.sh"
MODEL=${MODEL:-kinema/weights/default}
kinema refiner-pairs --model "$MODEL" --out "$RUNS/refiner-pairs-denoiser" --count 2048 --seed 2 --max-sigma 0.7 --no-progress
kinema refiner-pairs --autoencoder "$MODEL" --out "$RUNS/refiner-pairs" --count 3072 --seed 1 --no-progress
kinema train-stage refiner --out "$RUNS/refiner" --preset small --batch 4 --lr 1e-3 --loss mse \
    --pairs "$RUNS/refiner-pairs" "$RUNS/refiner-pairs-denoiser" --steps 2700 --cooldown 600 \
    --checkpoint-every 100 --no-progress $(resume "$RUNS/refiner")
