"""LoRA adapters (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models") for a denoiser, with PEFT.

An adapter folder holds `lora.safetensors` (the low-rank matrices, PEFT's key names under the network's prefix:
`transformer.blocks.0.attn1.to_q.lora_A.weight` for a Wan transformer, as diffusers' LoRA loader reads them:
`pipe.load_lora_weights(DIR, weight_name="lora.safetensors")`; `denoiser.blocks.0.attns.0.qkv.lora_A.weight` for
kinema's own) beside `lora.json` (rank, alpha, target modules, and the base it was trained on: its kind and
architecture, which a model must share to take it).

`attach(denoiser, adapters)` loads adapters into a denoiser, each at its own scale (`--lora DIR[:SCALE]`); the
output is base + sum of scale * (alpha / rank) * B A x over the targets. `merge` folds them into the base weights
(the same output, without the adapters' extra cost at each step).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from kinema.io.checkpoint import CheckpointError, read_component, save_component

# the linear layers an adapter trains by default: attention (self and cross), feed-forward, and kinema's output layer
TARGETS = {"kinema": ["qkv", "proj", "q", "kv", "mlp.0", "mlp.2", "final"],
           "wan": ["to_q", "to_k", "to_v", "to_out.0", "ffn.net.0.proj", "ffn.net.2"]}


def network(denoiser: nn.Module) -> tuple[nn.Module, str, str]:
    """(the network an adapter goes into, its key prefix, the base kind) of a kinema or Wan denoiser."""
    if hasattr(denoiser, "transformer"):  # kinema.models.wan.WanDenoiser
        if denoiser.transformer_2 is not None:
            raise ValueError("LoRA for Wan2.2's two experts is not supported: one transformer only")
        return denoiser.transformer, "transformer", "wan"
    return denoiser, "denoiser", "kinema"


def architecture(denoiser: nn.Module) -> dict:
    """The base's kind and architecture, as JSON (what an adapter records, and a model must match to take it)."""
    net, _, kind = network(denoiser)
    if kind == "wan":
        config = {k: v for k, v in dict(net.config).items() if not k.startswith("_")}
    else:
        from dataclasses import asdict

        config = asdict(denoiser.config)
    return json.loads(json.dumps({"kind": kind, "config": config}, default=str))


def check_base(card: dict, where: Path, base: dict) -> None:
    """CheckpointError unless the adapter whose card this is was trained on a base of `base`'s kind and
    architecture (the settings both configs name)."""
    if card.get("kind") != "kinema.lora" or not isinstance(card.get("lora"), dict):
        raise CheckpointError(f"{where}: not a kinema LoRA adapter")
    theirs = card.get("base", {})
    if theirs.get("kind") != base["kind"]:
        raise CheckpointError(f"{where}: an adapter for a {theirs.get('kind')} model, not this {base['kind']} one")
    a, b = theirs.get("config", {}), base["config"]
    differ = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    if differ:
        raise CheckpointError(f"{where}: trained on another base: its {differ[0]} is {a[differ[0]]}, this "
                              f"model's {b[differ[0]]}")


def _lora_layers(net: nn.Module):
    from peft.tuners.lora import LoraLayer

    return [m for m in net.modules() if isinstance(m, LoraLayer)]


def add_adapter(denoiser: nn.Module, name: str, rank: int, alpha: float | None = None,
                targets: list[str] | None = None) -> list[nn.Parameter]:
    """A new adapter `name` of rank `rank` on the denoiser's target layers (B = 0: the output is the base's until
    it trains); returns its parameters, the only ones that then require gradients."""
    from peft import LoraConfig, inject_adapter_in_model

    net, _, kind = network(denoiser)
    targets = targets or TARGETS[kind]
    config = LoraConfig(r=rank, lora_alpha=alpha or rank, target_modules=targets, lora_dropout=0.0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (PEFT warns at a second adapter in one model: intended here)
        inject_adapter_in_model(config, net, adapter_name=name)
    for layer in _lora_layers(net):
        if name in layer.lora_A:
            layer.set_adapter([n for n in layer.lora_A])  # every adapter of the layer active
    params = [p for n, p in net.named_parameters() if f".{name}." in n and "lora_" in n]
    for p in params:
        p.data = p.data.float()  # (trained in float32 over a base in any precision; PEFT casts the input to it)
        p.requires_grad_(True)
    return params


def adapter_state(denoiser: nn.Module, name: str) -> dict[str, torch.Tensor]:
    """The adapter's matrices under their saved names (the network's prefix, PEFT's names)."""
    from peft import get_peft_model_state_dict

    net, prefix, _ = network(denoiser)
    return {f"{prefix}.{k}": v.detach().float().cpu().contiguous()
            for k, v in get_peft_model_state_dict(net, adapter_name=name).items()}


def save_adapter(folder: str | Path, denoiser: nn.Module, name: str, rank: int, alpha: float, targets: list[str],
                 record: dict) -> Path:
    """lora.safetensors + lora.json in `folder` (written atomically)."""
    card = {"kind": "kinema.lora", "lora": {"rank": rank, "alpha": alpha, "targets": targets},
            "base": architecture(denoiser), **record}
    save_component(Path(folder), "lora", adapter_state(denoiser, name), card)
    return Path(folder)


@dataclass(frozen=True)
class Adapter:
    folder: Path
    scale: float = 1.0


def parse_adapter(text: str) -> Adapter:
    """`DIR` or `DIR:SCALE` (a number; a folder whose name holds a colon takes an explicit :1)."""
    folder, _, scale = text.rpartition(":")
    if folder and scale:
        try:
            return Adapter(Path(folder), float(scale))
        except ValueError:
            pass
    return Adapter(Path(text), 1.0)


def read_adapter_files(folder: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """An adapter folder's tensors and card (checked against its digest); CheckpointError where there is none."""
    if not (Path(folder) / "lora.json").is_file():
        raise CheckpointError(f"{folder}: no LoRA adapter there (no lora.json)")
    return read_component(folder, "lora")


def read_adapter(adapter: Adapter, denoiser: nn.Module) -> tuple[dict[str, torch.Tensor], dict]:
    """An adapter's tensors and card, checked against the denoiser before anything is attached: its base's kind
    and architecture, and every matrix's layer and shape. CheckpointError otherwise."""
    folder = adapter.folder
    state, card = read_adapter_files(folder)
    check_base(card, folder / "lora.json", architecture(denoiser))
    net, prefix, _ = network(denoiser)
    modules = dict(net.named_modules())
    rank = int(card["lora"]["rank"])
    for key, value in state.items():
        path, _, kind = key.removeprefix(prefix + ".").rpartition(".lora_")
        layer = modules.get(path)
        layer = getattr(layer, "base_layer", layer)
        if not key.startswith(prefix + ".") or not isinstance(layer, nn.Linear) or kind not in ("A.weight", "B.weight"):
            raise CheckpointError(f"{folder / 'lora.safetensors'}: {key} names no linear layer of this model")
        want = (rank, layer.in_features) if kind == "A.weight" else (layer.out_features, rank)
        if tuple(value.shape) != want:
            raise CheckpointError(f"{folder / 'lora.safetensors'}: {key} is {tuple(value.shape)}, this model's layer "
                                  f"takes {want}")
    return state, card


def attach(denoiser: nn.Module, adapters: list[Adapter], merge: bool = False) -> list[dict]:
    """Load each adapter into the denoiser at its scale (all checked first); with `merge`, fold them into the
    base weights. Returns their records (folder, scale, step) for a clip's metadata."""
    from peft import set_peft_model_state_dict

    read = [(a, *read_adapter(a, denoiser)) for a in adapters]
    net, prefix, _ = network(denoiser)
    dtype = next(net.parameters()).dtype
    records = []
    for k, (adapter, state, card) in enumerate(read):
        name = f"lora{k}"
        spec = card["lora"]
        add_adapter(denoiser, name, int(spec["rank"]), float(spec["alpha"]), list(spec["targets"]))
        set_peft_model_state_dict(net, {key.removeprefix(prefix + "."): v.to(dtype) for key, v in state.items()},
                                  adapter_name=name)
        for layer in _lora_layers(net):
            if name in layer.lora_A:
                layer.set_scale(name, adapter.scale)
        records.append({"folder": str(adapter.folder), "scale": adapter.scale, "step": card.get("step")})
    net.requires_grad_(False)
    if merge:
        for layer in _lora_layers(net):
            layer.merge()
    return records
