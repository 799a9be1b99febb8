"""Shrinking the search before it starts: operations of unknown outcome.

What may live here: rewrites of one key's operations that keep the answer exactly the
same ("linearizable or not") while making the search smaller. Search and words live
elsewhere.

An ``info`` operation may take effect at any time after its invoke, or never, so it
stays a candidate at every step of the search: with k of them pending, the search may
visit 2^k times more states. On a key with no increments (an increment can build on
any integer, which defeats the reasoning below), take an ``info`` write, cas or delete
that would leave value x (null for a delete). Its *observers* are the ``ok`` reads that
returned x and the ``ok`` cas that expected x.

* **Horizon.** Once every observer has completed, taking effect is the same as never
  taking effect: while the key holds x only observers, overwrites and cas that do not
  swap are legal. So the operation gets a finite horizon, the latest completion of an
  observer (``-inf`` when there is none: it is dropped), and at its horizon the search
  decides "never" (``search.py``). Not when some ``info`` cas expects x (that one may
  observe x at any time): then the horizon stays infinite.
* **Forced.** When the operation is the only one that produces x (a write or cas;
  values are unique in the workloads) and x was observed, every linearization contains
  it, before the earliest observer completes: it becomes a certain operation with
  interval ``[invoke, earliest observer's completion]``. Only from the known empty
  start: a window checked from an unknown value might have held x already.

A cas whose comparison failed (``history.observed_mismatch``) observed "anything but
its ``expected``": it observes x whenever it expected something else, so for the
horizon it counts as an observer of every value but its ``expected`` (a late x could
be what it saw). It is not an observer for *forcing* (it did not see x in particular).

Other ``info`` operations keep an infinite horizon.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec

from replikv.check.history import Operation
from replikv.check.register import canon, compile_op, is_certain, result_of


class Prepared(msgspec.Struct, frozen=True):
    """Search input for one key: parallel arrays and, for each entry, the position of
    the operation it came from."""

    calls: list[float]
    returns: list[float]
    compiled: list[tuple]
    certain: list[bool]
    origin: list[int]


class _Mismatches:
    """The compare-failed cas of a key: the latest completion among those that did not
    expect a given value (each observed "anything but its expected")."""

    def __init__(self) -> None:
        self._latest: dict[str | None, float] = {}  # expected -> latest completion

    def add(self, expected: str | None, complete: float) -> None:
        self._latest[expected] = max(self._latest.get(expected, -math.inf), complete)

    def latest_not_expecting(self, value: str | None) -> float:
        return max((t for e, t in self._latest.items() if e != value), default=-math.inf)


def _observations(ops: Sequence[Operation]) -> tuple[dict, dict, dict, set, _Mismatches]:
    """Per value: the earliest and the latest completion of an observer; how many
    operations produce it; the values some ``info`` cas expects; the compare-failed
    cas."""
    first_seen: dict[str | None, float] = {}
    last_seen: dict[str | None, float] = {}
    producers: dict[str | None, int] = {}
    info_expects: set[str | None] = set()
    mismatches = _Mismatches()
    for op in ops:
        seen = None
        if op.type == "fail":
            if is_certain(op):  # compare-failed cas: observed "not expected"
                mismatches.add(canon(op.value[0]), op.complete_time)
            continue
        if op.f == "read" and op.type == "ok":
            seen = (canon(op.output),)
        elif op.f == "cas":
            if op.type == "ok":
                seen = (canon(op.value[0]),)
            else:
                info_expects.add(canon(op.value[0]))
        if seen is not None:
            (value,) = seen
            first_seen[value] = min(first_seen.get(value, op.complete_time), op.complete_time)
            last_seen[value] = max(last_seen.get(value, op.complete_time), op.complete_time)
        known, result = result_of(op)
        if known and op.f != "read":
            producers[result] = producers.get(result, 0) + 1
    return first_seen, last_seen, producers, info_expects, mismatches


def prepare(ops: Sequence[Operation], *, known_start: bool = True) -> Prepared:
    """The search input for one key's relevant operations (no ``fail`` but
    compare-failed cas, no info read).

    For an uncertain entry, ``returns`` holds its horizon (see the module docstring).
    """
    out = Prepared([], [], [], [], [])
    settle = not any(op.f == "incr" for op in ops)
    first_seen, last_seen, producers, info_expects, mismatches = _observations(ops)
    for position, op in enumerate(ops):
        call, ret, certain = op.invoke_time, op.complete_time, is_certain(op)
        compiled = compile_op(op)
        if settle and not certain and op.f in ("write", "cas", "delete"):
            value = result_of(op)[1]
            if (known_start and op.f != "delete" and producers.get(value) == 1
                    and value in first_seen):
                ret, certain = first_seen[value], True
                if op.f == "cas":
                    compiled = compile_op(msgspec.structs.replace(op, type="ok"))
            elif value not in info_expects:
                ret = max(last_seen.get(value, -math.inf),
                          mismatches.latest_not_expecting(value))
                if ret < call:
                    continue  # nobody can see it: as if it never happened
        out.calls.append(call)
        out.returns.append(ret)
        out.compiled.append(compiled)
        out.certain.append(certain)
        out.origin.append(position)
    return out
