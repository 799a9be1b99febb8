"""``replikv bench --rss``: every node's memory and WAL while a cluster takes N writes.

Issue 14's memory line: a node's resident set stays bounded through 1,000,000 writes of
16 B, because snapshots fold the log into the state machine and compaction drops the
WAL behind them (Raft §7; ``docs/design.md``, "Compaction is a restatement").

The load is the shared closed-loop driver (``bench/load``) run in rounds of a few
seconds until ``writes`` writes were acknowledged; each round opens fresh connections,
so a per-connection leak shows too. A sampler thread reads every node's ``VmRSS`` and
``VmHWM`` (``/proc/<pid>/status``) and the size and generation of its WAL files about
once a second. Two key shapes matter:

- ``keys > 0``: writes overwrite a bounded set of keys, so the state stays small and any
  growth is a leak (a log never compacted, a session table, WAL files, buffers);
- ``keys == 0``: every write a new key, so the live keys *are* the state. What that
  state alone costs is measured in an interpreter whose state machine applied the same
  keys (``state_only_rss``), and the report says how much each node adds on top.

Every field of the result is documented in docs/bench.md.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace

from hdrh.histogram import HdrHistogram

from replikv.bench import connectors
from replikv.bench.cluster_bench import load_targets, local_cluster
from replikv.bench.load import (
    HIST_MAX_US,
    Connector,
    LoadShape,
    Wire,
    WireReply,
    latency,
    progress_bar,
    run_load,
)
from replikv.cluster import control
from replikv.storage.file_wal import log_bytes

_WAL_FILE = re.compile(r"^wal-(\d{16})\.log$")
MB = 1024 * 1024


def read_rss(pid: int) -> tuple[int, int] | None:
    """``(VmRSS, VmHWM)`` of ``pid`` in bytes (``/proc/<pid>/status``); None when the
    process is gone or the system has no ``/proc``."""
    try:
        text = pathlib.Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(rest.split()[0]) * 1024  # the kernel reports kB
    if "VmRSS" not in found:
        return None  # a zombie has no memory lines
    return found["VmRSS"], found.get("VmHWM", found["VmRSS"])


def wal_files(data_dir: str | os.PathLike[str]) -> tuple[int, int, int]:
    """``(bytes, files, newest generation)`` of the WAL generations in ``data_dir``. The
    generation grows by one at every replace (snapshot + compaction, storage/file_wal).
    Bytes of log: the zeros a file keeps written ahead of its last frame (at most
    ``PREALLOCATE_BYTES`` more on disk per file) are not counted."""
    total = files = newest = 0
    with contextlib.suppress(OSError), os.scandir(data_dir) as entries:
        for entry in entries:
            match = _WAL_FILE.match(entry.name)
            if match is None:
                continue
            with contextlib.suppress(OSError):
                total += log_bytes(entry.path)
                files += 1
                newest = max(newest, int(match.group(1)))
    return total, files, newest


@dataclass
class _Counter:
    """Writes acknowledged so far, across rounds (one asyncio thread writes it)."""

    writes: int = 0


class _CountedWire:
    """A driver connection's wire (``bench/load.Wire``) that counts acknowledged writes
    and, with ``prefix``, renames keys so a new round's fresh keys never repeat an earlier
    round's."""

    __slots__ = ("_counter", "_inner", "_prefix", "_writing")

    def __init__(self, inner: Wire, counter: _Counter, prefix: bytes) -> None:
        self._inner, self._counter, self._prefix = inner, counter, prefix
        self._writing = False

    def write(self, key: bytes, value: bytes) -> bytes:
        self._writing = True
        return self._inner.write(self._prefix + key, value)

    def read(self, key: bytes) -> bytes:
        self._writing = False
        return self._inner.read(self._prefix + key)

    def reply(self, buf: bytes | bytearray) -> WireReply:
        got = self._inner.reply(buf)
        if got is not None and got[1] is None and self._writing:
            self._counter.writes += 1
        return got


def _counting_connector(counter: _Counter, prefix: str) -> Connector:
    def connect(host: str, port: int) -> Wire:
        return _CountedWire(connectors.resp(host, port), counter, prefix.encode())

    return connect


@dataclass
class _Node:
    id: int
    pid: int
    data_dir: str
    peak_rss: int = 0
    hwm: int = 0
    last_rss: int | None = None
    start_rss: int | None = None
    peak_wal: int = 0
    last_wal: tuple[int, int, int] = (0, 0, 0)
    """``wal_files`` at the last sample: bytes, files, newest generation."""
    gone_at_s: float | None = None


SETTLE_S = 2.0
"""How long the final sample waits for a WAL replace in progress to finish."""


@dataclass
class _Sampler:
    """Samples every node about every ``interval_s`` in a thread of its own, so the
    timeline keeps its pace while the driver's event loop is busy."""

    nodes: list[_Node]
    counter: _Counter
    interval_s: float
    started: float = field(default_factory=time.monotonic)
    timeline: list[dict] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self.sample()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop, and take the final sample once no node is mid-replace.

        A replace (snapshot + compaction, storage/file_wal) writes the new generation
        before it deletes the old one, so a sample taken in between counts two files. The
        final figures describe the cluster as the load left it, so the last sample waits,
        at most ``SETTLE_S``, for every node's WAL to be one file again (a CI run once
        took it in the middle of node 2's replace, 2,000 writes at snapshot_threshold
        300); a node still at two files after that is reported as it is."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        deadline = time.monotonic() + SETTLE_S
        while time.monotonic() < deadline and any(wal_files(n.data_dir)[1] > 1 for n in self.nodes):
            time.sleep(0.02)
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def sample(self) -> None:
        now = round(time.monotonic() - self.started, 2)
        point: dict = {"t_s": now, "writes": self.counter.writes, "rss_mb": {}, "wal_mb": {}, "wal_generation": {}}
        for node in self.nodes:
            memory = read_rss(node.pid)
            node.last_wal = wal_files(node.data_dir)
            wal_bytes, _, generation = node.last_wal
            key = str(node.id)
            point["wal_mb"][key] = round(wal_bytes / MB, 3)  # 1 KB: a small run's WAL is tens of KB
            point["wal_generation"][key] = generation
            node.peak_wal = max(node.peak_wal, wal_bytes)
            if memory is None:
                point["rss_mb"][key] = None
                if node.gone_at_s is None:
                    node.gone_at_s = now
                continue
            rss, hwm = memory
            point["rss_mb"][key] = round(rss / MB, 1)
            if node.start_rss is None:
                node.start_rss = rss
            node.last_rss = rss
            node.peak_rss = max(node.peak_rss, rss)
            node.hwm = max(node.hwm, hwm)
        self.timeline.append(point)


_STATE_ONLY = """
import sys
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
keys, value_size, fresh = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "fresh"
from replikv.core import Request
from replikv.core.commands import Set
from replikv.kv import KVStateMachine
raw = b"v" * value_size
before = rss()
state = KVStateMachine()
for i in range(keys):
    # the node's keys look like this; each value is its own str, as a decoded command's
    key = f"1:key:{i % 32}:{i}" if fresh else f"key:{i}"
    state.apply(Request(1 + i % 32, i // 32 + 1, Set(key, raw.decode())))
print(before, rss())
"""


def state_only_rss(keys: int, value_size: int, fresh: bool, timeout_s: float = 120.0) -> dict:
    """RSS of an interpreter with the state machine's code loaded, before and after it
    applied a ``SET`` of each of ``keys`` keys (the node's key format) to a
    ``value_size``-byte value from 32 clients: what the state alone costs (a dict up to
    ``kv.state_machine.HOT_LIMIT`` keys, packed beyond, ``kv.packed``)."""
    done = subprocess.run([sys.executable, "-c", _STATE_ONLY, str(keys), str(value_size),
                           "fresh" if fresh else "bounded"],
                          capture_output=True, text=True, timeout=timeout_s, check=True)
    before, after = (int(x) for x in done.stdout.split())
    return {"keys": keys, "bare_mb": round(before / MB, 1), "with_state_mb": round(after / MB, 1),
            "state_mb": round((after - before) / MB, 1)}


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


@dataclass
class _Rounds:
    """What the rounds of load added up to."""

    counter: _Counter = field(default_factory=_Counter)
    histogram: HdrHistogram = field(default_factory=lambda: HdrHistogram(1, HIST_MAX_US, 3))
    errors: dict[str, int] = field(default_factory=dict)
    rounds: int = 0
    wall_s: float = 0.0


def _drive(out: _Rounds, host: str, targets: list[int], writes: int, base: LoadShape, round_s: float,
           label: str, watched: list[_Node], bar, where: pathlib.Path) -> None:
    """Rounds of closed-loop writes until ``writes`` were acknowledged (or a node died).
    Each round is sized to what is left at the rate so far, at most ``round_s``."""
    counter = out.counter
    started = time.monotonic()
    empty_rounds = 0
    try:
        while counter.writes < writes and not any(node.gone_at_s is not None for node in watched):
            elapsed = time.monotonic() - started
            rate = counter.writes / elapsed if counter.writes else 0.0
            duration = min(round_s, max(0.5, (writes - counter.writes) / rate)) if rate else min(round_s, 0.5)
            out.rounds += 1
            before = counter.writes
            shape = replace(base, duration_s=duration, seed=base.seed + out.rounds)
            prefix = f"{out.rounds}:" if base.keys == 0 else ""
            result = run_load(_counting_connector(counter, prefix), host, targets, shape,
                              f"{label}: {counter.writes:,}/{writes:,} writes", bar)
            out.histogram.add(result.histogram)
            for kind, count in result.errors.items():
                out.errors[kind] = out.errors.get(kind, 0) + count
            empty_rounds = empty_rounds + 1 if counter.writes == before else 0
            if empty_rounds >= 3:
                raise RuntimeError(f"no write acknowledged in 3 rounds after {counter.writes:,} writes "
                                   f"(errors: {out.errors}); the cluster's logs are in {where}")
    finally:
        out.wall_s = time.monotonic() - started


def run_memory_bench(
    *, protocol: str, nodes: int = 3, clients: int = 32, writes: int = 1_000_000, value_size: int = 16,
    keys: int = 1000, fsync: str = "always", progress: bool = True, interval_s: float = 1.0,
    round_s: float = 10.0, seed: int = 1, options: dict[str, str] | None = None,
    state_baseline: bool = True,
) -> dict:
    """Start a local ``protocol`` cluster, drive it with ``clients`` closed-loop
    connections of writes only until ``writes`` were acknowledged (keys drawn from
    ``keys``, or all new with 0), sample every node's RSS and WAL every ``interval_s``,
    tear the cluster down and return the figures (docs/bench.md, ``--rss``)."""
    if writes < 1:
        raise ValueError("writes must be at least 1")
    if keys < 0:
        raise ValueError("keys must be 0 (a new key per write) or more")
    if interval_s <= 0 or round_s <= 0:
        raise ValueError("interval_s and round_s must be > 0")
    if read_rss(os.getpid()) is None:
        raise RuntimeError("--rss reads /proc/<pid>/status, which this system does not have")
    base = LoadShape(clients=clients, warmup_s=0.0, value_size=value_size, read_ratio=0.0, keys=keys, seed=seed)
    out = _Rounds()
    load_before = _load_average()
    bar = progress_bar(progress)
    with bar if bar is not None else contextlib.nullcontext(), \
            local_cluster(protocol, nodes, fsync, options) as (root, state):
        targets = load_targets(state, False)
        pids = {row.id: row.pid for row in control.view(root).rows}
        watched = [_Node(id=m.id, pid=pids[m.id] or 0, data_dir=m.data_dir) for m in state.members()]
        sampler = _Sampler(watched, out.counter, interval_s)
        sampler.start()
        try:
            _drive(out, state.host, targets, writes, base, round_s, f"{protocol} x{nodes}", watched, bar, root)
        finally:
            sampler.stop()
    load_after = _load_average()
    done = out.counter.writes
    live_keys = done if keys == 0 else min(keys, done)
    baseline = state_only_rss(live_keys, value_size, keys == 0) if state_baseline else None
    per_node = {str(n.id): _node_figures(n, baseline) for n in watched}
    return {
        "protocol": protocol, "nodes": nodes, "clients": clients, "fsync": fsync, "value_size": value_size,
        "keys": keys, "writes_asked": writes, "writes": done, "rounds": out.rounds,
        "wall_s": round(out.wall_s, 1), "writes_per_s": round(done / out.wall_s, 1) if out.wall_s else 0.0,
        "errors": dict(sorted(out.errors.items())), "error_count": sum(out.errors.values()),
        "latency_us": latency(out.histogram) if out.histogram.get_total_count() else {},
        "load_average": {"before": load_before, "after": load_after},
        "live_keys": live_keys,
        "state_only": baseline,
        "rss": per_node,
        "max_peak_rss_mb": max((f["peak_mb"] for f in per_node.values()), default=0.0),
        "max_final_rss_mb": max((f["final_mb"] or 0.0 for f in per_node.values()), default=0.0),
        "interval_s": interval_s,
        "timeline": sampler.timeline,
    }


def _node_figures(node: _Node, baseline: dict | None) -> dict:
    final_bytes, files, generation = node.last_wal
    final = round(node.last_rss / MB, 1) if node.last_rss is not None else None
    return {
        "pid": node.pid,
        "start_mb": round(node.start_rss / MB, 1) if node.start_rss is not None else None,
        "peak_mb": round(node.peak_rss / MB, 1),
        "hwm_mb": round(node.hwm / MB, 1),
        "final_mb": final,
        "over_state_mb": round(final - baseline["with_state_mb"], 1) if final is not None and baseline else None,
        "wal_final_mb": round(final_bytes / MB, 3),
        "wal_peak_mb": round(node.peak_wal / MB, 3),
        "wal_files": files,
        "wal_generation": generation,
        "exited_at_s": node.gone_at_s,
    }
