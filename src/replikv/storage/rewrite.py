"""A compaction written beside the live log (``Persist(compaction=True)``, core.io).

A compaction restates only what the log already holds, so nothing waits for it: the WAL
keeps appending to its current generation while a ``Rewrite`` writes the restatement
to a temp file of its own, and remembers the frames appended since it began (its
``tail``). ``finish_rewrite`` then appends that tail to the temp file, fsyncs it and
renames it into place as the next generation, the same atomic commit point as
``replace``. A crash at any moment before the rename leaves the old generation, which
holds every acknowledged append and says the same as the restatement; recovery removes
the temp file (docs/storage.md).

Before this (issue 14), a snapshot was an atomic ``replace`` and a barrier: with 1 KiB
values every node rewrote ~40 MB (~300 ms) at the same index, every ack and reply
behind it waited, and the cluster answered nothing for that long.

Threads: ``write`` touches only the rewrite's own temp file and fields, so it may run on
a thread of its own while the WAL's owner goes on appending; everything else is the
owner's (the WAL is not thread-safe).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from replikv.storage.codec import MAGIC, TYPE_RECORD, TYPE_RECORD_CONTINUED, frame_header

IOV_MAX = 1024
"""Buffers per ``writev`` (Linux's limit)."""
FLUSH_EVERY_BYTES = 256 << 10
"""A durable rewrite is flushed (``fdatasync``) every this many bytes, so the live log's
fsyncs never queue behind much of it: one fsync of a 40 MB file held them for up to
~38 ms on this machine's disk. Measured with 1 KiB values on a 3-node raft cluster
(docs/bench.md, "Eighth session"), client p99: 32-41 ms flushing every 4 MB, 26-32 ms
every 1 MB, 15-25 ms every 256 KB, 23 ms every 64 KB."""


class Rewrite:
    """One compaction on its way to becoming the next generation.

    ``encode()`` gives its payloads, each as parts whose join is the payload
    (``RecordCodec.encode_parts``); ``write`` calls it, so the encoding happens off the
    caller's thread, and writes header and parts with ``writev``, so a snapshot's bytes
    are never copied: every copy of a large buffer holds the GIL, and the event loop
    with it. ``path`` is its temp file (None for ``MemoryWAL``, which
    keeps ``data``); ``durable``: fsync it (every policy but ``never``)."""

    __slots__ = ("_encode", "max_record_bytes", "path", "durable", "data", "size", "count", "tail",
                 "tail_bytes", "tail_count", "written", "abandoned")

    def __init__(self, encode: Callable[[], Sequence[Sequence[bytes]]], max_record_bytes: int, path: Path | None,
                 durable: bool) -> None:
        self._encode: Callable[[], Sequence[Sequence[bytes]]] | None = encode
        self.max_record_bytes = max_record_bytes
        self.path = path
        self.durable = durable
        self.data: bytes | None = None
        """With no ``path``: the image written (MAGIC + frames)."""
        self.size = 0
        self.count = 0
        self.tail: list[bytes] = []
        """Framed appends made to the live log since this rewrite began, in order."""
        self.tail_bytes = 0
        self.tail_count = 0
        self.written = False
        self.abandoned = False
        """A ``replace`` or a later finished rewrite superseded it; ``write`` then
        leaves no file behind."""

    def note_append(self, data: bytes, count: int) -> None:
        """The live log got ``data`` (``count`` framed records)."""
        self.tail.append(data)
        self.tail_bytes += len(data)
        self.tail_count += count

    def write(self) -> None:
        """Encode, frame and write the restatement (fsynced when ``durable``). Safe on a
        thread of its own: touches nothing but this object and its temp file."""
        assert self._encode is not None and not self.written, "a rewrite is written once"
        payloads = self._encode()
        self._encode = None  # let the snapshot's records go
        if self.abandoned:
            return
        buffers: list[bytes] = [MAGIC]
        for index, parts in enumerate(payloads):
            last = index == len(payloads) - 1
            buffers.append(frame_header(parts, TYPE_RECORD if last else TYPE_RECORD_CONTINUED,
                                        self.max_record_bytes))
            buffers.extend(parts)
        self.count = len(payloads)
        self.size = sum(len(buffer) for buffer in buffers)
        if self.path is None:
            self.data = b"".join(buffers)
        else:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                _write_flushing(fd, buffers, FLUSH_EVERY_BYTES if self.durable else 0)
                if self.durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
        self.written = True
        if self.abandoned:  # superseded while it was being written (the owner removes it
            self.remove()   # when it sees ``written``; both may, neither can miss it)

    def remove(self) -> None:
        """Delete the temp file, if any (an abandoned rewrite)."""
        self.data = None
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def tail_data(self) -> bytes:
        return b"".join(self.tail)


def _write_flushing(fd: int, buffers: Sequence[bytes], flush_every: int) -> None:
    """Write ``buffers`` in order, with an ``fdatasync`` after every ``flush_every``
    bytes (never, when 0)."""
    if not flush_every:
        writev_all(fd, buffers)
        return
    batch: list[memoryview] = []
    size = 0
    for buffer in buffers:
        view = memoryview(buffer)
        while view:
            piece = view[: flush_every - size]
            batch.append(piece)
            size += len(piece)
            view = view[len(piece):]
            if size >= flush_every:
                writev_all(fd, batch)
                os.fdatasync(fd)
                batch, size = [], 0
    writev_all(fd, batch)


def writev_all(fd: int, buffers: Sequence[bytes | memoryview]) -> None:
    """``os.writev`` until every buffer is written, in order."""
    views = [memoryview(buffer) for buffer in buffers if len(buffer)]
    while views:
        written = os.writev(fd, views[:IOV_MAX])
        while written:
            if written >= len(views[0]):
                written -= len(views.pop(0))
            else:
                views[0] = views[0][written:]
                written = 0


def pwrite_all(fd: int, data: bytes, offset: int) -> None:
    """``os.pwrite`` at ``offset`` until all of ``data`` is written."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until all of ``data`` is written."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class PendingRewrites:
    """The rewrites a WAL has begun and not yet finished, oldest first (what ``FileWAL``
    and ``MemoryWAL`` share)."""

    __slots__ = ("_rewrites",)

    def __init__(self) -> None:
        self._rewrites: list[Rewrite] = []

    def __len__(self) -> int:
        return len(self._rewrites)

    def begin(self, rewrite: Rewrite) -> Rewrite:
        self._rewrites.append(rewrite)
        return rewrite

    def note_append(self, data: bytes, count: int) -> None:
        for rewrite in self._rewrites:
            rewrite.note_append(data, count)

    def take(self, rewrite: Rewrite) -> None:
        """``rewrite`` is being finished: it leaves the list, and so do the older ones,
        abandoned (it restates more than they do)."""
        assert rewrite.written and rewrite in self._rewrites, "finish a written, pending rewrite"
        position = self._rewrites.index(rewrite)
        self._abandon(self._rewrites[:position])
        del self._rewrites[: position + 1]

    def abandon(self, rewrite: Rewrite | None = None) -> None:
        """Drop ``rewrite``, or every pending one (a ``replace`` superseded them, or the
        WAL closed). A temp file goes now, or when its ``write`` ends."""
        chosen = list(self._rewrites) if rewrite is None else [rewrite]
        self._rewrites = [r for r in self._rewrites if r not in chosen]
        self._abandon(chosen)

    @staticmethod
    def _abandon(rewrites: Sequence[Rewrite]) -> None:
        for rewrite in rewrites:
            rewrite.abandoned = True
            rewrite.tail = []
            if rewrite.written:
                rewrite.remove()
