"""Figures of a run (matplotlib, Agg backend): latency and throughput over time, with the
nemesis's fault windows shaded, so a latency spike can be read against its cause."""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from replikv.check.history import Operation  # noqa: E402

COLORS = {"ok": "#2b8cbe", "fail": "#e6550d", "info": "#756bb1"}
FAULT_COLORS = {"kill": "#fdae6b", "pause": "#a1d99b", "partition": "#9ecae1", "restart-all": "#fc9272"}


def _shade(ax: Any, actions: Sequence[dict], end_s: float) -> None:
    labelled: set[str] = set()
    for action in actions:
        kind = action["kind"]
        stop = action["end_s"] if action["end_s"] is not None else end_s
        ax.axvspan(action["start_s"], stop, color=FAULT_COLORS.get(kind, "#dddddd"), alpha=0.35,
                   label=None if kind in labelled else kind)
        labelled.add(kind)


def latency_figure(ops: Sequence[Operation], actions: Sequence[dict], path: pathlib.Path, title: str) -> None:
    """Each completed operation as a point: x = invoke time, y = latency (log scale);
    ``info`` operations at the time their outcome was given up on."""
    fig, ax = plt.subplots(figsize=(10, 4.5))
    end_s = max((op.invoke_time for op in ops), default=0.0) / 1000.0
    _shade(ax, actions, end_s)
    for kind in ("ok", "fail", "info"):
        xs, ys = [], []
        for op in ops:
            if op.type != kind:
                continue
            done = op.complete_time if kind != "info" else op.reported_time
            if done is None:
                continue
            xs.append(op.invoke_time / 1000.0)
            ys.append(max(done - op.invoke_time, 0.01))
        if xs:
            ax.scatter(xs, ys, s=4, color=COLORS[kind], label=f"{kind} ({len(xs)})", alpha=0.6, linewidths=0)
    ax.set_yscale("log")
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("latency (ms)")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8, ncol=4)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def throughput_figure(ops: Sequence[Operation], actions: Sequence[dict], path: pathlib.Path, title: str,
                      bucket_s: float = 0.5) -> None:
    """Completions per second in ``bucket_s`` buckets, one line per outcome."""
    fig, ax = plt.subplots(figsize=(10, 4.0))
    end_s = max((op.invoke_time for op in ops), default=0.0) / 1000.0
    _shade(ax, actions, end_s)
    buckets = int(end_s / bucket_s) + 2
    for kind in ("ok", "fail", "info"):
        counts = [0] * buckets
        for op in ops:
            if op.type == kind:
                done = op.complete_time if kind != "info" else (op.reported_time or op.invoke_time)
                counts[min(int(done / 1000.0 / bucket_s), buckets - 1)] += 1
        ax.plot([i * bucket_s for i in range(buckets)], [c / bucket_s for c in counts], color=COLORS[kind],
                label=kind, linewidth=1.2)
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("operations / s")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8, ncol=4)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
