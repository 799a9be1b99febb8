"""The WAL writer: one thread that group-commits every persist pending since its last write.

The event loop never blocks on the disk. ``submit(persist)`` queues a ``Persist``; while the thread is busy, further persists accumulate, and the next write takes
them all at once through ``storage.write_persists`` (one ``append`` or one atomic
``replace`` = one fsync under policy ``always``: group commit, DESIGN.md "Storage").
When a write returns, ``on_durable(highest seq)`` runs on the loop.

The WAL object (``storage.FileWAL`` or ``storage.MemoryWAL``) is touched only from the
writer thread after start, as storage requires.

The thread is the writer's own, fed by a queue, and reports each group back with one
``call_soon_threadsafe``: not a ``ThreadPoolExecutor`` (whose ``run_in_executor`` costs a
work item, a concurrent future, an asyncio future chained to it and their callbacks on
both threads for every group; issue 14, measured in docs/bench.md).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from replikv.core.io import Persist
from replikv.storage.persist import write_persists

log = logging.getLogger("replikv.writer")


@dataclass
class WriterStats:
    groups: int = 0
    records: int = 0
    largest_group: int = 0
    syncs: int = 0


class WalWriter:
    def __init__(
        self,
        wal: Any,
        codec: Any,
        on_durable: Callable[[int], None],
        on_error: Callable[[BaseException], None],
        *,
        sync_interval_s: float = 0.01,
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

        def done(_: Any, result: Any, error: BaseException | None) -> None:
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
        if self._busy or not self._pending or self._failed is not None:
            return
        group, self._pending = self._pending, []
        self._busy = True
        self._jobs.put((self._write, group, self._done))

    def _write(self, group: list[Persist]) -> int:
        """Runs on the writer thread: the whole group in one WAL call."""
        return write_persists(self._wal, self._codec, group)

    def _sync_if_due(self, _: Any = None) -> None:
        """Runs on the writer thread (the WAL is not thread-safe)."""
        if self._wal.needs_sync():
            self._wal.sync()
            self.stats.syncs += 1

    def _done(self, group: list[Persist], durable: int | None, error: BaseException | None) -> None:
        """On the loop: ``group`` is durable up to seq ``durable``, or its write failed."""
        self._busy = False
        if error is not None:
            self._failed = error
            log.error("WAL write failed: %s", error)
            self._idle.set()
            self._on_error(error)
            return
        assert durable is not None
        self.stats.groups += 1
        size = sum(len(p.records) for p in group)
        self.stats.records += size
        self.stats.largest_group = max(self.stats.largest_group, size)
        self._on_durable(durable)
        self._kick()
        if not self._busy and not self._pending:
            self._idle.set()

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
