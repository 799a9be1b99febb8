"""Which operation could have left a value, and reads that certainly missed a write.

What may live here: the *producer* reasoning shared by the invariants and by the
linearizability checker's quick pre-check. No search.

The producers of a value v on a key are the operations (``ok`` or ``info``; never
``fail``) whose effect may leave v: a write of v, a cas to v, an ``ok`` incr that
returned v, an ``info`` incr (its result is unknown: any integer), a delete (for
"absent"), plus the empty initial state (for "absent"), which precedes everything. An
operation takes effect between its invoke and its completion (``info``: any time after
its invoke), so a producer that completed before w was invoked took effect before w.

A read r that returned v is **certainly stale** when some ``ok`` mutation w completed
before r was invoked and was invoked after every producer of v completed: w came after
whatever left v and before r, and w does not leave v (else it would be a producer), so
no linearization lets r return v. Values need not be unique for this to be certain;
uniqueness (the workloads' rule) makes it catch more.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from replikv.check.history import Operation
from replikv.check.register import as_int, canon, result_of

NEVER = None  # "no operation produces this value"


class Producers:
    """For one key: when the last possible producer of each value took effect."""

    def __init__(self, ops: Sequence[Operation]) -> None:
        self._latest: dict[str | None, float] = {None: float("-inf")}  # the initial state
        self._any_integer = float("-inf")  # latest info incr (can leave any integer)
        for op in ops:
            if op.type == "fail" or op.f == "read":
                continue
            known, result = result_of(op)
            if known:
                self._latest[result] = max(self._latest.get(result, float("-inf")),
                                           op.complete_time)
            elif op.f == "incr":
                self._any_integer = max(self._any_integer, op.complete_time)

    def latest(self, value: str | None) -> float | None:
        """When the last producer of ``value`` took effect at the latest (``-inf``: only
        the initial state); ``None`` when nothing produces it."""
        found = self._latest.get(value)
        if value is not None and as_int(value) is not None and self._any_integer > float("-inf"):
            found = max(found, self._any_integer) if found is not None else self._any_integer
        return found

    def of(self, ops: Sequence[Operation], value: str | None) -> list[Operation]:
        """The operations that may produce ``value``."""
        found = []
        for op in ops:
            if op.type == "fail" or op.f == "read":
                continue
            known, result = result_of(op)
            if (known and result == value) or (
                    not known and op.f == "incr" and value is not None
                    and as_int(value) is not None):
                found.append(op)
        return found


def certainly_stale(ops: Sequence[Operation]) -> list[tuple[Operation, Operation]]:
    """``(read, missed)`` for each certainly stale read of one key (module docstring);
    ``missed`` is the latest-completing such mutation. Reads of a value nothing
    produces are left to :func:`never_written`."""
    producers = Producers(ops)
    acked = sorted((op for op in ops if op.type == "ok" and op.f != "read"),
                   key=lambda op: op.invoke_time)
    invokes = [op.invoke_time for op in acked]
    earliest_end = [float("inf")] * (len(acked) + 1)  # min completion among acked[i:]
    for i in range(len(acked) - 1, -1, -1):
        earliest_end[i] = min(earliest_end[i + 1], acked[i].complete_time)
    found = []
    for read in ops:
        if read.f != "read" or read.type != "ok":
            continue
        latest = producers.latest(canon(read.output))
        if latest is None:
            continue
        start = bisect.bisect_right(invokes, latest)  # acked mutations invoked after it
        if earliest_end[start] < read.invoke_time:
            missed = max((w for w in acked[start:] if w.complete_time < read.invoke_time),
                         key=lambda w: (w.complete_time, w.index))
            found.append((read, missed))
    return found


def never_written(ops: Sequence[Operation]) -> list[Operation]:
    """``ok`` reads of one key that returned a value no operation produces."""
    producers = Producers(ops)
    return [op for op in ops if op.f == "read" and op.type == "ok"
            and producers.latest(canon(op.output)) is None]
