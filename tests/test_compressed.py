"""Compressed footage: the h264 round trip the cascade's stages train on, the training data that uses it, and the
gated upscaler that learns how far to trust a damaged input."""
import numpy as np
import torch

from kinema.cli.main import main
from kinema.data.cascade import InterpolationData, UpscaleData
from kinema.data.dataset import ShapesDataset
from kinema.io.frames import to_model_space
from kinema.io.video import h264_round_trip
from kinema.models.upscaler import UPSCALER_PRESETS, Upscaler, UpscalerConfig
from kinema.train.cascade import StageTrainConfig, train_stage


def test_h264_round_trip_damages_more_at_a_higher_crf_and_is_deterministic():
    frames = ShapesDataset(3, 64, 8, 1.0)[0][0]
    errors = []
    for crf in (0, 12, 30):
        out = h264_round_trip(frames, crf)
        assert out.shape == frames.shape and out.dtype == np.uint8
        assert np.array_equal(out, h264_round_trip(frames, crf))
        errors.append(np.abs(out.astype(int) - frames).mean())
    assert errors[0] < errors[1] < errors[2] and errors[1] > 0.1  # (yuv420p halves chroma even at crf 0)


def test_compressed_training_inputs_are_damaged_and_targets_clean():
    clean, damaged = InterpolationData(4), InterpolationData(4, compressed=1.0)
    x_in, x, mask, m = clean.batch(2, 3)
    assert torch.equal(x_in, x)
    y_in, y, mask2, m2 = damaged.batch(2, 3)
    assert torch.equal(y, x) and torch.equal(mask2, mask) and m2 == m  # the same clips, known frames damaged
    known = mask[0].bool()
    assert (y_in[:, :, known] - y[:, :, known]).abs().mean() > 1e-3
    lo, hi = UpscaleData(5).batch(1, 4)
    lo_c, hi_c = UpscaleData(5, compressed=1.0).batch(1, 4)
    assert lo_c.shape == lo.shape and hi_c.shape == hi.shape
    # a clean input is exactly the area-downsampled target; a compressed one is not
    down = lambda h: torch.nn.functional.avg_pool2d(h[:, :, 0], 2)  # noqa: E731
    assert (down(hi) - lo[:, :, 0]).abs().mean() < (down(hi_c) - lo_c[:, :, 0]).abs().mean()


def test_gated_upscaler_starts_as_the_ungated_one_and_trains_on_compressed_inputs(tmp_path):
    torch.manual_seed(0)
    plain = Upscaler(UpscalerConfig(channels=8, blocks=1))
    gated = Upscaler(UpscalerConfig(channels=8, blocks=1, gated=True))
    gated.load_state_dict(plain.state_dict(), strict=False)
    for p in (plain, gated):  # a trained-looking body
        torch.nn.init.normal_(p.out.weight, std=0.05)
    gated.out.load_state_dict(plain.out.state_dict())
    x = to_model_space(ShapesDataset(1, 32, 4, 1.0)[0][0][None])[0][None]
    assert (gated(x) - plain(x)).abs().max() < 0.01
    cfg = StageTrainConfig(stage="upscaler", preset="small-gated", steps=2, batch=2, warmup=1, checkpoint_every=100,
                           log_every=1, real_share=0.0, compressed=0.5)
    train_stage(tmp_path / "gated", cfg, progress=False)
    assert (tmp_path / "gated" / "upscaler.json").is_file() and "small-gated" in UPSCALER_PRESETS
    assert main(["train-stage", "refiner", "--out", str(tmp_path / "r"), "--compressed", "0.5", "--pairs",
                 str(tmp_path)]) == 2
