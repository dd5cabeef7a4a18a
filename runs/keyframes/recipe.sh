#!/usr/bin/env bash
# The keyframe model of kinema's default cascade: the shapes world at 32x32, 2 s at 4 fps (8 frames),
# the `keyframes` preset (patch 2x4x4 -> 256 tokens, 3.3M parameters). The interpolation and
# upscaling stages (runs/interpolate, runs/upscale) take its clips to the size and frame rate asked for.
# The loss is measured on the clean clip (--loss x0): equal weight at every noise level, so the
# high-noise samples that decide the layout are not drowned by the easy low-noise ones.
# Run from the repository root after `pip install -e .`; --resume continues exactly (log: runs/keyframes/log.jsonl).
set -euo pipefail
common=(--out runs/keyframes --data shapes --preset keyframes --batch 32 --warmup 200
        --caption-dropout 0.1 --seed 0 --checkpoint-every 100 --size 32 --fps 4 --seconds 2
        --loss x0 --t-mean 0.5 --t-std 1.0)
step() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["step"])' runs/keyframes/train_state.json 2>/dev/null || echo 0; }
kinema train "${common[@]}" --steps ${STEPS:-6000} --lr ${LR:-6e-4} --ema 0.998 $([ "$(step)" -gt 0 ] && echo --resume) "$@"
# then: python runs/ship.py runs/keyframes
