#!/usr/bin/env bash
# Experiment (session 6): the shipped keyframe model (step 6400 of runs/keyframes) fine-tuned with the
# x0 loss plus its frame- and pixel-difference terms (--temporal-weight 2 --spatial-weight 1), to make
# motion and shape count in the loss. Everything else as runs/keyframes/recipe.sh; data seed 7 (new clips).
# Run from the repository root; --resume continues exactly.
set -euo pipefail
out=runs/keyframes-motion
common=(--out $out --data shapes --preset keyframes --batch 32 --warmup 100
        --caption-dropout 0.1 --seed 7 --checkpoint-every 100 --size 32 --fps 4 --seconds 2
        --loss x0 --t-mean 0.5 --t-std 1.0 --temporal-weight 2 --spatial-weight 1)
if [ -f $out/train_state.json ]; then start=(--resume); else start=(--init kinema/weights/default); fi
kinema train "${common[@]}" "${start[@]}" --steps ${STEPS:-1500} --lr ${LR:-3e-4} --ema 0.998 "$@"
