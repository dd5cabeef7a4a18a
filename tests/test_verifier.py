"""The verifier: near-miss training pairs, the model, its training, and the pipeline's search over candidates."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from kinema.cli.main import main
from kinema.world.captions import Description
from kinema.io.frames import to_model_space
from kinema.data.dataset import NearMissPairs
from kinema.world.near_misses import KINDS, near_miss
from kinema.world.shapes import SIZES, sample_scene, start_range
from kinema.io.checkpoint import CheckpointError
from kinema.train.verifier import VerifierTrainConfig, train_verifier
from kinema.models.verifier import Verifier, VerifierConfig
from kinema.models.components import load_component

TINY = VerifierConfig(size=32, channels=(4, 8, 8), dim=16, video_depth=1, text_depth=1, heads=2)
PROMPT = "a red circle moving left on a black background"


def tiny_verifier_config(**kw) -> VerifierTrainConfig:
    return VerifierTrainConfig(**{"steps": 3, "batch": 2, "warmup": 1, "checkpoint_every": 100, "log_every": 1, **kw})


@pytest.fixture(scope="module")
def verifier_run(tmp_path_factory, text_encoder):
    run = tmp_path_factory.mktemp("verifier")
    train_verifier(run, tiny_verifier_config(), TINY, text_encoder=text_encoder, progress=False)
    return run


def test_a_near_miss_changes_one_thing_the_caption_says():
    kinds = set()
    for i in range(300):
        rng = np.random.default_rng(i)
        scene = sample_scene(rng, 0.5)
        name_sizes = bool(i % 2)
        miss, kind = near_miss(scene, rng, name_sizes)
        a, b = Description.of(scene, name_sizes), Description.of(miss, name_sizes)
        assert a != b  # the caption of the miss says something else
        changed = [(f, k) for k, (o, p) in enumerate(zip(a.objects, b.objects))
                   for f in ("colour", "shape", "size", "motion") if getattr(o, f) != getattr(p, f)]
        if a.background != b.background:
            assert not changed and kind == "background"
        elif len(changed) == 2:  # two objects exchanged a shape or a motion
            assert changed[0][0] == changed[1][0] in ("shape", "motion") and len(a.objects) == 2
            assert kind == "swap_" + changed[0][0]
        else:
            assert len(changed) == 1 and kind == changed[0][0]
        kinds.add(kind)
        assert len({o.colour for o in miss.objects}) == len(miss.objects)
        for o in miss.objects:  # every start keeps the object inside
            (xa, xb), (ya, yb) = start_range(SIZES[o.size], o.motion)
            assert xa <= o.x0 <= xb and ya <= o.y0 <= yb
        if not name_sizes:
            assert [o.size for o in scene.objects] == [o.size for o in miss.objects]
    assert kinds == set(KINDS)
    clip, caption, miss_clip, miss_caption = NearMissPairs(size=32)[5]
    assert clip.shape == miss_clip.shape == (8, 32, 32, 3) and caption != miss_caption


def test_verifier_scores_each_clip_once_per_caption(text_encoder):
    torch.manual_seed(0)
    model = Verifier(TINY).eval()
    clips = to_model_space(np.stack([NearMissPairs(size=32)[i][0] for i in range(2)]))
    text = text_encoder.encode([PROMPT, "a blue square falling on a white background", "a green ball"])
    which = torch.tensor([1, 0, 1])
    with torch.no_grad():
        direct = model(clips[which], text)
        indexed = model(clips, text, which)
    assert torch.allclose(direct, indexed, atol=1e-5) and direct.shape == (3,)
    assert not torch.allclose(direct[0], direct[2])  # the caption matters
    with pytest.raises(ValueError, match="32x32"):
        model(torch.zeros(1, 3, 8, 64, 64), text.index(slice(0, 1)))
    with pytest.raises(ValueError, match="frames"):
        model(torch.zeros(1, 3, 40, 32, 32), text.index(slice(0, 1)))


def test_verifier_training_resumes_exactly(verifier_run, tmp_path, text_encoder):
    train_verifier(tmp_path / "a", tiny_verifier_config(steps=2), TINY, text_encoder=text_encoder, progress=False)
    train_verifier(tmp_path / "a", tiny_verifier_config(), TINY, resume=True, text_encoder=text_encoder, progress=False)
    a, b = load_component(verifier_run, "verifier"), load_component(tmp_path / "a", "verifier")
    assert a.step == b.step == 3
    for (k, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), k
    bad = tmp_path / "bad"
    shutil.copytree(verifier_run, bad)
    (bad / "verifier.safetensors").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="damaged|not a readable safetensors"):
        load_component(bad, "verifier")


def test_candidates_keep_the_verifier_best(tiny_model, verifier_run, tmp_path, capsys):
    from kinema.pipeline import ClipSettings, Pipeline

    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    for suffix in (".json", ".safetensors"):
        shutil.copy(verifier_run / ("verifier" + suffix), folder)
    pipe = Pipeline.load(folder)
    s = ClipSettings(steps=2, seed=4, candidates=3, fps=4, size=32)
    video = pipe(PROMPT, s)
    scores = video.metadata["verifier"]["scores"]
    assert len(scores) == 3 and video.metadata["verifier"]["chosen"] == int(np.argmax(scores))
    keyframes, raw = pipe.keyframes(PROMPT, pipe.resolve(s))
    assert keyframes.shape == (3, 8, 32, 32, 3) and len(set(raw.tolist())) == 3
    assert np.array_equal(video.frames, keyframes[int(np.argmax(raw))])  # native size and rate: no cascade
    assert np.array_equal(video.frames, pipe(PROMPT, s).frames)  # same seed, same clip
    assert "verifier" not in pipe(PROMPT, ClipSettings(steps=2, candidates=1)).metadata
    with pytest.raises(ValueError, match="needs a verifier"):
        Pipeline.load(tiny_model)(PROMPT, ClipSettings(steps=2, candidates=2))
    for argv, msg in ((["--candidates", "0"], "--candidates must be in"), (["--candidates", "17"], "--candidates must be in"),
                      (["--candidates", "2", "--model", str(tiny_model)], "needs a verifier")):
        out = tmp_path / "x.mp4"
        with _nothing():
            assert main(["generate", PROMPT, "-o", str(out), "--steps", "2", *argv]) == 2
        assert msg in capsys.readouterr().err and not out.exists()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_the_verifier_reads_a_larger_faster_model_at_its_own_size_and_rate(tiny_model, verifier_run, tmp_path):
    """A denoiser whose native clips are whole multiples of the verifier's (64x64 at 8 fps against 32x32 at
    4 fps) has its candidates scored after area-downsampling and every second frame; other ratios are refused."""
    from kinema.io.checkpoint import load_json, save_json
    from kinema.pipeline import ClipSettings, Pipeline

    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    for suffix in (".json", ".safetensors"):
        shutil.copy(verifier_run / ("verifier" + suffix), folder)
    card = load_json(folder / "denoiser.json")
    card["clip"] = {**card["clip"], "size": 64, "fps": 8.0}
    save_json(folder / "denoiser.json", card)
    pipe = Pipeline.load(folder)
    keyframes, scores = pipe.keyframes(PROMPT, pipe.resolve(ClipSettings(steps=2, seed=1, candidates=2)))
    assert keyframes.shape == (2, 16, 64, 64, 3)
    every_second = keyframes[:, ::2].astype(np.float32)  # 4 fps; then the mean of each 2x2 block
    small = np.rint(every_second.reshape(2, 8, 32, 2, 32, 2, 3).mean(axis=(3, 5))).astype(np.uint8)
    expected = pipe.verifier(to_model_space(small), pipe.text_encoder.encode([PROMPT] * 2))
    assert np.allclose(scores, expected.numpy(), atol=1e-5)
    card["clip"]["fps"] = 6.0
    save_json(folder / "denoiser.json", card)
    with pytest.raises(CheckpointError, match="whole multiples"):
        Pipeline.load(folder)
