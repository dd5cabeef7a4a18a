"""Frames given: the denoiser and sampler keep them, windows go on from them, and every way a clip can start
(a picture, a clip to extend, a storyboard, a long clip) works on a tiny latent model trained to."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from kinema.cli.main import main
from kinema.data.dataset import ShapesDataset
from kinema.data.latents import LatentDataset, cache_latents
from kinema.diffusion.rectified_flow import FlowConfig, flow_loss
from kinema.diffusion.samplers import euler, guided_velocity, time_grid
from kinema.io.video import read_metadata, read_video, write_video
from kinema.models.denoiser import VideoDiT, preset
from kinema.pipeline import ClipSettings, Pipeline
from kinema.pipeline.inputs import Start
from kinema.train.denoiser import given_frames

PROMPT = "a red circle moving right on a black background"


def perturbed_denoiser(seed: int = 0) -> VideoDiT:
    torch.manual_seed(seed)
    model = VideoDiT(preset("tiny-latent", in_channels=4))
    with torch.no_grad():  # off the zero initialisation, so its output depends on its input
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape))
    return model.eval()


def test_given_frames_are_what_the_model_sees_whatever_the_sampler_holds(text_encoder):
    """The velocity reads given frames from x_known, not from the sampler's state there (which stochastic steps
    re-noise), and is 0 on them; the pipeline takes x_known for them at the end."""
    model, flow = perturbed_denoiser(), FlowConfig()
    cond, uncond = text_encoder.encode([PROMPT, PROMPT]), text_encoder.empty()
    g = torch.Generator().manual_seed(0)
    x_known = torch.randn(2, 4, 5, 4, 4, generator=g)
    known = torch.tensor([[True, True, False, False, False], [True, False, False, False, True]])
    k = known[:, None, :, None, None].expand_as(x_known)
    v = guided_velocity(model, flow, cond, uncond, 3.0, (0.0, 1.0), known, x_known)
    x = torch.randn(2, 4, 5, 4, 4, generator=g)
    garbage = torch.where(k, 100 * torch.randn(x.shape, generator=g), x)
    a, b = v(x, 0.7), v(garbage, 0.7)
    assert torch.equal(a, b) and torch.all(a[k] == 0) and a[~k].abs().sum() > 0
    plain = guided_velocity(model, flow, cond, uncond, 3.0)(x, 0.7)  # with nothing given: the frames differ
    assert not torch.allclose(plain[~k], a[~k])
    out = euler(v, x, time_grid(6, 3.0), eta=1.0, generator=g)
    assert torch.isfinite(out).all()


def test_per_frame_times_equal_to_one_time_give_the_same_prediction(text_encoder):
    model = perturbed_denoiser()
    x, cond = torch.randn(2, 4, 3, 4, 4), text_encoder.encode([PROMPT, PROMPT])
    t = torch.tensor([0.3, 0.8])
    assert torch.allclose(model(x, t, cond), model(x, t[:, None].expand(2, 3), cond), atol=1e-5)
    frames = torch.tensor([[0.0, 0.3, 0.3], [0.8, 0.8, 0.8]])  # a given first frame changes the prediction
    assert not torch.allclose(model(x, frames, cond)[0], model(x, t, cond)[0], atol=1e-4)
    with pytest.raises(ValueError, match="per-frame"):
        model(x, torch.zeros(2, 5), cond)


def test_the_loss_ignores_given_frames_and_the_training_mix_gives_some(text_encoder):
    model, cond = perturbed_denoiser(), text_encoder.encode([PROMPT] * 4)
    x0 = torch.randn(4, 4, 5, 4, 4)
    known = torch.tensor([[True, False, False, False, False]] * 4)
    a = flow_loss(model, x0, cond, FlowConfig(loss="x0"), torch.Generator().manual_seed(1), known)
    assert torch.isfinite(a) and a > 0
    g = torch.Generator().manual_seed(3)
    masks = torch.stack([given_frames(8, 5, 0.5, g) for _ in range(50)])  # (50, 8, 5)
    assert 0.3 < masks.any(-1).float().mean() < 0.7  # about half the clips are given frames
    assert not masks.all(-1).any()  # never every frame
    assert given_frames(8, 5, 0.0, g).sum() == 0
    going_on = torch.tensor([True, False] * 4)
    masks = torch.stack([given_frames(8, 5, 0.0, g, going_on) for _ in range(50)])
    assert set(masks[:, ::2].sum(-1).flatten().tolist()) == {2, 3}  # late clips: always their first 2 or 3 frames
    assert masks[:, ::2, 0].all() and masks[:, 1::2].sum() == 0


def test_late_clips_show_the_same_scene_later_in_its_long_clip():
    plain, late = ShapesDataset(5, 32, 4, 2.0), ShapesDataset(5, 32, 4, 2.0, late=0.5, late_until=30.0)
    starts = [late.start(i) for i in range(40)]
    assert 0.2 < np.mean([s > 0 for s in starts]) < 0.8 and all(s == 0 or 2.0 <= s <= 30.0 for s in starts)
    for i in range(6):  # the scene and caption are the plain dataset's; only when the clip starts differs
        assert late.scene_and_caption(i) == plain.scene_and_caption(i)
        same = np.array_equal(late[i][0], plain[i][0])
        moving = late.scene(i).objects[0].motion != "still" or len(late.scene(i).objects) > 1
        assert same == (starts[i] == 0) or not moving


def test_a_cache_of_late_clips_says_which_go_on(tmp_path, text_encoder, going_on_model):
    from shutil import copyfile

    for name in ("autoencoder.safetensors", "autoencoder.json"):
        copyfile(going_on_model / name, tmp_path / name)
    data = ShapesDataset(1, 32, 4, 2.0, late=0.5)
    cache = cache_latents(data, tmp_path, tmp_path / "cache", 6, {"size": 32, "fps": 4, "seconds": 2.0},
                          text_encoder, shard_size=6, batch=3, progress=False)
    assert LatentDataset(cache).going_on(0, 6).tolist() == [data.start(i) > 0 for i in range(6)]


def test_rolling_matches_one_shot_where_they_agree_and_windows_depend_only_on_their_context(going_on_model):
    pipe = Pipeline.load(going_on_model)
    assert pipe.goes_on
    s = pipe.resolve(ClipSettings(seed=3, steps=2, size=32, fps=4))
    one = pipe.make(PROMPT, s)
    assert np.array_equal(pipe.make(PROMPT, s, parts=[(PROMPT, 2.0)]).frames, one.frames)
    long = pipe.make(PROMPT, pipe.resolve(ClipSettings(seed=3, steps=2, size=32, fps=4, seconds=6)))
    assert long.frames.shape == (24, 32, 32, 3) and pipe.timings["windows"] > 1
    assert np.array_equal(long.frames[:8], one.frames)  # the first window is the one-shot clip
    # a window sees the last 5 pictures of the clip so far and nothing before them
    rng = np.random.default_rng(0)
    tail = rng.integers(0, 255, (5, 32, 32, 3), dtype=np.uint8)
    a = Start(np.concatenate([rng.integers(0, 255, (7, 32, 32, 3), dtype=np.uint8), tail]), "clip", fps=4)
    b = Start(np.concatenate([np.zeros((3, 32, 32, 3), np.uint8), tail]), "clip", fps=4)
    s2 = pipe.resolve(ClipSettings(seed=5, steps=2, size=32, fps=4, seconds=1))
    va, vb = pipe.make(PROMPT, s2, start=a), pipe.make(PROMPT, s2, start=b)
    assert np.array_equal(va.frames[:12], a.frames) and np.array_equal(vb.frames[:8], b.frames)
    assert np.array_equal(va.frames[12:], vb.frames[8:]) and len(va.frames) == 16


def test_a_window_refines_only_the_frames_it_adds_and_they_are_the_same(going_on_model):
    """A window going on from given pictures drops them before the refiner, less one frame a pass (its reach):
    the frames it adds are those of refining the whole window."""
    from kinema.models.refiner import REFINER_PRESETS, Refiner

    pipe = Pipeline.load(going_on_model, precision="fp32")
    pipe.refiner = Refiner(REFINER_PRESETS["tiny"]).eval()
    with torch.no_grad():
        pipe.refiner.out.weight.normal_(0, 0.1, generator=torch.Generator().manual_seed(0))
    s = pipe.resolve(ClipSettings(seed=3, steps=2, size=32, fps=4, refine_passes=2))
    given = pipe.start_latents(np.random.default_rng(0).integers(0, 255, (5, 32, 32, 3), dtype=np.uint8))
    whole, _ = pipe.keyframes(PROMPT, s, given=given, generator=torch.Generator().manual_seed(1))
    added, _ = pipe.keyframes(PROMPT, s, given=given, generator=torch.Generator().manual_seed(1), drop=5)
    unrefined, _ = pipe.keyframes(PROMPT, replace(s, refine_passes=0), given=given,
                                  generator=torch.Generator().manual_seed(1), drop=5)
    assert added.shape[1] == whole.shape[1] - 5 and np.abs(whole[:, 5:].astype(int) - added).max() <= 1
    assert np.abs(unrefined.astype(int) - added).max() > 10  # (the refiner does change them)


def test_a_picture_is_frame_zero_and_a_storyboard_is_told_in_turn(going_on_model, tmp_path):
    pipe = Pipeline.load(going_on_model)
    picture = np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    s = pipe.resolve(ClipSettings(seed=1, steps=2, size=32, fps=4))
    video = pipe.make(PROMPT, s, start=Start(picture[None], "image", "p.png"))
    assert np.array_equal(video.frames[0], picture) and len(video.frames) == 8
    assert video.metadata["start"] == {"kind": "image", "source": "p.png", "frames": 1}
    board = tmp_path / "board.json"
    board.write_text(json.dumps([{"prompt": PROMPT, "seconds": 2}, {"prompt": "a blue square falling on a white "
                                                                            "background", "seconds": 1}]))
    out = tmp_path / "story.mp4"
    assert main(["generate", "--storyboard", str(board), "--model", str(going_on_model), "--steps", "2",
                 "--size", "32", "--fps", "4", "-o", str(out)]) == 0
    frames, _ = read_video(out)
    assert len(frames) == 12 and [p["seconds"] for p in read_metadata(out)["storyboard"]] == [2, 1]


@pytest.mark.parametrize("argv,message", [
    (["--image", "{tmp}/not-a-picture.png"], "cannot read picture"),
    (["--image", "{tmp}/clip.mp4"], "cannot read picture"),
    (["--extend", "{tmp}/not-a-picture.png"], "cannot read video"),
    (["--image", "{tmp}/picture.png", "--extend", "{tmp}/clip.mp4"], "not both"),
    (["--seconds", "61"], "--seconds must be in"),
    (["--storyboard", "{tmp}/board-bad.json"], "part 2"),
    (["--storyboard", "{tmp}/board-long.json"], "at most 60"),
])
def test_bad_starts_are_refused_before_any_model_loads(tmp_path, capsys, argv, message):
    (tmp_path / "not-a-picture.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(30))
    write_video(np.zeros((4, 16, 16, 3), np.uint8), tmp_path / "clip.mp4", 8)
    from PIL import Image

    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "picture.png")
    (tmp_path / "board-bad.json").write_text(json.dumps([{"prompt": PROMPT, "seconds": 2}, {"prompt": PROMPT}]))
    (tmp_path / "board-long.json").write_text(json.dumps([{"prompt": PROMPT, "seconds": 40}] * 2))
    before = sorted(tmp_path.iterdir())
    args = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    prompt = [] if "--storyboard" in argv else [PROMPT]
    code = main(["generate", *prompt, *args, "-o", str(tmp_path / "out.mp4"), "--model", str(tmp_path / "none")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1 and "no model folder" not in err
    assert sorted(tmp_path.iterdir()) == before


def test_eval_judges_long_and_started_clips_window_by_window(going_on_model, tmp_path):
    base = ["eval", "--model", str(going_on_model), "--limit", "2", "--steps", "2", "--size", "32", "--fps", "4",
            "--json"]
    assert main(base + ["--out", str(tmp_path / "long"), "--seconds", "4"]) == 0
    long = json.loads((tmp_path / "long" / "results.json").read_text())
    assert 0 <= long["windows"] <= 1 and all(len(c["windows"]) == 2 for c in long["clips"])
    assert main(base + ["--out", str(tmp_path / "image"), "--start", "image"]) == 0
    assert main(base + ["--out", str(tmp_path / "clip"), "--start", "clip", "--rendered"]) == 2  # one or the other


def test_first_and_last_pictures(going_on_model, tmp_path, capsys):
    pipe = Pipeline.load(going_on_model)
    rng = np.random.default_rng(4)
    first, last = (rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(2))
    s = pipe.resolve(ClipSettings(seed=1, steps=2, size=32, fps=4))
    video = pipe.make(PROMPT, s, start=Start(first[None], "image"), end=last)
    assert len(video.frames) == 8 and np.array_equal(video.frames[0], first) and np.array_equal(video.frames[-1], last)
    with pytest.raises(ValueError, match="last picture"):
        pipe.make(PROMPT, pipe.resolve(ClipSettings(seed=1, steps=2, size=32, fps=4, seconds=4)), end=last)
    from PIL import Image

    Image.fromarray(last).save(tmp_path / "last.png")
    write_video(np.zeros((4, 16, 16, 3), np.uint8), tmp_path / "clip.mp4", 8)
    assert main(["generate", PROMPT, "--last-image", str(tmp_path / "last.png"), "--extend", str(tmp_path / "clip.mp4"),
                 "-o", str(tmp_path / "o.mp4"), "--model", str(going_on_model)]) == 2
    assert "a last picture goes with" in capsys.readouterr().err and not (tmp_path / "o.mp4").exists()
    assert main(["generate", PROMPT, "--last-image", str(tmp_path / "last.png"), "--seconds", "4", "-o",
                 str(tmp_path / "o.mp4"), "--model", str(going_on_model)]) == 2  # past the model's own length
    assert "ends a clip of at most 2 s" in capsys.readouterr().err and not (tmp_path / "o.mp4").exists()


def test_the_python_api_takes_every_way_a_clip_starts(going_on_model, monkeypatch):
    import kinema
    from kinema.pipeline import pipeline

    small = dict(model=str(going_on_model), steps=2, size=32, fps=4, seed=2)
    story = kinema.generate(storyboard=[{"prompt": PROMPT, "seconds": 1}, {"prompt": PROMPT, "seconds": 1}], **small)
    assert len(story.frames) == 8 and story.metadata["prompt"] == f"{PROMPT} | {PROMPT}"
    last = np.full((32, 32, 3), 200, np.uint8)
    ends = kinema.generate(PROMPT, last_image=last, **small)
    assert np.array_equal(ends.frames[-1], last)

    def no_load(*a, **k):
        raise AssertionError("the model loaded before the request was checked")

    monkeypatch.setattr(pipeline.Pipeline, "load", staticmethod(no_load))
    for bad, words in [(dict(storyboard=[{"prompt": PROMPT}]), "expected"), (dict(storyboard=[]), "1 to 20 parts"),
                       (dict(last_image=last, extend="clip.mp4"), "last picture goes with"),
                       (dict(last_image=np.zeros((4, 4, 3), np.uint8)), "at least 8x8")]:
        with pytest.raises(ValueError, match=words):
            kinema.generate(PROMPT, **small, **bad)


def test_a_compiled_denoiser_makes_the_same_clip(going_on_model):
    """`kinema serve --compile`: the worker compiles the denoiser's forward (here by dynamo's eager backend, which
    traces without inductor's C++ build) and warms it up on clips of two windows; clips come out the same."""
    from kinema.server.worker import warm_up

    s = ClipSettings(seed=3, steps=2, size=32, fps=4, seconds=3)
    plain = Pipeline.load(going_on_model, precision="fp32")
    compiled = Pipeline.load(going_on_model, precision="fp32")
    assert warm_up(compiled, "eager") > 0
    assert compiled.denoiser._compiled_call_impl is not None and plain.denoiser._compiled_call_impl is None
    a, b = (p.make(PROMPT, p.resolve(s)).frames for p in (plain, compiled))
    assert np.abs(a.astype(int) - b).max() <= 1
