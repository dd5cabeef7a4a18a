#!/usr/bin/env bash
# The keyframe model with absolute positions (kinema/denoiser/dit.py: `absolute_positions`), started
# from runs/keyframes at step 5400 (its EMA weights; `LR=3e-4 STEPS=5400 bash runs/keyframes/recipe.sh`
# remakes them, the last 200 steps at 3e-4 after the 1e-4 stretch to 5200) with a fresh optimizer. The
# same data, batch, loss and timesteps as runs/keyframes; another data seed, so its clips are new to it.
# INIT=folder of that model (default: runs/keyframes-abspos/init); --resume continues exactly.
set -euo pipefail
out=runs/keyframes-abspos
common=(--out $out --data shapes --preset keyframes --absolute-positions --batch 32 --warmup 100
        --caption-dropout 0.1 --seed 5 --checkpoint-every 100 --size 32 --fps 4 --seconds 2
        --loss x0 --t-mean 0.5 --t-std 1.0 --init ${INIT:-$out/init})
step() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["step"])' $out/train_state.json 2>/dev/null || echo 0; }
kinema train "${common[@]}" --steps ${STEPS:-6000} --lr ${LR:-3e-4} --ema 0.998 $([ "$(step)" -gt 0 ] && echo --resume) "$@"
