#!/usr/bin/env bash
# The verifier of kinema's default model: scores how well a 32x32, 4 fps keyframe clip follows a caption,
# trained on shapes-world scenes against their near misses (one attribute changed; kinema/data/pairs.py).
# The pipeline makes several candidate keyframe clips per prompt and keeps the one it scores highest.
# Run from the repository root after `pip install -e .`; --resume continues exactly (log: runs/verifier/log.jsonl).
set -euo pipefail
step() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["step"])' runs/verifier/train_state.json 2>/dev/null || echo 0; }
kinema train-verifier --out runs/verifier --size 32 --fps 4 --seconds 2 --batch 64 --lr ${LR:-1e-3} \
    --steps ${STEPS:-3000} --checkpoint-every 100 --seed 0 $([ "$(step)" -gt 0 ] && echo --resume) "$@"
