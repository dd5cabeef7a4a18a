#!/usr/bin/env bash
# Experiment (session 8), the second stage of runs/keyframes-reward: from its EMA weights at step 600, the
# reward judged against motion near misses only (--reward-negatives motion swap_motion: the same caption
# with one object's motion changed, or two objects' motions exchanged) at twice the weight (0.004).
# Everything else as runs/keyframes-reward/recipe.sh; data seed 17 (new clips). --resume continues exactly.
set -euo pipefail
out=runs/keyframes-reward-motion
common=(--out $out --data shapes --preset keyframes --batch 32 --warmup 50
        --caption-dropout 0.1 --seed 17 --checkpoint-every 100 --size 32 --fps 4 --seconds 2
        --loss x0 --t-mean 0.5 --t-std 1.0
        --reward-verifier kinema/weights/default --reward-weight ${WEIGHT:-0.004} --reward-min-t 0.7
        --reward-negatives motion swap_motion)
if [ -f $out/train_state.json ]; then start=(--resume); else start=(--init runs/keyframes-reward); fi
kinema train "${common[@]}" "${start[@]}" --steps ${STEPS:-1000} --lr ${LR:-3e-4} --ema 0.998 "$@"
