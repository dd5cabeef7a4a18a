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
import urllib.request
from pathlib import Path

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
    server = Server(data, tiny_model)
    try:
        assert call(server.url + "/api/limits")["max_candidates"] == 1  # the tiny model has no verifier to choose with
        ids = [call(server.url + "/api/jobs", {"prompt": f"{PROMPT} {i}", "seed": i, "steps": 100, "size": 64})["id"]
               for i in range(5)]
        # a job in its first half, so that it cannot finish in the moment before the kill
        running = wait_for(lambda: [j for j in call(server.url + "/api/jobs")["jobs"]
                                    if j["state"] == "running" and 2 <= j["progress"]["step"] <= 50], 90, "a running job")
        interrupted = running[0]["id"]
        server.kill()  # the web process dies; its workers die with it (PR_SET_PDEATHSIG)
        time.sleep(0.5)
        server = Server(data, tiny_model)
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
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"])
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
