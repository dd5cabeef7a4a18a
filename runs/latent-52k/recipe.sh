#!/usr/bin/env bash
# runs/latent-39k trained on with twice the data: a 49152-clip cache (runs/latent-dcae/cache is clips
# 0-24575 of the same seed-0 shapes world, so runs/latent-grow-cache.sh hard-links its 24 shards
# in and encodes the 24 new ones), then runs/latent-39k's state at step 39500 (cooled to lr 0)
# resumed with its optimizer at lr 3e-4 for 10000 steps and cooled to 0 over the last 3000: 13000 more,
# 52500 in all. Needs runs/latent-39k's training state: run `bash runs/latent-39k/recipe.sh` first.
set -euo pipefail
cache=runs/latent-52k/cache
bash runs/latent-grow-cache.sh runs/latent-dcae/cache "$cache" 49152
DATA=$cache exec bash runs/latent-resume.sh runs/latent-39k runs/latent-52k "${STEPS:-52500}" "${COOLDOWN:-3000}" "$@"
