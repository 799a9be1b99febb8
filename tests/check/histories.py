"""A compact way to write histories by hand in tests: one tuple per operation."""

from __future__ import annotations

from typing import Any, NamedTuple

from replikv.check.history import HistoryEvent


class Op(NamedTuple):
    process: int
    f: str
    key: str
    value: Any
    invoke: float
    complete: float | None  # None: no completion at all (counts as info)
    type: str = "ok"
    output: Any = None
    error: str | None = None


def W(p: int, key: str, value: Any, t0: float, t1: float | None, type: str = "ok") -> Op:
    return Op(p, "write", key, value, t0, t1, type, value if type == "ok" else None)


def R(p: int, key: str, output: Any, t0: float, t1: float | None, type: str = "ok") -> Op:
    return Op(p, "read", key, None, t0, t1, type, output)


def CAS(p: int, key: str, expected: Any, new: Any, t0: float, t1: float | None,
        type: str = "ok") -> Op:
    return Op(p, "cas", key, [expected, new], t0, t1, type)


def DEL(p: int, key: str, t0: float, t1: float | None, type: str = "ok") -> Op:
    return Op(p, "delete", key, None, t0, t1, type)


def INCR(p: int, key: str, delta: int, output: Any, t0: float, t1: float | None,
         type: str = "ok") -> Op:
    return Op(p, "incr", key, delta, t0, t1, type, output if type == "ok" else None)


def events(*ops: Op) -> list[HistoryEvent]:
    """The events of ``ops`` in time order (ties: the order given, invoke first)."""
    timed: list[tuple[float, int, HistoryEvent]] = []
    for n, op in enumerate(ops):
        timed.append((op.invoke, 2 * n, HistoryEvent(
            process=op.process, type="invoke", f=op.f, key=op.key, value=op.value,
            time=op.invoke)))
        if op.complete is not None:
            timed.append((op.complete, 2 * n + 1, HistoryEvent(
                process=op.process, type=op.type, f=op.f, key=op.key, value=op.output,
                time=op.complete, error=op.error)))
    timed.sort(key=lambda item: (item[0], item[1]))
    return [event for _, _, event in timed]
