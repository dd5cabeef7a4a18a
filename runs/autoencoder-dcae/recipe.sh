#!/bin/sh
# The 4x8x8 autoencoder with DC-AE's shortcuts (session 9; `small` preset, shortcuts=True): otherwise
# runs/autoencoder/recipe.sh exactly (16 latent channels; 9-frame 64x64 clips, 15% real footage crops,
# batch 8, AdamW 8e-4 after 200 warm-up steps, EMA 0.998), so its log compares step for step with that
# run's (session 2, no shortcuts). Steps 0-400 ran on one thread beside a no-shortcut twin.
# Phase 1 (session 9): constant lr to step 3000. Phase 2 (session 10): resumed to step ${END:-5000} with
# lr decaying linearly to 0 over the last ${COOLDOWN:-1500} steps (warm-up, stable, decay). Each phase
# resumes where it stopped.
set -e
step() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["step"])' runs/autoencoder-dcae/train_state.json 2>/dev/null || echo 0; }
common="--out runs/autoencoder-dcae --preset small --batch 8 --frames 9 --size 64 --real-share 0.15 --checkpoint-every 100 --lr 8e-4"
if [ "$(step)" -lt 3000 ]; then  # phase 1
  kinema train-autoencoder $common --steps 3000 $([ "$(step)" -gt 0 ] && echo --resume) "$@"
fi
kinema train-autoencoder $common --steps ${END:-5000} --cooldown ${COOLDOWN:-1500} --resume "$@"  # phase 2
