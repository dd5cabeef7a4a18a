"""The fault suite: every entry point against generated bad input, damaged files of each kind, and SIGKILL.

Each case asserts what a careful user is owed: a 4xx or exit status 2 with one line (no traceback), and
nothing written before lost. The counts each part ran are checked at its end (and printed with -s).
"""
from __future__ import annotations

import io
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from urllib.parse import quote

import numpy as np
import torch
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings, strategies as st

from kinema.cli.main import main
from kinema.io.checkpoint import TEMP_MARK, atomic_write
from kinema.io.video import read_metadata, write_video
from kinema.server.app import Limits, create_app
from kinema.server.jobs import JobStore

PROMPT = "a red circle moving left on a black background"
COUNTS: dict[str, int] = {}


def count(kind: str) -> None:
    COUNTS[kind] = COUNTS.get(kind, 0) + 1


def run_cli(*argv: str) -> tuple[int, str]:
    """main() in this process: (exit status, what it wrote to stderr)."""
    err, out = io.StringIO(), io.StringIO()
    with redirect_stderr(err), redirect_stdout(out):
        code = main([str(a) for a in argv])
    return code, err.getvalue()


def refused(code: int, err: str) -> bool:
    """Exit status 2 with one line on stderr, and no traceback."""
    return code == 2 and err.count("\n") == 1 and "Traceback" not in err and err.startswith("kinema")


# -- the HTTP API: generated bodies, with non-finite numbers and unpaired surrogates ---------------------------

API = TestClient(create_app(tempfile.mkdtemp(prefix="kinema-faults-"), Limits(max_queued=10_000)),
                 raise_server_exceptions=False)
FIELDS = ["prompt", "negative", "seed", "steps", "guidance", "sampler", "seconds", "fps", "size", "guidance_interval",
          "shift", "eta", "regions", "steer", "candidates", "refine_passes"]
SURROGATES = st.sampled_from(["\ud800", "a\udfffb", "red \ud83d circle", "\udc00" * 3])
NASTY_NUMBERS = st.one_of(st.sampled_from([math.nan, math.inf, -math.inf, 1e309, -0.0, 2**63, -(2**63) - 1,
                                           10**30, 1e-320]),
                          st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**25), 10**25))
VALUES = st.one_of(NASTY_NUMBERS, SURROGATES, st.text(max_size=30), st.none(), st.booleans(),
                   st.lists(NASTY_NUMBERS, max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
BODIES = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=6).map(lambda d: {"prompt": PROMPT} | d),
    st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8), SURROGATES), VALUES, max_size=5),
    VALUES,
)
RAW = st.one_of(
    st.sampled_from(['{"prompt": "a", "size": 1e309}', '{"prompt": "a", "fps": NaN}', '{"prompt": "a", "eta": -Infinity}',
                     '{"prompt": "\\ud800"}', '{"\\udfff": 1}', '{"prompt": "a"', "", "null", "[]", '{"prompt": 1e999999}']),
    st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
)


def assert_well_answered(r) -> None:
    assert r.status_code < 500, f"{r.status_code}: {r.text[:300]}"
    assert "Traceback" not in r.text
    if r.status_code != 204:
        r.json()  # every answer is JSON, whatever was asked


@settings(max_examples=360, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(body=BODIES)
def test_post_jobs_with_generated_bodies(body):
    r = API.post("/api/jobs", content=json.dumps(body, allow_nan=True), headers={"content-type": "application/json"})
    count("POST /api/jobs")
    assert_well_answered(r)
    if r.status_code == 201:  # what was accepted is what the settings allow
        job = r.json()
        assert all(isinstance(job[k], (int, float)) and math.isfinite(job[k]) for k in ("seconds", "fps", "size"))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(text=RAW)
def test_post_jobs_with_raw_text(text):
    r = API.post("/api/jobs", content=text.encode("utf-8", "surrogatepass"), headers={"content-type": "application/json"})
    count("POST /api/jobs")
    assert_well_answered(r)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(job_id=st.one_of(st.text(max_size=40), st.from_regex(r"[0-9a-f]{32}", fullmatch=True)),
       query=st.dictionaries(st.sampled_from(["limit", "offset", "state", "download", "token"]),
                             st.one_of(st.text(max_size=10), st.integers(-(10**12), 10**12).map(str)), max_size=3))
def test_job_routes_with_generated_ids_and_queries(job_id, query):
    job_id = quote(job_id, safe="", errors="surrogatepass")  # as a client puts any text into a path
    for method, path in (("GET", "/api/jobs"), ("GET", f"/api/jobs/{job_id}"), ("GET", f"/api/jobs/{job_id}/video"),
                         ("POST", f"/api/jobs/{job_id}/cancel"), ("DELETE", f"/api/jobs/{job_id}")):
        r = API.request(method, path, params=query)
        count("job routes")
        assert_well_answered(r)


def test_api_fuzz_ran_enough_and_a_failed_jobs_error_names_no_server_path(tmp_path):
    print("\nAPI requests generated:", COUNTS)
    assert COUNTS.get("POST /api/jobs", 0) >= 300 and COUNTS.get("job routes", 0) >= 300
    assert API.get("/api/health").json()["ok"]
    from kinema.server.worker import without_paths

    store = JobStore(tmp_path)
    job = store.create({"prompt": PROMPT, "seed": 1}, 10)
    claimed = store.claim()
    store.fail(job["id"], claimed["run"], without_paths(f"CheckpointError: {tmp_path}/models/x/denoiser.json: bad config"))
    assert str(tmp_path) not in store.get(job["id"])["error"] and "denoiser.json" in store.get(job["id"])["error"]


# -- the command line: generated numbers for every bounded option, and the cases found by hand ----------------

GENERATE_NUMBERS = ["--seed", "--steps", "--guidance", "--seconds", "--fps", "--size", "--shift", "--eta",
                    "--candidates", "--refine-passes"]
BAD_NUMBERS = st.one_of(st.sampled_from(["nan", "inf", "-inf", "1e309", "99999999999999999999999", "-1", "0x10", "",
                                         "1e9", "-0.5", "abc"]),
                        st.integers(-(10**30), -1).map(str), st.integers(10**19, 10**30).map(str))


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(option=st.sampled_from(GENERATE_NUMBERS), value=BAD_NUMBERS)
def test_generate_refuses_generated_bad_numbers_before_loading(tmp_path_factory, option, value):
    out = tmp_path_factory.mktemp("gen") / "x.mp4"
    code, err = run_cli("generate", PROMPT, "-o", out, option, value, "--model", "/nonexistent-model")
    count("generate bad numbers")
    if code == 2 and "no model folder" in err:  # the value was a valid one after all (e.g. --steps 1e9 is not an int)
        pytest.fail(f"{option} {value!r} was accepted")
    assert refused(code, err), (option, value, err)
    assert not out.exists()


@pytest.mark.parametrize("argv", [
    ["train", "--out", "{tmp}/r", "--size", "100000"], ["train", "--out", "{tmp}/r", "--batch", "0"],
    ["train", "--out", "{tmp}/r", "--lr", "nan"], ["train", "--out", "{tmp}/r", "--steps", "1e3"],
    ["train", "--out", "{tmp}/r", "--seed", "-1"], ["train", "--out", "{tmp}/r", "--caption-dropout", "2"],
    ["train", "--out", "{tmp}/r", "--batch", "60000", "--size", "1024", "--seconds", "30", "--fps", "60"],
    ["train-autoencoder", "--out", "{tmp}/r", "--frames", "0"], ["train-autoencoder", "--out", "{tmp}/r", "--kl-weight", "inf"],
    ["train-stage", "upscaler", "--out", "{tmp}/r", "--real-share", "-0.1"],
    ["train-verifier", "--out", "{tmp}/r", "--fps", "1e9"], ["cache-latents", "--autoencoder", "{tmp}", "--out", "{tmp}/c", "--size", "7"],
    ["serve", "--port", "70000"], ["serve", "--workers", "0"], ["serve", "--data-dir", "{tmp}/file"],
    ["upscale", "{tmp}/in.mp4", "-o", "{tmp}/o.mp4", "--size", "100000"],
    ["interpolate", "{tmp}/in.mp4", "-o", "{tmp}/o.mp4", "--fps", "1e9"],
    ["reconstruct", "{tmp}/in.mp4", "-o", "{tmp}/o.mp4", "--chunk", "0"],
    ["generate", PROMPT, "--seed", "99999999999999999999999"],
    ["generate", PROMPT, "-o", "{tmp}/folder.mp4"], ["generate", PROMPT, "-o", "{tmp}/folder.gif"],
    ["generate", PROMPT, "-o", "/dev/null"], ["generate", "--prompts", "{tmp}/prompts.txt", "--out-dir", "{tmp}/file"],
    ["generate", "\ud800 red circle", "-o", "{tmp}/x.mp4"],
    *([["generate", PROMPT, "-o", "{tmp}/x.mp4", "--device", "cuda"]] if not torch.cuda.is_available() else []),
    ["generate", "--prompts", "{tmp}/prompts.txt", "-o", "-"],
])
def test_commands_refuse_bad_input_in_one_line(tmp_path, argv):
    (tmp_path / "folder.mp4").mkdir()
    (tmp_path / "folder.gif").mkdir()
    (tmp_path / "file").write_text("a file")
    (tmp_path / "prompts.txt").write_text(PROMPT + "\n")
    write_video(np.zeros((4, 16, 16, 3), np.uint8), tmp_path / "in.mp4", 8)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, err = run_cli(*[a.replace("{tmp}", str(tmp_path)) for a in argv])
    count("command line cases")
    assert refused(code, err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written, nothing lost


# -- damaged files: videos, images, weights, training state, the job database --------------------------------

def damaged_videos(folder: Path) -> dict[str, Path]:
    """A YUV4MPEG2 header with a truncated frame, an empty file, random bytes, an mp4 cut in half."""
    folder.mkdir(exist_ok=True)
    files = {"y4m": folder / "cut.y4m", "empty": folder / "empty.mp4", "noise": folder / "noise.mp4",
             "half": folder / "half.mp4"}
    files["y4m"].write_bytes(b"YUV4MPEG2 W64 H64 F8:1 Ip A1:1 C420jpeg\nFRAME\n" + bytes(100))
    files["empty"].write_bytes(b"")
    files["noise"].write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    write_video(np.full((8, 32, 32, 3), 120, np.uint8), folder / "whole.mp4", 8)
    data = (folder / "whole.mp4").read_bytes()
    files["half"].write_bytes(data[: len(data) // 2])
    return files


@pytest.mark.parametrize("command", ["reconstruct", "upscale", "interpolate"])
def test_damaged_videos_are_refused_and_the_output_kept(tmp_path, command):
    videos = damaged_videos(tmp_path / "in")
    out = tmp_path / "out.mp4"
    out.write_bytes(b"an earlier result")
    extra = {"reconstruct": [], "upscale": ["--size", "128"], "interpolate": ["--fps", "24"]}[command]
    for kind, video in videos.items():
        code, err = run_cli(command, video, "-o", out, *extra)
        count("damaged videos")
        assert refused(code, err), (kind, err)
        assert out.read_bytes() == b"an earlier result", kind
    assert not list(tmp_path.glob(f".*{TEMP_MARK}*"))


def test_damaged_real_footage_image_is_refused_before_training(tmp_path):
    image = tmp_path / "broken.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    code, err = run_cli("train-stage", "upscaler", "--out", tmp_path / "run", "--real", image, "--steps", "1")
    count("damaged images")
    assert refused(code, err) and "cannot read image" in err and not (tmp_path / "run").exists()
    code, err = run_cli("train-autoencoder", "--out", tmp_path / "ae", "--real", image, "--steps", "1")
    count("damaged images")
    assert refused(code, err) and not (tmp_path / "ae").exists()


def test_a_data_folder_with_an_unreadable_clip_is_refused_before_training(tmp_path):
    data = tmp_path / "clips"
    data.mkdir()
    write_video(np.zeros((8, 32, 32, 3), np.uint8), data / "good.mp4", 8)
    (data / "good.txt").write_text(PROMPT)
    (data / "bad.mp4").write_bytes(b"not a video")
    (data / "bad.txt").write_text(PROMPT)
    code, err = run_cli("train", "--out", tmp_path / "run", "--data", data, "--preset", "tiny", "--size", "32",
                        "--fps", "4", "--steps", "1")
    count("damaged videos")
    assert refused(code, err) and "bad.mp4" in err and not (tmp_path / "run").exists()


def tiny_training(run: Path, steps: int, *extra: str) -> list:
    return ["train", "--out", run, "--preset", "tiny", "--size", "32", "--fps", "4", "--steps", str(steps),
            "--batch", "2", "--no-progress", "--checkpoint-every", "1", *extra]


@pytest.fixture
def resumable_run(tmp_path):
    run = tmp_path / "run"
    assert run_cli(*tiny_training(run, 2))[0] == 0
    return run


@pytest.mark.parametrize("damage", ["state-json", "state-fields", "state-tensors", "weights", "other-size", "other-fps"])
def test_resuming_damaged_or_mismatched_training_state_is_refused(resumable_run, damage):
    run = resumable_run
    argv = tiny_training(run, 3, "--resume")
    if damage == "state-json":
        (run / "train_state.json").write_text('{"step": 2, "param_gro')
    elif damage == "state-fields":
        (run / "train_state.json").write_text(json.dumps({"step": "two"}))
    elif damage == "state-tensors":
        (run / "train_state.safetensors").write_bytes((run / "train_state.safetensors").read_bytes()[:300])
    elif damage == "weights":
        data = bytearray((run / "denoiser.safetensors").read_bytes())
        data[-200:] = bytes(200)
        (run / "denoiser.safetensors").write_bytes(bytes(data))
    else:
        option = {"other-size": ["--size", "64"], "other-fps": ["--fps", "8"]}[damage]
        i = argv.index(option[0])
        argv[i + 1] = option[1]
    code, err = run_cli(*argv)
    count("damaged training state")
    assert refused(code, err), err
    if damage.startswith("other"):
        assert option[0] in err  # the option that differs is named


def test_a_damaged_log_does_not_stop_a_resume(resumable_run):
    run = resumable_run
    with (run / "log.jsonl").open("a") as f:
        f.write('{"step": 3, "loss": \n\x00\x00garbage\n')
    code, err = run_cli(*tiny_training(run, 3, "--resume"))
    count("damaged training state")
    assert code == 0 and "damaged line" in err
    assert [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()][-1] == 3


def finished_jobs(data: Path, n: int = 3) -> list[str]:
    """n finished jobs, each with its video (whose metadata records its settings, as the worker writes it)."""
    store = JobStore(data)
    ids = []
    for k in range(n):
        job = store.create({"prompt": f"{PROMPT} {k}", "seed": k, "steps": 3, "size": 64}, 100)
        claimed = store.claim()
        write_video(np.zeros((2, 16, 16, 3), np.uint8), store.video_path(job["id"]), 8,
                    {"prompt": f"{PROMPT} {k}", "seed": k, "steps": 3, "size": 64, "fps": 8.0, "seconds": 2.0,
                     "job": job["id"]})
        store.finish(job["id"], claimed["run"], {})
        ids.append(job["id"])
    return ids


@pytest.mark.parametrize("damage", ["emptied", "truncated", "overwritten", "foreign"])
def test_a_damaged_job_database_is_moved_aside_and_its_jobs_listed_again(tmp_path, damage):
    data = tmp_path / "data"
    ids = finished_jobs(data)
    db = data / "jobs.sqlite3"
    if damage == "emptied":
        db.write_bytes(b"")
    elif damage == "truncated":
        db.write_bytes(db.read_bytes()[:1000])
    elif damage == "overwritten":
        db.write_bytes(b"x" * db.stat().st_size)
    else:
        db.unlink()
        with sqlite3.connect(db) as c:
            c.execute("CREATE TABLE jobs (id TEXT, other TEXT)")
    store, notes = JobStore.open(data)
    count("damaged databases")
    assert notes and "listed 3" in notes[-1]
    assert sorted(j["id"] for j in store.list()) == sorted(ids)
    job = store.get(ids[1])
    assert job["state"] == "done" and job["prompt"] == f"{PROMPT} 1" and job["seed"] == 1
    assert read_metadata(store.video_path(ids[1]))["job"] == ids[1]
    if damage != "emptied":
        assert list(data.glob("jobs.sqlite3.damaged-*"))  # kept for whoever wants to look at it
    client = TestClient(create_app(data))
    assert client.get(f"/api/jobs/{ids[0]}").json()["state"] == "done"
    assert client.get(f"/api/jobs/{ids[0]}/video").status_code == 200


# -- interruptions: SIGKILL during a write, a generation, a training run, a served job ------------------------

def test_a_killed_writer_leaves_a_temporary_file_that_the_next_write_removes(tmp_path):
    script = (f"import os, signal\nfrom kinema.io.checkpoint import temporary_beside\n"
              f"with temporary_beside(__import__('pathlib').Path({str(tmp_path / 'clip.mp4')!r}), '.mp4') as t:\n"
              f"    t.write_bytes(b'half a video')\n    os.kill(os.getpid(), signal.SIGKILL)\n")
    subprocess.run([sys.executable, "-c", script], timeout=60)
    count("interruptions")
    assert len(list(tmp_path.glob(f".*{TEMP_MARK}*"))) == 1  # what SIGKILL leaves behind
    atomic_write(tmp_path / "other.json", lambda p: p.write_text("{}"))
    assert not list(tmp_path.glob(f".*{TEMP_MARK}*"))


def test_sigkill_during_generate_keeps_the_earlier_file(tiny_model, tmp_path):
    out = tmp_path / "clip.mp4"
    out.write_bytes(b"an earlier clip")
    p = subprocess.Popen([sys.executable, "-m", "kinema", "generate", PROMPT, "-o", str(out), "--model", str(tiny_model),
                          "--steps", "400", "--size", "256", "--fps", "24"], stderr=subprocess.PIPE, text=True)
    seen, deadline = "", time.time() + 60
    while time.time() < deadline and "keyframes" not in seen and p.poll() is None:
        seen += p.stderr.read(20) or ""
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    count("interruptions")
    assert out.read_bytes() == b"an earlier clip"


def test_sigkill_during_training_then_resume_finishes(tmp_path):
    run = tmp_path / "run"
    argv = [sys.executable, "-m", "kinema", "train", "--out", str(run), "--preset", "tiny", "--size", "32", "--fps", "4",
            "--steps", "400", "--batch", "2", "--checkpoint-every", "2", "--no-progress"]
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (run / "train_state.json").is_file():
        time.sleep(0.2)
    time.sleep(1.0)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    count("interruptions")
    step = json.loads((run / "train_state.json").read_text())["step"]
    assert 0 < step < 400
    r = subprocess.run(argv[:argv.index("400")] + [str(step + 2)] + argv[argv.index("400") + 1:] + ["--resume"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-500:]
    assert json.loads((run / "train_state.json").read_text())["step"] == step + 2


def test_fault_suite_counts():
    print("\nfault suite:", COUNTS)
    if "interruptions" not in COUNTS:
        pytest.skip("the suite's other tests did not run (a selection of it was asked for)")
    assert COUNTS.get("generate bad numbers", 0) >= 100
    assert COUNTS.get("damaged videos", 0) >= 12 and COUNTS.get("damaged databases", 0) == 4
    assert COUNTS.get("damaged training state", 0) >= 7 and COUNTS.get("interruptions", 0) >= 3
