"""The columns of ``replikv compare``'s table (the chapter's table, after Ryan Barrett,
"Replication" section "Summary"), one function per column.

What may live here: for each column, which experiments it needs (``needs``) and how its
cell is read from their sweeps (``cell``). A cell reads only the scheme's declarations
(``ProtocolSpec``: ``leadership``, ``failover``, ``transactions``, ``messages_per_write``,
``read_levels``) and the sweep summaries, never a scheme's name, so a new scheme joins
the table through its declaration. A column that does not apply to a scheme says why
(``Cell.na``) instead of staying empty. Every number is a field of the summary that the
cell's ``reproduce`` line prints with ``--json`` (``sim.run.summarize``), or a count of
per-run fields it prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from replikv.core.replica import ProtocolSpec
from replikv.report.runs import Experiment, Sweep

DEFAULT_NODES = 3
THROUGHPUT_SEEDS = 3
"""``steady-load`` (32 clients, 3000 ops) is the slowest standard run: at most this many seeds."""
SCALING_NODES = (3, 5)
SCALING_SEEDS = 5


@dataclass(frozen=True)
class Cell:
    text: str
    value: Any = None
    """The number the text shows (JSON), None when it shows none."""
    sweep: str | None = None
    """The key of the sweep that produced it (a link in the HTML)."""
    reproduce: str | None = None
    na: bool = False
    """The column does not apply to this scheme (``text`` says why)."""
    bad: bool = False
    """The measurement shows what the chapter warns of (lost writes, stale reads...)."""


@dataclass(frozen=True)
class Column:
    name: str
    title: str
    scenario: str
    """Where the number comes from, said in the header."""
    needs: Callable[[ProtocolSpec, int, int | None], list[Experiment]]
    cell: Callable[[ProtocolSpec, dict[str, Sweep], int, int | None], Cell]
    help: str


def _experiment(spec: ProtocolSpec, scenario: str, seeds: int, nodes: int | None) -> Experiment:
    """The table's runs keep their client histories (the figures draw from them)."""
    return Experiment(spec.name, scenario, seeds, nodes=nodes, history=True)


def trace_needs(spec: ProtocolSpec, nodes: int | None) -> Experiment:
    """One traced ``steady`` run (seed 1): the message-sequence diagram of its probe write."""
    return Experiment(spec.name, "steady", 1, nodes=nodes, trace=True)


def _sweep_cell(sweeps: dict[str, Sweep], experiment: Experiment,
                read: Callable[[Sweep, dict[str, Any]], Cell]) -> Cell:
    """Read a cell from a sweep, or say why there is none (scenario not applicable, runs
    that raised)."""
    sweep = sweeps[experiment.key]
    if sweep.unsupported is not None:
        return Cell(f"n/a: {sweep.unsupported}", na=True, sweep=experiment.key)
    if sweep.errors:
        return Cell(f"run failed ({len(sweep.errors)} of {experiment.seeds} seeds): {sweep.errors[0]}",
                    bad=True, sweep=experiment.key, reproduce=sweep.reproduce)
    summary = sweep.summary
    assert summary is not None
    found = read(sweep, summary)
    return Cell(found.text, found.value, experiment.key, sweep.reproduce, found.na, found.bad)


def _leaderless(spec: ProtocolSpec) -> bool:
    return spec.leadership == "leaderless"


# -- consistency ---------------------------------------------------------------------


def _consistency_needs(spec: ProtocolSpec, seeds: int, nodes: int | None) -> list[Experiment]:
    return [_experiment(spec, "primary-crash", seeds, nodes)]


def consistency(spec: ProtocolSpec, sweeps: dict[str, Sweep], seeds: int, nodes: int | None) -> Cell:
    """What the checker found at the scheme's default read level when the primary
    (leader) crashes: linearizable seeds, stale reads, divergent replicas."""

    def read(sweep: Sweep, s: dict[str, Any]) -> Cell:
        runs, fraction = s["runs"], s["linearizable_fraction"]
        linearizable = round(fraction * runs)
        parts = [f"linearizable {linearizable}/{runs}"]
        if s["linearizable_unknown"]:
            parts.append(f"{s['linearizable_unknown']} undecided")
        if s["stale_reads_total"]:
            stale = s["stale_reads_total"]
            parts.append(f"{stale} stale read{'s' if stale != 1 else ''}")
        if s["divergent"]:
            parts.append(f"{s['divergent']} diverged")
        return Cell(", ".join(parts), fraction, bad=linearizable < runs)

    return _sweep_cell(sweeps, _consistency_needs(spec, seeds, nodes)[0], read)


# -- transactions --------------------------------------------------------------------


def _txn_needs(spec: ProtocolSpec, seeds: int, nodes: int | None) -> list[Experiment]:
    return [_experiment(spec, "txn-leader-crash", seeds, nodes)] if spec.transactions else []


def transactions(spec: ProtocolSpec, sweeps: dict[str, Sweep], seeds: int, nodes: int | None) -> Cell:
    """Offered (``spec.transactions``) and checked: strictly serializable seeds of
    list-append transactions while the primary (leader) crashes (the runs'
    ``strict_serializable``)."""
    if not spec.transactions:
        return Cell("not offered (declared: no atomic multi-key Txn)", na=True)

    def read(sweep: Sweep, s: dict[str, Any]) -> Cell:
        verdicts = [r["strict_serializable"] for r in sweep.reports]
        ok = sum(1 for v in verdicts if v is True)
        undecided = sum(1 for v in verdicts if v is None)
        text = f"offered; strict-serializable {ok}/{len(verdicts)}"
        if undecided:
            text += f" ({undecided} undecided)"
        return Cell(text, round(ok / len(verdicts), 4), bad=ok < len(verdicts))

    return _sweep_cell(sweeps, _txn_needs(spec, seeds, nodes)[0], read)


# -- latency and throughput ----------------------------------------------------------


def _steady_needs(spec: ProtocolSpec, seeds: int, nodes: int | None) -> list[Experiment]:
    return [_experiment(spec, "steady", seeds, nodes)]


def latency(spec: ProtocolSpec, sweeps: dict[str, Sweep], seeds: int, nodes: int | None) -> Cell:
    """Steady-state latency (``steady``, no faults): medians over seeds of each run's p50
    and p99 of the operations after the first acknowledged one (``steady_latency_ms``)."""

    def read(sweep: Sweep, s: dict[str, Any]) -> Cell:
        p50, p99 = s["steady_latency_ms"]["p50"], s["steady_latency_ms"]["p99"]
        if p50 is None:
            return Cell("nothing acknowledged", bad=True)
        return Cell(f"{p50:.1f} / {p99:.1f} ms", {"p50": p50, "p99": p99})

    return _sweep_cell(sweeps, _steady_needs(spec, seeds, nodes)[0], read)


def _load_needs(spec: ProtocolSpec, seeds: int, nodes: int | None) -> list[Experiment]:
    return [_experiment(spec, "steady-load", min(seeds, THROUGHPUT_SEEDS), nodes)]


def throughput(spec: ProtocolSpec, sweeps: dict[str, Sweep], seeds: int, nodes: int | None) -> Cell:
    """Simulated throughput: acknowledged ops per virtual second under 32 closed-loop
    clients with no think time (``steady-load``), median over seeds (``throughput_ops_s``)."""

    def read(sweep: Sweep, s: dict[str, Any]) -> Cell:
        value = s["throughput_ops_s"]
        if value is None:
            return Cell("nothing acknowledged", bad=True)
        return Cell(f"{value:,.0f} ops/s", value)

    return _sweep_cell(sweeps, _load_needs(spec, seeds, nodes)[0], read)


# -- primary/leader loss -------------------------------------------------------------


def _crash_needs(spec: ProtocolSpec, seeds: int, nodes: int | None) -> list[Experiment]:
    return [] if _leaderless(spec) else [_experiment(spec, "primary-crash", seeds, nodes)]


LAGGING = "primary-crash-lagging"


def _lagging_needs(spec: ProtocolSpec, seeds: int, nodes: int | None) -> list[Experiment]:
    return [] if _leaderless(spec) else [_experiment(spec, LAGGING, seeds, nodes)]


def lost_writes(spec: ProtocolSpec, sweeps: dict[str, Sweep], seeds: int, nodes: int | None) -> Cell:
    """Acknowledged writes absent from the final state after the primary (leader) crashes
    with replication lag built into the scenario (``primary-crash-lagging``, as behind
    MySQL's default asynchronous replication): ``lost_acked_writes_total`` and the seeds
    that lost any."""
    if _leaderless(spec):
        return Cell("n/a: no primary or leader to lose (leaderless)", na=True)

    def read(sweep: Sweep, s: dict[str, Any]) -> Cell:
        lost, where = s["lost_acked_writes_total"], len(s["seeds_with_lost_writes"])
        if not lost:
            return Cell(f"0 in {s['runs']} seeds", 0)
        return Cell(f"{lost} on {where}/{s['runs']} seeds", lost, bad=True)

    return _sweep_cell(sweeps, _lagging_needs(spec, seeds, nodes)[0], read)


_FAILOVER_WORDS = {"elected": "elected", "manual": "operator promotes", "none": "no failover"}


def failover(spec: ProtocolSpec, sweeps: dict[str, Sweep], seeds: int, nodes: int | None) -> Cell:
    """What the cluster offers while the primary (leader) is down (``primary-crash``):
    read-write, read-only or down (medians over seeds of the fault window's write and read
    availability), and the time from the crash to the first acknowledged write
    (``failover_ms`` p50). How a new leader comes is the scheme's declaration
    (``spec.failover``)."""
    if _leaderless(spec):
        return Cell("n/a: no failover by design (leaderless: any replica serves)", na=True)
    how = _FAILOVER_WORDS.get(spec.failover, spec.failover)

    def read(sweep: Sweep, s: dict[str, Any]) -> Cell:
        writes, reads = s["write_availability_p50"] or 0, s["read_availability_p50"] or 0
        state = "read-write" if writes > 0 else "read-only" if reads > 0 else "down"
        first = s["failover_ms"]["p50"]
        after = f", first acked write after {first:,.0f} ms" if first is not None else ", no acked write"
        return Cell(f"{state} ({how}){after}", first, bad=state != "read-write")

    return _sweep_cell(sweeps, _crash_needs(spec, seeds, nodes)[0], read)


# -- one node down -------------------------------------------------------------------


def _backup_down_needs(spec: ProtocolSpec, seeds: int, nodes: int | None) -> list[Experiment]:
    return [_experiment(spec, "backup-crash", seeds, nodes)]


def one_down(spec: ProtocolSpec, sweeps: dict[str, Sweep], seeds: int, nodes: int | None) -> Cell:
    """Writes acknowledged while one backup (follower) is down (``backup-crash``): median
    over seeds of the fault window's write availability."""

    def read(sweep: Sweep, s: dict[str, Any]) -> Cell:
        value = s["write_availability_p50"]
        if value is None:
            return Cell("no write in the fault window", bad=True)
        word = "writes go on" if value >= 0.9 else "writes refused" if value == 0 else "writes degraded"
        return Cell(f"{word} ({value:.0%})", value, bad=value < 0.9)

    return _sweep_cell(sweeps, _backup_down_needs(spec, seeds, nodes)[0], read)


# -- messages per write --------------------------------------------------------------


def _messages_needs(spec: ProtocolSpec, seeds: int, nodes: int | None) -> list[Experiment]:
    return [_experiment(spec, "steady", seeds, nodes)]


def messages(spec: ProtocolSpec, sweeps: dict[str, Sweep], seeds: int, nodes: int | None) -> Cell:
    """Peer messages per committed write with no faults (``steady``; heartbeats excluded),
    median over seeds, also as a multiple of ``N - 1`` next to the chapter's figure
    (``spec.messages_per_write``: 1n, 2n, 4n, 6n)."""
    chapter = spec.messages_per_write or "not stated"

    def read(sweep: Sweep, s: dict[str, Any]) -> Cell:
        value = s["messages_per_write"]
        if value is None:
            return Cell(f"no write committed (chapter: {chapter})", bad=True)
        n = sweep.reports[0]["nodes"]
        per_peer = value / (n - 1) if n > 1 else value
        return Cell(f"{value:.2f} = {per_peer:.2f}n at N={n} (chapter: {chapter})", value)

    return _sweep_cell(sweeps, _messages_needs(spec, seeds, nodes)[0], read)


def scaling_needs(spec: ProtocolSpec, seeds: int, nodes: int | None) -> list[Experiment]:
    """``steady`` at each of ``SCALING_NODES`` and at the table's N (the
    messages-per-write-against-N figure); the table's own sweep where N is the same."""
    sizes = sorted({*SCALING_NODES, nodes or DEFAULT_NODES})
    return [_messages_needs(spec, seeds, nodes)[0] if n == (nodes or DEFAULT_NODES)
            else Experiment(spec.name, "steady", min(seeds, SCALING_SEEDS), nodes=n) for n in sizes]


COLUMNS: tuple[Column, ...] = (
    Column("consistency", "consistency", "primary-crash", _consistency_needs, consistency,
           "what the checker found at the default read level while the primary/leader crashes"),
    Column("transactions", "transactions", "txn-leader-crash", _txn_needs, transactions,
           "multi-key Txn offered, and strictly serializable list-append histories under a crash"),
    Column("latency", "latency p50 / p99", "steady", _steady_needs, latency,
           "steady-state latency of acknowledged ops, medians over seeds"),
    Column("throughput", "throughput (sim)", "steady-load", _load_needs, throughput,
           "acknowledged ops per virtual second, 32 clients without think time"),
    Column("lost_writes", "acked writes lost", LAGGING, _lagging_needs, lost_writes,
           "acknowledged writes missing after the primary/leader crashes with replication lag"),
    Column("failover", "failover", "primary-crash", _crash_needs, failover,
           "service while the primary/leader is down, and time to the first acknowledged write"),
    Column("one_down", "writes, one node down", "backup-crash", _backup_down_needs, one_down,
           "share of writes acknowledged while one backup/follower is down"),
    Column("messages", "messages per write", "steady", _messages_needs, messages,
           "peer messages per committed write, next to the chapter's 1n/2n/4n/6n"),
)


def experiments_for(specs: list[ProtocolSpec], seeds: int, nodes: int | None) -> list[Experiment]:
    """Every experiment the table needs, once each, in a stable order."""
    found: dict[str, Experiment] = {}
    for spec in specs:
        for column in COLUMNS:
            for experiment in column.needs(spec, seeds, nodes):
                found.setdefault(experiment.key, experiment)
        for experiment in [*scaling_needs(spec, seeds, nodes), trace_needs(spec, nodes)]:
            found.setdefault(experiment.key, experiment)
    return list(found.values())


def table_cells(specs: list[ProtocolSpec], sweeps: dict[str, Sweep], seeds: int,
                nodes: int | None) -> dict[str, dict[str, Cell]]:
    """scheme -> column name -> cell."""
    return {spec.name: {c.name: c.cell(spec, sweeps, seeds, nodes) for c in COLUMNS} for spec in specs}
