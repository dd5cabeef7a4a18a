"""A model folder's few-step student (reflow on the teacher's pairs, guidance folded in): the default for clips from
text alone, one forward pass a step; the teacher stays reachable by name and by any of its sampling settings."""
import json
import shutil

import numpy as np
import pytest
import torch

from kinema.cli.main import main
from conftest import with_student

from kinema.io.checkpoint import CheckpointError, read_component
from kinema.pipeline import ClipSettings, Pipeline


@pytest.fixture(scope="module")
def student_model(going_on_model, tmp_path_factory):
    """going_on_model's folder with a student: 2 training steps on 6 of its teacher pairs."""
    tmp = tmp_path_factory.mktemp("student")
    assert main(["teacher-pairs", "--model", str(going_on_model), "--out", str(tmp / "pairs"), "--count", "6",
                 "--batch", "3", "--steps", "4", "--guidance", "3", "--no-progress"]) == 0
    assert main(["train", "--preset", "tiny-latent", "--steps", "2", "--batch", "3", "--warmup", "1", "--no-progress",
                 "--caption-dropout", "0", "--loss", "x0", "--data", str(tmp / "pairs"), "--out", str(tmp / "run"),
                 "--init", str(going_on_model)]) == 0
    return with_student(going_on_model, tmp / "run", tmp / "model")


def forwards(module: torch.nn.Module) -> list:
    calls = []
    module.register_forward_hook(lambda m, args, out: calls.append(len(args[0])))
    return calls


def test_clips_from_text_come_from_the_student_in_its_few_unguided_steps(student_model):
    pipe = Pipeline.load(student_model)
    s = pipe.resolve(ClipSettings(seed=3))
    assert (s.denoiser, s.steps, s.guidance, s.eta) == ("student", 3, 1.0, 0.0)
    student, teacher = forwards(pipe.student), forwards(pipe.denoiser)
    video = pipe.make("a red ball bouncing on a white background", s)
    assert student == [1, 1, 1] and teacher == []  # one forward pass a step, no guidance pass
    assert video.metadata["denoiser"] == "student" and "student step 2" in video.metadata["stages"]["keyframes"]
    again = pipe.make("a red ball bouncing on a white background", s)
    assert np.array_equal(video.frames, again.frames)  # same seed, same frames
    taught = pipe.make("a red ball bouncing on a white background", pipe.resolve(ClipSettings(seed=3, steps=3)))
    assert taught.metadata["denoiser"] == "teacher" and len(student) == 6 and len(teacher) > 0
    assert not np.array_equal(video.frames, taught.frames)


def test_teacher_settings_ask_for_the_teacher(student_model):
    pipe = Pipeline.load(student_model)
    teacher = pipe.sampling
    for asked in ({"steps": 8}, {"guidance": 2.0}, {"sampler": "heun"}, {"shift": 1.0}, {"eta": 1.0},
                  {"guidance_interval": (0.0, 1.0)}, {"plan": True}, {"camera": "pan left"}, {"denoiser": "teacher"}):
        s = pipe.resolve(ClipSettings(**asked))
        assert s.denoiser == "teacher", asked
        assert s.guidance == asked.get("guidance", teacher["guidance"])
    assert pipe.resolve(ClipSettings(), tracks=True).denoiser == "teacher"
    assert pipe.resolve(ClipSettings(candidates=1, refine_passes=0)).denoiser == "student"  # (both denoisers' settings)
    assert pipe.resolve(ClipSettings(denoiser="student", steps=2)).steps == 2  # the student at other steps, by name


def test_a_student_is_asked_for_only_where_there_is_one(going_on_model, student_model, tmp_path, capsys):
    plain = Pipeline.load(going_on_model)
    assert plain.student is None and plain.resolve(ClipSettings()).denoiser is None
    with pytest.raises(ValueError, match="no few-step student"):
        plain.resolve(ClipSettings(denoiser="student"))
    code = main(["generate", "a red ball", "--model", str(going_on_model), "--denoiser", "student",
                 "-o", str(tmp_path / "x.mp4")])
    assert code == 2 and "no few-step student" in capsys.readouterr().err and not (tmp_path / "x.mp4").exists()
    broken = tmp_path / "broken"
    shutil.copytree(student_model, broken)
    card = json.loads((broken / "student.json").read_text())
    del card["sampling"]["steps"]
    (broken / "student.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="student.json: bad config: no steps"):
        Pipeline.load(broken)


def test_the_server_refuses_a_student_the_model_has_not(tmp_path):
    from fastapi.testclient import TestClient

    from kinema.server.app import Limits, create_app

    plain = TestClient(create_app(tmp_path / "plain", Limits()))
    r = plain.post("/api/jobs", json={"prompt": "a red ball", "denoiser": "student"})
    assert r.status_code == 422 and "no few-step student" in r.json()["detail"]
    assert plain.post("/api/jobs", json={"prompt": "a red ball", "denoiser": "pupil"}).status_code == 422
    with_student = TestClient(create_app(tmp_path / "student", Limits(student=True)))
    r = with_student.post("/api/jobs", json={"prompt": "a red ball", "denoiser": "student"})
    assert r.status_code == 201 and r.json()["denoiser"] == "student"
    assert with_student.get("/api/limits").json()["student"] is True


def test_a_student_of_a_directed_teacher_keeps_its_layout_input(directed_model, tmp_path):
    """`kinema train --init` a denoiser that takes a layout, on pairs without layouts: the input and its weights
    are kept (the student loads the teacher's weights whole), unused."""
    pairs = tmp_path / "pairs"
    assert main(["teacher-pairs", "--model", str(directed_model), "--out", str(pairs), "--count", "3", "--batch", "3",
                 "--steps", "2", "--no-progress"]) == 0
    assert main(["train", "--preset", "tiny-latent", "--steps", "1", "--batch", "3", "--warmup", "1", "--no-progress",
                 "--data", str(pairs), "--out", str(tmp_path / "run"), "--init", str(directed_model)]) == 0
    weights, card = read_component(tmp_path / "run", "denoiser")
    teacher, _ = read_component(directed_model, "denoiser")
    assert card["denoiser"]["layout"] == 4 and set(weights) == set(teacher)
    assert torch.equal(weights["layout_where.weight"].float(), teacher["layout_where.weight"].float())


def test_teacher_pairs_with_layouts_teach_the_student_to_follow_them(directed_model, going_on_model, tmp_path,
                                                                     capsys):
    """`kinema teacher-pairs --layout P`: that share of the teacher's samples follows the scene's layout, each pair
    records whether it did, and `kinema train --layout` gives a pair its layout only where the teacher had it."""
    from kinema.data.latents import LatentDataset

    args = ["teacher-pairs", "--model", str(directed_model), "--count", "6", "--batch", "3", "--steps", "2",
            "--tracks", "0.5", "--camera", "0.5", "--no-progress"]
    assert main(args + ["--out", str(tmp_path / "laid"), "--layout", "0.5"]) == 0
    assert main(args + ["--out", str(tmp_path / "all"), "--layout", "1"]) == 0
    assert main(args + ["--out", str(tmp_path / "plain")]) == 0
    laid, every, plain = (LatentDataset(tmp_path / name) for name in ("laid", "all", "plain"))
    flags = laid.has_layout(0, 6)
    assert flags.any() and not flags.all() and every.has_layout(0, 6).all() and not plain.has_layout(0, 6).any()
    assert torch.equal(laid.noise, every.noise)  # the same noise and captions: the layout alone differs
    for k in range(6):  # the layout steers the samples drawn to have it, and only those
        assert torch.allclose(laid.latent[k], every.latent[k], atol=1e-5) == bool(flags[k])
    assert main(["train", "--preset", "tiny-latent", "--steps", "1", "--batch", "3", "--warmup", "1", "--no-progress",
                 "--layout", "1", "--data", str(tmp_path / "laid"), "--out", str(tmp_path / "run"),
                 "--init", str(directed_model)]) == 0
    assert main(["teacher-pairs", "--model", str(going_on_model), "--out", str(tmp_path / "no"), "--count", "3",
                 "--layout", "0.5", "--no-progress"]) != 0
    assert "takes no layout" in capsys.readouterr().err and not (tmp_path / "no" / "shard-00000.safetensors").exists()


def test_the_model_card_may_keep_the_teacher_as_the_default(student_model, tmp_path):
    folder = tmp_path / "teacher-first"
    shutil.copytree(student_model, folder)
    card = json.loads((folder / "denoiser.json").read_text())
    card["sampling"]["denoiser"] = "teacher"
    (folder / "denoiser.json").write_text(json.dumps(card))
    pipe = Pipeline.load(folder)
    assert pipe.resolve(ClipSettings()).denoiser == "teacher"
    s = pipe.resolve(ClipSettings(denoiser="student"))
    assert (s.denoiser, s.steps, s.guidance) == ("student", 3, 1.0)
