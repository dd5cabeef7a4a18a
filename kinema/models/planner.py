"""The planner's reader: a prompt's token embeddings -> what its scene holds (objects, motions, background, camera).

    planner(cond) -> {"count": (B, 2), "background": (B, 3), "camera": (B, 7),
                      "colour": (B, K, 8), "shape": (B, K, 3), "size": (B, K, 3), "motion": (B, K, 8)}  logits

Learned queries read the frozen text encoder's tokens by cross-attention (as a Perceiver's latents or DETR's
object queries, Carion et al. 2020: one query per object slot, one for the scene), then an MLP and a linear head
per field. It is trained on the training captions' wordings and judged on the held-out ones (kinema.train.planner);
the physics that turns what it reads into tracks lives in kinema.pipeline.plan.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from kinema.text.encoder import TextEmbedding
from kinema.world.captions import Description, ObjectDescription
from kinema.world.shapes import BACKGROUNDS, CAMERAS, MAX_OBJECTS, MOTIONS, OBJECT_COLOURS, SHAPES

# the classes of each field; "none" motion: the caption names none (a track, or standing by default)
FIELDS: dict[str, tuple[str, ...]] = {
    "count": ("1", "2"),
    "background": tuple(BACKGROUNDS),
    "camera": CAMERAS,
    "colour": tuple(OBJECT_COLOURS),
    "shape": SHAPES,
    "size": ("unnamed", "small", "large"),
    "motion": ("none",) + MOTIONS,
}
SCENE_FIELDS = ("count", "background", "camera")
OBJECT_FIELDS = ("colour", "shape", "size", "motion")


@dataclass(frozen=True)
class PlannerConfig:
    text_dim: int = 384
    dim: int = 128
    heads: int = 4
    slots: int = MAX_OBJECTS  # objects a prompt may name


class Planner(nn.Module):
    def __init__(self, cfg: PlannerConfig):
        super().__init__()
        self.config = cfg
        d = cfg.dim
        self.queries = nn.Parameter(torch.randn(cfg.slots + 1, d) * 0.02)  # object slots, then the scene
        self.proj = nn.Sequential(nn.Linear(cfg.text_dim, d), nn.GELU(), nn.Linear(d, d))
        self.attn = nn.MultiheadAttention(d, cfg.heads, batch_first=True)
        self.attn2 = nn.MultiheadAttention(d, cfg.heads, batch_first=True)
        self.norm, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.heads = nn.ModuleDict({f: nn.Linear(d, len(FIELDS[f])) for f in FIELDS})

    def forward(self, cond: TextEmbedding) -> dict[str, torch.Tensor]:
        b = len(cond)
        ctx = self.proj(cond.tokens.float())  # (B, L, D)
        q = self.queries[None].expand(b, -1, -1)  # (B, K+1, D)
        pad = ~cond.mask
        h = q + cross_attend(self.attn, self.norm(q), ctx, pad)
        h = h + cross_attend(self.attn2, self.norm2(h), ctx, pad)
        h = h + self.mlp(h)  # (B, K+1, D)
        objects, scene = h[:, :-1], h[:, -1]
        out = {f: self.heads[f](scene) for f in SCENE_FIELDS}
        out.update({f: self.heads[f](objects) for f in OBJECT_FIELDS})
        return out


def cross_attend(mha: nn.MultiheadAttention, q: torch.Tensor, ctx: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
    """`mha`'s attention of queries q (B, K, D) over ctx (B, L, D), padded tokens (pad: (B, L) bool) left out, with
    its own weights, written out: nn.MultiheadAttention's forward checks its padding mask with torch._check_with, whose
    first call imports sympy (half a second of every `kinema generate`)."""
    wq, wk, wv = mha.in_proj_weight.chunk(3)
    bq, bk, bv = mha.in_proj_bias.chunk(3)
    heads = lambda x: rearrange(x, "b n (h e) -> b h n e", h=mha.num_heads)  # noqa: E731
    out = F.scaled_dot_product_attention(heads(F.linear(q, wq, bq)), heads(F.linear(ctx, wk, bk)),
                                         heads(F.linear(ctx, wv, bv)), attn_mask=~pad[:, None, None, :])  # (B, H, K, E)
    return mha.out_proj(rearrange(out, "b h n e -> b n (h e)"))


def decode(logits: dict[str, torch.Tensor]) -> list[Description]:
    """The descriptions a batch of logits says, most likely class per field; two objects take different colours
    (the second its likeliest colour other than the first's)."""
    out = []
    for i in range(logits["count"].shape[0]):
        n = int(logits["count"][i].argmax()) + 1
        objects, used = [], set()
        for k in range(n):
            order = logits["colour"][i, k].argsort(descending=True).tolist()
            colour = next(FIELDS["colour"][c] for c in order if FIELDS["colour"][c] not in used)
            used.add(colour)
            size = FIELDS["size"][int(logits["size"][i, k].argmax())]
            motion = FIELDS["motion"][int(logits["motion"][i, k].argmax())]
            objects.append(ObjectDescription(colour, FIELDS["shape"][int(logits["shape"][i, k].argmax())],
                                             None if size == "unnamed" else size, None if motion == "none" else motion))
        out.append(Description(FIELDS["background"][int(logits["background"][i].argmax())], tuple(objects),
                               FIELDS["camera"][int(logits["camera"][i].argmax())]))
    return out
