"""The causal video autoencoder: causality, streaming and tiling, shapes, checkpoints, training, latents."""
import json
from dataclasses import asdict, replace

import numpy as np
import pytest
import torch
from conftest import tiny_train_config

from kinema.pipeline.reconstruct import reconstruct_clip, reconstruct_file, reconstruct_stream
from kinema.models.autoencoder import (AE_PRESETS, FRAMES_PER_PASS, AutoencoderConfig, VideoAutoencoder, average_channels,
                                   down_shortcut, repeat_channels, up_shortcut)
from kinema.models.components import config_from_dict, load_component
from kinema.cli.main import main
from kinema.data.dataset import ShapesDataset
from kinema.io.frames import to_frames, to_model_space
from kinema.data.latents import LatentDataset, cache_latents
from kinema.world.shapes import Scene
from kinema.models.denoiser import preset
from kinema.diffusion.rectified_flow import FlowConfig
from kinema.io.checkpoint import CheckpointError, read_component, load_state_into, load_tensors, save_component
from kinema.io.video import read_video, write_video
from kinema.pipeline import ClipSettings, Pipeline
from kinema.train.autoencoder import AutoencoderTrainConfig, train_autoencoder
from kinema.train.denoiser import train


GROWN = replace(AE_PRESETS["tiny"], decoder_blocks=2, detail_width=8)  # two blocks a level, a full-resolution stage
BOTH = pytest.mark.parametrize("cfg", [AE_PRESETS["tiny"], GROWN], ids=["tiny", "grown"])


def tiny_ae(seed: int = 0, cfg: AutoencoderConfig = AE_PRESETS["tiny"]) -> VideoAutoencoder:
    torch.manual_seed(seed)
    ae = VideoAutoencoder(cfg).eval()
    with torch.no_grad():  # random but not degenerate: spread the weights a little
        for p in ae.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return ae


def clip(t: int, h: int = 32, w: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, t, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@BOTH
def test_encoder_and_decoder_are_causal(cfg):
    ae, x = tiny_ae(cfg=cfg), clip(13)
    z = ae.encode(x)
    assert z.shape == (1, 4, 4, 4, 4)  # 1 + 12/4 latent frames
    later = x.clone()
    later[:, :, 9:] = 0  # frames 9.. belong to latent 3 (latent i holds frames 4i-3 .. 4i)
    z2 = ae.encode(later)
    assert torch.equal(z[:, :, :3], z2[:, :, :3]) and not torch.allclose(z[:, :, 3:], z2[:, :, 3:])
    first = ae.encode(x[:, :, :1])  # a still image is a one-frame video: frame 0 alone
    assert torch.allclose(first, z[:, :, :1], atol=1e-6)
    y, z3 = ae.decode(z), z.clone()
    z3[:, :, 2:] = 0
    y3 = ae.decode(z3)
    assert torch.allclose(y[:, :, :5], y3[:, :, :5], atol=1e-6) and not torch.allclose(y[:, :, 5:], y3[:, :, 5:])


def test_shortcuts_round_trip_and_need_fitting_widths():
    """DC-AE's parameter-free shortcuts: space to channels then group means on the way down, channel repeats
    then channels to space on the way up; up then down gives the input back. Widths that do not divide are
    refused, and older configs (no `shortcuts` key) load without them."""
    x = torch.randn(2, 16, 4, 4)
    up = up_shortcut(x, 8)
    assert up.shape == (2, 8, 8, 8)
    assert torch.allclose(down_shortcut(up, 16), x)
    assert torch.equal(average_channels(repeat_channels(x, 64), 16), x)
    with pytest.raises(ValueError, match="shortcuts need"):
        AutoencoderConfig(latent_channels=5, widths=(8, 8, 16), time_width=16, shortcuts=True)
    assert not config_from_dict(AutoencoderConfig, {"latent_channels": 4, "widths": [8, 8, 16]}).shortcuts
    assert AE_PRESETS["tiny"].shortcuts  # so the tests below run through them


@BOTH
def test_chunked_equals_one_pass_and_tiled_is_close(cfg):
    ae, x = tiny_ae(cfg=cfg), clip(17)
    z = ae.encode(x)
    assert torch.allclose(ae.encode(x, chunk=1), z, atol=1e-5)
    assert torch.allclose(ae.encode(x, chunk=2), z, atol=1e-5)
    y = ae.decode(z)
    assert torch.allclose(ae.decode(z, chunk=1), y, atol=1e-5)
    assert y.shape[2] == 17 > FRAMES_PER_PASS  # without gradients the 2D part draws a few frames at a time: same result
    with torch.enable_grad():
        assert torch.allclose(ae.decoder(ae.denormalize(z)).detach(), y, atol=1e-6)
    after = ae.decode_after(z[:, :, :2])  # a given context decoded once, the rest with gradients
    moved = z.clone()
    moved[:, :, 3:] += 1.0
    for latents in (z, moved):
        with torch.enable_grad():
            assert torch.allclose(after(latents).detach(), ae.decode(latents), atol=1e-5)
    big = ae.encode(clip(5, 320, 256, seed=1))  # a 40 x 32 latent in tiles of 26
    untiled, tiled = ae.decode(big), ae.decode(big, chunk=1, tile=26)
    assert tiled.shape == untiled.shape
    # stated tolerance: tiles differ from one pass through GroupNorm's statistics (taken per tile) and
    # the decoder's far field; on these random weights the mean difference stays under 15% of the mean
    # magnitude (docs/results.md reports the trained autoencoder's tiled-vs-untiled PSNR)
    assert (tiled - untiled).abs().mean() < 0.15 * untiled.abs().mean()
    assert ((tiled - untiled).abs() < 0.1).float().mean() > 0.9


@pytest.mark.parametrize("t,h,w", [(1, 32, 32), (6, 37, 50), (16, 64, 64), (2, 9, 15)])
def test_round_trip_shapes_padded_and_cropped(t, h, w):
    ae = tiny_ae()
    x = clip(t, h, w)
    z = ae.encode(x)
    assert z.shape[1:] == ae.cfg.latent_shape(t, h, w)
    y = ae.crop_to(ae.decode(z), t, h, w)
    assert y.shape == x.shape


def test_streamed_file_matches_in_memory(tmp_path):
    ae = tiny_ae()
    frames = ShapesDataset(5, 48, 8, 2.0)[0][0][:14]  # 14 frames: ends mid-group
    chunks = [frames[:5], frames[5:6], frames[6:]]
    streamed = np.concatenate([rec for _, rec, _ in reconstruct_stream(ae, iter(chunks), chunk=2)])
    whole = to_frames(ae.crop_to(ae.decode(ae.encode(to_model_space(frames))), 14, 48, 48))[0]
    assert streamed.shape == frames.shape
    assert np.abs(streamed.astype(int) - whole).max() <= 1
    assert np.array_equal(reconstruct_clip(ae, frames, chunk=2), streamed)  # however the frames arrive
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    write_video(frames, src, 8)
    stats = reconstruct_file(src, dst, ae, chunk=2)
    assert stats["frames"] == 14 and stats["latent"] == (4, 5, 6, 6)
    assert read_video(dst)[0].shape == (14, 48, 48, 3)


def test_corrupt_and_mismatched_autoencoder_checkpoints(tmp_path, capsys):
    folder = tmp_path / "ae"
    ae = tiny_ae()
    save_component(folder, "autoencoder", ae.state_dict(), {"kind": "kinema.autoencoder",
                                                            "autoencoder": asdict(ae.cfg)})
    assert load_component(folder, "autoencoder").cfg == ae.cfg
    # built without random initialisation (kinema.io.checkpoint.built_empty), filled with every saved tensor
    init_before = {n: getattr(torch.nn.init, n) for n in dir(torch.nn.init)}
    loaded = load_component(folder, "autoencoder")
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in ae.state_dict().items())
    assert {n: getattr(torch.nn.init, n) for n in dir(torch.nn.init)} == init_before
    assert torch.nn.init.normal_(torch.zeros(64)).abs().sum() > 0  # (initialisation itself still works)
    state = ae.state_dict()
    save_component(tmp_path / "short", "autoencoder", {k: v for k, v in state.items() if k != next(iter(state))},
                   {"kind": "kinema.autoencoder", "autoencoder": asdict(ae.cfg)})
    with pytest.raises(CheckpointError, match="1 missing"):  # (a tensor left as allocated is never used)
        load_component(tmp_path / "short", "autoencoder")
    wrong = asdict(ae.cfg) | {"widths": [8, 8, 32]}
    save_component(tmp_path / "wrong", "autoencoder", ae.state_dict(), {"kind": "kinema.autoencoder", "autoencoder": wrong})
    with pytest.raises(CheckpointError, match="does not match"):
        load_component(tmp_path / "wrong", "autoencoder")
    (folder / "autoencoder.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="damaged|not a readable safetensors"):
        load_component(folder, "autoencoder")
    src = tmp_path / "in.mp4"
    write_video(np.zeros((3, 16, 16, 3), np.uint8), src, 8)
    assert main(["reconstruct", str(src), "-o", str(tmp_path / "o.mp4"), "--autoencoder", str(folder)]) == 2
    assert "damaged" in capsys.readouterr().err
    assert main(["reconstruct", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "o.mp4"),
                 "--autoencoder", str(folder)]) == 2
    assert not (tmp_path / "o.mp4").exists()


def tiny_ae_train(**kw) -> AutoencoderTrainConfig:
    return AutoencoderTrainConfig(**({"steps": 2, "batch": 2, "frames": 5, "size": 32, "warmup": 1,
                                      "checkpoint_every": 100, "log_every": 1} | kw))


def test_autoencoder_training_resumes_exactly(tmp_path):
    data = ShapesDataset(0, 32, 8, 5 / 8)
    straight, resumed = tmp_path / "a", tmp_path / "b"
    train_autoencoder(straight, data, AE_PRESETS["tiny"], tiny_ae_train(steps=4), progress=False)
    train_autoencoder(resumed, data, AE_PRESETS["tiny"], tiny_ae_train(steps=2), progress=False)
    train_autoencoder(resumed, data, AE_PRESETS["tiny"], tiny_ae_train(steps=4), resume=True, progress=False)
    a, b = load_tensors(straight / "train_state.safetensors"), load_tensors(resumed / "train_state.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    card = load_component(straight, "autoencoder").cfg
    assert len(card.latent_scale) == 4 and (straight / "loss.png").is_file()


def test_decoder_only_training_keeps_the_encoder_and_its_latents(tmp_path):
    data = ShapesDataset(0, 32, 8, 5 / 8)
    base, tuned = tmp_path / "base", tmp_path / "tuned"
    train_autoencoder(base, data, AE_PRESETS["tiny"], tiny_ae_train(steps=2), progress=False)
    weights, card = read_component(base, "autoencoder")  # shipped models hold float16 copies: start from one
    save_component(tmp_path / "half", "autoencoder", weights, card, dtype=torch.float16)
    base = tmp_path / "half"
    before = load_component(base, "autoencoder")
    cfg = tiny_ae_train(steps=3, init=str(base), decoder_only=True, spatial_weight=1.0)  # (sharp edges)
    train_autoencoder(tuned, data, before.cfg, cfg, progress=False)
    after = load_component(tuned, "autoencoder")
    assert all(json.loads(line)["spatial"] > 0 for line in (tuned / "log.jsonl").read_text().splitlines())
    enc_a, enc_b = before.encoder.state_dict(), after.encoder.state_dict()
    assert all(torch.equal(enc_a[k], enc_b[k]) for k in enc_a)
    dec_a, dec_b = before.decoder.state_dict(), after.decoder.state_dict()
    assert any(not torch.equal(dec_a[k], dec_b[k]) for k in dec_a if dec_a[k].is_floating_point())
    assert after.cfg.latent_shift == before.cfg.latent_shift and after.cfg.latent_scale == before.cfg.latent_scale
    with pytest.raises(ValueError, match="init"):
        train_autoencoder(tmp_path / "x", data, before.cfg, tiny_ae_train(decoder_only=True), progress=False)
    args = ["train-autoencoder", "--out", str(tmp_path / "cli"), "--steps", "1", "--batch", "1", "--frames", "5",
            "--size", "32", "--real-share", "0", "--no-progress"]
    assert main(args + ["--decoder-only"]) == 2  # nothing to start from
    assert main(args + ["--init", str(base), "--preset", "small"]) == 2  # the architecture comes from --init
    assert main(args + ["--init", str(base), "--decoder-only"]) == 0
    assert load_component(tmp_path / "cli", "autoencoder").cfg.latent_channels == before.cfg.latent_channels


def test_a_grown_decoder_decodes_as_before_then_trains(tmp_path):
    """--decoder-blocks and --detail-width grow a trained decoder: its new blocks and full-resolution stage start
    as the identity and zero, so it decodes exactly as before; decoder-only training then moves them, and the
    encoder's latents stay valid. A bad size or a shrink is refused."""
    data = ShapesDataset(0, 32, 8, 5 / 8)
    base = tmp_path / "base"
    train_autoencoder(base, data, AE_PRESETS["tiny"], tiny_ae_train(steps=2), progress=False)
    before = load_component(base, "autoencoder")
    z = torch.randn(1, 4, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    args = ["train-autoencoder", "--out", str(tmp_path / "grown"), "--steps", "1", "--batch", "1", "--frames", "5",
            "--size", "32", "--real-share", "0", "--no-progress", "--init", str(base), "--decoder-only"]
    grown_cfg = replace(before.cfg, decoder_blocks=2, detail_width=8)
    grown = VideoAutoencoder(grown_cfg).eval()
    fresh = load_state_into(grown, read_component(base, "autoencoder")[0], "base", allow_missing=True)
    assert fresh and all(k.startswith(("decoder.more.", "decoder.detail.")) for k in fresh)
    assert torch.equal(grown.decode(z), before.decode(z))
    assert main(args + ["--decoder-blocks", "2", "--detail-width", "8"]) == 0
    after = load_component(tmp_path / "grown", "autoencoder")
    assert after.cfg.decoder_blocks == 2 and after.cfg.detail_width == 8
    assert not torch.equal(after.decoder.detail.out.weight, torch.zeros_like(after.decoder.detail.out.weight))
    enc_a, enc_b = before.encoder.state_dict(), after.encoder.state_dict()
    assert all(torch.equal(enc_a[k], enc_b[k]) for k in enc_a)
    y = after.decode(z)
    assert y.shape == before.decode(z).shape and not torch.equal(y, before.decode(z))
    with pytest.raises(ValueError, match="decoder_blocks"):
        AutoencoderConfig(decoder_blocks=0)
    args[2] = str(tmp_path / "shrunk")
    assert main(args[:-3] + ["--init", str(tmp_path / "grown"), "--decoder-only", "--decoder-blocks", "1"]) == 2


def test_latent_cache_then_latent_denoiser_generates(tmp_path, text_encoder):
    ae_run = tmp_path / "ae"
    train_autoencoder(ae_run, ShapesDataset(0, 32, 8, 5 / 8), AE_PRESETS["tiny"], tiny_ae_train(), progress=False)
    clip_cfg = {"size": 32, "fps": 4, "seconds": 2.0}
    cache = cache_latents(ShapesDataset(1, 32, 4, 2.0), ae_run, tmp_path / "cache", 6, clip_cfg, text_encoder,
                          shard_size=4, batch=3, progress=False)
    data = LatentDataset(cache)
    assert len(data) == 6 and data.latent.shape == (6, 4, 3, 4, 4)  # 8 frames -> 1 + 2 latent frames
    x, text = data.batch(4, 3)  # wraps around
    assert x.shape == (3, 4, 3, 4, 4) and text.tokens.shape[0] == 3
    run = tmp_path / "run"
    train(run, data, preset("tiny", in_channels=4, patch=(1, 2, 2)), FlowConfig(),
          tiny_train_config(steps=2, clip=clip_cfg), text_encoder=text_encoder, progress=False)
    pipe = Pipeline.load(run)
    assert pipe.autoencoder is not None and pipe.card["space"] == "latent"
    video = pipe("a red circle moving left on a black background", ClipSettings(steps=2, size=32, fps=4))
    assert video.frames.shape == (8, 32, 32, 3) and "decode" in pipe.timings
    args = ["train", "--out", str(tmp_path / "cli-run"), "--data", str(cache), "--steps", "1", "--batch", "2",
            "--no-progress"]
    assert main(args + ["--preset", "tiny"]) == 2  # a 3x4x4 latent does not tile into 2x8x8 patches
    assert main(args + ["--preset", "tiny-latent"]) == 0
    assert Pipeline.load(tmp_path / "cli-run").denoiser.config.in_channels == 4  # taken from the cache


def test_latent_cache_recaptions_from_recorded_scenes(tmp_path, text_encoder):
    ae_run = tmp_path / "ae"
    train_autoencoder(ae_run, ShapesDataset(0, 32, 8, 5 / 8), AE_PRESETS["tiny"], tiny_ae_train(steps=1), progress=False)
    clip_cfg, shapes = {"size": 32, "fps": 4, "seconds": 2.0}, ShapesDataset(1, 32, 4, 2.0)
    cache = cache_latents(shapes, ae_run, tmp_path / "cache", 4, clip_cfg, text_encoder, shard_size=4,
                          progress=False)
    shard = cache / "shard-00000.jsonl"
    lines = [json.loads(line) for line in shard.read_text().splitlines()]
    assert [Scene.from_dict(line["scene"]) for line in lines] == [shapes.scene_and_caption(i)[0] for i in range(4)]

    plain = LatentDataset(cache)
    fresh = LatentDataset(cache, recaption=1.0, text_encoder=text_encoder)
    _, a = plain.batch(0, 4)
    _, b = fresh.batch(0, 4)
    _, c = fresh.batch(4, 4)  # the same clips in the next epoch: other wordings
    _, b2 = LatentDataset(cache, recaption=1.0, text_encoder=text_encoder).batch(0, 4)
    assert torch.equal(b.pooled, b2.pooled)  # a pure function of (seed, item)
    assert not torch.allclose(a.pooled, b.pooled) and not torch.allclose(b.pooled, c.pooled)
    cos = (b.pooled @ a.pooled.T).diagonal()  # a new wording of the same scene stays near the cached caption
    assert (cos > 0.5).all(), cos
    with pytest.raises(ValueError, match="text encoder"):
        LatentDataset(cache, recaption=0.5)

    # a cache made before scenes were recorded: refused for recaptioning, then given its scenes by a rerun
    shard.write_text("".join(json.dumps({"index": x["index"], "caption": x["caption"]}) + "\n" for x in lines))
    with pytest.raises(CheckpointError, match="records no scene"):
        LatentDataset(cache, recaption=1.0, text_encoder=text_encoder)
    with pytest.raises(CheckpointError, match="other data"):
        cache_latents(ShapesDataset(2, 32, 4, 2.0), ae_run, cache, 4, clip_cfg, text_encoder, shard_size=4,
                      progress=False)
    cache_latents(shapes, ae_run, cache, 4, clip_cfg, text_encoder, shard_size=4, progress=False)
    assert [json.loads(line) for line in shard.read_text().splitlines()] == lines
    args = ["train", "--out", str(tmp_path / "run"), "--data", str(cache), "--preset", "tiny-latent",
            "--steps", "1", "--batch", "2", "--no-progress", "--recaption", "0.5"]
    assert main(args) == 0
    assert main(args[:4] + ["shapes"] + args[5:]) == 2  # rendered clips are captioned afresh anyway
