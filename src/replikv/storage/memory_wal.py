"""The in-memory twin of ``FileWAL`` (hashicorp/raft style): same interface, no files.

It keeps the exact byte image a ``FileWAL`` file would hold and recovers through the
same ``codec.read_image``, so a test can restart from ``MemoryWAL(old.image)``, tear the
image or flip a bit in it and see precisely what the file WAL would do. Nothing here is
ever lost, so ``needs_sync`` is always false and ``sync`` does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from replikv.storage.base import check_policy
from replikv.storage.codec import (
    DEFAULT_MAX_RECORD_BYTES,
    MAGIC,
    TornTail,
    frame_all,
    read_image,
    torn_tail,
)
from replikv.storage.rewrite import PendingRewrites, Rewrite

log = logging.getLogger("replikv.storage")


class MemoryWAL:
    """A WAL held in a ``bytearray``. ``image`` is what a crash would leave on disk."""

    def __init__(
        self,
        image: bytes = b"",
        *,
        fsync: str = "always",
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        name: str = "memory-wal",
    ) -> None:
        self.policy = check_policy(fsync)
        if max_record_bytes < 1:
            raise ValueError("max_record_bytes must be >= 1")
        self.max_record_bytes = max_record_bytes
        self.name = name
        self._image = bytearray(image)
        self._count = 0
        self._recovered = False
        self._closed = False
        self.torn_tail: TornTail | None = None
        """What ``recover`` cut off the tail (as ``FileWAL.torn_tail``)."""
        self._rewrites = PendingRewrites()

    @property
    def image(self) -> bytes:
        """The bytes a file WAL would hold now (a copy)."""
        return bytes(self._image)

    @property
    def size_bytes(self) -> int:
        return len(self._image)

    @property
    def record_count(self) -> int:
        return self._count

    def recover(self) -> list[bytes]:
        """Payloads in order; truncates a torn tail; ``CorruptStorage`` like the file WAL."""
        self._check(recovering=True)
        if not self._image:
            self._image[:] = MAGIC
            payloads: list[bytes] = []
        else:
            state = read_image(bytes(self._image), self.name, self.max_record_bytes)
            self.torn_tail = torn_tail(self.name, len(self._image), state)
            if self.torn_tail is not None:
                log.warning("%s", self.torn_tail.describe())
            del self._image[state.good_length :]
            payloads = state.payloads
        self._count = len(payloads)
        self._recovered = True
        return payloads

    def append(self, payloads: Sequence[bytes]) -> None:
        self._check()
        if payloads:
            data = frame_all(payloads, self.max_record_bytes)
            self._image += data
            self._count += len(payloads)
            self._rewrites.note_append(data, len(payloads))

    def replace(self, payloads: Sequence[bytes]) -> None:
        self._check()
        data = MAGIC + frame_all(payloads, self.max_record_bytes)
        self._rewrites.abandon()
        self._image[:] = data
        self._count = len(payloads)

    def begin_rewrite(self, encode: Callable[[], Sequence[Sequence[bytes]]]) -> Rewrite:
        """As ``FileWAL.begin_rewrite``; the rewrite keeps its image in memory."""
        self._check()
        return self._rewrites.begin(Rewrite(encode, self.max_record_bytes, None, durable=True))

    def finish_rewrite(self, rewrite: Rewrite) -> None:
        """As ``FileWAL.finish_rewrite``: the image becomes the rewrite plus its tail."""
        self._check()
        self._rewrites.take(rewrite)
        assert rewrite.data is not None
        self._image[:] = rewrite.data + rewrite.tail_data()
        self._count = rewrite.count + rewrite.tail_count
        rewrite.data, rewrite.tail = None, []

    def abandon_rewrite(self, rewrite: Rewrite) -> None:
        self._rewrites.abandon(rewrite)

    @property
    def rewrites_pending(self) -> int:
        return len(self._rewrites)

    def needs_sync(self) -> bool:
        return False

    def sync(self) -> None:
        self._check()

    def close(self) -> None:
        self._rewrites.abandon()
        self._closed = True

    def _check(self, *, recovering: bool = False) -> None:
        if self._closed:
            raise RuntimeError(f"{self.name}: the WAL is closed")
        if recovering and self._recovered:
            raise RuntimeError(f"{self.name}: recover() was already called")
        if not recovering and not self._recovered:
            raise RuntimeError(f"{self.name}: call recover() before writing")

    def __enter__(self) -> MemoryWAL:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MemoryWAL({self.name!r}, records={self._count}, bytes={len(self._image)})"
