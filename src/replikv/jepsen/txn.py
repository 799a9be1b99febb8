"""The transaction workload of ``replikv test --workload txn``: Elle's list-append.

What may live here: choosing the next transaction (pure, from a ``random.Random`` per
client), turning it into replikv ``Txn`` ops and back into the history's micro-ops, and
the final read of every key. No checking (``replikv.check.txn``).

Each transaction has 1-4 micro-ops over a few active keys (Kingsbury & Alvaro, "Elle",
VLDB 2020, §3): an append of an element never appended before (one counter for the
run, so unique per key), sent as ``APPEND k " <element>"``, or a read, sent as
``GET k`` and split back into the list of elements. Every micro-op of a transaction goes
in ONE ``Txn`` (``Client.txn``, under the client's session identity: a retry is applied
at most once). A key retires after ``appends_per_key`` appends and a fresh one takes
its place, so the lists, and the values read, stay short however long the run.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from replikv.check.txn.ops import APPEND, READ
from replikv.client import Client
from replikv.core.commands import Append, Get, TxnOp
from replikv.jepsen.workload import PlannedOp

MIN_OPS, MAX_OPS = 1, 4
READ_SHARE = 0.5
"""Of micro-ops; the rest are appends."""
FINAL_READ_KEYS = 32
"""Keys read by one transaction of the final reads."""


def encode_element(element: int) -> str:
    """What ``APPEND`` adds for ``element``: a space, then its digits."""
    return f" {element}"


def parse_list(value: str | None) -> list[int | str] | None:
    """A value read back as its elements, oldest first (``None``: the key is absent).
    Anything that is not one of our integers stays text, so the checker sees it."""
    if value is None:
        return None
    return [int(word) if word.isdigit() else word for word in value.split()]


def as_txn_ops(micro_ops: Sequence[Sequence[Any]]) -> list[TxnOp]:
    """The replikv ops of a transaction's micro-ops, one each, in order."""
    ops: list[TxnOp] = []
    for kind, key, arg in micro_ops:
        ops.append(Append(key, encode_element(arg)) if kind == APPEND else Get(key))
    return ops


def filled(micro_ops: Sequence[Sequence[Any]], results: Sequence[Any]) -> list[list[Any]]:
    """The micro-ops with each read's list filled in from the ``Txn``'s results."""
    return [[kind, key, parse_list(result) if kind == READ else arg]
            for (kind, key, arg), result in zip(micro_ops, results, strict=True)]


async def run_txn(client: Client, micro_ops: list[list[Any]]) -> list[list[Any]]:
    """Run one transaction; its micro-ops, reads filled in (raises the client's errors)."""
    return filled(micro_ops, await client.txn(as_txn_ops(micro_ops)))


@dataclass
class TxnKeys:
    """Active keys, appends per key, and the run's element counter."""

    keys: int
    appends_per_key: int
    prefix: str = "tk"
    _active: list[str] = field(default_factory=list)
    _appends: dict[str, int] = field(default_factory=dict)
    _next_element: int = 0
    _serial: int = 0

    def __post_init__(self) -> None:
        if self.keys < 1 or self.appends_per_key < 1:
            raise ValueError("keys and appends_per_key must be >= 1")
        self._active = [self._fresh() for _ in range(self.keys)]

    def _fresh(self) -> str:
        self._serial += 1
        key = f"{self.prefix}{self._serial}"
        self._appends[key] = 0
        return key

    @property
    def touched(self) -> list[str]:
        """Every key handed out so far, in order."""
        return list(self._appends)

    def next_txn(self, rng: random.Random) -> list[list[Any]]:
        """The micro-ops of the next transaction (reads carry ``None``: not read yet)."""
        micro_ops: list[list[Any]] = []
        for _ in range(rng.randint(MIN_OPS, MAX_OPS)):
            slot = rng.randrange(len(self._active))
            key = self._active[slot]
            if rng.random() < READ_SHARE:
                micro_ops.append([READ, key, None])
                continue
            self._next_element += 1
            micro_ops.append([APPEND, key, self._next_element])
            self._appends[key] += 1
            if self._appends[key] >= self.appends_per_key:
                self._active[slot] = self._fresh()
        return micro_ops

    def next_op(self, rng: random.Random) -> PlannedOp:
        """The next transaction as the clients' planned operation (``f`` ``txn``)."""
        return PlannedOp("txn", None, self.next_txn(rng))

    def observe(self, key: str | None, value: object) -> None:
        """Nothing to learn from a read (appends need no expected value)."""

    def final_txns(self) -> list[list[list[Any]]]:
        """Read-only transactions that read every key touched, ``FINAL_READ_KEYS`` at a time."""
        keys = self.touched
        return [[[READ, key, None] for key in keys[at : at + FINAL_READ_KEYS]]
                for at in range(0, len(keys), FINAL_READ_KEYS)]
