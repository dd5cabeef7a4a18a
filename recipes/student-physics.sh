#!/bin/sh
# The shipped student (recipes/student-layout.sh) taught gravity's later windows (docs/denoiser.md, "Few steps"):
# teacher pairs of v2 scenes, half of them falling or bouncing, half of all items late in their long clip (the
# teacher going on from the clip's first latent frames as rendered, as a long clip's later windows are made), 70%
# with their layout; then the shipped student trained on them, late items always given their first frames.
# On 2 CPU cores, alone: ~7 min a 1024 pairs, 2.4 steps a second. PAIRS, STEPS as in student-layout.sh.
. "$(dirname "$0")/common.sh"
kinema teacher-pairs --out "$RUNS/pairs-physics" --count "${PAIRS:-2048}" --physics 0.5 --late 0.5 --camera 0.15 \
    --tracks 0.2 --layout 0.7 --batch 128 --seed 12 --no-progress
mkdir -p "$RUNS/student-layout-init"  # the student it starts from, as a `kinema train --init` folder
git show adfbd1f:kinema/weights/default/student.safetensors > "$RUNS/student-layout-init/denoiser.safetensors"
git show adfbd1f:kinema/weights/default/student.json > "$RUNS/student-layout-init/denoiser.json"
kinema train --out "$RUNS/student-physics" --data "$RUNS/pairs-physics" --init "$RUNS/student-layout-init" \
    --preset latent --loss x0 --t-mean 1.0 --t-std 1.2 --caption-dropout 0 --condition 0.3 --layout 1 --batch 32 \
    --lr 5e-5 --warmup 50 --ema 0.99 --steps "${STEPS:-500}" --checkpoint-every 100 $(resume "$RUNS/student-physics")
