"""The columns of ``replikv compare --real``: the simulated table's columns that a real
cluster can measure, read from ``replikv test`` results (the chapter's table, after Ryan
Barrett, "Replication" section "Summary").

What may live here: for each column, the fault it needs (``real_runs.FAULTS``) and how
its cell is read from the recorded runs: ``report.json`` (the judge's verdict: lost
acknowledged writes, the checker's model and result, stale reads, divergence) and the
client history (times). A cell reads only the scheme's declarations (``ProtocolSpec``:
``leadership``, ``failover``, ``promises``) and the runs, never a scheme's name. Column
names are the simulated table's (``cells.COLUMNS``) where the column exists there.

Times are the history's: milliseconds since the workload started, on the tester's
monotonic clock. A fault's time is when the nemesis sent the signal (``nemesis_executed``).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from replikv.check.history import Operation
from replikv.core.replica import ProtocolSpec
from replikv.jepsen.report import answered, not_offered, percentile
from replikv.report.cells import Cell
from replikv.report.real_runs import KILL_FOLLOWER, KILL_LEADER, STEADY, RealRun

MEASURED = "real local cluster"
WRITE_OPS = ("write", "cas", "delete", "incr")
"""Operations that write (as the simulator counts them, ``sim.simulation.WRITE_OPS``)."""


@dataclass(frozen=True)
class RealCell(Cell):
    """A cell measured on real processes: ``runs`` are the keys of the runs it was read
    from (``real_runs.RealExperiment.key``), ``reproduce`` the ``replikv test`` line of the
    first one."""

    runs: tuple[str, ...] = ()
    measured: str = MEASURED


# -- reading one recorded run ----------------------------------------------------------


def workload_ops(run: RealRun) -> list[Operation]:
    """The workers' operations: invoked before the workload's end (the final reads,
    taken after healing, are left out)."""
    assert run.report is not None and run.ops is not None
    end_ms = run.report["time_s"] * 1000.0
    return [op for op in run.ops if op.invoke_time < end_ms]


def acked_write_latencies(run: RealRun) -> list[float]:
    """Milliseconds from invoke to ``ok`` of every acknowledged write, sorted."""
    return sorted(op.complete_time - op.invoke_time for op in workload_ops(run)
                  if op.type == "ok" and op.f in WRITE_OPS)


def throughput(run: RealRun) -> float:
    """Acknowledged operations per second of workload (reads and writes, 8 closed-loop
    clients with no think time)."""
    assert run.report is not None
    return round(sum(1 for op in workload_ops(run) if op.type == "ok") / run.report["time_s"], 1)


def fault_windows(run: RealRun, kind: str) -> list[tuple[float, float]]:
    """(kill, restart) in milliseconds of every window of ``kind`` the nemesis opened:
    from the moment it sent the signal (``nemesis_executed``) to the moment the schedule
    closed the window and the restart began (``nemesis_schedule``: the runner acts the
    windows out in order, one action each)."""
    assert run.report is not None
    pairs = zip(run.report["nemesis_schedule"], run.report["nemesis_executed"], strict=False)
    return [(action["start_s"] * 1000.0, max(window["end_s"], action["start_s"]) * 1000.0)
            for window, action in pairs if action["kind"] == kind]


def fault_notes(run: RealRun, kind: str) -> list[str]:
    assert run.report is not None
    return [note for a in run.report["nemesis_executed"] if a["kind"] == kind for note in a["notes"]]


def served_while_down(run: RealRun, windows: Sequence[tuple[float, float]]) -> dict[str, float | None]:
    """Of the writes (and of the reads) invoked while a window was open, the fraction
    answered before that window closed (an answer that came only after the restart was
    not served while the node was down); None when nothing was invoked there. A request
    refused for what it asks (``jepsen.report.not_offered``: quorum's ``cas``) is left out."""
    counts = {"read": [0, 0], "write": [0, 0]}
    for op in workload_ops(run):
        if not_offered(op):
            continue
        for lo, hi in windows:
            if lo <= op.invoke_time < hi:
                group = counts["read" if op.f == "read" else "write"]
                group[0] += answered(op) and op.complete_time < hi
                group[1] += 1
    return {name: round(ok / total, 4) if total else None for name, (ok, total) in counts.items()}


def new_leader_ms(run: RealRun) -> list[float]:
    """For each kill of the leader, from the signal to the moment the nemesis first saw
    another node leading (elected, or promoted by the operator it plays), when it did."""
    assert run.report is not None
    return [round((a["new_leader_s"] - a["start_s"]) * 1000.0, 1) for a in run.report["nemesis_executed"]
            if a["kind"] == KILL_LEADER and a.get("new_leader_s") is not None]


def failover_ms(run: RealRun, kill_ms: float) -> float | None:
    """From the kill to the completion of the first acknowledged write invoked after it
    (the simulator's ``failover_ms``); None: no write was acknowledged afterwards."""
    done = [op.complete_time for op in workload_ops(run)
            if op.type == "ok" and op.f in WRITE_OPS and op.invoke_time >= kill_ms]
    return round(min(done) - kill_ms, 1) if done else None


# -- cells over the seeds of one scheme and fault --------------------------------------


def _runs_cell(spec: ProtocolSpec, runs: dict[str, RealRun], fault: str,
               read: Callable[[list[RealRun]], Cell]) -> RealCell:
    """Read a cell from the runs of ``spec`` under ``fault`` (every seed), or say why
    there is none (a run that failed to run)."""
    chosen = [r for r in runs.values() if r.experiment.protocol == spec.name and r.experiment.fault == fault]
    chosen.sort(key=lambda r: r.experiment.seed)
    if not chosen:
        return RealCell("not run", na=True)
    keys = tuple(r.experiment.key for r in chosen)
    line = chosen[0].experiment.reproduce()
    broken = [r for r in chosen if r.error is not None or r.report is None]
    if broken:
        return RealCell(f"run failed ({len(broken)} of {len(chosen)}): {broken[0].error}", bad=True,
                        sweep=keys[0], reproduce=line, runs=keys)
    found = read(chosen)
    return RealCell(found.text, found.value, keys[0], line, found.na, found.bad, runs=keys)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _seeds(runs: list[RealRun]) -> str:
    return "" if len(runs) == 1 else f" (median of {len(runs)} seeds)"


def consistency(spec: ProtocolSpec, runs: dict[str, RealRun]) -> RealCell:
    """What the checker found (the model ``replikv test`` judges the scheme by, usually
    linearizable; stale reads; divergent replicas) with the leader killed and restarted."""

    def read(chosen: list[RealRun]) -> Cell:
        model = chosen[0].report["model"]  # type: ignore[index]
        valid = [r.report["model_valid"] for r in chosen]  # type: ignore[index]
        ok, undecided = sum(v is True for v in valid), sum(v is None for v in valid)
        parts = [f"{model} {ok}/{len(chosen)}"]
        if undecided:
            parts.append(f"{undecided} undecided")
        stale = sum(r.report.get("stale_reads") or 0 for r in chosen)  # type: ignore[union-attr]
        if stale:
            parts.append(f"{stale} stale read{'s' if stale != 1 else ''}")
        diverged = sum(1 for r in chosen if r.report.get("divergent"))  # type: ignore[union-attr]
        if diverged:
            parts.append(f"{diverged} diverged")
        return Cell(", ".join(parts), round(ok / len(chosen), 4), bad=ok < len(chosen) or bool(stale or diverged))

    return _runs_cell(spec, runs, KILL_LEADER, read)


def latency(spec: ProtocolSpec, runs: dict[str, RealRun]) -> RealCell:
    """p50 / p99 of acknowledged writes, no fault (medians over seeds)."""

    def read(chosen: list[RealRun]) -> Cell:
        found = [acked_write_latencies(r) for r in chosen]
        p50 = _median([v for v in (percentile(f, 0.5) for f in found) if v is not None])
        p99 = _median([v for v in (percentile(f, 0.99) for f in found) if v is not None])
        if p50 is None or p99 is None:
            return Cell("no write acknowledged", bad=True)
        return Cell(f"{p50:.1f} / {p99:.1f} ms{_seeds(chosen)}", {"p50": p50, "p99": p99})

    return _runs_cell(spec, runs, STEADY, read)


def real_throughput(spec: ProtocolSpec, runs: dict[str, RealRun]) -> RealCell:
    """Acknowledged operations per second, 8 closed-loop clients, no fault."""

    def read(chosen: list[RealRun]) -> Cell:
        value = _median([throughput(r) for r in chosen])
        if not value:
            return Cell("nothing acknowledged", 0, bad=True)
        return Cell(f"{value:,.0f} ops/s{_seeds(chosen)}", value)

    return _runs_cell(spec, runs, STEADY, read)


def _leaderless(spec: ProtocolSpec) -> bool:
    return spec.leadership == "leaderless"


def lost_writes(spec: ProtocolSpec, runs: dict[str, RealRun]) -> RealCell:
    """Acknowledged writes the final reads did not find (the judge's
    ``lost_acked_writes``, counted by request) after the leader was killed and restarted."""
    if _leaderless(spec):
        return RealCell("n/a: no primary or leader to lose (leaderless)", na=True)

    def read(chosen: list[RealRun]) -> Cell:
        counts = [r.report["lost_acked_writes"] for r in chosen]  # type: ignore[index]
        if any(c is None for c in counts):
            return Cell("unknown: the final reads failed", bad=True)
        lost, where = sum(counts), sum(1 for c in counts if c)
        promise = "" if spec.promises.linearizable_writes else " (declared: not promised)"
        if not lost:
            return Cell(f"0 in {len(chosen)} run{'s' if len(chosen) != 1 else ''}", 0)
        return Cell(f"{lost} on {where}/{len(chosen)} runs{promise}", lost, bad=True)

    return _runs_cell(spec, runs, KILL_LEADER, read)


_FAILOVER_WORDS = {"elected": "elected", "manual": "operator promotes", "none": "no failover"}


def _kill_missed(run: RealRun, windows: list[tuple[float, float]]) -> str | None:
    """Why a kill-leader run did not measure a failover (no kill, or no leader known)."""
    if not windows:
        return "no kill ran (--time too short for a fault window)"
    for note in fault_notes(run, KILL_LEADER):
        if note.startswith("no node said it leads"):
            return f"no leader known when the kill came: {note}"
    return None


def failover(spec: ProtocolSpec, runs: dict[str, RealRun]) -> RealCell:
    """While the killed leader is down (from the kill to its restart): read-write when
    some write invoked then was acknowledged before the restart, read-only when only
    reads were, down otherwise; how a new leader comes (``spec.failover``; the nemesis
    plays the operator for ``manual``) and when another node was first seen leading; the
    time from the kill to the first acknowledged write invoked after it (median over the
    kills), and whether it came only after the restart."""
    if _leaderless(spec):
        return RealCell("n/a: no failover by design (leaderless: any replica serves)", na=True)
    how = _FAILOVER_WORDS.get(spec.failover, spec.failover)

    def read(chosen: list[RealRun]) -> Cell:
        writes, reads, times, late, leading = [], [], [], 0, []
        for run in chosen:
            leading += new_leader_ms(run)
            windows = fault_windows(run, KILL_LEADER)
            missed = _kill_missed(run, windows)
            if missed is not None:
                return Cell(f"not measured: {missed} (seed {run.experiment.seed})", bad=True)
            found = served_while_down(run, windows)
            writes.append(found["write"] or 0.0)
            reads.append(found["read"] or 0.0)
            for kill_ms, restart_ms in windows:
                first = failover_ms(run, kill_ms)
                if first is not None:
                    times.append(first)
                    late += kill_ms + first >= restart_ms
        state = ("read-write" if statistics.median(writes) > 0 else
                 "read-only" if statistics.median(reads) > 0 else "down")
        first, leader = _median(times), _median(leading)
        seen = f": a new {spec.leader_word} after {leader:,.0f} ms" if leader is not None else ""
        after = f", first acked write after {first:,.0f} ms" if first is not None else ", no acked write"
        if first is not None and late * 2 > len(times):
            after += f" (once the old {spec.leader_word} was back)"
        return Cell(f"{state} ({how}{seen}){after}", first, bad=state != "read-write")

    return _runs_cell(spec, runs, KILL_LEADER, read)


def one_down(spec: ProtocolSpec, runs: dict[str, RealRun]) -> RealCell:
    """Share of the writes invoked while one node that is not leading is down that were
    acknowledged before its restart (``kill-follower``, median over seeds), next to the declaration
    (``promises.available_with_one_down``)."""
    declared = "declared: yes" if spec.promises.available_with_one_down else "declared: no"

    def read(chosen: list[RealRun]) -> Cell:
        values = []
        for run in chosen:
            windows = fault_windows(run, KILL_FOLLOWER)
            if not windows:
                return Cell(f"not measured: no fault window (--time too short; seed {run.experiment.seed})",
                            bad=True)
            value = served_while_down(run, windows)["write"]
            if value is not None:
                values.append(value)
        if not values:
            return Cell("no write in the fault window", bad=True)
        value = statistics.median(values)
        word = "writes go on" if value >= 0.9 else "writes refused" if value == 0 else "writes degraded"
        return Cell(f"{word} ({value:.0%}; {declared})", round(value, 4), bad=value < 0.9)

    return _runs_cell(spec, runs, KILL_FOLLOWER, read)


@dataclass(frozen=True)
class RealColumn:
    name: str
    title: str
    fault: str
    """The ``replikv test --nemesis`` of its runs, said in the header."""
    cell: Callable[[ProtocolSpec, dict[str, RealRun]], RealCell]
    help: str


REAL_COLUMNS: tuple[RealColumn, ...] = (
    RealColumn("consistency", "consistency", KILL_LEADER, consistency,
               "what the checker found (replikv test's model for the scheme) with the leader killed and restarted"),
    RealColumn("latency", "latency p50 / p99 (writes)", STEADY, latency,
               "acknowledged writes, no fault, 8 closed-loop clients"),
    RealColumn("throughput", "throughput (real)", STEADY, real_throughput,
               "acknowledged ops per second, 8 closed-loop clients, no fault"),
    RealColumn("lost_writes", "acked writes lost", KILL_LEADER, lost_writes,
               "acknowledged writes the final reads did not find after kill -9 of the leader"),
    RealColumn("failover", "failover", KILL_LEADER, failover,
               "service while the killed leader is down, and time from the kill to the first acknowledged write "
               "invoked after it, as the clients see it (a request in flight to the dead node waits out the "
               "client's attempt timeout, jepsen.clients.ATTEMPT_TIMEOUT_S)"),
    RealColumn("one_down", "writes, one node down", KILL_FOLLOWER, one_down,
               "share of writes acknowledged while one node that is not leading is down"),
)


def real_table_cells(specs: Sequence[ProtocolSpec], runs: dict[str, RealRun]) -> dict[str, dict[str, RealCell]]:
    """scheme -> column name -> cell."""
    return {spec.name: {c.name: c.cell(spec, runs) for c in REAL_COLUMNS} for spec in specs}
