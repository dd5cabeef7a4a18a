#!/bin/sh
# The shipped student (recipes/student-physics.sh) trained on fresh teacher pairs of every kind of clip it now makes
# by default (docs/denoiser.md, "Few steps"): 3072 pairs, 20% filmed by a moving camera, 20% on drawn tracks, 25%
# falling or bouncing, 30% late in their long clip, 80% made with their layout (the plan is on by default); then
# the student trained on them together with recipes/student-layout.sh's and recipes/student-physics.sh's pairs
# (one latent cache of links to all their shards, interleaved: recipes/join_caches.py). On 2 CPU cores, alone: ~7 min a 1024 pairs, 2.4 steps a second.
# PAIRS, STEPS: how many pairs and training steps.
. "$(dirname "$0")/common.sh"
kinema teacher-pairs --out "$RUNS/pairs-mix" --count "${PAIRS:-3072}" --camera 0.2 --tracks 0.2 --physics 0.25 \
    --late 0.3 --layout 0.8 --batch 128 --seed 13 --no-progress
for made in pairs-layout pairs-physics; do  # (the pairs of the recipes before it: run those first)
    [ -f "$RUNS/$made/cache.json" ] || { echo "no $RUNS/$made: run recipes/student-layout.sh, student-physics.sh" >&2; exit 1; }
done
python "$(dirname "$0")/join_caches.py" "$RUNS/pairs-all" "$RUNS/pairs-layout" "$RUNS/pairs-physics" "$RUNS/pairs-mix"
mkdir -p "$RUNS/student-physics-init"  # the student it starts from, as a `kinema train --init` folder
git show 83947b9:kinema/weights/default/student.safetensors > "$RUNS/student-physics-init/denoiser.safetensors"
git show 83947b9:kinema/weights/default/student.json > "$RUNS/student-physics-init/denoiser.json"
kinema train --out "$RUNS/student-mix" --data "$RUNS/pairs-all" --init "$RUNS/student-physics-init" \
    --preset latent --loss x0 --t-mean 1.0 --t-std 1.2 --caption-dropout 0 --condition 0.3 --layout 1 --batch 32 \
    --lr 5e-5 --warmup 50 --ema 0.99 --steps "${STEPS:-1200}" --checkpoint-every 100 $(resume "$RUNS/student-mix")
