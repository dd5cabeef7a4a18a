#!/bin/sh
# The shipped few-step student taught to follow a layout (docs/denoiser.md, "Few steps"): the shipped teacher's
# deterministic guided samples (as recipes/student.sh) of v2 scenes, 30% filmed by a moving camera and 40% with
# drawn tracks, 70% of them made with their scene's layout (where each object is, as the plan gives it) and the
# rest from the text alone; then the shipped student trained on the straight lines between them, each pair given
# its layout exactly where the teacher had it (--layout 1). On 2 CPU cores, alone: ~7 min a 1024 pairs,
# 2.4 steps a second (one heavy job at a time: beside another, a step took 2-9 s).
# Shipped: python recipes/ship.py --student runs/student-layout --student-recipe recipes/student-layout.sh.
# PAIRS: how many (a shard is 1024; the training reads the shards already made); STEPS: training steps.
. "$(dirname "$0")/common.sh"
kinema teacher-pairs --out "$RUNS/pairs-layout" --count "${PAIRS:-4096}" --camera 0.3 --tracks 0.4 --layout 0.7 \
    --batch 128 --seed 11 --no-progress
# it starts from the student shipped before it (recipes/student.sh's, at commit 35803e8) as a `kinema train --init` folder
mkdir -p "$RUNS/student-init"
git show 35803e8:kinema/weights/default/student.safetensors > "$RUNS/student-init/denoiser.safetensors"
git show 35803e8:kinema/weights/default/student.json > "$RUNS/student-init/denoiser.json"
kinema train --out "$RUNS/student-layout" --data "$RUNS/pairs-layout" --init "$RUNS/student-init" --preset latent \
    --loss x0 --t-mean 1.0 --t-std 1.2 --caption-dropout 0 --condition 0.3 --layout 1 --batch 32 --lr 1e-4 \
    --warmup 50 --ema 0.99 --steps "${STEPS:-800}" --checkpoint-every 100 $(resume "$RUNS/student-layout")
