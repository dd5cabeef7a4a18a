"""The binding loss: two-object captions against the same wording with an attribute exchanged."""
import json

import numpy as np
import pytest
import torch
from conftest import TINY_CLIP, tiny_dataset, tiny_train_config

from kinema.cli.main import main
from kinema.data.shapes import sample_scene
from kinema.denoiser.dit import VideoDiT, preset
from kinema.diffusion.flow import FlowConfig
from kinema.train.binding import binding_captions, binding_loss, exchanged
from kinema.train.trainer import train


def two_object_scene(seed: int):
    rng = np.random.default_rng(seed)
    while len((scene := sample_scene(rng, p_two=1.0)).objects) != 2:
        pass
    return scene


def test_binding_captions_exchange_one_attribute_between_the_objects():
    scene = two_object_scene(0)
    a, b = scene.objects
    for attribute in ("colour", "shape", "motion"):
        swapped = exchanged(scene, attribute)
        assert getattr(swapped.objects[0], attribute) == getattr(b, attribute)
        assert getattr(swapped.objects[1], attribute) == getattr(a, attribute)
        assert exchanged(swapped, attribute) == scene
    for seed in range(20):
        scene = two_object_scene(seed)
        true, other = binding_captions(scene, np.random.default_rng(seed))
        assert true != other and (true, other) == binding_captions(scene, np.random.default_rng(seed))
        colours = [o.colour for o in scene.objects]
        assert all(c in true and c in other for c in colours)  # the same colours named, bound otherwise or not
    one = sample_scene(np.random.default_rng(1), p_two=0.0)
    assert binding_captions(one, np.random.default_rng(0)) is None


def test_binding_loss_is_the_margin_for_a_model_blind_to_words_and_trains(tmp_path, text_encoder, capsys):
    torch.manual_seed(0)
    model = VideoDiT(preset("tiny"))  # adaLN-Zero: at initialisation its prediction ignores the caption
    x0 = torch.rand(3, 3, 8, 32, 32) * 2 - 1
    scenes = [two_object_scene(0), sample_scene(np.random.default_rng(1), p_two=0.0), two_object_scene(2)]
    g = torch.Generator().manual_seed(0)
    loss = binding_loss(model, x0, scenes, text_encoder, FlowConfig(), [0, 1, 2], g, items=8, margin=0.3)
    assert abs(loss.item() - 0.3) < 1e-6
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape))
    loss = binding_loss(model, x0, scenes, text_encoder, FlowConfig(), [0, 1, 2], g, items=8, margin=0.3)
    assert loss.item() != 0.3 and loss.requires_grad
    loss.backward()
    assert sum(p.grad.abs().sum() for p in model.parameters() if p.grad is not None) > 0
    assert binding_loss(model, x0[1:2], scenes[1:2], text_encoder, FlowConfig(), [1], g) is None

    run = tmp_path / "run"
    train(run, tiny_dataset(), preset("tiny"), FlowConfig(), tiny_train_config(batch=4, binding_weight=0.5),
          text_encoder=text_encoder, progress=False)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert any("binding" in r for r in log)
    args = ["train", "--out", str(tmp_path / "cli"), "--preset", "tiny", "--steps", "1", "--batch", "2",
            "--size", str(TINY_CLIP["size"]), "--fps", str(TINY_CLIP["fps"]), "--no-progress"]
    assert main(args + ["--binding-weight", "-1"]) == 2 and "binding-weight" in capsys.readouterr().err

    class Footage:  # captioned clips with no scenes behind them
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return tiny_dataset()[i][0], "a clip"

    with pytest.raises(ValueError, match="scenes"):
        train(tmp_path / "footage", Footage(), preset("tiny"), FlowConfig(), tiny_train_config(binding_weight=0.5),
              text_encoder=text_encoder, progress=False)
