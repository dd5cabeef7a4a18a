#!/usr/bin/env bash
# runs/latent-39k trained on with twice the data: a 49152-clip cache (runs/latent-dcae/cache is clips
# 0-24575 of the same seed-0 shapes world, so its 24 shards are hard-linked in and the 24 new ones encoded;
# `kinema cache-latents` skips shards it finds), then runs/latent-39k's state at step 39500 (cooled to lr 0)
# resumed with its optimizer at lr 3e-4 for 10000 steps and cooled to 0 over the last 3000: 13000 more,
# 52500 in all. Needs runs/latent-39k's training state: run `bash runs/latent-39k/recipe.sh` first.
set -euo pipefail
cache=runs/latent-52k/cache
if [ ! -f "$cache/shard-00047.safetensors" ]; then
    mkdir -p "$cache"
    for f in runs/latent-dcae/cache/shard-*; do  # a shortcut only: without it the cache encodes them too
        [ -e "$f" ] && [ ! -e "$cache/$(basename "$f")" ] && ln "$f" "$cache/" || true
    done
    kinema cache-latents --autoencoder runs/autoencoder-dcae --out "$cache" --clips 49152 --seed 0 --no-progress
fi
DATA=$cache exec bash runs/latent-resume.sh runs/latent-39k runs/latent-52k "${STEPS:-52500}" "${COOLDOWN:-3000}" "$@"
