"""Wan folders (diffusers' format) under kinema's pipeline: tiny random ones built offline, checked against
diffusers' own WanPipeline, through the CLI, the Python API and the server; and bad folders refused in one line."""
import json
import shutil

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("diffusers")

from wan_folders import diffusers_frames, tiny_wan_folder  # noqa: E402

from kinema.cli.main import main  # noqa: E402
from kinema.io.checkpoint import CheckpointError  # noqa: E402
from kinema.pipeline import ClipSettings, Pipeline  # noqa: E402

PROMPT = "a red ball bouncing on a white background"


@pytest.fixture(scope="module")
def wan_euler(tmp_path_factory):
    return tiny_wan_folder(tmp_path_factory.mktemp("wan") / "euler", "euler")


@pytest.fixture(scope="module")
def wan_unipc(tmp_path_factory):
    return tiny_wan_folder(tmp_path_factory.mktemp("wan") / "unipc", "unipc", seed=1)


@pytest.mark.parametrize("which,steps,guidance,negative", [("wan_euler", 4, 5.0, None), ("wan_unipc", 5, 4.0, "blue"),
                                                            ("wan_unipc", 3, 1.0, None)])
def test_same_video_as_diffusers_wan_pipeline(request, which, steps, guidance, negative):
    folder = request.getfixturevalue(which)
    ref = diffusers_frames(folder, PROMPT, 7, steps, guidance, 32, 9, negative)
    pipe = Pipeline.load(folder)
    s = pipe.resolve(ClipSettings(seed=7, steps=steps, guidance=guidance, negative=negative or "", size=32, fps=16,
                                  seconds=9 / 16))
    frames = pipe.make(PROMPT, s).frames
    assert frames.shape == ref.shape == (9, 32, 32, 3)
    assert np.abs(frames.astype(int) - ref).mean() <= 1.0  # within 1 grey level on average
    assert frames.std() > 1.0  # (a clip, not a constant)
    assert np.array_equal(pipe.make(PROMPT, s).frames, frames)  # same seed, same frames
    assert not np.array_equal(pipe.make(PROMPT, pipe.resolve(ClipSettings(seed=8, steps=steps, guidance=guidance,
                                                                          size=32, fps=16, seconds=9 / 16))).frames,
                              frames)


def test_card_and_defaults_come_from_the_folder(wan_unipc):
    pipe = Pipeline.load(wan_unipc)
    s = pipe.resolve(ClipSettings(size=32, seconds=1.0))
    assert (s.sampler, s.steps, s.guidance, s.shift) == ("unipc", 50, 5.0, 3.0)  # WanPipeline's defaults
    assert pipe.native_size(s) == 32 and pipe.version == "WanPipeline folder"
    with pytest.raises(ValueError, match="multiples of 16"):
        pipe.resolve(ClipSettings(size=40))


def test_cli_generate_writes_diffusers_frames_with_its_record(wan_euler, tmp_path):
    out = tmp_path / "frames"
    assert main(["generate", PROMPT, "--model", str(wan_euler), "-o", str(out) + "/", "--steps", "3", "--seed", "2",
                 "--size", "32", "--fps", "16", "--seconds", str(9 / 16), "--guidance", "3"]) == 0
    pngs = sorted(out.glob("*.png"))
    frames = np.stack([np.asarray(Image.open(p)) for p in pngs])
    ref = diffusers_frames(wan_euler, PROMPT, 2, 3, 3.0, 32, 9)
    assert frames.shape == ref.shape and np.abs(frames.astype(int) - ref).mean() <= 1.0
    meta = json.loads(Image.open(pngs[0]).text["kinema"])
    assert meta["model"] == str(wan_euler) and meta["seed"] == 2 and meta["sampler"] == "euler"
    assert meta["stages"]["keyframes"] == "32x32 at 16 fps (WanPipeline folder)"


def test_python_api_and_streaming(wan_euler):
    import kinema

    video = kinema.generate(PROMPT, model=str(wan_euler), steps=2, size=32, seconds=0.5, fps=16, seed=1)
    frames = list(kinema.stream(PROMPT, model=str(wan_euler), steps=2, size=32, seconds=0.5, fps=16, seed=1))
    assert video.frames.shape == (8, 32, 32, 3) and np.array_equal(np.stack(frames), video.frames)


def broken(folder, tmp_path, name):
    bad = tmp_path / name
    shutil.copytree(folder, bad)
    return bad


def test_bad_folders_are_refused_before_loading(wan_euler, tmp_path):
    missing = broken(wan_euler, tmp_path, "missing")
    shutil.rmtree(missing / "vae")
    with pytest.raises(CheckpointError, match="no vae"):
        Pipeline.load(missing)
    mismatched = broken(wan_euler, tmp_path, "mismatched")
    cfg = json.loads((mismatched / "text_encoder" / "config.json").read_text())
    (mismatched / "text_encoder" / "config.json").write_text(json.dumps(cfg | {"d_model": 48}))
    with pytest.raises(CheckpointError, match="mismatched: the transformer reads text of width 32"):
        Pipeline.load(mismatched)
    other = broken(wan_euler, tmp_path, "other")
    index = json.loads((other / "model_index.json").read_text())
    (other / "model_index.json").write_text(json.dumps(index | {"_class_name": "WanImageToVideoPipeline"}))
    with pytest.raises(CheckpointError, match="kinema runs WanPipeline"):
        Pipeline.load(other)
    corrupt = broken(wan_euler, tmp_path, "corrupt")
    (corrupt / "transformer" / "diffusion_pytorch_model.safetensors").write_bytes(b"\0" * 100)
    with pytest.raises(CheckpointError, match="transformer"):
        Pipeline.load(corrupt)
    assert main(["generate", PROMPT, "--model", str(missing), "-o", str(tmp_path / "x.mp4")]) == 2
    assert not (tmp_path / "x.mp4").exists()


def test_a_folder_too_big_for_the_machine_is_refused_before_loading(wan_euler, tmp_path, monkeypatch):
    import kinema.pipeline.settings as settings

    monkeypatch.setattr(settings, "free_memory", lambda device: 1000)  # a machine with 1 kB free
    with pytest.raises(MemoryError, match="needs about"):
        Pipeline.load(wan_euler)


def test_serve_runs_a_job_on_a_wan_folder(wan_euler, tmp_path):
    from test_serve_processes import Server, call, wait_done

    from kinema.io.video import read_metadata

    server = Server(tmp_path / "data", wan_euler)
    try:
        limits = call(server.url + "/api/limits")
        assert limits["size_multiple"] == 16 and limits["given_frames"] is False and limits["max_candidates"] == 1
        with pytest.raises(Exception, match="422"):
            call(server.url + "/api/jobs", {"prompt": PROMPT, "size": 40})
        job = call(server.url + "/api/jobs", {"prompt": PROMPT, "seed": 4, "steps": 2, "size": 32, "fps": 16,
                                              "seconds": 0.5})
        done = wait_done(server, job["id"])
        assert done["state"] == "done", done
        video = tmp_path / "job.mp4"
        video.write_bytes(call(f"{server.url}/api/jobs/{job['id']}/video"))
        meta = read_metadata(video)
        assert meta["model"] == str(wan_euler) and meta["stages"]["keyframes"].endswith("(WanPipeline folder)")
    finally:
        server.stop()


def test_wan22_two_experts_switch_where_diffusers_does(wan_unipc, tmp_path):
    import torch
    from diffusers import WanPipeline, WanTransformer3DModel

    from wan_folders import diffusers_frames

    base = WanPipeline.from_pretrained(wan_unipc)
    torch.manual_seed(5)
    low_noise = WanTransformer3DModel(**{k: v for k, v in base.transformer.config.items() if not k.startswith("_")})
    folder = tmp_path / "wan22"
    WanPipeline(tokenizer=base.tokenizer, text_encoder=base.text_encoder, vae=base.vae, transformer=base.transformer,
                transformer_2=low_noise, scheduler=base.scheduler, boundary_ratio=0.875).save_pretrained(folder)
    ref = diffusers_frames(folder, PROMPT, 1, 6, 4.0, 32, 9)
    pipe = Pipeline.load(folder)
    frames = pipe.make(PROMPT, pipe.resolve(ClipSettings(seed=1, steps=6, guidance=4.0, size=32, fps=16,
                                                         seconds=9 / 16))).frames
    assert np.abs(frames.astype(int) - ref).mean() <= 1.0
    one_expert = diffusers_frames(wan_unipc, PROMPT, 1, 6, 4.0, 32, 9)
    assert np.abs(one_expert.astype(int) - ref).mean() > 0.5  # (the second expert made a difference)
