"""What a model folder says before it loads: its card (kinema's denoiser.json, or a Wan folder's configs), the
LoRA adapters that fit it, and whether its denoiser goes on from given frames. The server checks these before its
workers load anything."""
from __future__ import annotations

from pathlib import Path

from kinema.models.components import load_component
from kinema.models.wan import is_wan_folder


def folder_card(folder: str | Path) -> dict:
    """The card of a model folder (a kinema one's denoiser.json, checked with its weights; what a Wan folder's
    configs say), without keeping any weights: CheckpointError for a missing, corrupt or mismatched folder."""
    if is_wan_folder(folder):
        from kinema.models.wan import card_of

        return card_of(folder)
    return load_component(folder, "denoiser").card


def check_model(folder: str | Path, lora: list | tuple = ()) -> dict:
    """`folder_card`, and each LoRA adapter (kinema.models.lora.Adapter) read and checked against the model's
    architecture as its configs state it: what a server checks before its workers load anything."""
    from kinema.models.lora import check_base, read_adapter_files

    card = folder_card(folder)
    if card.get("kind") == "wan":
        from kinema.models.wan import read_index

        config = {k: v for k, v in read_index(folder)["transformer"].items() if not k.startswith("_")}
        base = {"kind": "wan", "config": config}
    else:
        base = {"kind": "kinema", "config": card["denoiser"]}
    for adapter in lora:
        _, lora_card = read_adapter_files(adapter.folder)
        check_base(lora_card, Path(adapter.folder) / "lora.json", base)
    return card


def goes_on(card: dict) -> bool:
    """Whether the denoiser whose card this is was trained to go on from given frames (`kinema train --condition`,
    in a latent space: the causal autoencoder encodes a picture as a latent frame of its own)."""
    return card.get("space") == "latent" and bool(card.get("train", {}).get("condition"))


def directs(folder: str | Path, card: dict) -> bool:
    """Whether a model folder's clips can be directed (tracks, a camera, the plan): it has a planner and its
    denoiser takes a layout (Pipeline.directs, said from the card without loading weights)."""
    from kinema.models.components import has_component

    return has_component(folder, "planner") and bool(card.get("denoiser", {}).get("layout"))
