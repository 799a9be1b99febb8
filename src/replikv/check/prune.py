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
  decides "never" (``search.py``). When an ``info`` cas expects x and would leave y,
  the horizon is at least y's (``_value_horizons``): that cas is itself decided
  "never" at y's horizon. Proof that no verdict changes: take a linearization and the
  *last* operation in it placed after its horizon; the key holds x from there until
  the next change, and nothing in between can tell x (observers have completed, a cas
  expecting x swapping there would be placed after its own horizon too, against the
  choice of the last one), so leaving it out (and the unknown cas that did nothing in
  between) leaves a linearization; repeat.
* **Forced.** When the operation is the only one that produces x (a write or cas;
  values are unique in the workloads) and x was observed, every linearization contains
  it, before the earliest observer completes: it becomes a certain operation with
  interval ``[invoke, earliest observer's completion]``. Only from the known empty
  start: a window checked from an unknown value might have held x already.

Other ``info`` operations keep an infinite horizon. An ``info`` operation may also be
taken to start later than its invoke, when it can help no one before (``starts.py``).

**To a fixed point** (``_left_out``): leaving an operation out can only take away an
observer (an ``info`` cas expecting a value, a compare-failed cas) or a producer (of
what a compare-failed cas expects, which may make that cas trivial below), so the
drops are repeated until nothing changes. Each drop keeps the verdict of what is left
(omitting an ``info`` operation is always allowed, and one that nobody can see cannot
be the only explanation of any observation), so the whole chain does.

A cas whose comparison failed (``history.observed_mismatch``) observed "anything but
its ``expected``": it observes x whenever it expected something else, so for the
horizon it counts as an observer of every value but its ``expected`` (a late x could
be what it saw). It is not an observer for *forcing* (it did not see x in particular).
That makes it expensive: each unknown write it "observes" stays pending until the cas
completes, and k of them cost the search their 2^k subsets. Three more rewrites keep
such a cas as cheap as a read:

* **Witnessed.** When an ``ok`` operation whose interval lies inside the cas's saw a
  value other than ``expected`` (a read's output, a write's value, a cas's expected or
  new value, an incr's sum), the cas is dropped: put it right next to that operation,
  where the key holds that value, and every real-time order the witness keeps, the cas
  keeps. It observes nothing for the horizon either.
* **Nothing to differ from.** From the known empty start, on a key without
  increments, a cas expecting a value no operation writes (and not null, the start)
  is legal in every state the key can reach: dropped likewise.
* **Unobserved values are alike.** On a key without increments the register model
  only compares the key's value with values operations observe (a read's output, a
  cas's ``expected``). Every other value but null is replaced by the one state
  ``register.UNOBSERVED``: each step is legal, and leads to the same state after the
  replacement, exactly when it did before, so the verdict is the same; and writes of
  such values become look-alikes, tried one at a time (``search.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec

from replikv.check.history import Operation, observed_mismatch
from replikv.check.register import (
    CAS_INFO,
    CAS_OK,
    UNOBSERVED,
    WRITE,
    canon,
    compile_op,
    is_certain,
    result_of,
)
from replikv.check.starts import late_starts


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

    def expected(self) -> set[str | None]:
        return set(self._latest)


class _Observations(msgspec.Struct):
    """What one key's operations tell about its values (see ``_observations``)."""

    first_seen: dict          # value -> earliest completion of an observer
    last_seen: dict           # value -> latest completion of an observer
    producers: dict           # value -> how many operations leave it
    info_expects: set         # values some info cas expects
    mismatches: _Mismatches   # the compare-failed cas that can fail
    observed: set             # every value some operation compares the key with
    swaps: dict               # value -> values info cas expecting it would leave
    first_made: dict          # value -> earliest invoke of an operation that leaves it
    horizon: dict             # value -> its horizon (``_value_horizons``)


def _observations(ops: Sequence[Operation], skip: set[int]) -> _Observations:
    """Per value: the earliest and the latest completion of an observer; how many
    operations produce it; the values some ``info`` cas expects; the compare-failed
    cas; every value compared with. Operations at positions in ``skip`` (left out)
    count for nothing."""
    seen_by = _Observations({}, {}, {}, set(), _Mismatches(), set(), {}, {}, {})
    for position, op in enumerate(ops):
        if position in skip:
            continue
        seen = None
        if op.type == "fail":
            if is_certain(op):  # observed "not expected"
                seen_by.mismatches.add(canon(op.value[0]), op.complete_time)
            continue
        if op.f == "read" and op.type == "ok":
            seen = (canon(op.output),)
        elif op.f == "cas":
            if op.type == "ok":
                seen = (canon(op.value[0]),)
            else:
                seen_by.info_expects.add(canon(op.value[0]))
                seen_by.swaps.setdefault(canon(op.value[0]), set()).add(canon(op.value[1]))
        if seen is not None:
            (value,) = seen
            first, last = seen_by.first_seen, seen_by.last_seen
            first[value] = min(first.get(value, op.complete_time), op.complete_time)
            last[value] = max(last.get(value, op.complete_time), op.complete_time)
        known, result = result_of(op)
        if known and op.f != "read":
            seen_by.producers[result] = seen_by.producers.get(result, 0) + 1
            seen_by.first_made[result] = min(seen_by.first_made.get(result, math.inf),
                                             op.invoke_time)
    seen_by.observed = (set(seen_by.first_seen) | seen_by.info_expects
                        | seen_by.mismatches.expected())
    seen_by.horizon = _value_horizons(seen_by)
    return seen_by


def _value_horizons(seen_by: _Observations) -> dict:
    """Per value x some operation leaves: the last time an operation leaving x may
    usefully take effect. At least the latest completion of an observer of x (a read
    of x, an ``ok`` cas expecting x, a compare-failed cas expecting something else),
    and at least the horizon of every value an ``info`` cas expecting x leaves (it may
    swap x for that value up to that value's horizon): the least such map, found by
    raising values along the swaps until nothing changes."""
    horizon = {value: max(seen_by.last_seen.get(value, -math.inf),
                          seen_by.mismatches.latest_not_expecting(value))
               for value in set(seen_by.producers) | set(seen_by.swaps)}
    for targets in seen_by.swaps.values():
        for value in targets:
            horizon.setdefault(value, max(seen_by.last_seen.get(value, -math.inf),
                                          seen_by.mismatches.latest_not_expecting(value)))
    changed = True
    while changed:
        changed = False
        for expected, targets in seen_by.swaps.items():
            highest = max(horizon[value] for value in targets)
            if highest > horizon[expected]:
                horizon[expected], changed = highest, True
    return horizon


def _values_at(op: Operation) -> tuple[str | None, ...]:
    """Values the key certainly held at the linearization point of an ``ok`` operation
    (just before or just after it); none for any other operation."""
    if op.type != "ok":
        return ()
    match op.f:
        case "read":
            return (canon(op.output),)
        case "write":
            return (canon(op.value),)
        case "delete":
            return (None,)
        case "cas":
            return (canon(op.value[0]), canon(op.value[1]))
        case "incr":
            return (canon(op.output),) if op.output is not None else ()
    return ()


def _witnessed(ops: Sequence[Operation]) -> set[int]:
    """Positions of the compare-failed cas that an ``ok`` operation inside their
    interval saw differ (``_values_at``): put the cas right next to it, where the key
    holds a value other than ``expected``, and every real-time order the witness keeps,
    the cas keeps. Leaving them out keeps the verdict."""
    witnessed: set[int] = set()
    for position, op in enumerate(ops):
        if not observed_mismatch(op):
            continue
        expected = canon(op.value[0])
        for other in ops:
            if (op.invoke_time <= other.invoke_time and other.complete_time <= op.complete_time
                    and any(v != expected for v in _values_at(other))):
                witnessed.add(position)
                break
    return witnessed


def _unproducible(ops: Sequence[Operation], skip: set[int]) -> set[int]:
    """Positions of the compare-failed cas (not in ``skip``) expecting a value that no
    operation outside ``skip`` writes, and not null: from the known empty start, on a
    key without increments, the key never holds it, so the cas is legal wherever it
    lands and changes nothing."""
    produced = {result_of(op)[1] for position, op in enumerate(ops)
                if position not in skip and op.type != "fail" and op.f != "read"
                and result_of(op)[0]}
    return {position for position, op in enumerate(ops)
            if position not in skip and observed_mismatch(op)
            and canon(op.value[0]) is not None and canon(op.value[0]) not in produced}


def _horizon(op: Operation, seen_by: _Observations) -> float:
    """The last time anyone may tell that the ``info`` write, cas or delete ``op``
    took effect (``_value_horizons``)."""
    return seen_by.horizon[result_of(op)[1]]


def _starts(ops: Sequence[Operation], gone: set[int], seen_by: _Observations,
            known_start: bool) -> dict[int, float]:
    """Per ``info`` write, cas or delete not in ``gone``: the earliest time it may
    matter (``starts.late_starts`` from the known start, else its invoke)."""
    if not known_start:
        return {position: op.invoke_time for position, op in enumerate(ops)
                if position not in gone and op.type == "info"}
    return late_starts(ops, gone, seen=set(seen_by.first_seen),
                       mismatch_expects=seen_by.mismatches.expected(),
                       first_made=seen_by.first_made)


def _left_out(ops: Sequence[Operation], known_start: bool) -> set[int]:
    """Positions of operations that can be left out with the verdict kept, on a key
    without increments: witnessed and unproducible compare-failed cas (above), and
    ``info`` writes, cas and deletes that nobody can see (horizon before their
    invoke, the module docstring), to a fixed point: leaving one out takes away an
    observer (a compare-failed cas, an ``info`` cas expecting a value) or a producer
    (of a value some compare-failed cas expects), so others may follow. Each removal
    keeps the verdict of what is left, so the whole chain does."""
    gone = _witnessed(ops)
    info = [position for position, op in enumerate(ops)
            if op.type == "info" and op.f in ("write", "cas", "delete")]
    while True:
        if known_start:
            gone |= _unproducible(ops, gone)
        seen_by = _observations(ops, gone)
        start = _starts(ops, gone, seen_by, known_start)
        unseen = {position for position in info if position not in gone
                  and _horizon(ops[position], seen_by) < start[position]}
        if not unseen:
            return gone
        gone |= unseen


def _blur(compiled: tuple, observed: set) -> tuple:
    """``compiled`` with the value it leaves replaced by ``UNOBSERVED`` when no
    operation compares the key with that value (write and cas; null stays)."""
    kind, a, b = compiled
    if kind == WRITE and a is not None and a not in observed:
        return (kind, UNOBSERVED, b)
    if kind in (CAS_OK, CAS_INFO) and b is not None and b not in observed:
        return (kind, a, UNOBSERVED)
    return compiled


def prepare(ops: Sequence[Operation], *, known_start: bool = True) -> Prepared:
    """The search input for one key's relevant operations (no ``fail`` but
    compare-failed cas, no info read).

    For an uncertain entry, ``returns`` holds its horizon (see the module docstring).
    """
    out = Prepared([], [], [], [], [])
    settle = not any(op.f == "incr" for op in ops)
    gone = _left_out(ops, known_start) if settle else _witnessed(ops)
    seen_by = _observations(ops, gone)
    start = _starts(ops, gone, seen_by, known_start) if settle else {}
    for position, op in enumerate(ops):
        if position in gone:
            continue  # it can be left out: see _left_out
        call, ret, certain = op.invoke_time, op.complete_time, is_certain(op)
        if not certain and position in start:
            call = start[position]  # no earlier than it may matter: see starts.py
        compiled = compile_op(op)
        if settle and not certain and op.f in ("write", "cas", "delete"):
            value = result_of(op)[1]
            if (known_start and op.f != "delete" and seen_by.producers.get(value) == 1
                    and value in seen_by.first_seen):
                ret, certain = seen_by.first_seen[value], True
                if op.f == "cas":
                    compiled = compile_op(msgspec.structs.replace(op, type="ok"))
            else:
                ret = _horizon(op, seen_by)
                assert ret >= call, "an info operation nobody can see was left out"
        if settle:
            compiled = _blur(compiled, seen_by.observed)
        out.calls.append(call)
        out.returns.append(ret)
        out.compiled.append(compiled)
        out.certain.append(certain)
        out.origin.append(position)
    return out
