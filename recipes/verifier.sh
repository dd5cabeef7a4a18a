#!/bin/sh
# The verifier (docs/verifier.md): scores 32x32, 4 fps keyframe clips against captions, trained on shapes-world
# scenes against their near misses. Shipped at step 1300 (~3.9 s a step on 2 cores: 1.4 h).
. "$(dirname "$0")/common.sh"
kinema train-verifier --out "$RUNS/verifier" --size 32 --fps 4 --seconds 2 --batch 64 --lr 1e-3 --steps 1300 \
    --checkpoint-every 100 --seed 0 $(resume "$RUNS/verifier")
