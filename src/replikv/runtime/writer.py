"""The WAL writer: group-commits every persist pending since its last write.

``submit(persist)`` queues a ``Persist``; while a write is in flight, further persists
accumulate, and the next write takes them all at once through
``storage.write_persists`` (one ``append`` or one atomic ``replace`` = one fsync under
policy ``always``: group commit, DESIGN.md "Storage"). When a write returns,
``on_durable(highest seq)`` runs on the loop.

Where a group is written (issue 14): on the event loop itself, or on the writer's own
thread. With ``inline_max_ms`` > 0 a small group of appends is written on the loop, in
a callback of its own (``call_soon``: the messages the same input sent, AppendEntries
that overtake this Persist among them, reach their sockets first), while the disk is
fast: a write that took longer than ``inline_max_ms`` (a slow or stalled disk) sends
every group to the thread for ``SLOW_DISK_BACKOFF_S``, doubled after each further slow
write on the loop up to ``SLOW_DISK_BACKOFF_MAX_S`` (a fast one resets it), so a bad
disk blocks the loop at most once a backoff, and a disk that stays bad rarely.
Replaces (an installed snapshot), groups of more than ``INLINE_MAX_RECORDS`` records
and the ``batch`` policy's timed fsyncs always go to the thread.

Compactions (``Persist(compaction=True)``, core.io) are no barrier: the group they come
in is durable without them (``storage.write_group`` begins a ``Rewrite`` and appends the
rest), the newest one begun is written by a thread of its own (``replikv-compaction``)
while groups go on, and once written it is swapped in by one job on the writer's thread
(its tail appended, fsync, rename), which no group overlaps. With 1 KiB values a
snapshot rewrite of ~40 MB took ~300 ms as a barrier and stalled every node at once
(issue 14; docs/bench.md, "Eighth session").

Measured on a 3-node raft cluster at ~9,500 fsynced writes/s (docs/bench.md, "Seventh
session"): a thread hop per group costs each node a queue put, a thread wake-up, the GIL
taken back after the write and after the fsync and a ``call_soon_threadsafe``, about 12%
of the cluster's CPU per write; an fsync on a healthy disk takes ~0.15 ms, and input that
arrives meanwhile joins the next batch. etcd's raft loop writes its WAL the same way.

Only one group is in flight at a time, wherever it runs, and a job on the thread
(``_call``) is never outstanding while the loop writes: the WAL object
(``storage.FileWAL`` or ``storage.MemoryWAL``) is never used by two threads at once, as
storage requires.

The thread is the writer's own, fed by a queue, and reports each group back with one
``call_soon_threadsafe``: not a ``ThreadPoolExecutor`` (whose ``run_in_executor`` costs a
work item, a concurrent future, an asyncio future chained to it and their callbacks on
both threads for every group; issue 14, measured in docs/bench.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from replikv.core.io import Persist
from replikv.storage.persist import write_group
from replikv.storage.rewrite import Rewrite

log = logging.getLogger("replikv.writer")

WAL_INLINE_MS = 10
"""Default ``inline_max_ms`` of a serving node (``wal_inline_ms``): an fsync on a healthy
disk takes ~0.1-1 ms. The bound is wall time, which includes the moments the process is
preempted: at 2 ms, a 2-core machine running three nodes and a load driver sent its
followers' writes to the thread several times a second; a disk slower than 10 ms sends
them there for ``SLOW_DISK_BACKOFF_S`` at a time; the default heartbeat (50 ms) is five
times that bound and the election timeout (300 ms) thirty times."""
INLINE_MAX_RECORDS = 1024
"""A larger group (a follower catching up, a leader's burst) is written on the thread."""
SLOW_DISK_BACKOFF_S = 1.0
"""After a write on the loop took longer than ``inline_max_ms``, groups go to the thread
for this long before the loop tries again; twice as long after each further slow write
on the loop in a row, up to ``SLOW_DISK_BACKOFF_MAX_S``."""
SLOW_DISK_BACKOFF_MAX_S = 64.0
SLOW_DISK_LOG_EVERY_S = 60.0
"""A slow write on the loop is logged at WARNING at most this often (the rest at DEBUG;
``RKVADMIN status`` counts every one in ``wal.slow_inline``): a node writing large values
meets one every few seconds while snapshots are being flushed."""


@dataclass
class WriterStats:
    groups: int = 0
    records: int = 0
    largest_group: int = 0
    syncs: int = 0
    inline_groups: int = 0
    """Groups written on the event loop (the rest went to the writer thread)."""
    slow_inline: int = 0
    """Writes on the loop that took longer than ``inline_max_ms`` (each began a backoff)."""
    compactions: int = 0
    """Compactions written beside the log and swapped in."""
    compactions_superseded: int = 0
    """Compactions never swapped in: a newer one or a replace came first."""
    compaction_write_ms: float = 0.0
    """The last compaction's write on its own thread (encode, frame, write, fsync)."""
    compaction_swap_ms: float = 0.0
    """The last compaction's swap on the writer thread (tail, fsync, rename)."""


class WalWriter:
    def __init__(
        self,
        wal: Any,
        codec: Any,
        on_durable: Callable[[int], None],
        on_error: Callable[[BaseException], None],
        *,
        sync_interval_s: float = 0.01,
        inline_max_ms: float = 0.0,
    ) -> None:
        self._wal = wal
        self._codec = codec
        self._on_durable = on_durable
        self._on_error = on_error
        self._loop = asyncio.get_running_loop()
        self._jobs: queue.SimpleQueue[tuple[Callable[[Any], Any], Any, Callable[..., None]] | None] = (
            queue.SimpleQueue())
        self._thread = threading.Thread(target=self._thread_main, name="replikv-wal", daemon=True)
        self._thread.start()
        self._pending: list[Persist] = []
        self._busy = False
        self._inline_max_s = inline_max_ms / 1000.0
        self._thread_until = 0.0
        """``time.monotonic()`` before which groups go to the thread (a slow disk)."""
        self._calls = 0
        """``_call`` jobs outstanding on the thread."""
        self._slow_logged_at: float | None = None
        self._backoff_s = SLOW_DISK_BACKOFF_S
        self._begun: list[Rewrite] = []
        """Compactions begun and not yet being written (only the newest will be)."""
        self._rewriting: Rewrite | None = None
        """The compaction its thread is writing."""
        self._written: Rewrite | None = None
        """A written compaction waiting for its swap."""
        self._idle = asyncio.Event()
        self._idle.set()
        self._failed: BaseException | None = None
        self._closed = False
        self.stats = WriterStats()
        self._sync_task: asyncio.Task | None = None
        if getattr(wal, "policy", None) == "batch":
            self._sync_task = self._loop.create_task(self._sync_loop(sync_interval_s))

    def submit(self, persist: Persist) -> None:
        assert not self._closed, "writer is closed"
        self._pending.append(persist)
        self._idle.clear()
        self._kick()

    async def flush(self) -> None:
        """Wait until every submitted write is durable (or the writer failed)."""
        await self._idle.wait()

    async def close(self) -> None:
        await self.flush()
        self._closed = True
        if self._sync_task is not None:
            self._sync_task.cancel()
        close = getattr(self._wal, "close", None)
        try:
            # Also the last job: once it answered, the thread only has the stop left.
            await self._call(lambda _: close() if close is not None else None, None)
        finally:
            self._jobs.put(None)
            self._thread.join(timeout=1.0)

    # -- the writer thread ------------------------------------------------------------------

    def _thread_main(self) -> None:
        """Runs every job in order; each one's outcome goes back to the loop."""
        while (job := self._jobs.get()) is not None:
            work, argument, done = job
            try:
                result, error = work(argument), None
            except BaseException as exc:  # reported on the loop, which decides (fatal)
                result, error = None, exc
            try:
                self._loop.call_soon_threadsafe(done, argument, result, error)
            except RuntimeError:  # the loop is closed: nobody is left to tell
                return

    def _call(self, work: Callable[[Any], Any], argument: Any) -> asyncio.Future:
        """Run ``work(argument)`` on the writer thread, after what is queued before it."""
        future = self._loop.create_future()
        self._calls += 1

        def done(_: Any, result: Any, error: BaseException | None) -> None:
            self._calls -= 1
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

        self._jobs.put((work, argument, done))
        return future

    # -- group commit -------------------------------------------------------------------------

    def _kick(self) -> None:
        if self._busy or self._failed is not None:
            return
        if self._written is not None:
            rewrite, self._written = self._written, None
            self._busy = True
            self._jobs.put((self._swap, rewrite, self._swapped))
            return
        if not self._pending:
            return
        self._busy = True
        if self._inline_max_s > 0 and self._sync_task is None and time.monotonic() >= self._thread_until:
            self._loop.call_soon(self._write_here)
            return
        group, self._pending = self._pending, []
        self._to_thread(group)

    def _to_thread(self, group: list[Persist]) -> None:
        self._jobs.put((self._write, group, self._done))

    def _write_here(self) -> None:
        """On the loop: write what is pending now (more may have come since ``_kick``),
        unless it is a snapshot, a large group or a thread job is outstanding."""
        group, self._pending = self._pending, []
        if (self._calls or any(persist.replace and not persist.compaction for persist in group)
                or sum(len(persist.records) for persist in group) > INLINE_MAX_RECORDS):
            self._to_thread(group)
            return
        started = time.monotonic()
        try:
            written, error = self._write(group), None
        except Exception as exc:  # reported as the thread reports it: fatal for the node
            written, error = None, exc
        took = time.monotonic() - started
        self.stats.inline_groups += 1
        if took > self._inline_max_s:
            self.stats.slow_inline += 1
            self._thread_until = started + took + self._backoff_s
            quiet = self._slow_logged_at is not None and started - self._slow_logged_at < SLOW_DISK_LOG_EVERY_S
            if not quiet:
                self._slow_logged_at = started
            log.log(logging.DEBUG if quiet else logging.WARNING,
                    "a WAL write on the event loop took %.1f ms (over wal_inline_ms=%.0f): the writer thread "
                    "takes the writes for the next %.0f s (%d such writes so far; logged at most every %.0f s)",
                    took * 1000.0, self._inline_max_s * 1000.0, self._backoff_s, self.stats.slow_inline,
                    SLOW_DISK_LOG_EVERY_S)
            self._backoff_s = min(2 * self._backoff_s, SLOW_DISK_BACKOFF_MAX_S)
        else:
            self._backoff_s = SLOW_DISK_BACKOFF_S
        self._done(group, written, error)

    def _write(self, group: list[Persist]) -> tuple[int, list[Rewrite]]:
        """The whole group in one WAL call, or one per stretch between compactions (on the
        writer thread, or on the loop from ``_write_here``)."""
        return write_group(self._wal, self._codec, group)

    def _sync_if_due(self, _: Any = None) -> None:
        """Runs on the writer thread (the WAL is not thread-safe)."""
        if self._wal.needs_sync():
            self._wal.sync()
            self.stats.syncs += 1

    def _done(self, group: list[Persist], written: tuple[int, list[Rewrite]] | None,
              error: BaseException | None) -> None:
        """On the loop: ``group`` is durable up to the seq in ``written``, with the
        compactions it began, or its write failed."""
        self._busy = False
        if error is not None:
            self._fail(error)
            return
        assert written is not None
        durable, rewrites = written
        self.stats.groups += 1
        size = sum(len(p.records) for p in group)
        self.stats.records += size
        self.stats.largest_group = max(self.stats.largest_group, size)
        self._begun.extend(rewrites)
        self._start_rewrite()
        self._on_durable(durable)
        self._next()

    def _fail(self, error: BaseException) -> None:
        self._failed = error
        log.error("WAL write failed: %s", error)
        self._idle.set()
        self._on_error(error)

    def _next(self) -> None:
        self._kick()
        if not (self._busy or self._pending or self._begun or self._rewriting or self._written):
            self._idle.set()

    # -- compactions beside the log (storage.rewrite) ---------------------------------------

    def _start_rewrite(self) -> None:
        """Write the newest compaction begun on a thread of its own, unless one is being
        written or waits for its swap (the swap of the newest abandons the older ones)."""
        if self._rewriting is not None or self._written is not None or not self._begun:
            return
        rewrite = self._begun[-1]
        self.stats.compactions_superseded += len(self._begun) - 1
        self._begun = []
        self._rewriting = rewrite
        threading.Thread(target=self._rewrite_main, args=(rewrite,), name="replikv-compaction",
                         daemon=True).start()

    def _rewrite_main(self, rewrite: Rewrite) -> None:
        started = time.monotonic()
        try:
            rewrite.write()
            error = None
        except BaseException as exc:  # reported on the loop: fatal, like any failed write
            error = exc
        took_ms = (time.monotonic() - started) * 1000.0
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is left to tell
            self._loop.call_soon_threadsafe(self._rewritten, rewrite, took_ms, error)

    def _rewritten(self, rewrite: Rewrite, took_ms: float, error: BaseException | None) -> None:
        """On the loop: the compaction's thread is done; its swap waits for the group in
        flight, if any, and goes before the next one."""
        self._rewriting = None
        if error is not None:
            if self._failed is None:
                self._fail(error)
            return
        self.stats.compaction_write_ms = round(took_ms, 3)
        if rewrite.abandoned:  # a replace came meanwhile
            self.stats.compactions_superseded += 1
            self._start_rewrite()
        else:
            self._written = rewrite
        self._next()

    def _swap(self, rewrite: Rewrite) -> float:
        """On the writer thread: the written compaction plus its tail becomes the log."""
        if rewrite.abandoned:
            return -1.0
        started = time.monotonic()
        self._wal.finish_rewrite(rewrite)
        return (time.monotonic() - started) * 1000.0

    def _swapped(self, rewrite: Rewrite, took_ms: float | None, error: BaseException | None) -> None:
        self._busy = False
        if error is not None:
            self._fail(error)
            return
        assert took_ms is not None
        if took_ms < 0:
            self.stats.compactions_superseded += 1
        else:
            self.stats.compactions += 1
            self.stats.compaction_swap_ms = round(took_ms, 3)
        self._start_rewrite()
        self._next()

    async def _sync_loop(self, interval_s: float) -> None:
        """Policy ``batch``: fsync at most every ``interval_s`` from the writer thread."""
        while True:
            await asyncio.sleep(interval_s)
            if self._failed is None:
                try:
                    await self._call(self._sync_if_due, None)
                except Exception as exc:  # disk failure: the node cannot go on
                    self._failed = exc
                    self._on_error(exc)
                    return
