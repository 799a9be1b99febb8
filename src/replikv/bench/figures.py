"""The benchmark's latency CDF: every system measured in one run on one plot."""

from __future__ import annotations

import pathlib

from replikv.bench.load import LoadResult


def cdf_figure(curves: dict[str, LoadResult], out: pathlib.Path, title: str) -> pathlib.Path:
    """Write a PNG of each system's latency CDF (log-scale milliseconds) to ``out``.
    replikv's curves are solid, the peers' dashed; every curve has its own colour (up to
    20), and the legend moves beside the plot when there are many."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    many = len(curves) > 6
    fig, ax = plt.subplots(figsize=(10.5 if many else 8, 4.5), dpi=110)
    colours = plt.get_cmap("tab10" if len(curves) <= 10 else "tab20").colors
    for i, (label, result) in enumerate(curves.items()):
        points = result.cdf()
        if not points:
            continue
        ax.plot([us / 1000.0 for us, _ in points], [f for _, f in points], label=label, linewidth=1.6,
                color=colours[i % len(colours)], linestyle="-" if label.startswith("replikv") else "--")
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("fraction of replies at or below")
    ax.set_ylim(0, 1.0)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title, fontsize=10)
    if many:
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9)
    else:
        ax.legend(loc="lower right", fontsize=9)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
