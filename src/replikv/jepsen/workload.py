"""What the clients ask: independent keys, unique write values, a read/write/cas mix.

What may live here: choosing the next operation (pure, from a ``random.Random`` per
client) and the shared bookkeeping that keeps values unique. No I/O.

Independent keys (Jepsen's ``independent`` generator): ``keys`` keys are active at a
time; a key retires after ``ops_per_key`` operations and a fresh key takes its place.
Linearizability is checked key by key (Herlihy & Wing §3.3, locality), so short
per-key histories keep the search small however long the run.

Unique values: every write and cas on a key writes a value (1, 2, 3, ...) never written
to that key before. That is what lets ``lost_acked_writes`` and ``stale_reads`` name the
operation behind a value (``replikv.check.invariants``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

READ_SHARE = 0.5
WRITE_SHARE = 0.3
"""The rest are cas operations."""


@dataclass(frozen=True)
class PlannedOp:
    """One operation to run: ``f`` is read/write/cas (or txn, ``jepsen.txn``); ``value``
    as in the history format (``None`` for a read, the value for a write, ``[expected,
    new]`` for a cas, the micro-ops of a txn, whose ``key`` is ``None``)."""

    f: str
    key: str | None
    value: Any


@dataclass
class KeySpace:
    """Active keys, their operation counts, the next unique value and the values seen."""

    keys: int
    ops_per_key: int
    prefix: str = "jk"
    _active: list[str] = field(default_factory=list)
    _used: dict[str, int] = field(default_factory=dict)
    _next_value: dict[str, int] = field(default_factory=dict)
    _seen: dict[str, list[int]] = field(default_factory=dict)
    _serial: int = 0

    def __post_init__(self) -> None:
        if self.keys < 1 or self.ops_per_key < 1:
            raise ValueError("keys and ops_per_key must be >= 1")
        self._active = [self._fresh() for _ in range(self.keys)]

    def _fresh(self) -> str:
        self._serial += 1
        key = f"{self.prefix}{self._serial}"
        self._used[key] = 0
        self._next_value[key] = 1
        self._seen[key] = []
        return key

    @property
    def touched(self) -> list[str]:
        """Every key handed out so far, in order."""
        return list(self._used)

    def next_op(self, rng: random.Random) -> PlannedOp:
        slot = rng.randrange(len(self._active))
        key = self._active[slot]
        self._used[key] += 1
        if self._used[key] >= self.ops_per_key:
            self._active[slot] = self._fresh()
        roll = rng.random()
        if roll < READ_SHARE:
            return PlannedOp("read", key, None)
        value = self._next_value[key]
        self._next_value[key] += 1
        if roll < READ_SHARE + WRITE_SHARE or not self._seen[key]:
            self._seen[key].append(value)
            return PlannedOp("write", key, value)
        expected = rng.choice(self._seen[key][-3:])
        self._seen[key].append(value)
        return PlannedOp("cas", key, [expected, value])

    def observe(self, key: str, value: int | None) -> None:
        """A read returned ``value``: a good guess for a later cas's expected value."""
        if value is not None and key in self._seen and value not in self._seen[key][-3:]:
            self._seen[key].append(value)


def as_history_value(text: str | None) -> int | str | None:
    """A value read over RESP as the history records it (our writes are integers)."""
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return text
