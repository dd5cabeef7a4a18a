"""Training the planner's reader (kinema.models.planner) on shapes-world captions.

Captions come from random v2 scenes (one or two objects, a moving camera for some, objects with tracks that
name no motion), worded as the denoiser's training captions are (canonical or paraphrased, sizes named or
not); every field of what each caption says is a label. Accuracy is measured on captions worded with the
held-out vocabulary (kinema.world.captions.HELD_OUT), which training never sees.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from kinema.io.checkpoint import save_component
from kinema.models.planner import FIELDS, OBJECT_FIELDS, SCENE_FIELDS, Planner, PlannerConfig, decode
from kinema.text.encoder import TEXT_ENCODER_NAME, TextEmbedding
from kinema.world.captions import HELD_OUT, Description, paraphrase, training_words
from kinema.world.shapes import Scene, sample_scene


@dataclass
class PlannerTrainConfig:
    captions: int = 16384
    steps: int = 1500
    batch: int = 128
    lr: float = 1e-3
    seed: int = 0
    held_out: int = 1024
    token_dropout: float = 0.1


def labels(d: Description, slots: int = 2) -> dict[str, list]:
    """Class indices of each field of a description; object fields per slot, -100 (ignored) for empty slots."""
    out = {"count": FIELDS["count"].index(str(len(d.objects))), "background": FIELDS["background"].index(d.background),
           "camera": FIELDS["camera"].index(d.camera)}
    for f in OBJECT_FIELDS:
        values = []
        for k in range(slots):
            if k >= len(d.objects):
                values.append(-100)
                continue
            o = d.objects[k]
            v = {"colour": o.colour, "shape": o.shape, "size": o.size or "unnamed", "motion": o.motion or "none"}[f]
            values.append(FIELDS[f].index(v))
        out[f] = values
    return out


# Words that change no meaning, slipped into training captions so that the reading does not hang on a caption's
# exact sequence of words (common English function words and adverbs, none of them naming anything in the world)
FILLERS = ("that", "which", "is", "it", "the", "there", "we", "see", "just", "very", "quite", "also", "here", "now",
           "all", "so", "then", "really", "one", "some", "can", "you", "while", "where")


def with_fillers(caption: str, rng: np.random.Generator, p: float = 0.5) -> str:
    """With chance p, one to three FILLERS put between the caption's words at random places."""
    if rng.random() >= p:
        return caption
    words = caption.split()
    for _ in range(int(rng.integers(1, 4))):
        words.insert(int(rng.integers(1, len(words) + 1)), FILLERS[int(rng.integers(len(FILLERS)))])
    return " ".join(words)


def caption_set(n: int, seed: int, held_out: bool) -> tuple[list[str], list[Description]]:
    """n (caption, description) pairs of random v2 scenes; training wordings (half with FILLERS), or the held-out
    vocabulary."""
    captions, descriptions = [], []
    for i in range(n):
        rng = np.random.default_rng([seed, i, 31])
        scene: Scene = sample_scene(rng, 0.5, 0.3, 0.25)
        if held_out:
            d = Description.of(scene, name_sizes=bool(rng.random() < 0.6))
            caption = paraphrase(d, rng, HELD_OUT)
        else:
            caption, d = training_words(scene, rng)
            caption = with_fillers(caption, rng)
        captions.append(caption)
        descriptions.append(d)
    return captions, descriptions


def _label_tensors(ds: list[Description]) -> dict[str, torch.Tensor]:
    rows = [labels(d) for d in ds]
    return {f: torch.tensor([r[f] for r in rows]) for f in FIELDS}


def _encode(encoder, captions: list[str], chunk: int = 256) -> TextEmbedding:
    from tqdm import tqdm

    parts = [encoder.encode(captions[i:i + chunk]) for i in tqdm(range(0, len(captions), chunk), desc="encode",
                                                                 dynamic_ncols=True, leave=False)]
    return TextEmbedding.cat(parts)


def loss_of(logits: dict[str, torch.Tensor], y: dict[str, torch.Tensor]) -> torch.Tensor:
    return sum(F.cross_entropy(logits[f].reshape(-1, logits[f].shape[-1]), y[f].reshape(-1), ignore_index=-100)
               for f in FIELDS)


@torch.no_grad()
def accuracy(model: Planner, text: TextEmbedding, ds: list[Description]) -> dict[str, float]:
    """The share of captions whose field is read right (every object's, for object fields), and "all"."""
    got = decode(model(text))
    out = {"all": float(np.mean([g == d for g, d in zip(got, ds)]))}
    for f in SCENE_FIELDS:
        key = {"count": lambda d: len(d.objects), "background": lambda d: d.background, "camera": lambda d: d.camera}[f]
        out[f] = float(np.mean([key(g) == key(d) for g, d in zip(got, ds)]))
    for f in OBJECT_FIELDS:
        out[f] = float(np.mean([len(g.objects) == len(d.objects) and all(getattr(a, f) == getattr(b, f) for a, b in
                                                                         zip(g.objects, d.objects)) for g, d in zip(got, ds)]))
    return out


def train_planner(run: str | Path, encoder, cfg: PlannerTrainConfig, progress: bool = True) -> dict:
    """Train a planner into folder `run` (planner.safetensors + planner.json); returns its held-out accuracy."""
    from tqdm import tqdm

    torch.manual_seed(cfg.seed)
    captions, ds = caption_set(cfg.captions, cfg.seed, held_out=False)
    text, y = _encode(encoder, captions), _label_tensors(ds)
    test_captions, test_ds = caption_set(cfg.held_out, cfg.seed + 1, held_out=True)
    test_text = _encode(encoder, test_captions)
    model = Planner(PlannerConfig(text_dim=text.tokens.shape[-1]))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(cfg.seed)
    bar = tqdm(range(cfg.steps), disable=not progress, desc="planner", dynamic_ncols=True)
    for step in bar:
        idx = torch.randint(0, len(ds), (cfg.batch,), generator=gen)
        for g in opt.param_groups:
            g["lr"] = cfg.lr * min(1.0, (cfg.steps - step) / (0.25 * cfg.steps))
        batch = text.index(idx)  # a tenth of the tokens hidden: the reading must not hang on one word
        hide = (torch.rand(batch.mask.shape, generator=gen) < cfg.token_dropout) & batch.mask
        hide[:, 0] = False
        batch = TextEmbedding(batch.tokens, batch.mask & ~hide, batch.pooled)
        loss = loss_of(model(batch), {f: v[idx] for f, v in y.items()})
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 50 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
    model.eval()
    result = {"held_out": accuracy(model, test_text, test_ds), "train": accuracy(model, text.index(slice(0, 1024)), ds[:1024])}
    card = {"kind": "kinema.planner", "planner": asdict(model.config), "text_encoder": TEXT_ENCODER_NAME,
            "step": cfg.steps, "train": asdict(cfg), "accuracy": result}
    save_component(run, "planner", model.state_dict(), card)
    return result
