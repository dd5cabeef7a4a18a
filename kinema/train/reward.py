"""A verifier's judgement as a training loss for the denoiser: reward fine-tuning on one-step predictions.

The flow loss is a squared error on the whole clip, so an attribute weighs what its pixels weigh: a
clip is mostly background, and which way an object moves or whether it has corners moves few pixels.
Six sessions of training left the keyframe model reading background and colour words but not
direction or shape words (runs/keyframes*/NOTES.md), while the verifier (kinema.verifier), trained to
tell a scene from its near misses, reads direction on held-out pairs.

This loss asks the denoiser's prediction of the clean clip, at the noise levels where the caption
decides the layout (t >= min_t; below it the noisy clip itself shows the layout and the verifier
scores predictions as well as real clips), to be picked by a frozen verifier for its own caption among
all the batch's captions and each one's near miss (a caption with exactly one thing changed):

    loss = mean over kept clips i of  -log softmax_k(score(x0_hat_i, caption_k))[i]

It is ReFL's idea (Xu et al. 2023, "ImageReward": a reward model's gradient through the denoiser's
one-step prediction at a late step, beside the ordinary diffusion loss), with a contrastive reward
like CLIP's in place of a scalar one: a score is only meaningful against the alternatives. The flow
loss stays beside it and keeps the predictions on the data (a reward alone invites clips that fool the
verifier rather than follow the caption; weight it so its gradient is about that of the flow loss).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from kinema.text.encoder import TextEmbedding


def reward_loss(verifier: torch.nn.Module, prediction: torch.Tensor, t: torch.Tensor, text: TextEmbedding,
                negatives: TextEmbedding | None, keep: torch.Tensor, min_t: float) -> torch.Tensor:
    """The module docstring's loss for predictions (B, 3, T, H, W) made at timesteps t (B,) for captions
    `text` (B), with optional hard negatives (B captions, one a clip) and `keep` (B,) False where the
    caption was dropped. Zero (with a graph) when no clip qualifies."""
    use = keep & (t >= min_t)
    if not bool(use.any()):
        return prediction.sum() * 0.0
    idx = use.nonzero().squeeze(1)
    captions = text.index(idx)
    if negatives is not None:
        captions = TextEmbedding.cat([captions, negatives.index(idx)])
    scores = verifier(prediction[idx].float(), captions, matrix=True)  # (K or 2K captions, K clips)
    return F.cross_entropy(scores.T, torch.arange(len(idx), device=prediction.device))
