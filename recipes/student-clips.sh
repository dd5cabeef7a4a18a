#!/bin/sh
# The shipped student (recipes/student-physics.sh) trained on fresh teacher pairs of every kind of clip it makes by
# default, and on gravity's later windows as rendered (docs/denoiser.md, "Few steps"): 3072 teacher pairs (20%
# filmed by a moving camera, 20% on drawn tracks, 25% falling or bouncing, 30% late in their long clip, 80% made with
# their layout, as the plan is on by default); 1024 rendered clips of falling and bouncing scenes, 80% of them from
# 2-10 s into their long clip (trained from fresh noise, given their first frames: their later windows follow from
# those and the layout alone, so the clip itself is the answer, not a teacher's sample); both joined with the pairs
# of recipes/student-layout.sh and recipes/student-physics.sh into one cache (links to their shards, interleaved:
# recipes/join_caches.py); then 1200 steps from the shipped student. On 2 CPU cores, alone: the pairs ~5 min a
# 1024, the clips 1 min, 2 steps a second. Shipped: python recipes/ship.py --student runs/student-clips
# --student-recipe recipes/student-clips.sh. PAIRS, STEPS: how many new pairs, training steps.
. "$(dirname "$0")/common.sh"
for made in pairs-layout pairs-physics; do  # (the pairs of the recipes before it: run those first)
    [ -f "$RUNS/$made/cache.json" ] || { echo "no $RUNS/$made: run recipes/student-layout.sh, student-physics.sh" >&2; exit 1; }
done
kinema teacher-pairs --out "$RUNS/pairs-mix" --count "${PAIRS:-3072}" --camera 0.2 --tracks 0.2 --physics 0.25 \
    --late 0.3 --layout 0.8 --batch 128 --seed 13 --no-progress
kinema cache-latents --autoencoder kinema/weights/default --out "$RUNS/latents-late-physics" --clips 1024 --seed 21 \
    --physics 1 --late 0.8 --late-until 10 --no-progress
python "$(dirname "$0")/join_caches.py" "$RUNS/pairs-all-clips" "$RUNS/pairs-layout" "$RUNS/pairs-physics" \
    "$RUNS/pairs-mix" "$RUNS/latents-late-physics"
mkdir -p "$RUNS/student-physics-init"  # the student it starts from, as a `kinema train --init` folder
git show 83947b9:kinema/weights/default/student.safetensors > "$RUNS/student-physics-init/denoiser.safetensors"
git show 83947b9:kinema/weights/default/student.json > "$RUNS/student-physics-init/denoiser.json"
kinema train --out "$RUNS/student-clips" --data "$RUNS/pairs-all-clips" --init "$RUNS/student-physics-init" \
    --preset latent --loss x0 --t-mean 1.0 --t-std 1.2 --caption-dropout 0 --condition 0.3 --layout 1 --batch 32 \
    --lr 5e-5 --warmup 50 --ema 0.99 --steps "${STEPS:-1200}" --checkpoint-every 100 $(resume "$RUNS/student-clips")
