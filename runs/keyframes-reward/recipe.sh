#!/usr/bin/env bash
# Experiment (session 8): the shipped keyframe model (step 6400 of runs/keyframes) fine-tuned with the
# verifier's contrastive judgement of its one-step predictions beside the flow loss (kinema/train/reward.py:
# --reward-verifier, the shipped verifier, step 1300; weight 0.002, which makes the reward's gradient about
# the flow loss's at the start; judged at t >= 0.7). Everything else as runs/keyframes/recipe.sh; data seed
# 13 (new clips). Stopped at step 600 (the log runs on to 690; a resume truncates it). Run from the
# repository root; --resume continues exactly.
set -euo pipefail
out=runs/keyframes-reward
common=(--out $out --data shapes --preset keyframes --batch 32 --warmup 100
        --caption-dropout 0.1 --seed 13 --checkpoint-every 100 --size 32 --fps 4 --seconds 2
        --loss x0 --t-mean 0.5 --t-std 1.0
        --reward-verifier kinema/weights/default --reward-weight ${WEIGHT:-0.002} --reward-min-t 0.7)
if [ -f $out/train_state.json ]; then start=(--resume); else start=(--init kinema/weights/default); fi
kinema train "${common[@]}" "${start[@]}" --steps ${STEPS:-600} --lr ${LR:-3e-4} --ema 0.998 "$@"
