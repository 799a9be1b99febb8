"""The benchmark's latency CDF: every system measured in one run on one plot."""

from __future__ import annotations

import pathlib

from replikv.bench.load import LoadResult


def cdf_figure(curves: dict[str, LoadResult], out: pathlib.Path, title: str) -> pathlib.Path:
    """Write a PNG of each system's latency CDF (log-scale milliseconds) to ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for label, result in curves.items():
        points = result.cdf()
        if not points:
            continue
        ax.plot([us / 1000.0 for us, _ in points], [f for _, f in points], label=label, linewidth=1.6)
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("fraction of replies at or below")
    ax.set_ylim(0, 1.0)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=9)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
