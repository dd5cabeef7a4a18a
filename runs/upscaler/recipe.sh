#!/usr/bin/env bash
# The upscaler of kinema's default cascade (x2 per pass: 32 -> 64 -> 128 -> 256 -> 512): shapes-world
# frames rendered at S and 2S (S = 16, 32, 64, 128) and 20% crops of scikit-image's training images.
# One thread, so it can share the machine with the keyframe model's training. Log: runs/upscaler/log.jsonl.
set -eu
step() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["step"])' runs/upscaler/train_state.json 2>/dev/null || echo 0; }
OMP_NUM_THREADS=1 kinema train-stage upscaler --out runs/upscaler --preset small --batch 16 --lr 1e-3 \
  --steps ${STEPS:-3000} --checkpoint-every 100 $([ "$(step)" -gt 0 ] && echo --resume) "$@"
# then: python runs/ship.py runs/upscaler
