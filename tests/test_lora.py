"""LoRA adapters (PEFT) on kinema's denoiser and on a Wan transformer: training lowers the loss on its data and
changes the output; scale 0 is the base; merged equals unmerged; diffusers' LoRA loader reads a Wan adapter; bad
adapters and data folders are refused before any heavy work."""
import json

import numpy as np
import pytest
import torch

pytest.importorskip("peft")

from kinema.cli.main import main  # noqa: E402
from kinema.data.dataset import ShapesDataset, VideoFolderDataset, get_batch  # noqa: E402
from kinema.io.checkpoint import CheckpointError, read_component, save_component  # noqa: E402
from kinema.io.video import write_video  # noqa: E402
from kinema.models.lora import Adapter  # noqa: E402
from kinema.pipeline import ClipSettings, Pipeline  # noqa: E402
from kinema.train.finetune import FinetuneConfig, adapter_loss  # noqa: E402

PROMPT = "a large orange square moving down on a gray background"


def clip_folder(path, size, fps, seconds, n=3, seed=5):
    path.mkdir(parents=True, exist_ok=True)
    data = ShapesDataset(seed, size, fps, seconds)
    for i in range(n):
        frames, caption = data[i]
        write_video(frames, path / f"clip{i}.mp4", fps)
        (path / f"clip{i}.txt").write_text(caption)
    return path


@torch.no_grad()
def data_loss(pipe, data, draws=4) -> float:
    """The flow loss over every clip of the folder, each at the same `draws` fixed (t, noise) draws."""
    items = len(data)
    total = 0.0
    for k in range(draws):
        x, captions = get_batch(data, 0, items)
        total += float(adapter_loss(pipe, x, captions, FinetuneConfig(caption_dropout=0.0),
                                    torch.Generator().manual_seed(k)))
    return total / draws


@pytest.fixture(scope="module")
def tuned(tiny_model, tmp_path_factory):
    """An adapter of rank 4 trained 40 steps on three clips, for the tiny pixel model (32x32, 4 fps, 2 s)."""
    tmp = tmp_path_factory.mktemp("lora")
    data = clip_folder(tmp / "data", 32, 4, 2.0)
    assert main(["finetune", "--model", str(tiny_model), "--data", str(data), "--out", str(tmp / "adapter"),
                 "--rank", "4", "--steps", "40", "--batch", "3", "--lr", "1e-2", "--warmup", "2",
                 "--no-progress"]) == 0
    return tmp / "adapter", data


def test_training_lowers_the_loss_on_its_data_and_changes_the_output(tiny_model, tuned):
    adapter, folder = tuned
    data = VideoFolderDataset(folder, 32, 4, 2.0)
    base = Pipeline.load(tiny_model)
    tuned_pipe = Pipeline.load(tiny_model, lora=[Adapter(adapter)])
    before, after = data_loss(base, data), data_loss(tuned_pipe, data)
    assert after < 0.7 * before, (before, after)
    s = base.resolve(ClipSettings(seed=3, steps=4, size=32, fps=4))
    a, b = base.make(PROMPT, s).frames, tuned_pipe.make(PROMPT, s).frames
    assert np.abs(a.astype(int) - b).mean() > 1.0
    card = json.loads((adapter / "lora.json").read_text())
    assert card["lora"]["rank"] == 4 and card["step"] == 40 and card["base"]["kind"] == "kinema"
    meta = tuned_pipe.make(PROMPT, s).metadata
    assert meta["lora"] == [{"folder": str(adapter), "scale": 1.0, "step": 40}]


def test_scale_zero_is_the_base_and_merged_equals_unmerged(tiny_model, tuned):
    adapter, _ = tuned
    base = Pipeline.load(tiny_model)
    s = base.resolve(ClipSettings(seed=4, steps=4, size=32, fps=4))
    frames = base.make(PROMPT, s).frames
    zero = Pipeline.load(tiny_model, lora=[Adapter(adapter, 0.0)])
    assert np.array_equal(zero.make(PROMPT, s).frames, frames)
    half = Pipeline.load(tiny_model, lora=[Adapter(adapter, 0.5), Adapter(adapter, 0.5)])  # two at half = one
    one = Pipeline.load(tiny_model, lora=[Adapter(adapter)])
    merged = Pipeline._load(tiny_model, "cpu", "auto")
    from kinema.models.lora import attach

    attach(merged.denoiser, [Adapter(adapter)], merge=True)
    unmerged_frames = one.make(PROMPT, s).frames
    for other in (half, merged):
        assert np.abs(other.make(PROMPT, s).frames.astype(int) - unmerged_frames).mean() <= 0.05  # float rounding
    x = torch.randn(1, 3, 8, 32, 32)
    t = torch.tensor([0.5])
    cond = one.text_encoder.encode([PROMPT])
    torch.testing.assert_close(merged.denoiser(x, t, cond), one.denoiser(x, t, cond), atol=1e-4, rtol=1e-4)


def test_bad_adapters_are_refused_before_generating(tiny_model, tuned, tmp_path):
    adapter, _ = tuned
    with pytest.raises(CheckpointError, match="trained on another base: its"):
        Pipeline.load(None, lora=[Adapter(adapter)])  # the shipped model: another architecture
    state, card = read_component(adapter, "lora")
    key = next(k for k in state if k.endswith("lora_A.weight"))
    state[key] = torch.zeros(4, state[key].shape[1] + 1)
    save_component(tmp_path / "reshaped", "lora", state, card)
    with pytest.raises(CheckpointError, match=r"this model's layer takes"):
        Pipeline.load(tiny_model, lora=[Adapter(tmp_path / "reshaped")])
    save_component(tmp_path / "elsewhere", "lora", {"denoiser.nowhere.lora_A.weight": torch.zeros(4, 4)}, card)
    with pytest.raises(CheckpointError, match="names no linear layer"):
        Pipeline.load(tiny_model, lora=[Adapter(tmp_path / "elsewhere")])
    (tmp_path / "damaged").mkdir()
    (tmp_path / "damaged" / "lora.json").write_text((adapter / "lora.json").read_text())
    (tmp_path / "damaged" / "lora.safetensors").write_bytes(b"\0" * 64)
    out = tmp_path / "x.mp4"
    for bad in ("damaged", "reshaped"):
        assert main(["generate", PROMPT, "--model", str(tiny_model), "--lora", str(tmp_path / bad), "-o",
                     str(out)]) == 2
    assert main(["generate", PROMPT, "--model", str(tiny_model), "--lora", str(tmp_path / "none"), "-o",
                 str(out)]) == 2
    assert not out.exists()


def test_finetune_refuses_unreadable_clips_before_loading_the_model(tmp_path, capsys):
    data = clip_folder(tmp_path / "data", 32, 4, 1.0, n=2)
    (data / "clip1.mp4").write_bytes(b"not a video")
    assert main(["finetune", "--data", str(data), "--out", str(tmp_path / "a"), "--model", str(tmp_path / "none")]) == 2
    assert "clip1.mp4" in capsys.readouterr().err
    (data / "clip1.mp4").unlink()
    (data / "clip0.txt").write_text("  ")
    assert main(["finetune", "--data", str(data), "--out", str(tmp_path / "a")]) == 2
    assert "empty" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()


def test_wan_adapter_trains_and_loads_in_diffusers(tmp_path):
    pytest.importorskip("diffusers")
    from wan_folders import tiny_wan_folder

    folder = tiny_wan_folder(tmp_path / "wan")
    data = clip_folder(tmp_path / "data", 32, 16, 9 / 16, n=2)
    adapter = tmp_path / "adapter"
    assert main(["finetune", "--model", str(folder), "--data", str(data), "--out", str(adapter), "--rank", "4",
                 "--steps", "30", "--lr", "1e-2", "--size", "32", "--seconds", str(9 / 16), "--no-progress"]) == 0
    base = Pipeline.load(folder)
    tuned = Pipeline.load(folder, lora=[Adapter(adapter)])
    items = VideoFolderDataset(data, 32, 16, 9 / 16)
    assert data_loss(tuned, items) < data_loss(base, items)
    s = base.resolve(ClipSettings(seed=2, steps=3, guidance=3.0, size=32, fps=16, seconds=9 / 16))
    ours = tuned.make(PROMPT, s).frames
    assert np.abs(ours.astype(int) - base.make(PROMPT, s).frames).mean() > 0.5

    from diffusers import WanPipeline

    pipe = WanPipeline.from_pretrained(folder)
    pipe.load_lora_weights(adapter, weight_name="lora.safetensors")
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(PROMPT, generator=torch.Generator().manual_seed(2), num_inference_steps=3, guidance_scale=3.0,
               height=32, width=32, num_frames=9, output_type="np").frames[0]
    ref = np.clip(np.rint(ref * 255), 0, 255).astype(np.uint8)
    changed = np.abs(ours.astype(int) - base.make(PROMPT, s).frames).mean()
    print(f"adapter moved frames {changed:.2f} levels; diffusers' output is {np.abs(ours.astype(int) - ref).mean():.3f} off")
    assert np.abs(ours.astype(int) - ref).mean() <= min(1.0, changed / 10)
    with pytest.raises(CheckpointError, match="an adapter for a wan model"):
        Pipeline.load(None, lora=[Adapter(adapter)])
