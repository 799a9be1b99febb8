"""The closed-loop load driver every benchmark shares: replikv, Redis and etcd are driven
by the same loop, the same load shape and the same histogram, so their figures compare.

``clients`` connections each send one command, wait for its reply and send the next. A
command is a read with probability ``read_ratio``, else a write of a ``value_size``-byte
value; keys are drawn uniformly from ``keys``, or, with ``keys=0``, every write goes to a
key never written before (the issue-14 load: ``SET`` of a new key). After ``warmup_s``
unrecorded seconds every successful reply of the next ``duration_s`` seconds is timed into
an HdrHistogram (microseconds). How a command is encoded and its reply framed (RESP, RESP
plus ``WAIT``, etcd's JSON gateway) is a :class:`Wire`'s job (``bench/connectors``).

Why it is built the way it is: the driver runs on the same two cores as the system it
measures, so every microsecond of CPU it spends per command is taken from that system.
The first driver was one asyncio task per client awaiting ``asyncio.wait_for`` around a
stream read: a coroutine switch, a future and a timer per command, 20-40 µs of CPU per
operation, about a fifth of all the CPU of a replikv run. This one is callback-driven:
each connection is an ``asyncio.Protocol`` whose ``data_received`` hands the bytes to the
connection's sans-I/O :class:`Wire`, records the finished command and writes the next
one at once, with no task, future or timer per command. Timeouts are one periodic sweep
(every :data:`TICK_S`) over all clients, and latencies are counted in a dict and added to
the HdrHistogram once, at the end (``record_value`` costs about a microsecond a call). The
same code path drives every system, so what it costs is the same for all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from hdrh.histogram import HdrHistogram
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

HIST_MAX_US = 60_000_000
TICK_S = 0.1
"""How often the driver looks for overdue commands (and updates the progress bar): a
command past its deadline is counted ``client-timeout`` at most this much late."""
RECONNECT_BACKOFF_S = 0.05
"""Pause after a failed connect before the next attempt."""
_NS = 1_000_000_000
MIN_CALL_NS = 50_000_000
"""A command is never timed out younger than this (0.05 s), even past the end of the run
(the first driver's ``wait_for`` floor)."""

WireReply = tuple[int, str | None] | None
"""What :meth:`Wire.reply` answers: ``None`` while incomplete, else (bytes it takes, the
error kind or ``None``)."""


class WireError(ValueError):
    """The peer broke the protocol (a reply that cannot be framed). Not a counted error:
    the run fails with it, as a bug in the driver or the system must not pass silently."""


class Wire(Protocol):
    """One connection's commands and replies, sans-I/O (``bench/connectors``). The driver
    sends one command at a time and hands every byte received since to :meth:`reply`."""

    def write(self, key: bytes, value: bytes) -> bytes:
        """The bytes of a write of ``value`` to ``key``."""
        ...

    def read(self, key: bytes) -> bytes:
        """The bytes of a read of ``key``."""
        ...

    def reply(self, buf: bytes | bytearray) -> WireReply:
        """``None`` while the reply to the last command is incomplete in ``buf``, else
        ``(bytes it takes, None)`` for a success or ``(bytes it takes, error kind)`` (a RESP
        error prefix such as ``NOTLEADER``, ``wait-short``, ``http-503``). Raises
        :class:`WireError` when ``buf`` cannot be a reply."""
        ...


Connector = Callable[[str, int], Wire]
"""Makes the :class:`Wire` of a new connection to ``(host, port)`` (``bench/connectors``)."""


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
    """Phases of one run: warm-up, then measurement, then stop. In ``perf_counter``
    nanoseconds, the clock every latency is read from (one clock read per reply)."""

    def __init__(self, shape: LoadShape) -> None:
        self.start = time.perf_counter_ns()
        self.measure_from = self.start + int(shape.warmup_s * _NS)
        self.stop_at = self.measure_from + int(shape.duration_s * _NS)

    def measuring(self, now: int) -> bool:
        return self.measure_from <= now < self.stop_at


class _Driver:
    """What all clients of one run share: the load shape, the clock, the result, the
    latencies not yet in the histogram, and the count of clients still running."""

    def __init__(self, connect: Connector, host: str, shape: LoadShape, clock: _Clock, out: LoadResult) -> None:
        self.connect = connect
        self.host = host
        self.shape = shape
        self.clock = clock
        self.out = out
        self.pending: dict[int, int] = {}
        """Latency (µs) -> replies, added to ``out.histogram`` at the end of the run (not
        during it: the thousands of ``record_value`` calls would stall every client)."""
        self.timeout_ns = int(shape.call_timeout_s * _NS)
        self.clients: list[_Client] = []
        self.active = 0
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.failure: BaseException | None = None

    def count(self, kind: str, now: int) -> None:
        if self.clock.measuring(now):
            errors = self.out.errors
            errors[kind] = errors.get(kind, 0) + 1

    def fail(self, exc: BaseException) -> None:
        """Remember the first driver or protocol failure; ``run_load`` raises it at the end."""
        if self.failure is None:
            self.failure = exc

    def flush(self) -> None:
        record = self.out.histogram.record_value
        for value, count in self.pending.items():
            record(min(max(1, value), HIST_MAX_US), count)
        self.pending.clear()

    def sweep(self) -> None:
        """One pass over every client: a command older than ``call_timeout_s`` (or still
        unanswered a second after the end) is a ``client-timeout`` and its connection is
        dropped; a connect still hanging then is abandoned. A command's deadline is the first
        driver's ``wait_for`` limit, ``sent + max(0.05 s, min(call_timeout_s, end + 1 s - sent))``,
        seen at most :data:`TICK_S` late."""
        now = time.perf_counter_ns()
        late = self.clock.stop_at + _NS
        for client in self.clients:
            sent = client.sent
            if sent:
                age = now - sent
                if age >= MIN_CALL_NS and (age >= self.timeout_ns or now >= late):
                    self.count("client-timeout", now)
                    client.drop()
                    client.reconnect()
            elif now >= late and client.connecting is not None:
                client.connecting.cancel()


class _Conn(asyncio.Protocol):
    """One TCP connection of a client. A connection the client gave up (a timeout) is
    ``live = False`` and ignored from then on: its late bytes and its close."""

    __slots__ = ("client", "live", "transport")

    def __init__(self, client: _Client) -> None:
        self.client = client
        self.live = True
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment] (uvloop's are not asyncio.Transport subclasses)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if self.live:
            self.client.received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.live:
            self.live = False
            self.client.lost(self)


class _Client:
    """One closed-loop client: its own seeded generator and key counter (the load shape of
    the first driver, draw for draw), its connection, and the one command in flight."""

    def __init__(self, driver: _Driver, index: int, port: int) -> None:
        shape = driver.shape
        self.driver = driver
        self.index = index
        self.port = port
        self.rng = random.Random(shape.seed * 1_000_003 + index)
        self.value = "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz")
                             for _ in range(shape.value_size)).encode()
        self.fresh = 0
        self.read_ratio = shape.read_ratio
        self.keys = shape.keys
        self.conn: _Conn | None = None
        self.wire: Wire | None = None
        self.reply: Callable[[bytes | bytearray], WireReply] | None = None
        self.buf = bytearray()
        """Bytes of an incomplete reply (empty in the common case: a reply in one read)."""
        self.sent = 0
        """``perf_counter_ns`` when the command in flight was sent; 0: none in flight."""
        self.is_read = False
        self.connecting: asyncio.Task[None] | None = None
        self.done = False

    def start(self) -> None:
        self.driver.active += 1
        self.reconnect()

    def reconnect(self) -> None:
        """Connect (again), in a task: one per connection, never one per command."""
        self.connecting = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        driver = self.driver
        loop = asyncio.get_running_loop()
        try:
            while time.perf_counter_ns() < driver.clock.stop_at:
                try:
                    _, conn = await loop.create_connection(lambda: _Conn(self), driver.host, self.port)
                except OSError:
                    driver.count("connect", time.perf_counter_ns())
                    await asyncio.sleep(RECONNECT_BACKOFF_S)  # back off before reconnecting
                    continue
                if not conn.live:  # closed by the peer before this task resumed
                    driver.count("connection", time.perf_counter_ns())
                    continue
                self.connecting = None
                self.conn = conn
                self.wire = driver.connect(driver.host, self.port)
                self.reply = self.wire.reply
                self.buf = bytearray()
                self._send(time.perf_counter_ns())
                return
        except asyncio.CancelledError:
            pass  # a connect still hanging a second after the end of the run (``sweep``)
        except Exception as exc:  # noqa: BLE001 (a driver bug: raised at the end of the run)
            driver.fail(exc)
        self.connecting = None
        self.finish()

    def _send(self, now: int) -> None:
        """The next command, or the end of this client once the run is over."""
        if now >= self.driver.clock.stop_at:
            self.finish()
            return
        rng = self.rng
        is_read = rng.random() < self.read_ratio
        if self.keys:
            key = b"key:%d" % rng.randrange(self.keys)
        else:
            self.fresh += 1
            key = b"key:%d:%d" % (self.index, self.fresh)
        wire = self.wire
        data = wire.read(key) if is_read else wire.write(key, self.value)  # type: ignore[union-attr]
        self.is_read = is_read
        self.sent = time.perf_counter_ns()
        self.conn.transport.write(data)  # type: ignore[union-attr]

    def received(self, data: bytes) -> None:
        """The hot path: frame the reply, record the command, send the next one."""
        now = time.perf_counter_ns()
        buf = self.buf
        if buf:
            buf += data
            view: bytes | bytearray = buf
        else:
            view = data
        driver = self.driver
        try:
            got = self.reply(view)  # type: ignore[misc]
            if got is None:
                if view is data:
                    buf += data
                return
            end, kind = got
            if end != len(view) or not self.sent:
                raise WireError(f"{len(view) - end} bytes nobody asked for after a reply")
            if buf:
                self.buf = bytearray()
            sent = self.sent
            self.sent = 0
            clock = driver.clock
            if kind is not None:
                driver.count(kind, now)
            elif clock.measure_from <= now < clock.stop_at:
                elapsed_us = (now - sent) // 1000
                pending = driver.pending
                pending[elapsed_us] = pending.get(elapsed_us, 0) + 1
                out = driver.out
                second = (now - clock.measure_from) // _NS
                per_second = out.per_second
                while len(per_second) <= second:
                    per_second.append(0)
                per_second[second] += 1
                if self.is_read:
                    out.reads += 1
                else:
                    out.writes += 1
            self._send(now)
        except Exception as exc:  # noqa: BLE001 (a broken reply or a driver bug: raised at the end)
            driver.fail(exc)
            self.finish()

    def lost(self, conn: _Conn) -> None:
        """The peer closed (or reset) the connection under a command: ``connection``."""
        if conn is not self.conn or self.done:
            return
        self.conn = None
        self.sent = 0
        self.driver.count("connection", time.perf_counter_ns())
        self.reconnect()

    def drop(self) -> None:
        """Give up the current connection (closed; whatever it still says is ignored)."""
        conn, self.conn, self.sent = self.conn, None, 0
        if conn is not None:
            conn.live = False
            if conn.transport is not None:
                conn.transport.close()

    def finish(self) -> None:
        if self.done:
            return
        self.done = True
        self.drop()
        driver = self.driver
        driver.active -= 1
        if driver.active == 0 and not driver.finished.done():
            driver.finished.set_result(None)


async def _mark_window(clock: _Clock, meter: WindowMeter) -> None:
    """``meter.start()`` when the recorded window opens, ``meter.stop()`` when it closes."""
    await asyncio.sleep(max(0.0, (clock.measure_from - time.perf_counter_ns()) / _NS))
    meter.start()
    await asyncio.sleep(max(0.0, (clock.stop_at - time.perf_counter_ns()) / _NS))
    meter.stop()


async def _drive(connect: Connector, host: str, ports: list[int], shape: LoadShape, label: str,
                 progress: Progress | None, meter: WindowMeter | None = None) -> LoadResult:
    out = LoadResult()
    clock = _Clock(shape)
    marks = asyncio.create_task(_mark_window(clock, meter)) if meter is not None else None
    task = None
    if progress is not None:
        task = progress.add_task(label, total=shape.warmup_s + shape.duration_s, ops="")
    driver = _Driver(connect, host, shape, clock, out)
    driver.clients = [_Client(driver, i, ports[i % len(ports)]) for i in range(shape.clients)]
    for client in driver.clients:
        client.start()
    while driver.active:
        await asyncio.wait([driver.finished], timeout=TICK_S)
        driver.sweep()
        if progress is not None and task is not None:
            now = time.perf_counter_ns()
            elapsed = min((now - clock.start) / _NS, shape.warmup_s + shape.duration_s)
            done = sum(out.per_second)  # the histogram is filled at the end
            rate = done / max(1e-9, (now - clock.measure_from) / _NS) if done else 0.0
            progress.update(task, completed=elapsed, ops=f"{rate:,.0f} ops/s")
    driver.flush()
    if marks is not None:
        await marks
    if driver.failure is not None:
        raise driver.failure  # a bug in the driver, or a peer breaking its protocol, must not pass silently
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
