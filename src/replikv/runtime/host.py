"""``NodeHost``: runs one sans-I/O replica on an asyncio loop.

It feeds the replica its four inputs (DESIGN.md, the protocol contract):

- ``Tick(now_ms)`` with monotonic milliseconds, half a ``config.tick_ms`` after the
  last one (``_tick_loop``), and before any other input that finds the last one more
  than a tick old (``NodeDriver.stale_clock``: a stopped process, a held-up loop);
- ``Receive(src, msg)`` for each message the transport delivers;
- ``Submit(request)`` for each client request (``submit`` returns a future of the
  ``Result``, resolved by the replica's ``Reply`` with the same (client_id, seq));
- ``Persisted(seq)`` when the writer thread reports the WAL durable up to ``seq``.

Every input goes through ``core.driver.NodeDriver`` and its ``EffectPipeline`` (the one implementation
of save-before-send, shared with the simulator): ready effects run in order, a
``Persist`` goes to the WAL writer, and what waited behind it runs once it is durable,
*before* ``Persisted(seq)`` is fed back.

Recovery: ``wal.recover()`` -> decode each payload with the record codec ->
``spec.create(CreateArgs(..., recovered=records, recovery=Recovery(...)))`` (a pure fold,
DESIGN.md). ``Recovery`` says what the host knows and the records cannot: ``lost`` when
the node lost its data (``replikv serve --rejoin``, ``runtime.startup``), and
``torn_records`` when the WAL's recovery cut a torn tail (``wal.torn_tail``, logged).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from replikv.core.driver import NodeDriver
from replikv.core.errors import Result
from replikv.core.io import (
    Commit,
    Effect,
    Input,
    Persist,
    Persisted,
    Receive,
    Reply,
    Send,
    Submit,
    Tick,
    describe,
)
from replikv.core.pipeline import EffectPipeline
from replikv.core.replica import ProtocolSpec, Recovery, Replica, Status
from replikv.core.requests import Request, RequestId
from replikv.kv.state_machine import KVStateMachine
from replikv.runtime.writer import WAL_INLINE_MS, WalWriter

log = logging.getLogger("replikv.host")
trace = logging.getLogger("replikv.trace")

SendFn = Callable[[int, Any], None]
CommitFn = Callable[[int, Request], None]


class HostStopped(Exception):
    """The host stopped (shutdown or a fatal error) before the request was answered."""


class NodeHost:
    """One replica, its effect pipeline, its WAL writer and its ticker."""

    def __init__(
        self,
        *,
        spec: ProtocolSpec,
        node: int,
        members: tuple[int, ...],
        config: Any,
        wal: Any,
        codec: Any,
        send: SendFn,
        rng: random.Random | None = None,
        on_fatal: Callable[[BaseException], None] | None = None,
        check_durability: bool = False,
        wal_inline_ms: float = WAL_INLINE_MS,
    ) -> None:
        self.spec = spec
        self.node = node
        self.members = tuple(sorted(members))
        self.config = config
        self._wal = wal
        self._codec = codec
        self._send = send
        self._wal_inline_ms = wal_inline_ms
        """``runtime.writer``: small groups are written on the loop while fsyncs take at
        most this long; 0: every group goes to the writer thread."""
        self._rng = rng or random.Random()
        self._on_fatal = on_fatal or (lambda exc: None)
        self._driver = NodeDriver(spec, node, self.members, config, check_durability=check_durability)
        """The host loop (core/driver.py); ``check_durability`` judges every ack against
        the durable records (a debug mode: it keeps a fold of the WAL in memory)."""
        self._waiters: dict[RequestId, list[asyncio.Future]] = {}
        self._commit_listeners: list[CommitFn] = []
        self._change_listeners: list[Callable[[], None]] = []
        self._writer: WalWriter | None = None
        self._ticker: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        """The running loop, from ``start`` (``asyncio.get_running_loop`` costs a
        ``getpid`` system call per call on Python 3.11: not on every request)."""
        self._stopped = False
        self.recovered_records = 0
        self.recovery = Recovery()
        self.counts = {"ticks": 0, "late_ticks": 0, "received": 0, "submitted": 0, "sent": 0, "commits": 0, "replies": 0}

    # -- lifecycle ------------------------------------------------------------------------

    def recover(self, *, lost: bool = False, lost_if_no_records: bool = False) -> Recovery:
        """Rebuild the replica from the WAL. Raises ``CorruptStorage`` on a damaged WAL.

        ``lost``: the node lost its durable state (``Recovery.lost``); with
        ``lost_if_no_records`` only when the WAL holds no record (a rejoin restarted
        before it wrote one). A torn tail the WAL cut becomes ``Recovery.torn_records``.
        """
        payloads = self._wal.recover()
        records = [self._codec.decode(p) for p in payloads]
        self.recovered_records = len(records)
        torn = getattr(self._wal, "torn_tail", None)
        # Under fsync "always" nothing is acknowledged before its fsync returns, so a torn
        # final frame is a write that never completed and was never acknowledged: cut it
        # and go on, as etcd and ZooKeeper do. Under "batch"/"never" an acknowledged write
        # may sit in that frame: the replica is told, and treats it as damage (it may have
        # voted or acknowledged what is gone; docs/storage.md, "Torn tails").
        trusted = getattr(self._wal, "policy", "always") == "always"
        recovery = Recovery(
            lost=lost or (lost_if_no_records and not records),
            torn_records=torn.records if torn is not None and not trusted else 0,
        )
        self.recovery = recovery
        self._driver.start(records, rng=self._rng, state_machine=KVStateMachine(), recovery=recovery)
        if recovery.lost:
            log.warning("node %s lost its durable state: it starts with %d records and must catch up "
                        "from its peers before it votes or serves", self.node, len(records))
        if torn is not None:
            log.warning("node %s: its WAL recovery cut %d torn record(s) (%d bytes at offset %d of %s)%s",
                        self.node, torn.records, torn.bytes_cut, torn.offset, torn.where,
                        ": a write that never completed (fsync always), nothing acknowledged is lost"
                        if trusted else ": it may have held acknowledged state; the node catches up "
                        "from its peers before it votes or serves")
        log.info("node %s recovered %d records", self.node, len(records))
        return recovery

    async def start(self) -> None:
        if self._driver.replica is None:
            self.recover()
        self._loop = asyncio.get_running_loop()
        self._writer = WalWriter(self._wal, self._codec, self._durable, self._fatal,
                                 inline_max_ms=self._wal_inline_ms)
        self._ticker = self._loop.create_task(self._tick_loop(), name="ticker")

    def freeze(self) -> None:
        """Stop ticking (a failpoint fired, ``runtime.failpoints``: the process exits next,
        and no replica timeout may run in between, as none would after ``kill -9``)."""
        if self._ticker is not None:
            self._ticker.cancel()

    async def stop(self) -> None:
        """Stop ticking, flush the WAL, answer every waiter ``HostStopped``."""
        self._stopped = True
        if self._ticker is not None:
            self._ticker.cancel()
        if self._writer is not None:
            await self._writer.close()
        for futures in self._waiters.values():
            for future in futures:
                if not future.done():
                    future.set_exception(HostStopped("node is shutting down"))
        self._waiters.clear()

    # -- inputs ---------------------------------------------------------------------------

    def submit(self, request: Request) -> asyncio.Future:
        """Submit a request; the future resolves with the replica's ``Result`` for its id.

        The replica answers every request (``Timeout`` at the latest after
        ``request_timeout_ms``), and its ``Reply`` removes the waiter. A caller that gives
        up on the future before that (``Node``'s deadline sweep) calls ``abandon``: no
        done-callback per request does it (issue 14: one loop callback less per write)."""
        future = (self._loop or asyncio.get_running_loop()).create_future()
        if self._stopped:
            future.set_exception(HostStopped("node is shutting down"))
            return future
        waiters = self._waiters.get(request.id)
        if waiters is None:
            self._waiters[request.id] = [future]
        else:
            waiters.append(future)
        self.counts["submitted"] += 1
        self._handle(Submit(request))
        return future

    def receive(self, src: int, msg: Any) -> None:
        if self._stopped:
            return
        self.counts["received"] += 1
        self._handle(Receive(src, msg))

    def tick(self) -> None:
        self.counts["ticks"] += 1
        self._handle(self._driver.tick(time.monotonic() * 1000.0))

    # -- inspection -----------------------------------------------------------------------

    @property
    def replica(self) -> Replica:
        replica = self._driver.replica
        assert replica is not None, "host not started"
        return replica

    def status(self) -> Status:
        return self.replica.status()

    @property
    def pipeline(self) -> EffectPipeline:
        return self._driver.pipeline

    @property
    def writer(self) -> WalWriter | None:
        return self._writer

    def on_commit(self, listener: CommitFn) -> None:
        self._commit_listeners.append(listener)

    def on_change(self, listener: Callable[[], None]) -> None:
        """Called after every handled input (to re-check ``wait_replicas`` conditions)."""
        self._change_listeners.append(listener)

    async def flush(self) -> None:
        if self._writer is not None:
            await self._writer.flush()

    # -- the loop of the contract -----------------------------------------------------------

    def _handle(self, inp: Input) -> None:
        if type(inp) is not Tick and (now_ms := time.monotonic() * 1000.0) > self._driver.stale_after_ms:
            # the process was stopped or its loop held up (NodeDriver.stale_clock)
            self.counts["late_ticks"] += 1
            self._handle(Tick(now_ms, stalled=True))
            if self._stopped:
                return
        if trace.isEnabledFor(logging.DEBUG):
            trace.debug("node %s <- %s", self.node, describe(inp))
        try:
            ready = self._driver.handle(inp)
        except Exception as exc:  # an assertion in the replica: a bug, stop the node
            log.exception("replica %s failed on %s", self.node, type(inp).__name__)
            self._fatal(exc)
            raise
        self._run(ready)
        for listener in self._change_listeners:
            listener()

    def _run(self, effects: list[Effect]) -> None:
        tracing = trace.isEnabledFor(logging.DEBUG)
        for effect in effects:
            if tracing:
                trace.debug("node %s -> %s", self.node, describe(effect))
            match effect:
                case Send(dst=dst, msg=msg):
                    self.counts["sent"] += 1
                    self._send(dst, msg)
                case Persist():
                    assert self._writer is not None, "persist before start"
                    self._writer.submit(effect)
                case Commit(index=index, request=request):
                    self.counts["commits"] += 1
                    for listener in self._commit_listeners:
                        listener(index, request)
                case Reply(request=request, result=result):
                    self.counts["replies"] += 1
                    self._resolve(request.id, result)

    def _durable(self, seq: int) -> None:
        try:
            released = self._driver.release(seq)
        except Exception as exc:  # DurabilityViolation (debug mode): a bug, stop the node
            log.exception("replica %s broke save-before-send", self.node)
            self._fatal(exc)
            raise
        self._run(released)
        self._handle(Persisted(seq))

    def _resolve(self, request_id: RequestId, result: Result) -> None:
        for future in self._waiters.pop(request_id, []):
            if not future.done():
                future.set_result(result)

    def abandon(self, request_id: RequestId, future: asyncio.Future) -> None:
        """Stop waiting on ``future`` (its caller answered it already, e.g. ``Timeout``):
        the replica's later reply to ``request_id`` no longer looks for it."""
        futures = self._waiters.get(request_id)
        if futures and future in futures:
            futures.remove(future)
            if not futures:
                del self._waiters[request_id]

    def _fatal(self, exc: BaseException) -> None:
        self._stopped = True
        if self._ticker is not None:
            self._ticker.cancel()
        self._on_fatal(exc)

    async def _tick_loop(self) -> None:
        """A ``Tick`` half a ``tick_ms`` after the replica's last one (whether this loop
        fed it or an input brought it first, ``NodeDriver.stale_clock``).

        Half: a loaded loop runs its timers a little late, and a tick due at a whole
        interval was overtaken by an input's late tick two times in three at 12,000
        writes/s. A late tick runs before that input, in the middle of the loop's batch
        of socket reads, where a raft leader's tick ships a tiny AppendEntries: 4-10%
        fewer writes/s in A/B runs (docs/bench.md, "Sixteenth session"). Ticking at
        twice the rate leaves late ticks to real stalls (7 in 1,000 ticks under the same
        load) and costs a tick's work 100 more times a second; every scheme's timers
        compare times, none counts ticks."""
        interval_ms = self.config.tick_ms / 2.0
        while True:
            last = self._driver.clock_ms
            delay_ms = interval_ms if last is None else last + interval_ms - time.monotonic() * 1000.0
            if delay_ms > 0:
                await asyncio.sleep(delay_ms / 1000.0)
                if last is not None and self._driver.clock_ms != last:
                    continue  # an input's late tick went first: aim at the interval after it
            try:
                self.tick()
            except Exception:
                return  # already reported through _fatal


class LastIndexTable:
    """Bounded map client_id -> log index of its last committed write (Redis ``WAIT``)."""

    def __init__(self, limit: int = 100_000) -> None:
        self._table: OrderedDict[int, int] = OrderedDict()
        self._limit = limit

    def record(self, client_id: int, index: int) -> None:
        self._table[client_id] = index
        self._table.move_to_end(client_id)
        while len(self._table) > self._limit:
            self._table.popitem(last=False)

    def get(self, client_id: int) -> int:
        return self._table.get(client_id, 0)
