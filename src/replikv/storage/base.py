"""The WAL interface both implementations offer, its errors and its fsync policies.

What may live here: the ``WAL`` protocol, the policy names, the storage errors. A host
codes against ``WAL``; ``FileWAL`` is the durable one, ``MemoryWAL`` its twin for tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from replikv.core.errors import ConfigError

if TYPE_CHECKING:
    from replikv.storage.rewrite import Rewrite

POLICIES = ("always", "batch", "never")
"""``always``: fsync before ``append``/``replace`` return (the default; loses no
acknowledged write). ``batch``: fsync at most every ``batch_ms``. ``never``: leave it to
the OS. docs/storage.md says exactly what each can lose."""


def check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise ConfigError(f"fsync policy must be one of {', '.join(POLICIES)}, not {policy!r}")
    return policy


class StorageLocked(RuntimeError):
    """Another process (or another open WAL in this one) holds the data directory."""


class StorageFailed(RuntimeError):
    """A write or fsync failed; the WAL accepts nothing more (its on-disk tail is unknown).

    After a failed fsync the kernel may already have dropped the dirty pages, so retrying
    could report success for data that is gone: the only safe move is to restart and
    recover from what is on disk.
    """


class WAL(Protocol):
    """An append-only log of opaque payloads with atomic whole-state replacement.

    Not thread-safe: one writer (the runtime's storage thread) calls every method.
    ``recover`` must be called once, before anything else.
    """

    policy: str

    def recover(self) -> list[bytes]:
        """Payloads in the order they were appended; repairs a torn tail."""
        ...

    def append(self, payloads: Sequence[bytes]) -> None:
        """Add payloads with one write (group commit); durable per the policy on return."""
        ...

    def replace(self, payloads: Sequence[bytes]) -> None:
        """Atomically make ``payloads`` the whole content (snapshot + what follows)."""
        ...

    def begin_rewrite(self, encode: Callable[[], Sequence[Sequence[bytes]]]) -> Rewrite:
        """Begin a compaction written beside the live log (``rewrite.py``): ``encode()``
        restates what the log holds now; later appends also join its tail."""
        ...

    def finish_rewrite(self, rewrite: Rewrite) -> None:
        """Swap a written rewrite, plus its tail, in atomically as the whole content."""
        ...

    def abandon_rewrite(self, rewrite: Rewrite) -> None: ...

    def needs_sync(self) -> bool:
        """True when the policy wants ``sync()`` now (``batch`` with a due flush)."""
        ...

    def sync(self) -> None:
        """Make everything appended so far durable (whatever the policy)."""
        ...

    def close(self) -> None: ...

    @property
    def size_bytes(self) -> int: ...

    @property
    def record_count(self) -> int: ...
