"""The cascade's stages: interpolation between keyframes, upscaling, and the pipeline that runs them."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kinema.models.components import load_component
from kinema.models.interpolator import (INTERPOLATOR_PRESETS, Interpolator, InterpolatorConfig, fine_factor, first_guess,
                                        flow_guess, interpolate_clip)
from kinema.models.upscaler import UPSCALER_PRESETS, Upscaler, passes_for, upscale_clip
from kinema.cli.main import main
from kinema.data.dataset import ShapesDataset
from kinema.io.frames import to_model_space
from kinema.eval.optical_flow import warp_error
from kinema.io.checkpoint import CheckpointError
from kinema.io.video import read_metadata, read_video, write_video
from kinema.train.cascade import StageTrainConfig, train_stage


def randomised(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """The model with every weight random (its zero-initialised output layer too): a non-trivial function."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return model.eval()


def test_first_guess_blends_between_known_frames_and_holds_at_the_ends():
    x = torch.randn(2, 3, 7, 4, 4)
    mask = torch.tensor([[1, 0, 0, 1, 0, 0, 1], [0, 0, 1, 0, 0, 0, 0]], dtype=torch.float32)
    g = first_guess(x, mask)
    assert torch.allclose(g[0, :, 1], x[0, :, 0] * 2 / 3 + x[0, :, 3] / 3, atol=1e-6)
    assert torch.allclose(g[0, :, 5], x[0, :, 3] / 3 + x[0, :, 6] * 2 / 3, atol=1e-6)
    assert torch.equal(g[0, :, 3], x[0, :, 3])
    assert all(torch.equal(g[1, :, k], x[1, :, 2]) for k in range(7))  # one known frame: held everywhere
    with pytest.raises(ValueError, match="known frame"):
        first_guess(x, torch.zeros(2, 7))


def moving_square(frames: int = 9, size: int = 32, step: int = 1) -> torch.Tensor:
    """A white 8x8 square on black moving `step` pixels right per frame: (1, 3, T, S, S) in [-1, 1]."""
    x = -torch.ones(1, 3, frames, size, size)
    for k in range(frames):
        x[:, :, k, 12:20, 4 + step * k:12 + step * k] = 1
    return x


def test_flow_guess_moves_the_object_where_linear_blending_cross_fades():
    x, mask = moving_square(), torch.zeros(1, 9)
    mask[:, ::4] = 1
    flow, linear = flow_guess(x, mask), first_guess(x, mask)
    assert torch.equal(flow[:, :, ::4], x[:, :, ::4])
    err = lambda g: (g[:, :, 1:4] - x[:, :, 1:4]).abs().mean()  # noqa: E731
    assert err(flow) < 0.1 * err(linear)


@pytest.mark.parametrize("guess", ["flow", "linear"])
def test_interpolator_starts_as_its_first_guess_and_passes_known_frames_exactly(guess):
    x, mask = torch.randn(1, 3, 9, 16, 16).clamp(-1, 1), torch.zeros(1, 9)
    mask[:, ::4] = 1
    cfg = InterpolatorConfig(channels=8, blocks=1, guess=guess)
    expected = flow_guess(x, mask) if guess == "flow" else first_guess(x, mask)
    fresh = Interpolator(cfg)
    assert torch.allclose(fresh(x, mask), expected, atol=1e-6)  # zero-initialised output
    y = randomised(Interpolator(cfg))(x, mask)
    assert torch.equal(y[:, :, ::4], x[:, :, ::4])  # ground truth at the input comes out unchanged
    assert not torch.allclose(y, expected, atol=1e-3)
    with pytest.raises(ValueError, match="divisible by 4"):
        fresh(torch.randn(1, 3, 9, 6, 6), mask)


def test_frame_grid_for_common_rates():
    assert [fine_factor(4, f) for f in (8, 12, 16, 24)] == [2, 3, 4, 6]
    assert fine_factor(8, 12) == 3 and fine_factor(8, 24) == 3 and fine_factor(8, 8) == 1 and fine_factor(8, 4) == 1
    assert fine_factor(4, 9.7) == 12  # no exact grid: the finest, nearest frame


def test_interpolate_clip_keeps_source_frames_and_windows_equal_one_pass():
    frames = ShapesDataset(3, 32, 4, 2.0)[0][0]  # 8 frames at 4 fps
    model = randomised(Interpolator(INTERPOLATOR_PRESETS["tiny"]), seed=1)
    for fps, m in ((16, 4), (24, 6), (12, 3)):
        n_out = 2 * fps
        out = interpolate_clip(model, frames, 4, fps, n_out, window=2)
        assert out.shape == (n_out, 32, 32, 3)
        assert np.array_equal(out[::m][:8], frames)  # the keyframes themselves, at their times
        whole = interpolate_clip(model, frames, 4, fps, n_out, window=100)
        assert np.abs(out.astype(int) - whole.astype(int)).max() <= 1  # windows: the same as one pass
    down = interpolate_clip(model, frames, 4, 2, 4)  # fewer frames: every other one
    assert np.array_equal(down, frames[::2])
    odd = interpolate_clip(model, frames[:, :30, :29], 4, 8, 16)  # any frame size (padded inside)
    assert odd.shape == (16, 30, 29, 3)


def test_upscaler_starts_as_bicubic_and_keeps_the_input():
    x = to_model_space(ShapesDataset(1, 32, 4, 1.0)[0][0][None])[0][None]  # (1, 3, 4, 32, 32)
    fresh = Upscaler(UPSCALER_PRESETS["tiny"])
    y = fresh(x)
    assert y.shape == (1, 3, 4, 64, 64)
    # area-downsampling the output gives the input back (the consistency projection), trained or not
    for model in (fresh, randomised(Upscaler(UPSCALER_PRESETS["tiny"]))):
        y = model(x)
        down = F.avg_pool2d(y[0].transpose(0, 1), 2).transpose(0, 1)[None]
        assert torch.allclose(down, x, atol=1e-5)


def test_upscale_clip_reaches_any_size():
    frames = ShapesDataset(2, 32, 4, 1.0)[0][0]
    model = Upscaler(UPSCALER_PRESETS["tiny"]).eval()
    assert passes_for(32, 128) == 2 and passes_for(32, 100) == 2 and passes_for(64, 64) == 0
    assert upscale_clip(model, frames, 128, chunk=3).shape == (4, 128, 128, 3)
    assert upscale_clip(model, frames, 100).shape == (4, 100, 100, 3)
    wide = np.concatenate([frames, frames], axis=2)  # 32 x 64: aspect kept
    assert upscale_clip(model, wide, 64).shape == (4, 64, 128, 3)


def test_warp_error_orders_smooth_before_shuffled_and_noisy():
    frames = ShapesDataset(5, 64, 8, 2.0)[1][0]
    shuffled = frames[np.random.default_rng(0).permutation(len(frames))]
    noisy = np.clip(frames + np.random.default_rng(1).integers(-40, 40, frames.shape), 0, 255).astype(np.uint8)
    smooth = warp_error(frames)
    assert smooth < 1.0 and smooth < warp_error(shuffled) and smooth < warp_error(noisy)
    assert warp_error(frames[:1]) == 0.0


@pytest.fixture(scope="module")
def stage_runs(tmp_path_factory):
    """Tiny interpolator and upscaler, each trained a few steps by the real training loop."""
    root = tmp_path_factory.mktemp("stages")
    for stage, tw, loss in (("interpolator", 0.5, "mse"), ("upscaler", 0.0, "l1")):
        cfg = StageTrainConfig(stage=stage, preset="tiny", steps=3, batch=2, warmup=1, temporal_weight=tw, loss=loss,
                               checkpoint_every=100, log_every=1, real_share=0.0)
        train_stage(root / stage, cfg, progress=False)
    return root


def test_stage_training_resumes_exactly(stage_runs, tmp_path):
    cfg = StageTrainConfig(stage="upscaler", preset="tiny", steps=4, batch=2, warmup=1, checkpoint_every=2,
                           log_every=1, real_share=0.0)
    train_stage(tmp_path / "straight", cfg, progress=False)
    train_stage(tmp_path / "resumed", StageTrainConfig(**{**cfg.__dict__, "steps": 2}), progress=False)
    train_stage(tmp_path / "resumed", cfg, resume=True, progress=False)
    a, b = load_component(tmp_path / "straight", "upscaler"), load_component(tmp_path / "resumed", "upscaler")
    for (k, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), k
    assert load_component(stage_runs / "interpolator", "interpolator").step == 3


def test_corrupt_or_mismatched_stage_is_a_clear_error(stage_runs, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(stage_runs / "upscaler", bad)
    (bad / "upscaler.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="damaged|not a readable safetensors"):
        load_component(bad, "upscaler")
    shutil.copy(stage_runs / "interpolator" / "interpolator.safetensors", bad / "upscaler.safetensors")
    with pytest.raises(CheckpointError, match="damaged"):  # not the weights its JSON's digest names
        load_component(bad, "upscaler")
    card = json.loads((bad / "upscaler.json").read_text())
    del card["sha256"]  # a config that names no digest (written by hand): the tensors themselves do not fit
    (bad / "upscaler.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="does not match"):
        load_component(bad, "upscaler")
    with pytest.raises(CheckpointError, match="missing"):
        load_component(tmp_path, "interpolator")


def test_interpolate_and_upscale_commands(stage_runs, tmp_path, capsys):
    src = tmp_path / "in.mp4"
    write_video(ShapesDataset(4, 32, 4, 2.0)[0][0], src, 4)
    out = tmp_path / "fast.mp4"
    assert main(["interpolate", str(src), "-o", str(out), "--fps", "12", "--model", str(stage_runs / "interpolator")]) == 0
    frames, fps = read_video(out)
    assert (len(frames), fps) == (24, 12) and read_metadata(out)["fps_in"] == 4
    big = tmp_path / "big.mp4"
    assert main(["upscale", str(src), "-o", str(big), "--size", "128", "--model", str(stage_runs / "upscaler")]) == 0
    assert read_video(big)[0].shape == (8, 128, 128, 3)
    # bad combinations: each a clear error, exit 2, nothing written
    for argv, msg in ((["upscale", str(src), "-o", str(tmp_path / "x.mp4"), "--size", "16"], "not larger"),
                      (["upscale", str(src), "-o", str(tmp_path / "x.gif"), "--size", "64"], "writes .mp4"),
                      (["interpolate", str(src), "-o", str(src), "--fps", "8"], "overwrite the input"),
                      (["interpolate", str(tmp_path / "none.mp4"), "-o", str(tmp_path / "x.mp4"), "--fps", "8"], "no video"),
                      (["upscale", str(src), "-o", str(tmp_path / "x.mp4"), "--size", "64", "--model", str(tmp_path)],
                       "missing")):
        capsys.readouterr()
        assert main(argv + (["--model", str(stage_runs / argv[0].replace("interpolate", "interpolator")
                                           .replace("upscale", "upscaler"))] if "--model" not in argv else [])) == 2
        assert msg in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()
    assert main(["train-stage", "sharpener", "--out", str(tmp_path / "r")]) == 2
    assert main(["train-stage", "upscaler", "--out", str(tmp_path / "r"), "--temporal-weight", "1"]) == 2


def test_pipeline_runs_the_stages_it_has(tiny_model, stage_runs, tmp_path):
    """A model folder with a keyframe denoiser (32x32 at 4 fps) and both stages: 64x64 at 12 fps."""
    from kinema.pipeline import ClipSettings, Pipeline

    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    for name in ("interpolator", "upscaler"):
        for suffix in (".json", ".safetensors"):
            shutil.copy(stage_runs / name / (name + suffix), folder)
    pipe = Pipeline.load(folder)
    seen = []
    video = pipe("a red circle moving left on a black background", ClipSettings(steps=2, fps=12, size=64, seed=3),
                 progress=lambda stage, k, n: seen.append(stage))
    assert video.frames.shape == (24, 64, 64, 3)
    # the first frame (a keyframe) is upscaled alone before the interpolator runs; then each segment's frames
    runs = [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s]
    assert runs[:2] == ["keyframes", "upscale"] and runs[2:] == ["interpolate", "upscale"] * (len(runs) // 2 - 1)
    assert video.metadata["stages"]["interpolate"].startswith("interpolator step 3")
    again = pipe("a red circle moving left on a black background", ClipSettings(steps=2, fps=12, size=64, seed=3))
    assert np.array_equal(video.frames, again.frames)
    plain = Pipeline.load(tiny_model)("a red circle moving left on a black background", ClipSettings(steps=2, fps=12, size=64))
    assert plain.metadata["stages"] == {"keyframes": plain.metadata["stages"]["keyframes"], "refine": "none",
                                        "interpolate": "linear blending", "upscale": "area/bicubic resize"}


def test_later_passes_use_the_light_upscaler(tiny_model, stage_runs, tmp_path):
    """An upscaler trained on what the first pass makes (`--after`) runs the passes after the first, where the model
    folder has it as upscaler_light; one pass never uses it."""
    from kinema.data.cascade import UpscaleData
    from kinema.io.checkpoint import read_component, save_component
    from kinema.models.components import as_kind
    from kinema.pipeline import ClipSettings, Pipeline

    first = load_component(stage_runs / "upscaler", "upscaler")
    lows, highs = UpscaleData(0, after=first).batch(0, 2)  # the inputs are the first pass's output
    assert lows.shape[-1] * 2 == highs.shape[-1] and lows.abs().max() <= 1
    cfg = StageTrainConfig(stage="upscaler", preset="tiny", steps=2, batch=2, warmup=1, checkpoint_every=100,
                           real_share=0.0, after=str(stage_runs / "upscaler"))
    train_stage(tmp_path / "light", cfg, progress=False)
    with pytest.raises(ValueError, match="upscaler only"):
        StageTrainConfig(stage="interpolator", preset="tiny", after=str(stage_runs / "upscaler"))

    frames = ShapesDataset(2, 32, 4, 1.0)[0][0]
    later = randomised(Upscaler(UPSCALER_PRESETS["tiny"]), seed=1)
    twice = upscale_clip(later, upscale_clip(first, frames, 64), 128)
    both = upscale_clip(first, frames, 128, later=later).astype(int)
    assert np.abs(both - twice).max() <= 1  # (rounded to uint8 between the passes, not within)
    assert np.abs(both - upscale_clip(first, frames, 128)).max() > 10

    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    for suffix in (".json", ".safetensors"):
        shutil.copy(stage_runs / "upscaler" / ("upscaler" + suffix), folder)
    plain = Pipeline.load(folder)
    weights, card = read_component(tmp_path / "light", "upscaler")
    weights = {k: torch.randn(v.shape, generator=torch.Generator().manual_seed(2)) * 0.05 for k, v in weights.items()}
    save_component(folder, "upscaler_light", weights, as_kind(card, "upscaler", "upscaler_light"))
    light = Pipeline.load(folder)
    assert light.upscaler_light.step == 2
    prompt = "a red circle moving left on a black background"
    for size, differs in ((64, False), (128, True)):
        a, b = (p(prompt, ClipSettings(steps=2, size=size, seed=3)) for p in (plain, light))
        assert (not np.array_equal(a.frames, b.frames)) == differs
        assert ("light upscaler step 2" in b.metadata["stages"]["upscale"]) == differs
