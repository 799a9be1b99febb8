"""Hand-built transaction histories: one tuple per transaction (list-append micro-ops)."""

from __future__ import annotations

from typing import Any, NamedTuple

from replikv.check.history import HistoryEvent


class Txn(NamedTuple):
    process: int
    mops: list[tuple[str, str, Any]]  # reads with what they returned
    invoke: float
    complete: float | None  # None: no completion (counts as info)
    type: str = "ok"


def T(p: int, *mops: tuple[str, str, Any], t0: float = 0.0, t1: float | None = 10.0,
      type: str = "ok") -> Txn:
    return Txn(p, list(mops), t0, t1, type)


def a(key: str, element: Any) -> tuple[str, str, Any]:
    return ("append", key, element)


def r(key: str, read: Any) -> tuple[str, str, Any]:
    return ("r", key, read)


def txn_events(*txns: Txn) -> list[HistoryEvent]:
    """The events in time order (ties: the order given, invokes first)."""
    timed: list[tuple[float, int, HistoryEvent]] = []
    for n, t in enumerate(txns):
        asked = [[f, k, None if f == "r" else v] for f, k, v in t.mops]
        timed.append((t.invoke, 2 * n, HistoryEvent(
            process=t.process, type="invoke", f="txn", value=asked, time=t.invoke)))
        if t.complete is not None:
            value = [list(m) for m in t.mops] if t.type == "ok" else None
            timed.append((t.complete, 2 * n + 1, HistoryEvent(
                process=t.process, type=t.type, f="txn", value=value, time=t.complete)))
    timed.sort(key=lambda item: (item[0], item[1] % 2 == 0, item[1]))
    return [event for _, _, event in timed]
