"""One ``replikv test`` run, start to verdict.

1. Start a local cluster (fsync ``always``) in ``<out>/cluster``.
2. Run ``clients`` workers for ``time_s`` seconds while the nemesis acts out the seeded
   schedule (printed first).
3. Heal everything, wait until every node is up and one leads, read every key at the
   ``linearizable`` level (recorded in the history), wait for the replicas' digests to
   agree.
4. Judge (``judge``), write the results folder (``report``, ``figures``), stop the
   cluster. Every phase is bounded; the cluster is stopped whatever happens.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import shutil
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from replikv import schemes
from replikv.check.history import pair_operations
from replikv.cluster.records import durable_records
from replikv.cluster.state import ClusterError
from replikv.core.options import typed
from replikv.jepsen import figures
from replikv.jepsen.blocking import blocked_windows
from replikv.jepsen.clients import (
    Clock,
    Recording,
    WorkerSettings,
    final_reads,
    final_txn_reads,
    worker,
)
from replikv.jepsen.cluster import kill_recorded, running_cluster
from replikv.jepsen.judge import judge, judge_txn
from replikv.jepsen.nemesis import Nemesis
from replikv.jepsen.report import (
    availability,
    latency_ms,
    reproduce_line,
    summary_text,
    write_report,
)
from replikv.jepsen.schedule import FaultWindow, check_declared, describe_schedule, make_schedule
from replikv.jepsen.txn import TxnKeys
from replikv.jepsen.workload import KeySpace

WORKER_GRACE_S = 15.0
"""Beyond ``time_s``, how long the workers get to finish their last operation."""
FINAL_READS_TIMEOUT_S = 60.0
WORKLOADS = ("register", "txn")
"""``register``: reads, writes and cas on independent keys (``workload``); ``txn``:
list-append transactions (``txn``), judged by the transaction checker."""


@dataclass
class TestSettings:
    protocol: str
    out: pathlib.Path
    nodes: int = 3
    clients: int = 8
    time_s: float = 30.0
    nemesis: tuple[str, ...] = ("kill",)
    read_level: str = "linearizable"
    seed: int = 1
    keys: int = 5
    ops_per_key: int = 100
    model: str | None = None
    keep_data: bool = False
    check_timeout_s: float = 120.0
    workload: str = "register"
    options: dict[str, str] = field(default_factory=dict)
    """Scheme options for every node (``--option KEY=VALUE``)."""

    def __post_init__(self) -> None:
        if self.workload not in WORKLOADS:
            raise ValueError(f"workload must be one of {WORKLOADS}, not {self.workload!r}")

    def reproduce(self) -> str:
        return reproduce_line({
            "protocol": self.protocol, "nodes": self.nodes, "clients": self.clients, "time": f"{self.time_s:g}",
            "workload": None if self.workload == "register" else self.workload,
            "nemesis": ",".join(self.nemesis) or "none", "read-level": self.read_level, "seed": self.seed,
            "keys": self.keys, "ops-per-key": self.ops_per_key, "model": self.model,
        }, repeated={"option": [f"{k}={v}" for k, v in sorted(self.options.items())]})


Say = Callable[[str], None]


def client_read_level(protocol: str, read_level: str) -> str | None:
    """The read level the test's clients name in every request: the one asked for, so a
    scheme whose default is another level (zab serves sequential reads by default) never
    gets its default instead; ``None`` (the server's default) for a scheme that does not
    offer it (leaderless quorums), as before."""
    return read_level if read_level in schemes.get_spec(protocol).read_levels else None


async def _workload(settings: TestSettings, addresses: list[str], windows: list[FaultWindow],
                    nemesis: Nemesis, recording: Recording, keys: KeySpace | TxnKeys, clock: Clock,
                    say: Say) -> None:
    """Clients and nemesis side by side; the nemesis's blocking calls run in a thread."""
    level = client_read_level(settings.protocol, settings.read_level)
    shared = WorkerSettings(addresses=addresses, read_level=level, seed=settings.seed, stop_at_s=settings.time_s)
    tasks = [asyncio.create_task(worker(i, shared, keys, recording, clock)) for i in range(settings.clients)]
    try:
        for window in windows:
            await asyncio.sleep(max(0.0, window.start_s - clock.seconds()))
            action = await asyncio.to_thread(nemesis.open, window)
            await asyncio.to_thread(nemesis.watch, action, window.end_s)
            await asyncio.sleep(max(0.0, window.end_s - clock.seconds()))
            await asyncio.to_thread(nemesis.close, action)
        done, pending = await asyncio.wait(tasks, timeout=settings.time_s - clock.seconds() + WORKER_GRACE_S)
        if pending:
            say(f"{len(pending)} client(s) did not finish in time; their last operations count as unknown")
        for task in done:
            task.result()  # a bug in a worker must not pass silently
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _finish(settings: TestSettings, addresses: list[str], nemesis: Nemesis, recording: Recording,
                  keys: KeySpace | TxnKeys, clock: Clock, say: Say) -> dict[str, Any]:
    say(f"[{clock.seconds():7.2f}s] healing: every node back, every partition removed")
    notes = await asyncio.to_thread(nemesis.heal_all)
    recovered, more = await asyncio.to_thread(nemesis.await_recovery)
    notes += more
    if not recovered:
        notes.append("the cluster did not recover (every node up and one leading) within 30 s")
    say(f"[{clock.seconds():7.2f}s] final reads of {len(keys.touched)} keys")
    try:
        reads = (final_txn_reads(addresses, keys, recording, clock, settings.seed) if isinstance(keys, TxnKeys)
                 else final_reads(addresses, keys.touched, recording, clock, settings.seed))
        final, unread = await asyncio.wait_for(reads, FINAL_READS_TIMEOUT_S)
    except TimeoutError:
        final, unread = None, list(keys.touched)
        notes.append(f"the final reads did not finish within {FINAL_READS_TIMEOUT_S:g} s")
    digests = await asyncio.to_thread(nemesis.digests)
    return {"final": final, "unread": unread, "digests": digests, "notes": notes, "recovered": recovered,
            "leader": await asyncio.to_thread(nemesis.leader)}


INTERRUPT_GRACE_S = 20.0
"""After Ctrl-C/SIGTERM, how long the run may take to unwind before it is cut short."""


class _interruptible:
    """Ctrl-C and SIGTERM cancel the run through the event loop itself (``add_signal_handler``
    wakes the loop at once, whatever loop implementation runs it), and a watchdog bounds the
    unwinding: if the run is still not out ``INTERRUPT_GRACE_S`` later, every node the
    state file names is killed and the process exits 130. (A run once took over a minute to
    notice Ctrl-C when it relied on ``asyncio.Runner``'s own SIGINT handling.)"""

    def __init__(self, root: pathlib.Path) -> None:
        self._root = root
        self._signalled = False
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __enter__(self) -> _interruptible:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._loop.add_signal_handler(signum, self._on_signal)
        return self

    def _on_signal(self) -> None:
        if self._signalled:
            return
        self._signalled = True
        assert self._task is not None
        self._task.cancel()
        watchdog = threading.Timer(INTERRUPT_GRACE_S, self._hard_stop)
        watchdog.daemon = True
        watchdog.start()

    def _hard_stop(self) -> None:
        kill_recorded(self._root)
        print("interrupted: the cluster was stopped (forcibly)", file=sys.stderr, flush=True)
        os._exit(130)

    def __exit__(self, kind, error, traceback) -> bool:
        assert self._loop is not None
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._loop.remove_signal_handler(signum)
        if self._signalled and kind is asyncio.CancelledError:
            raise KeyboardInterrupt
        return False


def _run_async(coro):
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        return runner.run(coro)


def run_test(settings: TestSettings, say: Say = print) -> dict[str, Any]:
    """Run the test; write the results folder; return the report (``report["pass"]``)."""
    spec = schemes.get_spec(settings.protocol)
    check_declared(settings.nemesis, spec)
    out = settings.out
    if out.is_dir() and any(out.iterdir()):
        # a previous run's cluster/ would be taken for this run's nodes (their data was
        # wiped after a pass): its nodes refuse to start, with a misleading reason
        raise ClusterError(f"results folder {out} is not empty (a previous run's results?): "
                           "choose a new --out folder, or remove this one")
    out.mkdir(parents=True, exist_ok=True)
    windows = make_schedule(settings.seed, settings.nemesis, settings.time_s, settings.nodes)
    say(describe_schedule(settings.seed, windows))
    say(f"reproduce: {settings.reproduce()}")
    (out / "schedule.txt").write_text(describe_schedule(settings.seed, windows) + "\n")
    root = out / "cluster"
    recording = Recording()
    keys: KeySpace | TxnKeys = (TxnKeys(settings.keys, settings.ops_per_key) if settings.workload == "txn"
                                else KeySpace(settings.keys, settings.ops_per_key))
    with running_cluster(root, settings.protocol, settings.nodes, settings.options) as state:
        addresses = [f"{state.host}:{entry.client_port}" for entry in state.members()]
        say(f"cluster up: {settings.protocol} x{settings.nodes}, clients on {', '.join(addresses)}")
        clock = Clock()
        nemesis = Nemesis(root, manual_failover=spec.failover == "manual", seconds=clock.seconds, say=say,
                          leaderless=spec.leadership == "leaderless",
                          crash_after=spec.coordinator_crash_after)

        async def body() -> dict[str, Any]:
            # no finally: on Ctrl-C (cancellation) or a bug, skip healing and final reads;
            # ``running_cluster`` still stops every node
            with _interruptible(root):
                await _workload(settings, addresses, windows, nemesis, recording, keys, clock, say)
                return await _finish(settings, addresses, nemesis, recording, keys, clock, say)

        ending = _run_async(body())
        recording.recorder.write(out / "history.jsonl")
    ending["decisions"] = _decisions(spec, state, ending["notes"])
    report = _judge_and_write(settings, spec, windows, nemesis, recording, ending, say)
    if report["pass"] and not settings.keep_data:
        for entry in state.members():
            shutil.rmtree(entry.data_dir, ignore_errors=True)
    return report


def _decisions(spec, state, notes: list[str]) -> dict[int, dict[str, str]] | None:
    """What each node's records say it decided, per transaction (schemes with
    ``ProtocolSpec.decisions``: 2pc, 3pc), read once every node has stopped."""
    if spec.decisions is None:
        return None
    found: dict[int, dict[str, str]] = {}
    for entry in state.members():
        try:
            records = durable_records(entry.data_dir, spec)
        except Exception as exc:  # noqa: BLE001 - a node's unreadable disk is a note, not a crash
            notes.append(f"could not read node {entry.id}'s records: {type(exc).__name__}: {exc}")
            continue
        if records is not None:
            found[entry.id] = spec.decisions(records)
    return found


def cut_off_windows(spec, windows: list[FaultWindow], options: dict[str, str] | None = None) -> list[FaultWindow]:
    """The pauses that cut a node off from every peer for longer than the scheme's
    ``ProtocolSpec.synchrony_bound`` (of its configuration with the run's ``options``): for such a scheme
    they count as a partition, as the simulator counts a silence that long
    (``sim/cutoff.py``). 3PC's termination takes a node unheard for ``termination_ms``, a
    round trip, for crashed, so its bound is half of that (Skeen 1981: safe only with
    fail-stop nodes and bounded delays); a paused node and the others may decide
    differently, as under a partition. A kill is fail-stop and stays a crash; a scheme
    without a bound is unaffected."""
    if spec.synchrony_bound is None:
        return []
    bound_s = spec.synchrony_bound(spec.make_config(typed(options or {}))) / 1000.0
    return [w for w in windows if w.kind == "pause" and w.end_s - w.start_s > bound_s]


def _judge_and_write(settings: TestSettings, spec, windows: list[FaultWindow], nemesis: Nemesis,
                     recording: Recording, ending: dict[str, Any], say: Say) -> dict[str, Any]:
    events = recording.recorder.events
    ops = pair_operations(events)
    actions = [a.as_dict() for a in nemesis.executed]
    # What a scheme promises depends on the faults that ran (docs/testing.md, "The checks"),
    # not on the kinds the nemesis could draw: a short run often draws no partition.
    cut_off = cut_off_windows(spec, windows, settings.options)
    partitioned = any(window.kind == "partition" for window in windows) or bool(cut_off)
    if settings.workload == "txn":
        say(f"checking {len(ops)} transactions (strict serializability, list-append)")
        verdict = judge_txn(events, digests=ending["digests"], promises=spec.promises,
                            read_level=settings.read_level, partitioned=partitioned,
                            decisions=ending.get("decisions"))
    else:
        say(f"checking {len(ops)} operations ({'model ' + (settings.model or 'default')})")
        verdict = judge(events, final_state=ending["final"], unread_keys=ending["unread"],
                        digests=ending["digests"], promises=spec.promises, read_level=settings.read_level,
                        partitioned=partitioned, model=settings.model,
                        check_timeout_s=settings.check_timeout_s, decisions=ending.get("decisions"),
                        leaderless=spec.leadership == "leaderless")
    report: dict[str, Any] = {
        "protocol": settings.protocol, "workload": settings.workload, "seed": settings.seed,
        "nodes": settings.nodes,
        "clients": settings.clients, "time_s": settings.time_s, "nemesis": ",".join(settings.nemesis),
        "read_level": settings.read_level, "model": verdict.model, "options": dict(settings.options),
        **verdict.fields,
        "latency_ms": latency_ms(ops),
        "availability": availability(ops, actions),
        "reproduce": settings.reproduce(),
        "keys": len(ending["final"] or {}) + len(ending["unread"]),
        "final_leader": ending["leader"],
        "digests": {str(n): d for n, d in sorted(ending["digests"].items())},
        "recovered": ending["recovered"],
        "recovery_notes": ending["notes"],
        "nemesis_schedule": [w.as_dict() for w in windows],
        "nemesis_executed": actions,
        "checks": [c.as_dict() for c in verdict.checks],
        "failed": verdict.failed,
        "pass": verdict.passed,
    }
    if cut_off:
        report["cut_off"] = [w.as_dict() for w in cut_off]
    blocking = blocked_windows(ops, actions)
    if blocking:
        report["blocking"] = blocking
    summary = summary_text(report, verdict)
    write_report(settings.out, report, summary)
    title = f"{settings.protocol} x{settings.nodes}, nemesis {report['nemesis'] or 'none'}, seed {settings.seed}"
    try:
        figures.latency_figure(ops, actions, settings.out / "latency.png", title)
        figures.throughput_figure(ops, actions, settings.out / "throughput.png", title)
    except Exception as exc:  # noqa: BLE001 - a figure must never hide the verdict
        say(f"could not draw the figures: {type(exc).__name__}: {exc}")
    say(summary.rstrip())
    return report
