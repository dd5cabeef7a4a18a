"""kinema serve as real processes: the web process and its workers, a restart after SIGKILL, and the page
driven by Playwright in Debian's chromium."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from kinema.io.video import read_metadata, read_video

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PROMPT = "a green square moving right on a white background"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url: str, body: dict | None = None, method: str | None = None, timeout: float = 10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method or ("POST" if data else "GET"),
                                 headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        raw = r.read()
        return json.loads(raw) if raw and r.headers.get_content_type() == "application/json" else raw


class Server:
    def __init__(self, data: Path, model: Path, workers: int = 1, extra: tuple[str, ...] = ()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        self.log = open(data.parent / f"serve-{self.port}.log", "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "kinema", "serve", "--port", str(self.port), "--data-dir",
                                      str(data), "--model", str(model), "--workers", str(workers), *extra],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                call(self.url + "/api/health", timeout=1)
                return
            except OSError:
                assert self.proc.poll() is None, (data.parent / f"serve-{self.port}.log").read_text()
                time.sleep(0.2)
        raise TimeoutError("kinema serve did not come up")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        self.log.close()


def launch(playwright):
    """Debian's chromium, headless, offline, allowed to autoplay."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"])


def wait_for(predicate, timeout: float, what: str, poll: float = 0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"timed out waiting for {what}")


def test_restart_after_sigkill_loses_and_duplicates_nothing(tiny_model, tmp_path):
    data = tmp_path / "data"
    server = Server(data, tiny_model, extra=("--max-steps", "600"))
    try:
        assert call(server.url + "/api/limits")["max_candidates"] == 1  # the tiny model has no verifier to choose with
        ids = [call(server.url + "/api/jobs", {"prompt": f"{PROMPT} {i}", "seed": i, "steps": 600, "size": 64})["id"]
               for i in range(5)]
        # a job in its first half (~1 s of 2: progress is written every 0.2 s), so that it cannot finish in the
        # moment before the kill
        running = wait_for(lambda: [j for j in call(server.url + "/api/jobs")["jobs"]
                                    if j["state"] == "running" and 1 <= j["progress"]["step"] <= 300], 90, "a running job")
        interrupted = running[0]["id"]
        server.kill()  # the web process dies; its workers die with it (PR_SET_PDEATHSIG)
        time.sleep(0.5)
        server = Server(data, tiny_model, extra=("--max-steps", "600"))
        jobs = wait_for(lambda: (lambda js: js if all(j["state"] == "done" for j in js) else None)(
            call(server.url + "/api/jobs")["jobs"]), 180, "all five jobs done")
    finally:
        server.stop()
    assert sorted(j["id"] for j in jobs) == sorted(ids)  # all five, none lost, none added
    for j in jobs:
        assert j["attempts"] == (2 if j["id"] == interrupted else 1)  # only the interrupted one ran again
        video = data / "videos" / f"{j['id']}.mp4"
        assert read_metadata(video)["job"] == j["id"] and read_video(video)[0].shape == (16, 64, 64, 3)
    assert sorted(p.name for p in (data / "videos").iterdir()) == sorted(f"{i}.mp4" for i in ids)


@pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("KINEMA_REQUIRE_BROWSER"),
                    reason="Debian's chromium is not installed (tests/setup.sh installs it)")
def test_browser_submits_a_prompt_and_plays_the_clip(tiny_model, tmp_path):
    from playwright.sync_api import sync_playwright

    # The server reports progress every 0.2 s and the tiny model takes ~3 ms a step: 200 steps keep the worker busy
    # for ~0.7 s, so the page sees the bar between 0 and full (40 steps finished between two reports in CI).
    server = Server(tmp_path / "data", tiny_model, extra=("--max-steps", "200"))
    shots = ROOT / "test-artifacts"
    shots.mkdir(exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport={"width": 1100, "height": 800})
            page.goto(server.url + "/")
            page.fill("#prompt", PROMPT)
            page.fill("#steps", "200")
            page.fill("#size", "96")
            page.fill("#seed", "11")
            page.click("#generate")
            page.wait_for_function("document.querySelector('#progress').value > 0 && "
                                   "document.querySelector('#progress').value < document.querySelector('#progress').max",
                                   timeout=90_000)  # the bar moves while the worker runs
            page.wait_for_function("document.querySelector('#progress').value === document.querySelector('#progress').max"
                                   " && document.querySelector('#status').textContent.startsWith('done')", timeout=90_000)
            page.wait_for_function("(() => { const v = document.querySelector('#player');"
                                   " return v.readyState >= 2 && v.videoWidth > 0 && v.currentTime > 0; })()",
                                   timeout=30_000)
            width, height = page.evaluate("[document.querySelector('#player').videoWidth,"
                                          " document.querySelector('#player').videoHeight]")
            assert (width, height) == (96, 96)
            page.wait_for_selector("#gallery .card video", timeout=10_000)
            assert PROMPT in page.inner_text("#gallery") and "seed 11" in page.inner_text("#gallery")
            page.screenshot(path=str(shots / "serve-page.png"), full_page=True)
            browser.close()
    finally:
        server.stop()
    assert (shots / "serve-page.png").stat().st_size > 10_000


def wait_done(server: Server, job_id: str) -> dict:
    job = wait_for(lambda: (lambda j: j if j["state"] in ("done", "failed", "cancelled") else None)(
        call(f"{server.url}/api/jobs/{job_id}")), 120, f"job {job_id} finished")
    assert job["state"] == "done", job
    return job


def shapes_picture(path: Path) -> Path:
    """Frame 0 of a rendered shapes-world scene, 32x32, as a PNG file."""
    from PIL import Image

    from kinema.data.dataset import ShapesDataset

    Image.fromarray(ShapesDataset(3, 32, 4, 2.0)[0][0][0]).save(path)
    return path


def test_served_jobs_start_from_an_upload_extend_a_job_and_tell_a_storyboard(going_on_model, tmp_path):
    from kinema.pipeline.reconstruct import psnr

    data = tmp_path / "data"
    server = Server(data, going_on_model)
    small = {"steps": 2, "size": 32, "fps": 4, "seed": 5}
    try:
        limits = call(server.url + "/api/limits")
        assert limits["given_frames"] is True and limits["model_seconds"] == 2.0
        req = urllib.request.Request(server.url + "/api/uploads", data=shapes_picture(tmp_path / "p.png").read_bytes(),
                                     headers={"Content-Type": "image/png"})
        with urllib.request.urlopen(req, timeout=10) as r:
            picture = json.loads(r.read())["id"]
        first = wait_done(server, call(server.url + "/api/jobs", {"prompt": PROMPT, "image": picture, **small})["id"])
        more = wait_done(server, call(server.url + "/api/jobs", {"prompt": PROMPT, "extend": first["id"], **small})["id"])
        story = wait_done(server, call(server.url + "/api/jobs", {"storyboard": [
            {"prompt": PROMPT, "seconds": 1}, {"prompt": PROMPT.replace("right", "left"), "seconds": 1.5}], **small})["id"])
    finally:
        server.stop()
    frames = {j["id"]: read_video(data / "videos" / f"{j['id']}.mp4")[0] for j in (more, story)}
    from PIL import Image

    given = np.asarray(Image.open(tmp_path / "p.png").convert("RGB"))
    assert len(frames[more["id"]]) == 16 and psnr(frames[more["id"]][0], given) > 25  # the picture, then going on
    assert len(frames[story["id"]]) == 10 and story["prompt"].count(" | ") == 1
    meta = read_metadata(data / "videos" / f"{more['id']}.mp4")
    assert meta["start"]["kind"] == "clip" and meta["start"]["frames"] == 8


@pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("KINEMA_REQUIRE_BROWSER"),
                    reason="Debian's chromium is not installed (tests/setup.sh installs it)")
def test_browser_uploads_a_picture_extends_a_gallery_item_and_tells_a_storyboard(going_on_model, tmp_path):
    from playwright.sync_api import sync_playwright

    server = Server(tmp_path / "data", going_on_model)
    shots = ROOT / "test-artifacts"
    shots.mkdir(exist_ok=True)

    def newest_job() -> dict:
        return wait_done(server, call(server.url + "/api/jobs?limit=1")["jobs"][0]["id"])

    try:
        with sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto(server.url + "/")
            for field, value in (("#steps", "2"), ("#size", "32"), ("#fps", "4"), ("#seed", "3")):
                page.fill(field, value)
            # 1. a picture: uploaded when chosen, shown, sent as the job's image
            page.set_input_files("#image", str(shapes_picture(tmp_path / "p.png")))
            page.wait_for_selector("#image-given img", timeout=20_000)
            page.fill("#prompt", PROMPT)
            page.click("#generate")
            page.wait_for_function("document.querySelector('#status').textContent.startsWith('done')", timeout=90_000)
            first = newest_job()
            assert first["image"] and first["extend"] is None
            page.click("#image-given button")  # removed: the next clip is not given it
            # 2. "Extend" on the gallery item
            page.wait_for_selector(f"#gallery .card[data-job='{first['id']}'] button.extend", timeout=20_000)
            page.click(f"#gallery .card[data-job='{first['id']}'] button.extend")
            assert "going on from" in page.inner_text("#extend-given")
            page.click("#generate")
            page.wait_for_function(f"document.querySelector('#player').dataset.job !== '{first['id']}' && "
                                   "document.querySelector('#status').textContent.startsWith('done')", timeout=90_000)
            more = newest_job()
            assert more["extend"] == first["id"] and more["image"] is None
            page.click("#extend-given button")
            # 3. a storyboard instead of the prompt; a malformed line is refused on the page
            page.fill("#prompt", "")
            page.fill("#storyboard", "1: " + PROMPT + "\nthis line has no seconds")
            page.click("#generate")
            page.wait_for_function("document.querySelector('#error').textContent.includes('SECONDS: PROMPT')")
            page.fill("#storyboard", "1: " + PROMPT + "\n1.5 s: " + PROMPT.replace("right", "left"))
            page.click("#generate")
            page.wait_for_function(f"document.querySelector('#player').dataset.job !== '{more['id']}' && "
                                   "document.querySelector('#status').textContent.startsWith('done')", timeout=90_000)
            story = newest_job()
            assert [p["seconds"] for p in story["storyboard"]] == [1.0, 1.5] and story["extend"] is None
            page.wait_for_selector("#gallery .card:nth-child(3) video", timeout=10_000)
            assert "extended" in page.inner_text("#gallery") and "2 parts" in page.inner_text("#gallery")
            page.screenshot(path=str(shots / "serve-page-given.png"), full_page=True)
            browser.close()
    finally:
        server.stop()


@pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("KINEMA_REQUIRE_BROWSER"),
                    reason="Debian's chromium is not installed (tests/setup.sh installs it)")
def test_browser_shows_a_long_clips_frames_as_they_are_made(going_on_model, tmp_path):
    from playwright.sync_api import sync_playwright

    server = Server(tmp_path / "data", going_on_model, extra=("--max-steps", "200", "--max-seconds", "30"))
    try:
        with sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport={"width": 1100, "height": 800})
            page.goto(server.url + "/")
            for field, value in (("#prompt", PROMPT), ("#steps", "100"), ("#size", "32"), ("#fps", "4"),
                                 ("#seconds", "20"), ("#seed", "2")):
                page.fill(field, value)
            page.click("#generate")
            # frames play on the page while the job is still running (window by window), before its video exists
            page.wait_for_function("Number(document.querySelector('#stage').dataset.liveShown || 0) >= 3 && "
                                   "document.querySelector('#status').textContent.startsWith('running')",
                                   timeout=90_000)
            job = call(server.url + "/api/jobs?limit=1")["jobs"][0]
            assert job["state"] == "running"
            first = call(f"{server.url}/api/jobs/{job['id']}/frames/0")
            assert first[:8] == b"\x89PNG\r\n\x1a\n"  # frame 0, a PNG, while the job runs
            wait_done(server, job["id"])
            page.wait_for_function("document.querySelector('#status').textContent.startsWith('done') && "
                                   "!document.querySelector('#player').hidden && document.querySelector('#live').hidden",
                                   timeout=20_000)
            page.screenshot(path=str(ROOT / "test-artifacts" / "serve-page-live.png"))
            browser.close()
        with pytest.raises(urllib.error.HTTPError):  # the frames go once the video is there
            call(f"{server.url}/api/jobs/{job['id']}/frames/0")
    finally:
        server.stop()


@pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("KINEMA_REQUIRE_BROWSER"),
                    reason="Debian's chromium is not installed (tests/setup.sh installs it)")
def test_browser_draws_a_path_sends_the_track_it_shows_and_edits_the_plan(directed_model, tmp_path):
    from playwright.sync_api import sync_playwright

    server = Server(tmp_path / "data", directed_model)
    try:
        with sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto(server.url + "/")
            page.fill("#prompt", "a red circle on a black background")
            for field, value in (("#steps", "2"), ("#size", "32"), ("#fps", "4"), ("#seed", "5")):
                page.fill(field, value)
            page.click("#direct-panel summary")
            page.select_option("#camera", "pan right")
            box = page.locator("#paths").bounding_box()
            at = lambda x, y: (box["x"] + x * box["width"], box["y"] + y * box["height"])  # noqa: E731
            page.mouse.move(*at(0.2, 0.5))
            page.mouse.down()
            for k in range(1, 11):  # right, then down: a bent path
                page.mouse.move(*at(0.2 + 0.05 * k, 0.5))
            for k in range(1, 6):
                page.mouse.move(*at(0.7, 0.5 + 0.05 * k))
            page.mouse.up()
            shown = json.loads(page.get_attribute("#paths", "data-tracks"))
            with page.expect_request(lambda r: r.url.endswith("/api/jobs") and r.method == "POST") as sent:
                page.click("#generate")
            body = json.loads(sent.value.post_data)
            assert body["tracks"] == shown and body["camera"] == "pan right"
            points = np.array(shown["tracks"][0]["points"])
            assert shown["tracks"][0]["object"] == 0 and points[0, 0] == 0 and points[-1, 0] == pytest.approx(2.0)
            assert np.allclose(points[0, 1:], [0.2, 0.5], atol=0.02) and np.allclose(points[-1, 1:], [0.7, 0.75], atol=0.02)
            assert (np.diff(points[:, 0]) > 0).all()
            page.wait_for_selector("#plan-view:not([hidden])", timeout=90_000)  # done: the plan the clip followed
            assert "pan" in page.inner_text("#plan-text") or "red" in page.inner_text("#plan-text")
            page.click("#clear-paths")
            assert page.get_attribute("#paths", "data-tracks") == ""
            page.click("#edit-plan")  # the plan's tracks come back, to edit and send again
            again = json.loads(page.get_attribute("#paths", "data-tracks"))
            assert again["tracks"][0]["points"] == shown["tracks"][0]["points"]
            browser.close()
    finally:
        server.stop()
