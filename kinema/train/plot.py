"""The loss curve of a run, as a PNG a person can glance at."""
from __future__ import annotations

import json
from pathlib import Path

from kinema.io.checkpoint import atomic_write


def plot_loss(log_path: Path, out: Path, key: str = "loss") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not Path(log_path).is_file():
        return
    rows = [json.loads(l) for l in Path(log_path).read_text().splitlines() if l.strip()]
    if not rows:
        return
    steps = [r["step"] for r in rows]
    values = [r[key] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot(steps, values, lw=0.8, alpha=0.5, label=key)
    if len(values) >= 10:  # a running mean over ~5% of the run
        w = max(len(values) // 20, 2)
        smooth = [sum(values[max(0, i - w + 1):i + 1]) / len(values[max(0, i - w + 1):i + 1]) for i in range(len(values))]
        ax.plot(steps, smooth, lw=1.8, label=f"{key} (running mean of {w})")
    ax.set_xlabel("step")
    ax.set_ylabel(key)
    ax.set_yscale("log")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_title(f"{Path(log_path).parent.name}: {key} per step")
    fig.tight_layout()
    atomic_write(Path(out), lambda p: fig.savefig(p, format="png"))
    plt.close(fig)
