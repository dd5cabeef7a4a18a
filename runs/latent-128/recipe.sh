#!/usr/bin/env bash
# A latent keyframe model at 128x128 (session 12's finding, runs/autoencoder-dcae/NOTES.md: at 64x64 the
# 4x8x8 latent keeps shape for 58% of the eval's captions, at 128x128 for 89%). A 2 s, 8 fps clip is a
# 16 x 5 x 16 x 16 latent; patch 1,4,4 keeps the 5 x 4 x 4 = 80-token grid of runs/latent-recap, whose
# transformer it starts from (`--init`; the patch embedding and the output layer start afresh). Clips are
# captioned afresh (`--recaption 0.5`). The cache is resumable shard by shard (1024 clips each): 8192 clips,
# 42 min on 2 threads. Session 13 started it with STEPS=4000 and, at step 1600 (17% all-correct at 1500), resumed it
# with the defaults below: constant lr to 4500, decayed to 0 over the last 1000 steps; about 1 s a step.
set -euo pipefail
CLIPS=${CLIPS:-8192}
last=$(printf '%05d' $(( (CLIPS + 1023) / 1024 - 1 )))
[ -f runs/latent-128/cache/shard-$last.safetensors ] || \
  kinema cache-latents --autoencoder runs/autoencoder-dcae --out runs/latent-128/cache --clips "$CLIPS" --size 128 \
      --seed 0 --no-progress
step() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["step"])' runs/latent-128/train_state.json 2>/dev/null || echo 0; }
kinema train --out runs/latent-128 --data runs/latent-128/cache --preset keyframes --patch 1,4,4 --batch 32 \
    --warmup 200 --caption-dropout 0.1 --seed 0 --checkpoint-every 100 --loss x0 --t-mean 0.5 --t-std 1.0 \
    --lr 6e-4 --ema 0.998 --recaption 0.5 --steps "${STEPS:-5500}" --cooldown "${COOLDOWN:-1000}" \
    $([ "$(step)" -gt 0 ] && echo --resume || echo --init runs/latent-recap) "$@"
