#!/usr/bin/env bash
# The latent-space default model: the denoiser trained on the default autoencoder's latents
# (runs/autoencoder, 4x8x8, 16 channels): a 64x64, 2 s, 8 fps clip is a 16 x 5 x 8 x 8 latent, cut
# into 1x2x2 patches = 80 tokens (the pixel model had 256), so each step is several times cheaper.
# Run from the repository root after `pip install -e .`; each phase resumes where the last stopped.
set -euo pipefail
[ -f runs/latent/cache/shard-00007.safetensors ] || \
  kinema cache-latents --autoencoder runs/autoencoder --out runs/latent/cache --clips 8192 --seed 0 --no-progress
common=(--out runs/latent --data runs/latent/cache --preset small --patch 1,2,2 --batch 32 --warmup 200
        --caption-dropout 0.1 --seed 0 --checkpoint-every 100 --t-mean 1.0 --t-std 1.0)
step() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["step"])' runs/latent/train_state.json 2>/dev/null || echo 0; }
PHASE1=${PHASE1:-2400}
PHASE2=${PHASE2:-3000}
if [ "$(step)" -lt "$PHASE1" ]; then  # phase 1
  kinema train "${common[@]}" --steps "$PHASE1" --lr 5e-4 --ema 0.999 $([ "$(step)" -gt 0 ] && echo --resume) "$@"
fi
kinema train "${common[@]}" --steps "$PHASE2" --lr 1e-4 --ema 0.995 --resume "$@"  # phase 2: cool-down
# then: python runs/ship.py runs/latent   (copies the EMA denoiser and the autoencoder into kinema/weights/default)
