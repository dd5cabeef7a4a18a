#!/usr/bin/env bash
# runs/latent-62k trained on with half as much data again: a 73728-clip cache (runs/latent-52k/cache is clips
# 0-49151 of the same seed-0 shapes world, so runs/latent-grow-cache.sh hard-links its 48
# shards in and encodes the 24 new ones, captioned with today's wordings), then runs/latent-62k's state
# at step 62000 (cooled to lr 0) resumed with its optimizer at lr 3e-4 and cooled to 0 over the last 2000
# steps, 68000 in all. Needs runs/latent-62k's training state: run `bash runs/latent-62k/recipe.sh` first.
set -euo pipefail
cache=runs/latent-68k/cache
bash runs/latent-grow-cache.sh runs/latent-52k/cache "$cache" 73728
DATA=$cache exec bash runs/latent-resume.sh runs/latent-62k runs/latent-68k "${STEPS:-68000}" "${COOLDOWN:-2000}" "$@"
