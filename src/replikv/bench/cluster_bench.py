"""``replikv bench --protocol P``: a real local cluster driven through its Redis port.

A closed loop: ``clients`` asyncio connections each send one command, wait for the
reply, and send the next (GET or SET on a key drawn uniformly from ``keys``, reads with
probability ``read_ratio``). After ``warmup_s`` unrecorded seconds, every reply for
``duration_s`` is timed into an HdrHistogram (microseconds). A baseline is measured in the
same run with the same driver (a plain ``redis-server`` when installed, else a one-node
``pb-async`` with fsync never) and the figures are also given as ratios to it, because
the machine is shared and noisy: the ratios travel between machines, raw ops/s do not.
Every field of the result is documented in docs/bench.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import platform
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from replikv.cluster import admin, control, manager, processes
from replikv.cluster.ports import free_base_port
from replikv.cluster.respwire import AsyncRespConnection, RespError

_HIST_MAX_US = 60_000_000


@dataclass
class LoadShape:
    clients: int = 32
    duration_s: float = 10.0
    warmup_s: float = 1.0
    value_size: int = 16
    read_ratio: float = 0.5
    keys: int = 1000
    seed: int = 1
    call_timeout_s: float = 10.0
    """A reply slower than this counts as a ``client-timeout`` error and the connection is
    dropped, so a node that stops answering cannot hang the run."""


@dataclass
class LoadResult:
    histogram: HdrHistogram = field(default_factory=lambda: HdrHistogram(1, _HIST_MAX_US, 3))
    reads: int = 0
    writes: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    per_second: list[int] = field(default_factory=list)
    measured_s: float = 0.0

    def summary(self) -> dict:
        count = self.histogram.get_total_count()
        return {
            "ops": count,
            "reads": self.reads,
            "writes": self.writes,
            "errors": dict(sorted(self.errors.items())),
            "error_count": sum(self.errors.values()),
            "ops_per_s": round(count / self.measured_s, 1) if self.measured_s else 0.0,
            "latency_us": _latency(self.histogram) if count else {},
            "timeline_ops_per_s": list(self.per_second),
        }


def _latency(histogram: HdrHistogram) -> dict:
    return {
        "p50": histogram.get_value_at_percentile(50.0),
        "p99": histogram.get_value_at_percentile(99.0),
        "p999": histogram.get_value_at_percentile(99.9),
        "mean": round(histogram.get_mean_value(), 1),
        "max": histogram.get_max_value(),
    }


class _Clock:
    """Phases of one run: warm-up, then measurement, then stop."""

    def __init__(self, shape: LoadShape) -> None:
        self.start = time.monotonic()
        self.measure_from = self.start + shape.warmup_s
        self.stop_at = self.measure_from + shape.duration_s

    def measuring(self, now: float) -> bool:
        return self.measure_from <= now < self.stop_at


async def _one_client(index: int, port: int, host: str, shape: LoadShape, clock: _Clock, out: LoadResult) -> None:
    rng = random.Random(shape.seed * 1_000_003 + index)
    value = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(shape.value_size))
    connection: AsyncRespConnection | None = None
    while time.monotonic() < clock.stop_at:
        if connection is None:
            try:
                connection = await AsyncRespConnection.open(host, port)
            except OSError:
                _count(out, "connect", time.monotonic(), clock)
                await asyncio.sleep(0.05)  # back off before reconnecting
                continue
        key = f"key:{rng.randrange(shape.keys)}"
        is_read = rng.random() < shape.read_ratio
        started = time.perf_counter_ns()
        command = ("GET", key) if is_read else ("SET", key, value)
        limit = max(0.05, min(shape.call_timeout_s, clock.stop_at + 1.0 - time.monotonic()))
        try:
            await asyncio.wait_for(connection.call(*command), limit)
        except TimeoutError:
            _count(out, "client-timeout", time.monotonic(), clock)
            await connection.close()
            connection = None
            continue
        except RespError as exc:
            _count(out, exc.prefix, time.monotonic(), clock)
            continue
        except (OSError, ConnectionError):
            _count(out, "connection", time.monotonic(), clock)
            connection = None
            continue
        now = time.monotonic()
        if clock.measuring(now):
            elapsed_us = max(1, (time.perf_counter_ns() - started) // 1000)
            out.histogram.record_value(min(elapsed_us, _HIST_MAX_US))
            second = int(now - clock.measure_from)
            while len(out.per_second) <= second:
                out.per_second.append(0)
            out.per_second[second] += 1
            if is_read:
                out.reads += 1
            else:
                out.writes += 1
    if connection is not None:
        await connection.close()


def _count(out: LoadResult, kind: str, now: float, clock: _Clock) -> None:
    if clock.measuring(now):
        out.errors[kind] = out.errors.get(kind, 0) + 1


async def _drive(host: str, ports: list[int], shape: LoadShape, label: str, progress: Progress | None) -> LoadResult:
    out = LoadResult()
    clock = _Clock(shape)
    task = None
    if progress is not None:
        task = progress.add_task(label, total=shape.warmup_s + shape.duration_s, ops="")
    workers = [
        asyncio.create_task(_one_client(i, ports[i % len(ports)], host, shape, clock, out))
        for i in range(shape.clients)
    ]
    while not all(w.done() for w in workers):
        await asyncio.wait(workers, timeout=0.2)
        if progress is not None and task is not None:
            elapsed = min(time.monotonic() - clock.start, shape.warmup_s + shape.duration_s)
            done = out.histogram.get_total_count()
            rate = done / max(1e-9, time.monotonic() - clock.measure_from) if done else 0.0
            progress.update(task, completed=elapsed, ops=f"{rate:,.0f} ops/s")
    for worker in workers:
        worker.result()  # a bug in the driver must not pass silently
    out.measured_s = shape.duration_s
    return out


def _run_load(host: str, ports: list[int], shape: LoadShape, label: str, progress: Progress | None) -> LoadResult:
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        return runner.run(_drive(host, ports, shape, label, progress))


@contextlib.contextmanager
def _local_cluster(protocol: str, nodes: int, fsync: str, options: dict[str, str] | None):
    """A cluster in a temporary directory, torn down (and wiped) whatever happens; the
    directory is kept, and named, when the cluster failed to start."""
    root = pathlib.Path(tempfile.mkdtemp(prefix=f"replikv-bench-{protocol}-"))
    opts = manager.UpOptions(protocol=protocol, nodes=nodes, base_port=free_base_port(nodes, attempts=200), fsync=fsync,
                             options=dict(options or {}))
    try:
        state = manager.up(root, opts)
    except BaseException:
        print(f"benchmark cluster failed to start; its logs are in {root}", file=sys.stderr)
        raise
    try:
        yield root, state
    finally:
        manager.down(root, wipe=True, timeout_s=5.0)
        shutil.rmtree(root, ignore_errors=True)


def _targets(root_state, spread: bool) -> list[int]:
    """Client ports to drive: every node's (``spread``), else the leader's/primary's."""
    members = root_state.members()
    if spread:
        return [m.client_port for m in members]
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        for member in members:
            with contextlib.suppress(OSError, RespError, ValueError):
                status = admin.node_status(root_state.host, member.client_port)
                if status.leads:
                    return [member.client_port]
        time.sleep(0.1)
    return [members[0].client_port]  # no leader reported: node 1 forwards if it can


@contextlib.contextmanager
def _redis_server():
    """A throw-away ``redis-server`` (no persistence) on a free port."""
    root = pathlib.Path(tempfile.mkdtemp(prefix="replikv-bench-redis-"))
    port = free_base_port(1, attempts=200) + 1
    argv = [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(root)]
    pid = processes.spawn(argv, root / "redis.log")
    try:
        if not processes.wait_until(lambda: admin.ping("127.0.0.1", port, 0.5), 10.0):
            raise RuntimeError(f"redis-server did not start: {processes.tail(root / 'redis.log')}")
        yield port
    finally:
        # No command-line marker: redis-server rewrites its process title. The pid is our
        # own child here, so it cannot have been reused while we hold it.
        processes.terminate(pid, None, 5.0)
        shutil.rmtree(root, ignore_errors=True)


def _measure_baseline(kind: str, shape: LoadShape, progress: Progress | None) -> dict:
    if kind == "redis-server":
        with _redis_server() as port:
            result = _run_load("127.0.0.1", [port], shape, "baseline redis-server", progress)
        return {"kind": "redis-server", **result.summary()}
    with _local_cluster("pb-async", 1, "never", None) as (_, state):
        result = _run_load(state.host, _targets(state, False), shape, "baseline pb-async x1", progress)
    return {"kind": "pb-async-1-node-fsync-never", **result.summary()}


def _baseline_kind(baseline: str) -> str | None:
    if baseline == "none":
        return None
    if baseline == "auto":
        return "redis-server" if shutil.which("redis-server") else "pb-async"
    if baseline not in ("redis-server", "pb-async"):
        raise ValueError(f"baseline must be auto, redis-server, pb-async or none, not {baseline!r}")
    if baseline == "redis-server" and not shutil.which("redis-server"):
        raise ValueError("baseline redis-server asked for, but redis-server is not installed")
    return baseline


def _ratios(measured: dict, baseline: dict) -> dict:
    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 4) if a and b else None

    lat, base_lat = measured.get("latency_us", {}), baseline.get("latency_us", {})
    return {
        "ops_per_s": ratio(measured["ops_per_s"], baseline["ops_per_s"]),
        **{key: ratio(lat.get(key), base_lat.get(key)) for key in ("p50", "p99", "p999")},
    }


def _progress(enabled: bool) -> Progress | None:
    if not enabled:
        return None
    return Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[ops]}"), TimeRemainingColumn(),
        console=Console(stderr=True), transient=False,
    )


def run_cluster_bench(
    *, protocol: str, nodes: int = 3, clients: int = 32, duration: float = 10.0, value_size: int = 16,
    fsync: str = "always", progress: bool = True, read_ratio: float = 0.5, keys: int = 1000,
    warmup: float = 1.0, baseline: str = "auto", spread: bool = False, seed: int = 1,
    options: dict[str, str] | None = None,
) -> dict:
    """Start a local ``protocol`` cluster of ``nodes`` (fsync as given), drive it with
    ``clients`` closed-loop connections for ``duration`` seconds after ``warmup``, measure
    the baseline the same way, tear everything down, and return the figures (docs/bench.md)."""
    if not 0.0 <= read_ratio <= 1.0:
        raise ValueError("read_ratio must be in [0, 1]")
    baseline_kind = _baseline_kind(baseline)
    shape = LoadShape(clients=clients, duration_s=duration, warmup_s=warmup, value_size=value_size,
                      read_ratio=read_ratio, keys=keys, seed=seed)
    bar = _progress(progress)
    with bar if bar is not None else contextlib.nullcontext():
        with _local_cluster(protocol, nodes, fsync, options) as (root, state):
            targets = _targets(state, spread)
            measured = _run_load(state.host, targets, shape, f"{protocol} x{nodes}", bar).summary()
            leader = control.view(root).leader()
        base = _measure_baseline(baseline_kind, shape, bar) if baseline_kind else None
    result = {
        "protocol": protocol, "nodes": nodes, "clients": clients, "duration_s": duration, "warmup_s": warmup,
        "value_size": value_size, "fsync": fsync, "read_ratio": read_ratio, "keys": keys,
        "target": "all nodes" if spread else "leader",
        "leader_at_end": leader.id if leader else None,
        **measured,
        "baseline": base,
        "ratio_to_baseline": _ratios(measured, base) if base else None,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": sys.platform},
    }
    return result
