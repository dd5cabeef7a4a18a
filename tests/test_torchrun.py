"""torchrun on CPU (gloo): N processes of batch B train as one process of batch N*B, the same loss and weights
within float rounding (each step's random draws are made for the global batch and sliced), with DDP and with
FSDP2 (fully_shard), a run stopped and resumed included."""
import json
import os
import subprocess
import sys

import pytest
import torch

from kinema.io.checkpoint import load_tensors

TOL = dict(atol=1e-5, rtol=1e-4)  # float32 sums in another order: gradients averaged over processes


def kinema(args: list[str], procs: int, cwd) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs), "-m",
                 "kinema"] if procs > 1 else [sys.executable, "-m", "kinema"])
    r = subprocess.run(launcher + args, capture_output=True, text=True, env=env, cwd=cwd, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]


def last_record(run) -> dict:
    return json.loads((run / "log.jsonl").read_text().splitlines()[-1])


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_processes_train_as_one_with_their_global_batch(tmp_path, strategy):
    common = ["train", "--preset", "tiny", "--size", "32", "--fps", "4", "--warmup", "1", "--no-progress",
              "--caption-dropout", "0.3", "--parallel", strategy]
    kinema(common + ["--out", str(tmp_path / "two"), "--batch", "1", "--steps", "2"], 2, tmp_path)
    kinema(common + ["--out", str(tmp_path / "two"), "--batch", "1", "--steps", "4", "--resume"], 2, tmp_path)
    kinema(common + ["--out", str(tmp_path / "one"), "--batch", "2", "--steps", "2"], 1, tmp_path)
    kinema(common + ["--out", str(tmp_path / "one"), "--batch", "2", "--steps", "4", "--resume"], 1, tmp_path)
    two, one = last_record(tmp_path / "two"), last_record(tmp_path / "one")
    assert two["step"] == one["step"] == 4
    assert abs(two["loss"] - one["loss"]) <= 1e-5 * max(1.0, abs(one["loss"]))
    for name in ("denoiser.safetensors", "train_state.safetensors"):
        a, b = load_tensors(tmp_path / "two" / name), load_tensors(tmp_path / "one" / name)
        assert a.keys() == b.keys()
        for k in a:
            torch.testing.assert_close(a[k], b[k], **TOL, msg=f"{name}: {k}")


def test_two_processes_finetune_an_adapter_as_one(tmp_path, tiny_model):
    from test_lora import clip_folder

    data = clip_folder(tmp_path / "data", 32, 4, 2.0, n=4)
    common = ["finetune", "--model", str(tiny_model), "--data", str(data), "--rank", "2", "--steps", "3",
              "--warmup", "1", "--no-progress"]
    kinema(common + ["--out", str(tmp_path / "two"), "--batch", "1"], 2, tmp_path)
    kinema(common + ["--out", str(tmp_path / "one"), "--batch", "2"], 1, tmp_path)
    assert abs(last_record(tmp_path / "two")["loss"] - last_record(tmp_path / "one")["loss"]) <= 1e-5
    a, b = load_tensors(tmp_path / "two" / "lora.safetensors"), load_tensors(tmp_path / "one" / "lora.safetensors")
    for k in a:
        torch.testing.assert_close(a[k], b[k], **TOL)
