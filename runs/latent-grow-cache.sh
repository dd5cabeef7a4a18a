#!/usr/bin/env bash
# bash runs/latent-grow-cache.sh FROM OUT CLIPS: the first CLIPS clips of the seed-0 shapes world as a latent
# cache in OUT (runs/autoencoder-dcae's latents). FROM is a smaller cache of the same clips: its shards are
# hard-linked in, a shortcut only (without them `kinema cache-latents` encodes those clips too), and
# cache-latents encodes the rest, skipping the shards it finds. Nothing is done once OUT's last shard exists.
# runs/latent-52k and runs/latent-68k grow their caches with it (their recipe.sh).
set -euo pipefail
from=$1 out=$2 clips=$3
last=$(printf 'shard-%05d.safetensors' $(( (clips + 1023) / 1024 - 1 )))  # cache-latents' 1024-clip shards
if [ ! -f "$out/$last" ]; then
    mkdir -p "$out"
    for f in "$from"/shard-*; do
        [ -e "$f" ] && [ ! -e "$out/$(basename "$f")" ] && ln "$f" "$out/" || true
    done
    kinema cache-latents --autoencoder runs/autoencoder-dcae --out "$out" --clips "$clips" --seed 0 --no-progress
fi
