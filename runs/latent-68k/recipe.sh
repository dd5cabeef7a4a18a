#!/usr/bin/env bash
# runs/latent-62k trained on with half as much data again: a 73728-clip cache (runs/latent-52k/cache is clips
# 0-49151 of the same seed-0 shapes world, so its 48 shards are hard-linked in and the 24 new ones encoded,
# captioned with today's wordings; `kinema cache-latents` skips shards it finds), then runs/latent-62k's state
# at step 62000 (cooled to lr 0) resumed with its optimizer at lr 3e-4 and cooled to 0 over the last 2000
# steps, 68000 in all. Needs runs/latent-62k's training state: run `bash runs/latent-62k/recipe.sh` first.
set -euo pipefail
cache=runs/latent-68k/cache
if [ ! -f "$cache/shard-00071.safetensors" ]; then
    mkdir -p "$cache"
    for f in runs/latent-52k/cache/shard-*; do  # a shortcut only: without it the cache encodes them too
        [ -e "$f" ] && [ ! -e "$cache/$(basename "$f")" ] && ln "$f" "$cache/" || true
    done
    kinema cache-latents --autoencoder runs/autoencoder-dcae --out "$cache" --clips 73728 --seed 0 --no-progress
fi
DATA=$cache exec bash runs/latent-resume.sh runs/latent-62k runs/latent-68k "${STEPS:-68000}" "${COOLDOWN:-2000}" "$@"
