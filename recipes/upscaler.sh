#!/bin/sh
# The upscaler (docs/cascade.md): x2 a pass, shapes-world frames rendered at S and 2S and 20% crops of
# scikit-image's training images, L1. ~0.28 s a step: 14 min. Then (upscaler-gated, shipped) a gate on its
# projection onto the input, trained with half the inputs through an h264 round trip at crf 10-32, as every
# real video is compressed: ~0.15 s a step, 5 min. Then (upscaler-folded, shipped as upscaler_light) the network
# of the passes after the first: the same width and depth on the input's 2x2 blocks folded into channels (4x
# cheaper a pixel), trained on what the shipped first pass makes of frames at half the size (--after), its body
# from the first pass's weights: 4000 steps at lr 1e-3, then 5000 at 5e-4, ~12 min on 2 idle cores.
. "$(dirname "$0")/common.sh"
kinema train-stage upscaler --out "$RUNS/upscaler" --preset small --batch 16 --lr 1e-3 --steps 3000 \
    --checkpoint-every 100 $(resume "$RUNS/upscaler")
kinema train-stage upscaler --out "$RUNS/upscaler-gated" --preset small-gated --batch 16 --lr 5e-4 --steps 2000 \
    --checkpoint-every 100 --compressed 0.5 $( [ -f "$RUNS/upscaler-gated/train_state.json" ] && echo --resume \
    || echo --init "$RUNS/upscaler")
FIRST=${FIRST:-kinema/weights/default}  # the first pass the later one follows (the shipped one, or upscaler-gated)
kinema train-stage upscaler --out "$RUNS/upscaler-folded" --preset small-folded --after "$FIRST" --batch 16 \
    --lr 1e-3 --steps 4000 --cooldown 1000 --checkpoint-every 200 $( [ -f "$RUNS/upscaler-folded/train_state.json" ] \
    && echo --resume || echo --init "$FIRST")
kinema train-stage upscaler --out "$RUNS/upscaler-folded-long" --preset small-folded --after "$FIRST" --batch 16 \
    --lr 5e-4 --steps 5000 --cooldown 2500 --checkpoint-every 500 $( [ -f "$RUNS/upscaler-folded-long/train_state.json" ] \
    && echo --resume || echo --init "$RUNS/upscaler-folded")
# ship: python recipes/ship.py --upscaler "$RUNS/upscaler-gated" --upscaler-light "$RUNS/upscaler-folded-long"
