#!/usr/bin/env bash
# A latent-space keyframe model on the shortcut autoencoder (runs/autoencoder-dcae, 4x8x8, 16 channels,
# after its cool-down): a 64x64, 2 s, 8 fps clip (17 frames padded) is a 16 x 5 x 8 x 8 latent, cut into
# 1x2x2 patches = 80 tokens (the 32x32 pixel keyframe model it replaced reads 256). The `keyframes` preset
# (dim 128, depth 8) and the shipped model's flow settings (x0 loss, logit-normal 0.5/1), so the two
# differ in the space they denoise. Each phase resumes where it stopped. History (NOTES.md): session 10 ran
# 8192 clips, STEPS=2600 COOLDOWN=600; session 11 restored its step-2000 state (before the cool-down) and ran
# CLIPS=24576 STEPS=8000 COOLDOWN=1500 (the defaults below), which is the shipped default model.
set -euo pipefail
CLIPS=${CLIPS:-24576}
last=$(printf '%05d' $(( (CLIPS + 1023) / 1024 - 1 )))
[ -f runs/latent-dcae/cache/shard-$last.safetensors ] || \
  kinema cache-latents --autoencoder runs/autoencoder-dcae --out runs/latent-dcae/cache --clips "$CLIPS" --seed 0 --no-progress
step() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["step"])' runs/latent-dcae/train_state.json 2>/dev/null || echo 0; }
kinema train --out runs/latent-dcae --data runs/latent-dcae/cache --preset keyframes --patch 1,2,2 --batch 32 \
    --warmup 200 --caption-dropout 0.1 --seed 0 --checkpoint-every 100 --loss x0 --t-mean 0.5 --t-std 1.0 \
    --lr 6e-4 --ema 0.998 --steps "${STEPS:-8000}" --cooldown "${COOLDOWN:-1500}" \
    $([ "$(step)" -gt 0 ] && echo --resume) "$@"
# then: python runs/ship.py runs/latent-dcae --keep-stages --steps 20 --guidance 4 --shift 3 --eta 1 \
#           --guidance-interval 0.2 1 --candidates 2   (the EMA denoiser and the autoencoder; stages kept)
