#!/bin/sh
# The upscaler (docs/cascade.md): x2 a pass, shapes-world frames rendered at S and 2S and 20% crops of
# scikit-image's training images, L1. ~0.28 s a step: 14 min.
. "$(dirname "$0")/common.sh"
kinema train-stage upscaler --out "$RUNS/upscaler" --preset small --batch 16 --lr 1e-3 --steps 3000 \
    --checkpoint-every 100 $(resume "$RUNS/upscaler")
