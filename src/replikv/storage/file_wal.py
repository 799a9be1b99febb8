"""The durable WAL: one append-only file per generation in a node's data directory.

The only module in replikv that calls fsync. Layout of the directory::

    LOCK                      flock'ed while a FileWAL has the directory open
    wal-0000000000000007.log  the current generation: MAGIC + frames (codec.py)
    wal-0000000000000008.log.tmp  a replacement being written (removed at recovery)

``append`` adds frames to the current file with one ``write`` (group commit: the caller
passes everything pending since its last call) and, under policy ``always``, one fsync.
Under a policy that fsyncs, the file is kept ``preallocate_bytes`` (1 MiB) of written
zeros ahead of its last frame, and appends overwrite them in place: an fsync that
extends a file must also commit the new size and blocks in the filesystem's journal,
while one that only overwrites allocated blocks writes the data alone (on the development
machine's ext4 disk 93-111 µs per fsynced append against 150-175; issue 14). A crash leaves the
zeros behind the last frame, which recovery keeps as the room they were (the codec tells
zeros from a torn frame); ``close`` trims them.
``replace`` writes generation g+1 to a temp file, fsyncs it, renames it into place,
fsyncs the directory and only then deletes generation g: the rename is the atomic
commit point, so a crash leaves either the old or the new state, never a mixture
(this is how a snapshot compacts the log behind it, Raft §7). A compaction is written
beside the live log instead (``begin_rewrite``/``finish_rewrite``, ``rewrite.py``):
appends go on while its temp file ``wal-<g>.log.c<k>.tmp`` is written, and its rename
is the same commit point.

Not thread-safe by design: the runtime drives it from one writer thread.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from replikv.core.errors import CorruptStorage
from replikv.storage.base import StorageFailed, StorageLocked, check_policy
from replikv.storage.codec import (
    DEFAULT_MAX_RECORD_BYTES,
    MAGIC,
    TornTail,
    frame_all,
    read_image,
    torn_tail,
)
from replikv.storage.rewrite import PendingRewrites, Rewrite, pwrite_all, write_all

_WAL_NAME = re.compile(r"^wal-(\d{16})\.log$")
_TMP_NAME = re.compile(r"^wal-(\d{16})\.log(\.c\d+)?\.tmp$")
LOCK_NAME = "LOCK"
TORN_MARKER = "torn-tail.pending"
"""Written (durably) before recovery cuts records off a torn tail, removed once a record
appended after that recovery is on disk: until then every recovery reports the cut
again. Without it, a node that restarted after a torn tail and was killed before its
first write (its "I lost state, I am rejoining" record) would come back with a log that
looks whole and act on what it no longer remembers (swarm seed 1100093, 2pc: the
simulator's disk remembers damage the same way, ``sim/disk.py``)."""
PREALLOCATE_BYTES = 1 << 20
"""Zeros kept written ahead of the log's last frame (module docstring). Extending by
1 MiB costs about 2 ms of write and fsync once per MiB of log; 16 MiB would cost 40 ms at
once, a stall a client sees."""
_T = TypeVar("_T")
log = logging.getLogger("replikv.storage")


def wal_name(generation: int) -> str:
    return f"wal-{generation:016d}.log"


def log_bytes(path: str | os.PathLike[str]) -> int:
    """Bytes of ``path`` up to its last non-zero byte: a WAL file's length without the
    zeros written ahead of its last frame (to within the few zero bytes a frame may end
    with). Reads only the tail, so a sampler may call it often on a large log."""
    with open(path, "rb") as handle:
        end = os.fstat(handle.fileno()).st_size
        while end > 0:
            start = max(0, end - PREALLOCATE_BYTES - 4096)
            handle.seek(start)
            kept = len(handle.read(end - start).rstrip(b"\x00"))
            if kept:
                return start + kept
            end = start
    return 0


def fsync_directory(directory: Path) -> None:
    """Make renames, creations and removals in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileWAL:
    """A write-ahead log in ``directory`` (see the module docstring for the layout).

    ``fsync``: ``always`` | ``batch`` | ``never`` (docs/storage.md says what each can
    lose). ``batch_ms``: under ``batch``, the longest time between fsyncs while writes
    are pending (driven by ``append`` and by the runtime calling ``needs_sync``/``sync``
    from a timer). ``max_record_bytes``: bound on one record, on write and on recovery.
    ``preallocate_bytes``: zeros written ahead of the last frame under ``always`` and
    ``batch`` (0: none; ``never`` has no fsync to speed up and writes none).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        fsync: str = "always",
        batch_ms: float = 10.0,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        preallocate_bytes: int = PREALLOCATE_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = check_policy(fsync)
        if batch_ms <= 0:
            raise ValueError("batch_ms must be > 0")
        if max_record_bytes < 1:
            raise ValueError("max_record_bytes must be >= 1")
        if preallocate_bytes < 0:
            raise ValueError("preallocate_bytes must be >= 0")
        self.directory = Path(directory)
        self.batch_ms = batch_ms
        self.max_record_bytes = max_record_bytes
        self.preallocate_bytes = preallocate_bytes if self.policy != "never" else 0
        self._clock = clock
        self._generation = 0
        self._fd: int | None = None
        self._size = 0
        """Bytes of magic and frames: where the next append goes."""
        self._allocated = 0
        """Length of the current file: ``_size`` plus the zeros written ahead."""
        self._count = 0
        self._prealloc_failed = False
        """Writing zeros ahead failed once (logged once; retried at each extension)."""
        self._dirty = False
        self._last_sync = clock()
        self._failed: str | None = None
        self._recovered = False
        self._closed = False
        self.torn_tail: TornTail | None = None
        """What ``recover`` cut off the tail (logged at WARNING), None when nothing; also
        the cut of an earlier recovery that no write has followed yet (``TORN_MARKER``),
        records summed with this one's."""
        self._torn_pending = False
        """A ``TORN_MARKER`` is on disk: the next append or replace removes it."""
        self._rewrites = PendingRewrites()
        self._rewrite_number = 0
        self._make_directory()
        self._lock_fd = self._lock()

    # -- opening ---------------------------------------------------------------------

    def _make_directory(self) -> None:
        """Create the directory (and missing parents), fsyncing each new entry's parent."""
        if self.directory.is_dir():
            return
        missing: list[Path] = []
        path = self.directory.resolve()
        while not path.exists():
            missing.append(path)
            path = path.parent
        for new in reversed(missing):
            try:
                new.mkdir()
            except FileExistsError:
                if not new.is_dir():
                    raise NotADirectoryError(f"{new}: exists and is not a directory") from None
            fsync_directory(new.parent)
        if not self.directory.is_dir():
            raise NotADirectoryError(f"{self.directory}: exists and is not a directory")

    def _lock(self) -> int:
        """Exclusive flock on ``LOCK``: two processes must never write one directory."""
        path = self.directory / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise StorageLocked(
                f"{self.directory}: data directory is in use (pid {holder} holds {path}); "
                "two nodes must never share one: stop the other process or choose another directory"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return fd

    # -- properties -----------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The current generation's file."""
        return self.directory / wal_name(self._generation)

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def size_bytes(self) -> int:
        return self._size

    @property
    def record_count(self) -> int:
        return self._count

    # -- recovery -------------------------------------------------------------------

    def recover(self) -> list[bytes]:
        """Payloads in append order, after repairing the directory.

        Removes leftover temp files and superseded generations, truncates a torn tail in
        place (fsynced; logged at WARNING with the file, offset, bytes and records cut,
        and kept in ``torn_tail``), and raises ``CorruptStorage`` naming the file and
        offset when a record before the tail is damaged.
        """
        self._check_usable(recovering=True)
        generations, changed = self._tidy_directory()
        earlier = self._read_torn_marker()
        if not generations:
            self._generation = 1
            self._write_new_file(1, MAGIC, durable=True)
            payloads: list[bytes] = []
            self._size = self._allocated = len(MAGIC)
        else:
            self._generation = generations[-1]
            payloads = self._recover_file(self.path, earlier)
            for old in generations[:-1]:
                (self.directory / wal_name(old)).unlink()
            changed = changed or len(generations) > 1
        if changed:
            fsync_directory(self.directory)
        if earlier is not None and self.torn_tail is None:
            self.torn_tail = earlier
            log.warning("%s: no write followed the torn-tail cut of an earlier recovery (%d record(s)); "
                        "reported again", self.directory, earlier.records)
        self._torn_pending = self.torn_tail is not None and self.torn_tail.records > 0
        self._fd = os.open(self.path, os.O_WRONLY)
        self._count = len(payloads)
        self._recovered = True
        self._last_sync = self._clock()
        return payloads

    def _tidy_directory(self) -> tuple[list[int], bool]:
        """Sorted WAL generations present; removes temp files (a replace that never
        reached its rename). Returns whether anything was removed."""
        generations: list[int] = []
        changed = False
        for name in sorted(os.listdir(self.directory)):
            if _TMP_NAME.match(name):
                (self.directory / name).unlink()
                changed = True
            elif match := _WAL_NAME.match(name):
                generations.append(int(match.group(1)))
        return sorted(generations), changed

    def _recover_file(self, path: Path, earlier: TornTail | None) -> list[bytes]:
        data = path.read_bytes()
        state = read_image(data, str(path), self.max_record_bytes)
        self._size = self._allocated = state.good_length
        if not data[state.good_length:].strip(b"\x00"):
            # Only zeros follow the last whole append: room written ahead (or an append
            # of which nothing reached the disk). No record is cut; appends reuse it.
            self._allocated = len(data)
            return state.payloads
        self.torn_tail = torn_tail(str(path), len(data), state)
        if self.torn_tail is not None:
            log.warning("%s", self.torn_tail.describe())
            if self.torn_tail.records > 0:
                if earlier is not None:  # no write since the earlier cut: both are unrecorded
                    self.torn_tail = self.torn_tail._replace(records=self.torn_tail.records + earlier.records)
                self._write_torn_marker(self.torn_tail)  # durable before the cut
        if state.good_length < len(data):
            fd = os.open(path, os.O_WRONLY)
            try:
                os.ftruncate(fd, state.good_length)
                os.fsync(fd)
            finally:
                os.close(fd)
        return state.payloads

    def _read_torn_marker(self) -> TornTail | None:
        """The cut an earlier recovery made and no write has followed yet, or None."""
        try:
            fields = json.loads((self.directory / TORN_MARKER).read_text())
            return TornTail(str(fields["where"]), int(fields["offset"]), int(fields["bytes_cut"]),
                            int(fields["records"]), str(fields["reason"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CorruptStorage(f"{self.directory / TORN_MARKER}: unreadable ({exc}); it records a torn tail "
                                 "an earlier recovery cut, so the node refuses to start: move the data directory "
                                 "away and start the node with --rejoin (replikv cluster restart --rejoin): it "
                                 "catches up from its peers before it votes or serves") from exc

    def _write_torn_marker(self, cut: TornTail) -> None:
        self._write_atomically(self.directory / TORN_MARKER, json.dumps(cut._asdict()).encode(), durable=True)

    def _forget_torn_marker(self) -> None:
        """A record written after a torn-tail cut is on disk (the caller made sure of it,
        whatever the policy): the replica has recorded what it knows of the damage."""
        with contextlib.suppress(FileNotFoundError):
            (self.directory / TORN_MARKER).unlink()
        fsync_directory(self.directory)
        self._torn_pending = False

    # -- writing --------------------------------------------------------------------

    def append(self, payloads: Sequence[bytes]) -> None:
        """Append ``payloads`` with one write; under ``always`` one fsync before returning.

        A payload above ``max_record_bytes`` raises ``ValueError`` and writes nothing.
        """
        self._check_usable()
        if not payloads:
            return
        data = frame_all(payloads, self.max_record_bytes)
        assert self._fd is not None
        self._guarded("append", lambda: self._write_at_end(data))
        self._size += len(data)
        self._count += len(payloads)
        self._rewrites.note_append(data, len(payloads))
        self._dirty = True
        if self.policy == "always" or self.needs_sync():
            self.sync()
        if self._torn_pending:
            self.sync()  # a no-op when the policy already did (nothing is dirty)
            self._forget_torn_marker()

    def _write_at_end(self, data: bytes) -> None:
        """Write ``data`` over the zeros after the last frame; when it reaches past them,
        write ``preallocate_bytes`` more zeros behind it (the same fsync commits both)."""
        assert self._fd is not None
        end = self._size + len(data)
        pwrite_all(self._fd, data, self._size)
        if end <= self._allocated:
            return
        if not self.preallocate_bytes:
            self._allocated = end
            return
        try:
            pwrite_all(self._fd, bytes(self.preallocate_bytes), end)
            self._allocated = end + self.preallocate_bytes
        except OSError as exc:
            # Room ahead is an optimisation: a disk too full for it (ENOSPC, a quota)
            # must not fail a write that fits. Appends go on at the file's end.
            self._allocated = max(end, os.fstat(self._fd).st_size)
            if not self._prealloc_failed:
                log.warning("%s: cannot write %d bytes of zeros ahead of the log (%s); "
                            "appends extend the file instead (slower fsyncs)",
                            self.path, self.preallocate_bytes, exc)
            self._prealloc_failed = True

    def needs_sync(self) -> bool:
        """Under ``batch``: writes are pending and ``batch_ms`` passed since the last fsync."""
        if self.policy != "batch" or not self._dirty or self._failed or self._fd is None:
            return False
        return (self._clock() - self._last_sync) * 1000.0 >= self.batch_ms

    def sync(self) -> None:
        """fsync what was appended since the last fsync (an explicit request: any policy)."""
        self._check_usable()
        if not self._dirty:
            return
        assert self._fd is not None
        self._guarded("fsync", lambda: os.fsync(self._fd))
        self._dirty = False
        self._last_sync = self._clock()

    def replace(self, payloads: Sequence[bytes]) -> None:
        """Atomically make ``payloads`` the whole log: temp file, fsync, rename, fsync dir.

        A payload above ``max_record_bytes`` raises ``ValueError`` and changes nothing.
        """
        self._check_usable()
        data = MAGIC + frame_all(payloads, self.max_record_bytes)
        self._rewrites.abandon()  # the new state supersedes them
        new_generation = self._generation + 1
        durable = self.policy != "never"

        def swap() -> int:
            self._write_new_file(new_generation, data, durable=durable)
            return os.open(self.directory / wal_name(new_generation), os.O_WRONLY)

        self._switch_generation("replace", swap, len(data), len(payloads))
        if self._torn_pending:
            if not durable:  # the new generation was written without its fsync
                assert self._fd is not None
                self._guarded("fsync", lambda: os.fsync(self._fd))
            self._forget_torn_marker()

    # -- compaction beside the live log (rewrite.py) --------------------------------------

    def begin_rewrite(self, encode: Callable[[], Sequence[Sequence[bytes]]]) -> Rewrite:
        """Begin a compaction: ``encode()`` gives payloads that restate what the log holds
        now. Appends from here on go to the live log *and* to the rewrite's tail. The
        caller runs ``rewrite.write()`` (on any thread) and then ``finish_rewrite``."""
        self._check_usable()
        self._rewrite_number += 1
        temp = self.directory / f"{wal_name(self._generation)}.c{self._rewrite_number}.tmp"
        return self._rewrites.begin(Rewrite(encode, self.max_record_bytes, temp, durable=self.policy != "never"))

    def finish_rewrite(self, rewrite: Rewrite) -> None:
        """Make a written rewrite, plus the appends since it began, the next generation:
        tail appended to its temp file, fsync, rename, fsync dir, old generation removed.
        Older rewrites still pending are abandoned (this one restates more)."""
        self._check_usable()
        self._rewrites.take(rewrite)
        assert rewrite.path is not None
        temp, tail = rewrite.path, rewrite.tail_data()
        new_generation = self._generation + 1

        def swap() -> int:
            fd = os.open(temp, os.O_WRONLY | os.O_APPEND)
            try:
                write_all(fd, tail)
                if rewrite.durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            final = self.directory / wal_name(new_generation)
            os.rename(temp, final)
            if rewrite.durable:
                fsync_directory(self.directory)
            return os.open(final, os.O_WRONLY)

        self._switch_generation("compaction", swap, rewrite.size + len(tail), rewrite.count + rewrite.tail_count)
        rewrite.tail = []

    def _switch_generation(self, what: str, swap: Callable[[], int], size: int, count: int) -> None:
        """Run ``swap`` (it makes the next generation's file durable and opens it for
        appends), then move to it: the old generation's descriptor closed, its file
        removed (recovery removes it if this is lost in a crash)."""
        old_path, old_fd = self.path, self._fd
        self._fd = self._guarded(what, swap)
        self._generation += 1
        self._size, self._count = size, count
        self._allocated = size
        self._dirty = False
        self._last_sync = self._clock()
        if old_fd is not None:
            os.close(old_fd)
        with contextlib.suppress(FileNotFoundError):
            old_path.unlink()

    def abandon_rewrite(self, rewrite: Rewrite) -> None:
        """Drop a pending rewrite (its temp file goes now, or when its ``write`` ends)."""
        self._rewrites.abandon(rewrite)

    @property
    def rewrites_pending(self) -> int:
        return len(self._rewrites)

    def _write_new_file(self, generation: int, data: bytes, *, durable: bool) -> None:
        """Create generation ``generation`` atomically (temp, fsync, rename, fsync dir)."""
        self._write_atomically(self.directory / wal_name(generation), data, durable=durable)

    def _write_atomically(self, final: Path, data: bytes, *, durable: bool) -> None:
        """Make ``final`` hold ``data``, whole or not at all: temp, fsync, rename, fsync dir
        (without the fsyncs when not ``durable``)."""
        temp = final.with_name(final.name + ".tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            write_all(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, final)
        if durable:
            fsync_directory(self.directory)

    # -- failure and closing --------------------------------------------------------

    def _guarded(self, what: str, action: Callable[[], _T]) -> _T:
        """Run an I/O action; on failure the WAL is poisoned (see ``StorageFailed``)."""
        try:
            return action()
        except OSError as exc:
            self._failed = f"{what} failed: {exc}"
            raise StorageFailed(self._failed_message()) from exc

    def _failed_message(self) -> str:
        return (
            f"{self.directory}: the WAL accepts no more writes after an I/O error "
            f"({self._failed}); restart the node to recover from what is on disk"
        )

    def _check_usable(self, *, recovering: bool = False) -> None:
        if self._closed:
            raise RuntimeError(f"{self.directory}: the WAL is closed")
        if self._failed:
            raise StorageFailed(self._failed_message())
        if recovering and self._recovered:
            raise RuntimeError(f"{self.directory}: recover() was already called")
        if not recovering and not self._recovered:
            raise RuntimeError(f"{self.directory}: call recover() before writing")

    def close(self) -> None:
        """Flush a pending ``batch`` fsync, trim the zeros written ahead, close the file
        and release the lock."""
        if self._closed:
            return
        try:
            if self.policy == "batch" and self._dirty and not self._failed and self._fd is not None:
                self.sync()
            if self._allocated > self._size and not self._failed and self._fd is not None:
                with contextlib.suppress(OSError):  # not fsynced: zeros that come back are room
                    os.ftruncate(self._fd, self._size)
        finally:
            self._closed = True
            self._rewrites.abandon()
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            os.close(self._lock_fd)

    def __enter__(self) -> FileWAL:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FileWAL({str(self.directory)!r}, fsync={self.policy!r}, generation={self._generation})"
