"""How much does the search over candidates gain, and how close is the verifier to the best pick?

For each of the built-in eval captions, the model makes N candidate keyframe clips (one batch, as
`kinema generate --candidates N` does); each is taken through the cascade to 64x64 at 8 fps and
judged against its caption. Printed per attribute (background / colour / shape / motion / consistency /
all), over the captions:
- first: candidate 0 alone (no search; statistically the same as --candidates 1);
- verifier: the candidate the verifier scores highest (what --candidates N returns);
- oracle: the candidate the judge itself likes best (most attributes right): the ceiling of the search;
and how often the verifier's pick is all-correct when some candidate is. The verifier scores the decoded
keyframes, before the refiner (which then refines the chosen one alone); printed last, how often scoring the
refined keyframes would have chosen the same.

With --pairs N it first scores N held-out near-miss pairs rendered by the shapes world (kinema.world.near_misses,
seed 999, not a training seed): the share where each caption scores its own clip above the other's,
by the kind of difference, i.e. which attributes the verifier can tell apart on clean clips.

    python benchmarks/verifier_search.py [--model FOLDER] [--candidates 4] [--limit 64] [--seed 0] [--pairs 0]
"""
import argparse
import time

import numpy as np
import torch

from kinema.io.frames import to_model_space
from kinema.data.dataset import NearMissPairs
from kinema.world.near_misses import KINDS
from kinema.eval.evaluate import load_captions
from kinema.world.judge import ATTRIBUTES, judge
from kinema.pipeline import ClipSettings, Pipeline


@torch.no_grad()
def pair_accuracy(pipe: Pipeline, n: int) -> None:
    size = pipe.verifier.config.size
    data = NearMissPairs(seed=999, size=size, fps=float(pipe.clip["fps"]), seconds=2.0)
    right = {k: [] for k in KINDS}
    for i in range(n):
        clip, caption, miss, miss_caption = data[i]
        text = pipe.text_encoder.encode([caption, caption, miss_caption, miss_caption])
        s = pipe.verifier(to_model_space(np.stack([clip, miss])), text, torch.tensor([0, 1, 1, 0])).numpy()
        right[data.kind(i)].append(float(s[0] > s[1] and s[2] > s[3]))
    total = [r for rows in right.values() for r in rows]
    print(f"held-out near-miss pairs: {100 * np.mean(total):.1f}% of {n} told apart; by kind: "
          + ", ".join(f"{k} {100 * np.mean(v):.0f}% ({len(v)})" for k, v in right.items() if v))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=None, help="model folder with a verifier (default: the shipped model)")
    p.add_argument("--candidates", type=int, default=4)
    p.add_argument("--limit", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pairs", type=int, default=0, help="first score this many held-out near-miss pairs")
    a = p.parse_args()
    pipe = Pipeline.load(a.model)
    if pipe.verifier is None:
        raise SystemExit(f"{pipe.name} has no verifier")
    if a.pairs:
        pair_accuracy(pipe, a.pairs)
    if not a.limit:
        return
    items = load_captions()[: a.limit]
    keys = ATTRIBUTES + ("all",)
    picks = {"first": [], "verifier": [], "oracle": []}
    hits = possible = same = 0
    t0 = time.perf_counter()
    for i, item in enumerate(items):
        s = pipe.resolve(ClipSettings(seed=a.seed + i, candidates=a.candidates))
        keyframes, scores = pipe.keyframes(item.caption, s)
        verdicts = [judge(pipe.cascade(k, s), s.fps, item.description).summary() for k in keyframes]
        right = [sum(v[k] for k in keys) for v in verdicts]
        chosen = int(np.argmax(scores))  # (scored on the decoded frames, before the refiner, as generate does)
        refined = pipe.score(keyframes, pipe.text_encoder.encode([item.caption]))
        same += int(np.argmax(refined)) == chosen
        picks["first"].append(verdicts[0])
        picks["verifier"].append(verdicts[chosen])
        picks["oracle"].append(verdicts[int(np.argmax(right))])
        if any(v["all"] for v in verdicts):
            possible += 1
            hits += verdicts[chosen]["all"]
    print(f"{pipe.name} (denoiser step {pipe.card.get('step')}, verifier step {pipe.verifier.step}): "
          f"{len(items)} captions x {a.candidates} candidates, {time.perf_counter() - t0:.0f} s")
    print(f"{'pick':10s}" + "".join(f"{k:>13s}" for k in keys))
    for name, rows in picks.items():
        print(f"{name:10s}" + "".join(f"{100 * np.mean([r[k] for r in rows]):12.1f}%" for k in keys))
    print(f"the verifier picks an all-correct candidate for {hits} of the {possible} captions that have one")
    print(f"scored on the refined keyframes instead of the decoded ones, it picks the same candidate for {same} of "
          f"the {len(items)} captions")


if __name__ == "__main__":
    main()
