"""The closed-loop load driver every benchmark shares: replikv, Redis and etcd are driven
by the same loop, the same load shape and the same histogram, so their figures compare.

``clients`` asyncio connections each send one command, wait for its reply and send the
next. A command is a read with probability ``read_ratio``, else a write of a
``value_size``-byte value; keys are drawn uniformly from ``keys``, or, with ``keys=0``,
every write goes to a key never written before (the issue-14 load: ``SET`` of a new key).
After ``warmup_s`` unrecorded seconds every successful reply of the next ``duration_s``
seconds is timed into an HdrHistogram (microseconds). How a command travels (RESP, RESP
plus ``WAIT``, etcd's JSON gateway) is a :class:`Connector`'s job (``bench/connectors``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from hdrh.histogram import HdrHistogram
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

HIST_MAX_US = 60_000_000


class CommandError(Exception):
    """The system answered a command with an error; ``kind`` names it in the figures
    (a RESP error prefix such as ``NOTLEADER``, an HTTP status, ``wait-short``)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class Session(Protocol):
    """One client connection to the system under test."""

    async def write(self, key: str, value: str) -> None: ...
    async def read(self, key: str) -> None: ...
    async def close(self) -> None: ...


Connector = Callable[[str, int], Awaitable[Session]]
"""Opens a :class:`Session` to ``(host, port)``; raises ``OSError`` when it cannot."""


class WindowMeter(Protocol):
    """Told when the recorded window opens and closes (``bench.cpu.CpuMeter``)."""

    def start(self) -> None: ...
    def stop(self) -> None: ...


@dataclass
class LoadShape:
    clients: int = 32
    duration_s: float = 10.0
    warmup_s: float = 1.0
    value_size: int = 16
    read_ratio: float = 0.5
    keys: int = 1000
    """Keys drawn uniformly from this many; 0: every write to a new key."""
    seed: int = 1
    call_timeout_s: float = 10.0
    """A reply slower than this counts as a ``client-timeout`` error and the connection is
    dropped, so a node that stops answering cannot hang the run."""

    def as_dict(self) -> dict:
        return {"clients": self.clients, "duration_s": self.duration_s, "warmup_s": self.warmup_s,
                "value_size": self.value_size, "read_ratio": self.read_ratio, "keys": self.keys}


@dataclass
class LoadResult:
    histogram: HdrHistogram = field(default_factory=lambda: HdrHistogram(1, HIST_MAX_US, 3))
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
            "latency_us": latency(self.histogram) if count else {},
            "timeline_ops_per_s": list(self.per_second),
        }

    def cdf(self, points: int = 200) -> list[tuple[float, float]]:
        """``(latency_us, fraction of replies at or below it)`` for the CDF figure."""
        count = self.histogram.get_total_count()
        if not count:
            return []
        out = []
        for i in range(points + 1):
            percentile = 100.0 * (1 - 10 ** (-4.0 * i / points))  # dense towards the tail
            out.append((float(self.histogram.get_value_at_percentile(percentile)), percentile / 100.0))
        return out


def latency(histogram: HdrHistogram) -> dict:
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


def _count(out: LoadResult, kind: str, now: float, clock: _Clock) -> None:
    if clock.measuring(now):
        out.errors[kind] = out.errors.get(kind, 0) + 1


async def _one_client(index: int, connect: Connector, host: str, port: int, shape: LoadShape, clock: _Clock,
                      out: LoadResult) -> None:
    rng = random.Random(shape.seed * 1_000_003 + index)
    value = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(shape.value_size))
    session: Session | None = None
    fresh = 0
    while time.monotonic() < clock.stop_at:
        if session is None:
            try:
                session = await connect(host, port)
            except OSError:
                _count(out, "connect", time.monotonic(), clock)
                await asyncio.sleep(0.05)  # back off before reconnecting
                continue
        is_read = rng.random() < shape.read_ratio
        if shape.keys:
            key = f"key:{rng.randrange(shape.keys)}"
        else:
            fresh += 1
            key = f"key:{index}:{fresh}"
        started = time.perf_counter_ns()
        limit = max(0.05, min(shape.call_timeout_s, clock.stop_at + 1.0 - time.monotonic()))
        try:
            call = session.read(key) if is_read else session.write(key, value)
            await asyncio.wait_for(call, limit)
        except TimeoutError:
            _count(out, "client-timeout", time.monotonic(), clock)
            await session.close()
            session = None
            continue
        except CommandError as exc:
            _count(out, exc.kind, time.monotonic(), clock)
            continue
        except (OSError, ConnectionError):
            _count(out, "connection", time.monotonic(), clock)
            session = None
            continue
        now = time.monotonic()
        if clock.measuring(now):
            elapsed_us = max(1, (time.perf_counter_ns() - started) // 1000)
            out.histogram.record_value(min(elapsed_us, HIST_MAX_US))
            second = int(now - clock.measure_from)
            while len(out.per_second) <= second:
                out.per_second.append(0)
            out.per_second[second] += 1
            if is_read:
                out.reads += 1
            else:
                out.writes += 1
    if session is not None:
        await session.close()


async def _mark_window(clock: _Clock, meter: WindowMeter) -> None:
    """``meter.start()`` when the recorded window opens, ``meter.stop()`` when it closes."""
    await asyncio.sleep(max(0.0, clock.measure_from - time.monotonic()))
    meter.start()
    await asyncio.sleep(max(0.0, clock.stop_at - time.monotonic()))
    meter.stop()


async def _drive(connect: Connector, host: str, ports: list[int], shape: LoadShape, label: str,
                 progress: Progress | None, meter: WindowMeter | None = None) -> LoadResult:
    out = LoadResult()
    clock = _Clock(shape)
    marks = asyncio.create_task(_mark_window(clock, meter)) if meter is not None else None
    task = None
    if progress is not None:
        task = progress.add_task(label, total=shape.warmup_s + shape.duration_s, ops="")
    workers = [
        asyncio.create_task(_one_client(i, connect, host, ports[i % len(ports)], shape, clock, out))
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
    if marks is not None:
        await marks
    out.measured_s = shape.duration_s
    return out


def run_load(connect: Connector, host: str, ports: list[int], shape: LoadShape, label: str,
             progress: Progress | None, meter: WindowMeter | None = None) -> LoadResult:
    """Drive ``ports`` on ``host`` with ``shape`` through ``connect`` (uvloop when installed);
    ``meter`` is started and stopped at the edges of the recorded window."""
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        return runner.run(_drive(connect, host, ports, shape, label, progress, meter))


def progress_bar(enabled: bool) -> Progress | None:
    if not enabled:
        return None
    return Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[ops]}"), TimeRemainingColumn(),
        console=Console(stderr=True), transient=False,
    )
