"""Tiny Wan folders with random weights, built offline in the layout of a real checkpoint (as diffusers' own Wan
tests build theirs): a word-level tokenizer made with `tokenizers`, a 2-layer UMT5 encoder, a 2-layer Wan
transformer, a small AutoencoderKLWan and a flow scheduler, written by `WanPipeline.save_pretrained`."""
from __future__ import annotations

from pathlib import Path

import torch

WORDS = ("a the red green blue yellow white black ball square circle triangle bouncing falling moving rising "
         "left right up down on background slowly quickly").split()


def tiny_wan_folder(path: str | Path, scheduler: str = "euler", seed: int = 0) -> Path:
    """A WanPipeline folder at `path`: `scheduler` "euler" (FlowMatchEulerDiscreteScheduler, shift 7) or "unipc"
    (UniPCMultistepScheduler with flow sigmas, shift 3, as the Wan2.1 -Diffusers checkpoints)."""
    from diffusers import (AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler,
                           WanPipeline, WanTransformer3DModel)
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, UMT5Config, UMT5EncoderModel

    vocab = ["<pad>", "</s>", "<unk>"] + WORDS
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    torch.manual_seed(seed)
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=len(vocab), d_model=32, d_kv=8, d_ff=64, num_layers=2,
                                               num_heads=4, relative_attention_num_buckets=8))
    torch.manual_seed(seed)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    torch.manual_seed(seed)
    transformer = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12,
                                        in_channels=16, out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32,
                                        num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
                                        rope_max_seq_len=32)
    solver = (FlowMatchEulerDiscreteScheduler(shift=7.0) if scheduler == "euler" else
              UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0))
    WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                scheduler=solver).save_pretrained(path)
    return Path(path)


def diffusers_frames(folder: Path, prompt: str, seed: int, steps: int, guidance: float, size: int, frames: int,
                     negative: str | None = None):
    """diffusers' own WanPipeline on the folder: uint8 (T, H, W, 3), rounded as kinema rounds."""
    import numpy as np
    from diffusers import WanPipeline

    pipe = WanPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    out = pipe(prompt, negative_prompt=negative, generator=torch.Generator().manual_seed(seed),
               num_inference_steps=steps, guidance_scale=guidance, height=size, width=size, num_frames=frames,
               output_type="np").frames[0]
    return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)
