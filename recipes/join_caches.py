"""Join latent caches (kinema cache-latents, kinema teacher-pairs) into one that `kinema train --data` reads.

    python recipes/join_caches.py OUT CACHE [CACHE ...]

OUT holds links to every source's shards and autoencoder, and a cache.json whose count is theirs together. The shards
are interleaved (the first of each source, then the second of each, ...), since training reads a cache in order: each
stretch of steps then sees every source. The sources must share their clip, their autoencoder and their text encoder
(the same latents and embeddings mean the same); anything else is refused before OUT is touched. A teacher's pairs
joined with clips (kinema cache-latents) keep their noise; the clips are trained from fresh noise, as in their own
cache (kinema.data.latents.LatentDataset.pair_noise).
"""
import argparse
import itertools
import json
from pathlib import Path

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("caches", nargs="+")
a = p.parse_args()

# 1. check every source
metas, shards = [], []
for folder in map(Path, a.caches):
    meta_file = folder / "cache.json"
    if not meta_file.is_file():
        p.error(f"{folder}: no cache.json (not a latent cache)")
    meta = json.loads(meta_file.read_text())
    if meta.get("kind") != "kinema.latent-cache":
        p.error(f"{meta_file}: not a kinema latent cache")
    own = sorted(folder.glob("shard-*.safetensors"))
    if not own or not all(s.with_suffix(".jsonl").is_file() for s in own):
        p.error(f"{folder}: no shards, or a shard without its .jsonl")
    for key in ("clip", "autoencoder", "text_encoder"):
        if metas and meta.get(key) != metas[0][1].get(key):
            p.error(f"{folder}: its {key} is not {metas[0][0]}'s")
    count = sum(len(s.with_suffix(".jsonl").read_text().splitlines()) for s in own)
    if count != meta["count"]:
        p.error(f"{folder}: {count} items in its shards, {meta['count']} in its cache.json (unfinished?)")
    metas.append((folder, meta))
    shards.append(own)

# 2. link the shards, interleaved, and write the joined cache.json
out = Path(a.out)
out.mkdir(parents=True, exist_ok=True)
for old in out.glob("shard-*"):
    old.unlink()
order = [s for group in itertools.zip_longest(*shards) for s in group if s is not None]
for k, src in enumerate(order):
    for suffix in (".safetensors", ".jsonl"):
        (out / f"shard-{k:05d}{suffix}").symlink_to(src.with_suffix(suffix).resolve())
for name in ("autoencoder.safetensors", "autoencoder.json"):
    if (metas[0][0] / name).is_file() and not (out / name).exists():
        (out / name).symlink_to((metas[0][0] / name).resolve())
joined = {**metas[0][1], "count": sum(m["count"] for _, m in metas), "joined": [str(f) for f, _ in metas]}
(out / "cache.json").write_text(json.dumps(joined, indent=2) + "\n")
print(f"{out}: {joined['count']} items in {len(order)} shards from {len(metas)} caches")
