"""Late starts: the earliest time an operation of unknown outcome can matter.

What may live here: raising the invoke time of one key's ``info`` writes, cas and
deletes, from the known empty start, on a key without increments (``prune.prepare``
uses it). No search, no words.

An ``info`` operation may take effect at any time after its invoke, or never. Raising
its start to t keeps the verdict when every linearization that places it before t
stays a linearization with it left out (omitting an ``info`` operation is always
allowed, docs/history.md): then it "helps no one" before t. Three reasons, each proved
where it is computed:

* **absent until** (``null_until``): nothing can make the key absent again, and a read
  of null was invoked at t: the key held null until that read, so whatever took effect
  before it changed nothing;
* **only compare-failed cas can tell** its value x (no read returned x, no ``ok`` cas
  expects it, no ``info`` cas expects it): such a cas expecting e needs "not e", and
  before the first invoke of an operation leaving e the key cannot hold e, so placed
  there the operation satisfies no one that the key's own value did not;
* **only an unknown cas can use it** (an ``info`` cas c expecting x, itself raised to
  start s), besides such compare-failed cas: placed at p before s and before the first
  producer of what those cas expect, the key holds x from p until the next change; if
  that is not c, leave the operation out as above; if it is c (at q >= s), move the
  operation to just before c: the compare-failed cas in between see the value before
  p instead of x, which is not what they expect either. Either way a linearization
  with the operation no earlier than s (or without it) remains. Any start no later
  than a valid one is valid too: the one used is the latest invoke among the ``ok``
  operations that completed before s (``_Blockers``), which keeps a chain's links
  spread over time instead of all pending at once at s (measured: 2 to 5 times fewer
  search steps on the pb-sync histories of ``tests/check/data``).

Each raise holds in the history with the raises made before it, so the fixed point
keeps the verdict.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

from replikv.check.history import Operation
from replikv.check.register import canon, result_of


def null_until(ops: Sequence[Operation], skip: set[int]) -> float:
    """When no operation outside ``skip`` can make the key absent (no delete, no cas or
    write to null): the latest invoke of a certain observer of null (an ``ok`` read of
    null, an ``ok`` cas expecting null), else ``-inf``. The key is absent from the
    start until that observer took effect, so any operation placed before it left the
    key absent: an ``info`` one changed nothing there and may as well be left out."""
    for position, op in enumerate(ops):
        if position not in skip and op.type != "fail" and op.f != "read" \
                and result_of(op) == (True, None):
            return -math.inf  # a way back to absent
    latest = -math.inf
    for position, op in enumerate(ops):
        if position in skip or op.type != "ok":
            continue
        if (op.f == "read" and canon(op.output) is None) or (
                op.f == "cas" and canon(op.value[0]) is None):
            latest = max(latest, op.invoke_time)
    return latest


class _Blockers:
    """The ``ok`` operations of a key; ``before(t)`` is the latest invoke among those
    that completed before t (never later than t)."""

    def __init__(self, ops: Sequence[Operation], skip: set[int]) -> None:
        done = sorted((op.complete_time, op.invoke_time) for position, op in enumerate(ops)
                      if position not in skip and op.type == "ok")
        self._ends = [end for end, _ in done]
        self._latest: list[float] = []
        for _, call in done:
            self._latest.append(max(call, self._latest[-1] if self._latest else -math.inf))

    def before(self, t: float) -> float:
        k = bisect.bisect_left(self._ends, t)
        return self._latest[k - 1] if k else -math.inf


def late_starts(ops: Sequence[Operation], skip: set[int], *, seen: set,
                mismatch_expects: set, first_made: dict) -> dict[int, float]:
    """Per ``info`` write, cas or delete outside ``skip``: its start, raised (module
    docstring). ``seen``: values some read returned or some ``ok`` cas expects;
    ``mismatch_expects``: what the compare-failed cas left in expected; ``first_made``:
    value -> earliest invoke of an operation that leaves it."""
    info = [position for position, op in enumerate(ops) if position not in skip
            and op.type == "info" and op.f in ("write", "cas", "delete")]
    absent = null_until(ops, skip)
    start = {position: max(ops[position].invoke_time, absent) for position in info}
    users: dict = {}  # value -> info cas expecting it
    for position in info:
        if ops[position].f == "cas":
            users.setdefault(canon(ops[position].value[0]), []).append(position)
    blockers = _Blockers(ops, skip)
    changed = True
    while changed:
        changed = False
        for position in info:
            value = result_of(ops[position])[1]
            raised = _first_use(value, seen, mismatch_expects, first_made,
                                [blockers.before(start[c]) for c in users.get(value, ())])
            if raised > start[position]:
                start[position], changed = raised, True
    return start


def _first_use(value, seen: set, mismatch_expects: set, first_made: dict,
               via_cas: list[float]) -> float:
    """The earliest time a producer of ``value`` may help anyone: ``-inf`` when a read
    or an ``ok`` cas can see it, or some compare-failed cas expects null (the start)."""
    if value in seen:
        return -math.inf
    needs = [expected for expected in mismatch_expects if expected != value]
    if any(expected is None for expected in needs):
        return -math.inf
    return min([first_made.get(expected, math.inf) for expected in needs] + via_cas,
               default=math.inf)

