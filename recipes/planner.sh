#!/bin/sh
# The planner's reader (docs/plan.md): what a prompt's scene holds, learned from 16384 captions of random v2 scenes
# in the training wordings, judged on 1024 in the held-out ones. ~10 minutes on 2 CPU cores.
. "$(dirname "$0")/common.sh"
kinema train-planner --out "$RUNS/planner" --captions 16384 --held-out 1024 --steps 2000 --seed 0 --no-progress
