#!/bin/sh
# The directed denoiser given each object's silhouette beside its footprint (docs/denoiser.md, "Silhouettes"): in
# two-object clips the shapes came out as blobs (fill ratios 0.7-0.9 for triangles, circles and squares alike), the
# layout's Gaussian footprint being the same for every shape. `--silhouettes` adds a zero-initialised input of each
# object's shape cover on quarter latent cells (kinema.models.layout.silhouettes), so the shipped model starts
# unchanged. Fine-tuned from the shipped model on recipes/physics.sh's cache (made here if missing): 8192 clips of
# the v2 world, half with two objects, 30% moving camera, 40% tracks, 30% falling or bouncing scenes. Batch 64,
# lr 1e-4, 1500 steps, the last 500 cooled. On 2 CPU cores ~1.2 s a step. DENOISER: the model folder to start from.
. "$(dirname "$0")/common.sh"
DENOISER=${DENOISER:-kinema/weights/default}
CACHE_ONLY=1 DENOISER="$DENOISER" sh "$(dirname "$0")/physics.sh"
kinema train --out "$RUNS/silhouettes" --data "$RUNS/latents-physics" --init "$DENOISER" --preset latent \
    --batch 64 --warmup 50 --seed 9 --caption-dropout 0.1 --loss x0 --t-mean 0.5 --t-std 1.0 --lr 1e-4 --ema 0.998 \
    --recaption 0.5 --condition 0.5 --layout 0.7 --silhouettes --steps 1500 --cooldown 500 --checkpoint-every 100 \
    $(resume "$RUNS/silhouettes")
