"""Load on `kinema serve`: N concurrent clients submit a job each and poll it to the end, while also
loading the page and the job list, against W workers. Prints p50/p95 latency per kind of request
(measured while the workers are busy) and checks that every job finished.

    python benchmarks/serve_load.py [--clients 20] [--workers 2] [--steps 20] [--model DIR] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_serve_processes import Server, call  # noqa: E402  (the same harness the restart test uses)


BUSY = threading.Event()  # set while every worker is generating: only then are latencies recorded


def timed(samples: dict, kind: str, fn):
    t0 = time.perf_counter()
    out = fn()
    if BUSY.is_set():
        samples.setdefault(kind, []).append(time.perf_counter() - t0)
    return out


def client(url: str, i: int, steps: int, samples: dict, results: list) -> None:
    job = timed(samples, "POST /api/jobs", lambda: call(url + "/api/jobs", {
        "prompt": f"a red circle moving right on a white background, take {i}", "seed": i, "steps": steps}))
    while True:
        j = timed(samples, "GET /api/jobs/{id}", lambda: call(url + f"/api/jobs/{job['id']}"))
        if j["state"] in ("done", "failed", "cancelled"):
            results.append(j)
            return
        if BUSY.is_set():
            timed(samples, "GET / (page)", lambda: urllib.request.urlopen(url + "/", timeout=10).read())
            timed(samples, "GET /api/jobs", lambda: call(url + "/api/jobs?limit=48"))
        time.sleep(0.25)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--model", default=str(Path(__file__).resolve().parent.parent / "kinema" / "weights" / "default"))
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kinema-load-"))
    server = Server(tmp / "data", Path(a.model), workers=a.workers)
    samples: dict[str, list[float]] = {}
    results: list[dict] = []
    try:
        threads = [threading.Thread(target=client, args=(server.url, i, a.steps, samples, results))
                   for i in range(a.clients)]
        t0 = time.time()
        for t in threads:
            t.start()

        def workers_busy() -> None:  # count latencies only while both workers are generating
            while any(t.is_alive() for t in threads):
                counts = call(server.url + "/api/health")["counts"]
                (BUSY.set if counts["running"] >= a.workers else BUSY.clear)()
                time.sleep(0.2)

        watcher = threading.Thread(target=workers_busy)
        watcher.start()
        for t in threads:
            t.join()
        watcher.join()
        wall = time.time() - t0
    finally:
        server.stop()
    report = {"clients": a.clients, "workers": a.workers, "steps": a.steps, "wall_s": round(wall, 1),
              "jobs_done": sum(j["state"] == "done" for j in results), "jobs": len(results), "latency_ms": {}}
    print(f"{a.clients} clients, {a.workers} workers, {a.steps} steps per job: {report['jobs_done']}/{a.clients} done "
          f"in {wall:.1f} s")
    print(f"{'request':<22} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    everything = []
    for kind, xs in sorted(samples.items()):
        xs = sorted(x * 1000 for x in xs)
        everything += xs
        p50, p95 = statistics.median(xs), xs[min(len(xs) - 1, int(0.95 * len(xs)))]
        report["latency_ms"][kind] = {"n": len(xs), "p50": round(p50, 1), "p95": round(p95, 1), "max": round(xs[-1], 1)}
        print(f"{kind:<22} {len(xs):>5} {p50:>8.1f} {p95:>8.1f} {xs[-1]:>8.1f}")
    everything.sort()
    report["latency_ms"]["all"] = {"n": len(everything), "p50": round(statistics.median(everything), 1),
                                   "p95": round(everything[int(0.95 * len(everything))], 1)}
    print(f"{'all':<22} {len(everything):>5} {report['latency_ms']['all']['p50']:>8.1f} {report['latency_ms']['all']['p95']:>8.1f}")
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=2) + "\n")
    assert report["jobs_done"] == a.clients, "not every job finished"


if __name__ == "__main__":
    main()
