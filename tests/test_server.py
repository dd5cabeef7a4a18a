"""kinema serve, in process: the API's validation, limits, token, queue, the job store's recovery, and a
fuzz test of the API from its own OpenAPI schema."""
import queue
import tempfile

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from kinema.server.app import Limits, create_app
from kinema.server.jobs import JobStore

PROMPT = "a red circle moving left on a black background"


@pytest.fixture
def client(tmp_path):
    return TestClient(create_app(tmp_path / "data", Limits(max_queued=3)))


def test_jobs_lifecycle_over_the_api(client):
    r = client.post("/api/jobs", json={"prompt": PROMPT, "seed": 7, "steps": 5, "size": 128, "guidance_interval": [0.2, 1],
                                       "shift": 3})
    assert r.status_code == 201
    job = r.json()
    assert job["state"] == "queued" and job["seed"] == 7 and job["size"] == 128 and len(job["id"]) == 32
    assert job["guidance_interval"] == [0.2, 1.0] and job["shift"] == 3.0
    assert client.get(f"/api/jobs/{job['id']}").json()["prompt"] == PROMPT
    assert [j["id"] for j in client.get("/api/jobs").json()["jobs"]] == [job["id"]]
    assert client.get(f"/api/jobs/{job['id']}/video").status_code == 409  # not done yet
    assert client.post(f"/api/jobs/{job['id']}/cancel").json()["state"] == "cancelled"
    events = client.get(f"/api/jobs/{job['id']}/events")
    assert events.headers["content-type"].startswith("text/event-stream") and '"cancelled"' in events.text
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 204
    assert client.get(f"/api/jobs/{job['id']}").status_code == 404
    assert client.post("/api/jobs", json={"prompt": PROMPT}).json()["seed"] >= 0  # a random seed, recorded


@pytest.mark.parametrize("body,status,words", [
    ({"prompt": "   "}, 422, "prompt is empty"),
    ({"prompt": PROMPT, "size": 512}, 422, "size is limited to 256"),
    ({"prompt": PROMPT, "size": 63}, 422, "even"),
    ({"prompt": PROMPT, "seconds": 9}, 422, "seconds are limited"),
    ({"prompt": PROMPT, "steps": 101}, 422, "steps are limited"),
    ({"prompt": PROMPT, "steps": 0}, 422, "steps"),
    ({"prompt": "x" * 501}, 422, "500 characters"),
    ({"prompt": PROMPT, "path": "../../etc/passwd"}, 422, "extra"),
    ({"prompt": PROMPT, "guidance": "NaN"}, 422, ""),
    ({"prompt": PROMPT, "guidance_interval": [0.5, 0.2]}, 422, "guidance-interval"),
    ({"prompt": PROMPT, "guidance_interval": [0.2]}, 422, ""),
    ({"prompt": PROMPT, "shift": 0}, 422, "shift"),
    ({"prompt": PROMPT, "candidates": 9}, 422, "candidates are limited to 8"),
    ({"prompt": PROMPT, "candidates": 0}, 422, "candidates"),
])
def test_bad_requests_are_refused_before_any_work(client, body, status, words):
    r = client.post("/api/jobs", json=body)
    assert r.status_code == status and words.lower() in r.text.lower()
    assert client.get("/api/jobs").json()["jobs"] == []


def test_limits_body_size_queue_and_ids(client):
    assert client.get("/api/limits").json()["max_size"] == 256
    assert client.post("/api/jobs", content=b"{" + b" " * 20000 + b"}",
                       headers={"content-type": "application/json"}).status_code == 413
    assert client.post("/api/jobs", content=b"not json", headers={"content-type": "application/json"}).status_code == 422
    for _ in range(3):
        assert client.post("/api/jobs", json={"prompt": PROMPT}).status_code == 201
    full = client.post("/api/jobs", json={"prompt": PROMPT})
    assert full.status_code == 429 and "queue is full" in full.text
    for bad in ("..%2F..%2Fetc%2Fpasswd", "0" * 31, "g" * 32, "0" * 32 + "0"):
        assert client.get(f"/api/jobs/{bad}/video").status_code in (404, 422)


def test_token_guards_every_api_route(tmp_path):
    c = TestClient(create_app(tmp_path, token="s3cret"))
    assert c.get("/api/jobs").status_code == 401
    assert c.post("/api/jobs", json={"prompt": PROMPT}).status_code == 401
    assert c.get("/api/jobs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/api/jobs", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert c.get("/api/jobs", headers={"X-Kinema-Token": "s3cret"}).status_code == 200
    assert c.get("/api/health?token=s3cret").status_code == 200
    assert c.get("/").status_code == 200  # the page itself holds nothing; it asks with the token


def test_serve_refuses_a_public_address_without_a_token(capsys, monkeypatch):
    from kinema.cli.main import main

    monkeypatch.delenv("KINEMA_TOKEN", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--port", "8765"]) == 2
    assert "needs an access token" in capsys.readouterr().err


def test_store_claims_each_job_once_and_recovers_after_a_crash(tmp_path):
    store = JobStore(tmp_path, max_attempts=2)
    a, b, c = (store.create({"prompt": f"p{i}", "steps": 2}, 10)["id"] for i in range(3))
    first = store.claim()
    assert first["id"] == a and store.claim()["id"] == b  # oldest first, never the same twice
    assert store.progress(a, first["run"], 1, 2)
    store.video_path(b).write_bytes(b"whole video")  # b's video was renamed into place before the crash
    assert store.recover() == {"done": 1, "requeued": 1, "failed": 0, "cancelled": 0}
    assert store.get(a)["state"] == "queued" and store.get(b)["state"] == "done"
    assert not store.finish(a, first["run"], {})  # the worker from before the crash can no longer finish it
    again = store.claim()
    assert again["id"] == a and again["attempts"] == 2
    assert store.recover()["failed"] == 1  # interrupted on every allowed attempt: failed, with its reason
    assert "interrupted" in store.get(a)["error"]
    third = store.claim()
    assert third["id"] == c
    store.cancel(c)
    assert not store.progress(c, third["run"], 1, 2) and store.mark_cancelled(c, third["run"])
    assert store.get(c)["state"] == "cancelled"


FUZZ_CALLS = []


FUZZ_APP = create_app(tempfile.mkdtemp(prefix="kinema-fuzz-"), Limits(max_queued=20, student=True))
fuzz_schema = schemathesis.openapi.from_asgi("/openapi.json", FUZZ_APP)


@fuzz_schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_fuzz_the_api_from_its_openapi_schema(case):
    response = case.call()
    FUZZ_CALLS.append((case.method, case.path, response.status_code))
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"


def test_fuzz_ran_enough_and_the_server_is_healthy_after():
    assert len(FUZZ_CALLS) >= 300, f"only {len(FUZZ_CALLS)} generated requests"
    statuses = {c[2] for c in FUZZ_CALLS}
    assert max(statuses) < 500 and {200, 201} <= statuses  # refusals are 4xx; valid requests went through
    c = TestClient(FUZZ_APP)
    assert c.get("/api/health").json()["ok"] is True
    assert c.post("/api/jobs", json={"prompt": PROMPT}).status_code in (201, 429)


def _claim_all(data_dir: str, out) -> None:
    store = JobStore(data_dir)
    while (job := store.claim()) is not None:
        out.put(job["id"])
        store.finish(job["id"], job["run"], {})


def test_workers_in_parallel_processes_never_share_a_job(tmp_path):
    import multiprocessing as mp

    store = JobStore(tmp_path)
    ids = {store.create({"prompt": f"p{i}", "steps": 1}, 100)["id"] for i in range(40)}
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_claim_all, args=(str(tmp_path), out)) for _ in range(4)]
    for p in procs:
        p.start()
    claimed = [out.get(timeout=60) for _ in range(40)]
    for p in procs:
        p.join(timeout=60)
    with pytest.raises(queue.Empty):
        out.get(timeout=0.5)  # and no 41st claim
    assert sorted(claimed) == sorted(ids)  # every job once, none twice
    assert store.counts()["done"] == 40


def png_bytes(size: int = 32, seed: int = 0) -> bytes:
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def mp4_bytes(tmp_path) -> bytes:
    import numpy as np

    from kinema.io.video import write_video

    write_video(np.full((6, 32, 32, 3), 90, np.uint8), tmp_path / "clip.mp4", 8)
    return (tmp_path / "clip.mp4").read_bytes()


def test_uploads_are_checked_whole_before_they_are_kept(client, tmp_path):
    picture = client.post("/api/uploads", content=png_bytes(), headers={"Content-Type": "image/png"})
    assert picture.status_code == 201 and picture.json()["kind"] == "image" and picture.json()["width"] == 32
    again = client.post("/api/uploads", content=png_bytes())  # the same bytes: the same upload
    assert again.json()["id"] == picture.json()["id"]
    clip = client.post("/api/uploads", content=mp4_bytes(tmp_path), headers={"Content-Type": "video/mp4"})
    assert clip.status_code == 201 and clip.json()["kind"] == "video" and clip.json()["frames"] == 6
    for body in (b"not a picture", png_bytes()[:200], mp4_bytes(tmp_path)[:300], b"\x00" * 5000):
        r = client.post("/api/uploads", content=body)
        assert r.status_code == 422 and "not a picture or a video" in r.json()["detail"], r.text
    assert client.post("/api/uploads", content=b"").status_code == 422
    assert client.post("/api/uploads", content=b"x" * 9_000_000).status_code == 413
    kept = sorted(p.name for p in (tmp_path / "data" / "uploads").iterdir())
    assert len(kept) == 4 and not any(name.startswith(".") for name in kept)  # two uploads, each with its record


def test_jobs_given_pictures_clips_and_storyboards_are_checked_before_they_queue(client, tmp_path):
    picture = client.post("/api/uploads", content=png_bytes()).json()["id"]
    clip = client.post("/api/uploads", content=mp4_bytes(tmp_path)).json()["id"]
    missing = "0" * 32
    bad = [
        ({"prompt": PROMPT, "image": missing}, "no uploaded picture"),
        ({"prompt": PROMPT, "image": clip}, "no uploaded picture"),
        ({"prompt": PROMPT, "image": "../../etc/passwd"}, "pattern"),
        ({"prompt": PROMPT, "extend": picture}, "is a picture"),
        ({"prompt": PROMPT, "extend": missing}, "no uploaded video or finished job"),
        ({"prompt": PROMPT, "image": picture, "extend": clip}, "not both"),
        ({"prompt": PROMPT, "last_image": picture, "extend": clip}, "last picture goes with"),
        ({"prompt": PROMPT, "last_image": picture, "seconds": 4}, "at most 2 s"),
        ({"storyboard": []}, "at least 1"),
        ({"storyboard": [{"prompt": PROMPT}]}, "seconds"),
        ({"storyboard": [{"prompt": PROMPT, "seconds": 2, "x": 1}]}, "extra"),
        ({"storyboard": [{"prompt": "  ", "seconds": 2}]}, "prompt is empty"),
        ({"storyboard": [{"prompt": PROMPT, "seconds": 6}, {"prompt": PROMPT, "seconds": 6}]}, "seconds are limited"),
        ({"prompt": "", "negative": ""}, "prompt is empty"),
    ]
    for body, words in bad:
        r = client.post("/api/jobs", json=body)
        assert r.status_code == 422 and words in r.text, (body, r.text)
    assert client.get("/api/jobs").json()["jobs"] == []
    ok = client.post("/api/jobs", json={"storyboard": [{"prompt": PROMPT, "seconds": 2},
                                                       {"prompt": PROMPT.replace("left", "right"), "seconds": 2}]})
    assert ok.status_code == 201 and " | " in ok.json()["prompt"] and len(ok.json()["storyboard"]) == 2
    job = client.post("/api/jobs", json={"prompt": PROMPT, "image": picture, "last_image": picture}).json()
    assert (job["image"], job["last_image"], job["extend"]) == (picture, picture, None)


def test_a_model_that_cannot_go_on_refuses_given_frames_before_they_queue(tmp_path):
    c = TestClient(create_app(tmp_path / "data", Limits(given_frames=False)))
    picture = c.post("/api/uploads", content=png_bytes()).json()["id"]
    r = c.post("/api/jobs", json={"prompt": PROMPT, "image": picture})
    assert r.status_code == 422 and "not trained to go on" in r.text
