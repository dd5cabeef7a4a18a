"""The verifier: near-miss training pairs, the model, its training, and the pipeline's search over candidates."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from kinema.cli.main import main
from kinema.data.captions import Description
from kinema.data.dataset import to_model_space
from kinema.data.pairs import KINDS, NearMissPairs, near_miss
from kinema.data.shapes import SIZES, sample_scene, start_range
from kinema.io.checkpoint import CheckpointError
from kinema.train.verifier import VerifierTrainConfig, train_verifier
from kinema.verifier.model import Verifier, VerifierConfig, load_verifier

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
    a, b = load_verifier(verifier_run), load_verifier(tmp_path / "a")
    assert a.step == b.step == 3
    for (k, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), k
    bad = tmp_path / "bad"
    shutil.copytree(verifier_run, bad)
    (bad / "verifier.safetensors").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_verifier(bad)


def test_candidates_keep_the_verifier_best(tiny_model, verifier_run, tmp_path, capsys):
    from kinema.pipeline.generate import Pipeline, Settings

    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    for suffix in (".json", ".safetensors"):
        shutil.copy(verifier_run / ("verifier" + suffix), folder)
    pipe = Pipeline.load(folder)
    s = Settings(steps=2, seed=4, candidates=3, fps=4, size=32)
    video = pipe(PROMPT, s)
    scores = video.metadata["verifier"]["scores"]
    assert len(scores) == 3 and video.metadata["verifier"]["chosen"] == int(np.argmax(scores))
    keyframes, raw = pipe.keyframes(PROMPT, pipe.resolve(s))
    assert keyframes.shape == (3, 8, 32, 32, 3) and len(set(raw.tolist())) == 3
    assert np.array_equal(video.frames, keyframes[int(np.argmax(raw))])  # native size and rate: no cascade
    assert np.array_equal(video.frames, pipe(PROMPT, s).frames)  # same seed, same clip
    assert "verifier" not in pipe(PROMPT, Settings(steps=2, candidates=1)).metadata
    with pytest.raises(ValueError, match="needs a verifier"):
        Pipeline.load(tiny_model)(PROMPT, Settings(steps=2, candidates=2))
    for argv, msg in ((["--candidates", "0"], "positive"), (["--candidates", "17"], "--candidates must be in"),
                      (["--candidates", "2", "--model", str(tiny_model)], "needs a verifier")):
        out = tmp_path / "x.mp4"
        with pytest.raises(SystemExit) if msg == "positive" else _nothing():
            assert main(["generate", PROMPT, "-o", str(out), "--steps", "2", *argv]) == 2
        assert msg in capsys.readouterr().err and not out.exists()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_reward_loss_judges_predictions_against_their_captions_and_near_misses(text_encoder):
    """kinema.train.reward with the shipped verifier: real clips under their own captions score a lower loss
    than under each other's; only kept captions at t >= min_t count; the gradient reaches the clips."""
    from kinema.data.dataset import ShapesDataset
    from kinema.pipeline.generate import DEFAULT_MODEL
    from kinema.train.reward import reward_loss

    data = ShapesDataset(3, 32, 4, 2.0)
    clips = to_model_space(np.stack([data[i][0] for i in range(6)])).requires_grad_(True)
    text = text_encoder.encode([data[i][1] for i in range(6)])
    misses = [data.near_miss_caption(i) for i in range(6)]
    assert misses == [data.near_miss_caption(i) for i in range(6)]  # fixed by (seed, i)
    assert all(m != data[i][1] for i, m in enumerate(misses))
    for i in range(20):  # restricted to motion: the same words but one object's motion
        a = Description.of(data.scene_and_caption(i)[0], name_sizes=False)
        b = Description.of(near_miss(data.scene_and_caption(i)[0], np.random.default_rng(i), False, ("motion",))[0],
                           name_sizes=False)
        assert a.background == b.background and [(o.colour, o.shape) for o in a.objects] == \
            [(o.colour, o.shape) for o in b.objects] and a != b
    negatives = text_encoder.encode(misses)
    verifier = load_verifier(DEFAULT_MODEL)
    t, keep = torch.full((6,), 0.9), torch.ones(6, dtype=torch.bool)
    own = reward_loss(verifier, clips, t, text, negatives, keep, 0.7)
    rotated = torch.roll(torch.arange(6), 1)
    others = reward_loss(verifier, clips, t, text.index(rotated), negatives.index(rotated), keep, 0.7)
    assert own < 0.5 * others
    own.backward()
    assert clips.grad is not None and clips.grad.abs().sum() > 0
    none = reward_loss(verifier, clips, torch.full((6,), 0.5), text, negatives, keep, 0.7)
    assert none.item() == 0 and none.requires_grad
    one = reward_loss(verifier, clips, t, text, None, torch.arange(6) == 2, 0.7)
    assert one.item() == pytest.approx(0.0, abs=1e-6)  # one clip, one caption: nothing to tell apart


def test_train_with_a_reward_verifier(tiny_model, verifier_run, tmp_path, capsys):
    """kinema train --reward-verifier: the reward is logged beside the loss; a bad setting exits 2 first."""
    import json

    run = tmp_path / "reward"
    args = ["train", "--out", str(run), "--preset", "tiny", "--size", "32", "--fps", "4", "--steps", "2",
            "--batch", "3", "--no-progress", "--init", str(tiny_model), "--checkpoint-every", "1"]
    capsys.readouterr()
    assert main(args + ["--reward-weight", "0.01"]) == 2
    assert "needs reward_verifier" in capsys.readouterr().err
    assert main(args + ["--reward-weight", "0.01", "--reward-verifier", str(verifier_run), "--size", "64"]) == 2
    assert "reads 3-channel 32x32 clips" in capsys.readouterr().err
    assert not run.exists()  # refused before any step
    assert main(args + ["--reward-weight", "0.01", "--reward-verifier", str(verifier_run),
                        "--reward-negatives", "direction"]) == 2
    assert "reward_negatives: choose among" in capsys.readouterr().err
    assert main(args + ["--reward-weight", "0.01", "--reward-verifier", str(verifier_run),
                        "--reward-negatives", "size"]) == 2  # training captions name no sizes: refused, not ignored
    assert "reward_negatives: choose among colour, shape, motion, background, swap_shape" in capsys.readouterr().err
    assert main(args + ["--reward-weight", "0.01", "--reward-verifier", str(verifier_run),
                        "--reward-min-t", "0", "--reward-negatives", "motion", "swap_motion"]) == 0
    records = [json.loads(l) for l in (run / "log.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 2 and records[-1]["reward"] > 0
    train = json.loads((run / "denoiser.json").read_text())["train"]
    assert train["reward_weight"] == 0.01 and train["reward_negatives"] == ["motion", "swap_motion"]


def test_the_verifier_reads_a_larger_faster_model_at_its_own_size_and_rate(tiny_model, verifier_run, tmp_path):
    """A denoiser whose native clips are whole multiples of the verifier's (64x64 at 8 fps against 32x32 at
    4 fps) has its candidates scored after area-downsampling and every second frame; other ratios are refused."""
    from kinema.io.checkpoint import load_json, save_json
    from kinema.pipeline.generate import Pipeline, Settings

    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    for suffix in (".json", ".safetensors"):
        shutil.copy(verifier_run / ("verifier" + suffix), folder)
    card = load_json(folder / "denoiser.json")
    card["clip"] = {**card["clip"], "size": 64, "fps": 8.0}
    save_json(folder / "denoiser.json", card)
    pipe = Pipeline.load(folder)
    keyframes, scores = pipe.keyframes(PROMPT, pipe.resolve(Settings(steps=2, seed=1, candidates=2)))
    assert keyframes.shape == (2, 16, 64, 64, 3)
    every_second = keyframes[:, ::2].astype(np.float32)  # 4 fps; then the mean of each 2x2 block
    small = np.rint(every_second.reshape(2, 8, 32, 2, 32, 2, 3).mean(axis=(3, 5))).astype(np.uint8)
    expected = pipe.verifier(to_model_space(small), pipe.text_encoder.encode([PROMPT] * 2))
    assert np.allclose(scores, expected.numpy(), atol=1e-5)
    card["clip"]["fps"] = 6.0
    save_json(folder / "denoiser.json", card)
    with pytest.raises(CheckpointError, match="whole multiples"):
        Pipeline.load(folder)
