"""Transactions as the checker sees them, and words for them.

What may live here: the per-transaction record the other modules share (``Txn``), the
record of one anomaly found (``Anomaly``), and how both read to a person. No checking.
"""

from __future__ import annotations

import msgspec

from replikv.check.history import Operation, timing
from replikv.check.txn.ops import APPEND, READ, MicroOp, element, elements

WW, WR, RW, RT = 1, 2, 4, 8
"""Edge kinds, as bits (an edge between two transactions may have several)."""
KIND_NAMES = {WW: "ww", WR: "wr", RW: "rw", RT: "realtime"}
PREFERENCE = (WW, WR, RT, RW)
"""When a pair of transactions has several edge kinds, a cycle is named by the weakest
(a ww edge makes a weaker claim than a wr, and so on), so its name is the least anomaly
it proves."""


class Txn:
    """One transaction: ``id`` its position in the checker's list, ``name`` ``T`` and
    its operation index, ``mops`` its micro-ops (with reads filled in when it
    committed), elements in canonical form (``ops.element``: ints when every append of
    the history is an int, else text)."""

    __slots__ = ("id", "op", "mops", "committed", "failed")

    def __init__(self, op: Operation, position: int, ints: bool) -> None:
        self.id = position
        self.op = op
        self.committed = op.type == "ok"
        self.failed = op.type == "fail"
        raw: tuple[MicroOp, ...] = op.output if self.committed else op.value
        self.mops = tuple(
            (APPEND, key, element(arg, ints)) if kind == APPEND else
            (READ, key, elements(arg, ints) if arg is not None else None)
            for kind, key, arg in raw)

    @property
    def name(self) -> str:
        return f"T{self.op.index}"


class Anomaly(msgspec.Struct, frozen=True, kw_only=True):
    """One anomaly: its ``name`` (Adya's or Elle's), the transactions and keys it is
    about, and its proof in words (``lines``). ``cycle`` names the edges of a cycle,
    ``(from, kind, to)``, for the cycle anomalies."""

    name: str
    txns: tuple[int, ...]
    keys: tuple[str, ...]
    lines: tuple[str, ...]
    cycle: tuple[tuple[int, str, int], ...] = ()


def describe(txn: Txn) -> str:
    """``T12 (process 3): append x 4, r y [1, 2]  [invoked 10 ms, ok at 12 ms]``."""
    return f"{txn.name} (process {txn.op.process}): {show_mops(txn.mops)}  [{timing(txn.op)}]"


def show_mops(mops: tuple[MicroOp, ...]) -> str:
    """``append x 3, r y [1, 2]`` (long reads by their tail; an unread read: ``r y``)."""
    parts = []
    for kind, key, arg in mops:
        if kind == APPEND:
            parts.append(f"append {key} {arg}")
        else:
            parts.append(f"r {key}" if arg is None else f"r {key} {show_list(arg)}")
    return ", ".join(parts)


def show_list(values: tuple, limit: int = 6) -> str:
    """A read list, its tail when long: ``[1, 2, 3]`` or ``[..., 7, 8, 9]``."""
    if len(values) <= limit:
        return "[" + ", ".join(map(str, values)) + "]"
    return "[..., " + ", ".join(map(str, values[-limit:])) + "]"
