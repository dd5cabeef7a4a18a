"""Bad input gets one clear line and exit status 2, before any model is loaded or file written."""
import shutil

import pytest

from kinema.cli.main import main
from kinema.io.checkpoint import atomic_write


def run(capsys, *args):
    code = main(list(args))
    return code, capsys.readouterr().err


@pytest.mark.parametrize("args,message", [
    (["generate", "", "-o", "x.mp4"], "prompt is empty"),
    (["generate", "a red ball", "--size", "100000"], "--size"),
    (["generate", "a red ball", "--size", "63"], "even"),
    (["generate", "a red ball", "--seconds", "5000"], "--seconds"),
    (["generate", "a red ball", "--fps", "1000"], "--fps"),
    (["generate", "a red ball", "-o", "clip.avi"], "unsupported output"),
    (["generate", "a red ball", "-o", "/no/such/folder/x.mp4"], "does not exist"),
    (["generate", "--prompts", "/no/such/file.txt", "--out-dir", "d"], "does not exist"),
    (["generate"], "give a prompt"),
    (["generate", "a red ball", "--guidance-interval", "0.5", "0.2"], "--guidance-interval"),
    (["generate", "a red ball", "--shift", "-1"], "--shift"),
    (["eval", "--captions", "/no/such/captions.txt"], "does not exist"),
])
def test_refused_before_any_work(capsys, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    # a model path that would fail to load: the input is refused before the model is even read
    code, err = run(capsys, *args, "--model", str(tmp_path / "no-model"))
    assert code == 2 and message in err and "no model folder" not in err
    assert list(tmp_path.iterdir()) == []


def test_unknown_option_exits_2(capsys):
    assert main(["generate", "a red ball", "--colour", "red"]) == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments" in err and err.count("\n") == 1  # one line, not the usage


def test_missing_model(capsys, tmp_path):
    code, err = run(capsys, "generate", "a red ball", "-o", str(tmp_path / "a.mp4"), "--model", str(tmp_path / "nope"))
    assert code == 2 and "no model folder" in err and not (tmp_path / "a.mp4").exists()


def overwrite_tensor_bytes(path):
    """Zero the last half of a safetensors file's tensor data, leaving its header as it was."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2:] = bytes(len(data) - len(data) // 2)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage,message", [
    (lambda m: (m / "denoiser.safetensors").write_bytes(b"\x00garbage" * 100), "damaged"),
    (lambda m: (m / "denoiser.safetensors").write_bytes((m / "denoiser.safetensors").read_bytes()[:5000]), "damaged"),
    (lambda m: overwrite_tensor_bytes(m / "denoiser.safetensors"), "damaged"),  # header intact: loads without the digest
    (lambda m: (m / "denoiser.json").write_text("{not json"), "not valid JSON"),
    (lambda m: (m / "denoiser.json").write_text((m / "denoiser.json").read_text().replace('"dim": 48', '"dim": 96')),
     "does not match its config"),
    (lambda m: (m / "denoiser.json").write_text('{"kind": "something else"}'), "not a kinema denoiser"),
    (lambda m: (m / "denoiser.safetensors").unlink(), "missing"),
])
def test_corrupt_checkpoint(capsys, tmp_path, tiny_model, damage, message):
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    damage(model)
    out = tmp_path / "a.mp4"
    out.write_bytes(b"an earlier clip")
    code, err = run(capsys, "generate", "a red ball", "-o", str(out), "--model", str(model))
    assert code == 2 and message in err
    assert out.read_bytes() == b"an earlier clip"  # nothing already written is lost


def test_resume_without_a_run(capsys, tmp_path):
    code, err = run(capsys, "train", "--out", str(tmp_path / "run"), "--preset", "tiny", "--resume", "--size", "32")
    assert code == 2 and "nothing to resume" in err


def test_train_refuses_untileable_clips(capsys, tmp_path):
    code, err = run(capsys, "train", "--out", str(tmp_path / "run"), "--preset", "tiny", "--size", "36")
    assert code == 2 and "does not tile" in err and not (tmp_path / "run").exists()


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")

    def broken(p):
        p.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


@pytest.mark.parametrize("command", [["train", "--data", "shapes"], ["train-autoencoder"]])
def test_cooldown_longer_than_the_run_is_refused(capsys, tmp_path, command):
    code, err = run(capsys, *command, "--out", str(tmp_path / "run"), "--steps", "10", "--cooldown", "11")
    assert code == 2 and "--cooldown" in err
    assert not (tmp_path / "run").exists()
