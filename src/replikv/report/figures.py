"""The figures of ``replikv compare`` (matplotlib, Agg backend, PNG): latency CDFs of all
schemes on one plot, availability timelines with the fault window shaded, a
message-sequence (Lamport) diagram of one write per scheme drawn from the simulator's
trace (the chapter's figures, regenerated from real messages), and messages per write
against N next to the chapter's 1n/2n/4n/6n.

What may live here: drawing from the comparison's sweeps (histories, traces, summaries).
No measurement of its own: every point is a run's history event or report field.
"""

from __future__ import annotations

import io
import pathlib
import re
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend

from replikv.core.replica import ProtocolSpec  # noqa: E402
from replikv.report.cells import SCALING_NODES, trace_needs  # noqa: E402
from replikv.report.comparison import Comparison  # noqa: E402
from replikv.report.trace import arrows, parse, probe_window  # noqa: E402
from replikv.sim.scenario import load_builtin  # noqa: E402

WRITE_FS = {"write", "cas", "delete", "incr", "append", "txn"}


@dataclass(frozen=True)
class Figure:
    name: str
    """File stem (``latency-cdf``), also the HTML anchor."""
    title: str
    caption: str
    png: bytes
    source: str
    """The sweep (or run) it was drawn from: its reproduce line."""


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _sweep(comparison: Comparison, spec: ProtocolSpec, scenario: str, history: bool = True):
    for sweep in comparison.sweeps.values():
        e = sweep.experiment
        if (e.protocol == spec.name and e.scenario == scenario and e.seeds == comparison.seeds
                and e.nodes == comparison.nodes and e.history == history and not e.trace and not e.options):
            return sweep
    return None


def _steady_latencies(history: list[dict[str, Any]]) -> list[float]:
    """Latencies of ok operations invoked from the first acknowledged one on (as the
    report's ``steady_latency_ms``)."""
    invoked: dict[int, float] = {}
    pairs = []
    for event in history:
        if event["type"] == "invoke":
            invoked[event["process"]] = event["time"]
        elif event["type"] == "ok":
            pairs.append((invoked[event["process"]], event["time"]))
    if not pairs:
        return []
    first = min(done for _, done in pairs)
    return sorted(done - start for start, done in pairs if start >= first)


def latency_cdf(comparison: Comparison) -> Figure | None:
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    drawn = 0
    for spec in comparison.specs:
        sweep = _sweep(comparison, spec, "steady")
        if sweep is None or not sweep.histories:
            continue
        values = sorted(v for h in sweep.histories.values() for v in _steady_latencies(h))
        if not values:
            continue
        ys = [(i + 1) / len(values) for i in range(len(values))]
        ax.step(values, ys, where="post", label=spec.name)
        drawn += 1
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xscale("log")
    ax.set_xlabel("latency of an acknowledged operation (virtual ms, log scale)")
    ax.set_ylabel("fraction of operations")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    ax.set_title(f"steady: latency CDF, {comparison.seeds} seeds, N={comparison.nodes}")
    return Figure("latency-cdf", "Latency CDFs (steady)",
                  "Every acknowledged operation of every seed of `steady`, invoked after the first acknowledged one "
                  "(as `steady_latency_ms`). Left is faster; a long right tail is waiting for a slow quorum.",
                  _png(fig), "replikv sim --scenario steady --seeds N, per scheme")


def availability(comparison: Comparison, scenario: str = "primary-crash", bin_ms: float = 50.0) -> Figure | None:
    """Acknowledged writes per ``bin_ms`` over seed 1 of ``scenario``, one panel per
    scheme, the fault window shaded and each timetable fault marked."""
    spec_runs = []
    for spec in comparison.specs:
        sweep = _sweep(comparison, spec, scenario)
        if sweep is not None and 1 in sweep.histories:
            spec_runs.append((spec, sweep))
    if not spec_runs:
        return None
    plan = load_builtin(scenario)
    fig, axes = plt.subplots(len(spec_runs), 1, figsize=(7.5, 1.1 * len(spec_runs) + 0.8), sharex=True,
                             squeeze=False)
    horizon = 0.0
    for (spec, sweep), ax in zip(spec_runs, axes[:, 0], strict=True):
        history = sweep.histories[1]
        oks = [e["time"] for e in history if e["type"] == "ok" and e["f"] in WRITE_FS]
        reads = [e["time"] for e in history if e["type"] == "ok" and e["f"] not in WRITE_FS]
        end = max([e["time"] for e in history] or [0.0])
        horizon = max(horizon, end)
        bins = [i * bin_ms for i in range(int(end // bin_ms) + 2)]
        ax.hist([oks, reads], bins=bins, stacked=True, color=["tab:blue", "tab:green"], label=["writes", "reads"])
        if plan.run.fault_start_ms is not None:
            ax.axvspan(plan.run.fault_start_ms, plan.run.fault_end_ms or end, color="tab:red", alpha=0.12)
        for fault in plan.faults:
            ax.axvline(fault.at_ms, color="tab:red", lw=0.8, ls="--")
        ax.set_ylabel(spec.name, rotation=0, ha="right", va="center", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel(f"virtual ms (acknowledged ops per {bin_ms:.0f} ms; fault window shaded, faults dashed)")
    fig.suptitle(f"{scenario}, seed 1: who keeps answering", fontsize=10)
    return Figure(f"availability-{scenario}", f"Availability timeline ({scenario})",
                  f"Acknowledged writes (blue) and reads (green) per {bin_ms:.0f} ms in seed 1 of `{scenario}`; the "
                  "fault window is shaded and each fault of the timetable dashed (the crash, then the operator's "
                  "promotion). A gap is the time with no primary/leader.",
                  _png(fig), f"replikv sim --scenario {scenario} --seed 1, per scheme")


def _lane(node: int | str, lanes: dict[int | str, int]) -> int | None:
    if isinstance(node, str) and node.startswith("c"):
        return lanes.get("client")
    return lanes.get(node)


def lamport(comparison: Comparison, spec: ProtocolSpec) -> Figure | None:
    """The probe write of one traced ``steady`` run: a lane per node (time downwards), an
    arrow per message, a square per persist (filled when durable), a star per commit."""
    sweep = comparison.sweeps.get(trace_needs(spec, comparison.nodes).key)
    if sweep is None or 1 not in sweep.traces:
        return None
    events = parse(sweep.traces[1])
    window = probe_window(events, spec)
    if window is None:
        return None
    nodes = sorted({e["node"] for e in events if e["ev"] == "role"})
    lanes: dict[int | str, int] = {"client": 0, **{n: i + 1 for i, n in enumerate(nodes)}}
    fig, ax = plt.subplots(figsize=(6.2, 4.6))
    t0 = window.start
    for name, x in lanes.items():
        ax.axvline(x, color="0.6", lw=1)
        ax.text(x, -0.04, "client" if name == "client" else f"node {name}", ha="center", va="bottom",
                transform=ax.get_xaxis_transform(), fontsize=8)
    if window.node is not None:
        ax.annotate("", xy=(lanes[window.node], 0), xytext=(0, 0),
                    arrowprops={"arrowstyle": "->", "color": "tab:purple"})
        ax.text(0.05, 0, "SET (probe)", fontsize=7, color="tab:purple", va="bottom")
    if window.answered is not None and window.node is not None:
        y = window.answered - t0
        ax.annotate("", xy=(0, y), xytext=(lanes[window.node], y), arrowprops={"arrowstyle": "->", "color": "tab:purple"})
        ax.text(0.05, y, "OK", fontsize=7, color="tab:purple", va="bottom")
    count = 0
    for arrow in arrows(window.events):
        src, dst = _lane(arrow.src, lanes), _lane(arrow.dst, lanes)
        if src is None or dst is None or arrow.delivered is None:
            continue
        count += 1
        ax.annotate("", xy=(dst, arrow.delivered - t0), xytext=(src, arrow.sent - t0),
                    arrowprops={"arrowstyle": "->", "color": "tab:blue", "lw": 0.9})
        ax.text((src + dst) / 2, (arrow.sent + arrow.delivered) / 2 - t0, arrow.msg, fontsize=6, ha="center",
                color="tab:blue", bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.3, "alpha": 0.8})
    for event in window.events:
        lane = lanes.get(event.get("node"))
        if lane is None:
            continue
        y = event["t"] - t0
        if event["ev"] == "persist":
            ax.plot(lane, y, "s", mfc="none", mec="tab:orange", ms=5)
        elif event["ev"] == "durable":
            ax.plot(lane, y, "s", color="tab:orange", ms=5)
        elif event["ev"] == "commit":
            ax.plot(lane, y, "*", color="tab:green", ms=9)
    times = [e["t"] - t0 for e in window.events] + [a.delivered - t0 for a in arrows(window.events) if a.delivered]
    bottom = max(times + [(window.answered or t0) - t0, 0.1])
    ax.set_ylim(bottom * 1.05, -bottom * 0.03)
    ax.set_xlim(-0.5, len(lanes) - 0.5)
    ax.set_xticks([])
    ax.set_ylabel("virtual ms after the write arrived")
    ax.set_title(f"{spec.name}: one write, {count} peer messages (chapter: {spec.messages_per_write or '?'})",
                 fontsize=10)
    return Figure(f"sequence-{spec.name}", f"One write in {spec.name}",
                  "The probe write of seed 1 of `steady` (after the run went quiet, so every message drawn is about "
                  "it; heartbeats left out). Arrows are messages; hollow squares persist, filled ones durable, stars "
                  "commit.", _png(fig), sweep.experiment.reproduce(1) + " --trace trace.jsonl")


def _chapter_factor(text: str) -> float | None:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*n\s*", text or "")
    return float(match.group(1)) if match else None


def messages_vs_n(comparison: Comparison) -> Figure | None:
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    drawn = 0
    for index, spec in enumerate(comparison.specs):
        points = []
        for sweep in comparison.sweeps.values():
            e = sweep.experiment
            if e.protocol == spec.name and e.scenario == "steady" and not e.trace and sweep.summary:
                value = sweep.summary["messages_per_write"]
                if value is not None:
                    points.append((e.nodes or comparison.nodes, value))
        points = sorted(set(points))
        if not points:
            continue
        colour = f"C{index % 10}"
        ax.plot([n for n, _ in points], [v for _, v in points], "o-", color=colour, label=spec.name)
        factor = _chapter_factor(spec.messages_per_write)
        if factor is not None:
            ns = [n for n, _ in points]
            ax.plot(ns, [factor * (n - 1) for n in ns], ls=":", color=colour, alpha=0.7)
        drawn += 1
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xticks(sorted({*SCALING_NODES, comparison.nodes}))
    ax.set_xlabel("N (nodes)")
    ax.set_ylabel("peer messages per committed write")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    ax.set_title("messages per write against N (dotted: the chapter's k·n with n = N−1)", fontsize=10)
    return Figure("messages-vs-n", "Messages per write against N",
                  "Peer messages per committed write in `steady` (heartbeats excluded), measured at each N (solid) "
                  "next to the chapter's figure, 1n/2n/4n/6n with n = N−1 peers (dotted).",
                  _png(fig), "replikv sim --scenario steady --nodes N --seeds K, per scheme")


def draw_figures(comparison: Comparison, out_dir: pathlib.Path | None = None) -> list[Figure]:
    """Every figure the comparison's runs allow; written as ``<name>.png`` to ``out_dir``."""
    found = [latency_cdf(comparison), availability(comparison), messages_vs_n(comparison)]
    found += [lamport(comparison, spec) for spec in comparison.specs]
    figures = [f for f in found if f is not None]
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        for figure in figures:
            (out_dir / f"{figure.name}.png").write_bytes(figure.png)
    return figures
