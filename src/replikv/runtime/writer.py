"""The WAL writer: one thread that group-commits every persist pending since its last write.

The event loop never blocks on the disk. ``submit(persist)`` queues a ``Persist``; while the thread is busy, further persists accumulate, and the next write takes
them all at once through ``storage.write_persists`` (one ``append`` or one atomic
``replace`` = one fsync under policy ``always``: group commit, DESIGN.md "Storage").
When a write returns, ``on_durable(highest seq)`` runs on the loop.

The WAL object (``storage.FileWAL`` or ``storage.MemoryWAL``) is touched only from the
writer thread after start, as storage requires.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="replikv-wal")
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
        if close is not None:
            await self._loop.run_in_executor(self._executor, close)
        self._executor.shutdown(wait=True)

    def _kick(self) -> None:
        if self._busy or not self._pending or self._failed is not None:
            return
        group, self._pending = self._pending, []
        self._busy = True
        future = self._loop.run_in_executor(self._executor, self._write, group)
        future.add_done_callback(lambda f: self._done(f, group))

    def _write(self, group: list[Persist]) -> int:
        """Runs on the writer thread: the whole group in one WAL call."""
        return write_persists(self._wal, self._codec, group)

    def _sync_if_due(self) -> None:
        """Runs on the writer thread (the WAL is not thread-safe)."""
        if self._wal.needs_sync():
            self._wal.sync()
            self.stats.syncs += 1

    def _done(self, future: asyncio.Future, group: list[Persist]) -> None:
        self._busy = False
        exc = future.exception()
        if exc is not None:
            self._failed = exc
            log.error("WAL write failed: %s", exc)
            self._idle.set()
            self._on_error(exc)
            return
        self.stats.groups += 1
        size = sum(len(p.records) for p in group)
        self.stats.records += size
        self.stats.largest_group = max(self.stats.largest_group, size)
        self._on_durable(future.result())
        self._kick()
        if not self._busy and not self._pending:
            self._idle.set()

    async def _sync_loop(self, interval_s: float) -> None:
        """Policy ``batch``: fsync at most every ``interval_s`` from the writer thread."""
        while True:
            await asyncio.sleep(interval_s)
            if self._failed is None:
                try:
                    await self._loop.run_in_executor(self._executor, self._sync_if_due)
                except Exception as exc:  # disk failure: the node cannot go on
                    self._failed = exc
                    self._on_error(exc)
                    return
