#!/bin/sh
# The upscaler (docs/cascade.md): x2 a pass, shapes-world frames rendered at S and 2S and 20% crops of
# scikit-image's training images, L1. ~0.28 s a step: 14 min. Then (upscaler-gated, shipped) a gate on its
# projection onto the input, trained with half the inputs through an h264 round trip at crf 10-32, as every
# real video is compressed: ~0.15 s a step, 5 min.
. "$(dirname "$0")/common.sh"
kinema train-stage upscaler --out "$RUNS/upscaler" --preset small --batch 16 --lr 1e-3 --steps 3000 \
    --checkpoint-every 100 $(resume "$RUNS/upscaler")
kinema train-stage upscaler --out "$RUNS/upscaler-gated" --preset small-gated --batch 16 --lr 5e-4 --steps 2000 \
    --checkpoint-every 100 --compressed 0.5 $( [ -f "$RUNS/upscaler-gated/train_state.json" ] && echo --resume \
    || echo --init "$RUNS/upscaler")
