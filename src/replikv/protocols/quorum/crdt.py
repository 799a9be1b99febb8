"""What each client command does to a key's state: registers and CRDTs on one dot store.

What may live here: pure functions from (command, the state the coordinator read, its
own state) to the new version it writes and the client's result. No I/O, no quorums.

Every value is a set of siblings under one causal context (``versions.py``), so the
three conflict-free types (Shapiro, Preguiça, Baquero, Zawirski, "Conflict-free
Replicated Data Types", SSS 2011) are write rules on the same merge:

- **register** (``SET``, ``DEL``, ``APPEND``, and ``INCRBY`` on a register): the write
  overwrites every dot it read; concurrent writes stay as siblings (a multi-value
  register); ``GET`` shows the newest (``resolution = "lww"`` drops the rest).
- **PN-counter** (with ``counters = "crdt"``: ``INCRBY``/``DECRBY``/``INCR``/``DECR`` on a
  new key or a counter; by default INCRBY is a register read-modify-write, as in Redis):
  each node owns one entry ``"P:N"`` (increments, decrements it coordinated); an
  increment at node n replaces only n's previous entry, so the merge of any states keeps
  every node's latest entry and the value is the sum of ``P - N``: no increment is lost
  whatever the order or duplication of messages (§3.1.2, the PN-Counter).
- **OR-set** (``SADD``, ``SREM``, ``SMEMBERS``): each add is a sibling with a fresh dot;
  a remove overwrites the dots of the element it observed, so an add concurrent with a
  remove survives (add wins; §3.3.5, the Observed-Remove Set).

A key's type is its newest sibling's kind (``versions.kind_of``); a key whose newest
sibling is a delete's tombstone is absent. Commands on the wrong type answer Redis's
``WRONGTYPE`` (definite: nothing written). ``SET`` and ``DEL`` overwrite any type.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from replikv.core.commands import Append, Delete, Get, Incr, SAdd, Set, Siblings, SMembers, SRem
from replikv.core.errors import BadRequest, Ok, Result, WrongType
from replikv.core.requests import Request
from replikv.protocols.quorum import versions as v

INT64 = 2**63
WRONGTYPE = WrongType()
_JSON = msgspec.json.Encoder()


@dataclass(frozen=True)
class Plan:
    """A write's outcome: the new version (None: nothing to write) and the client's
    result; ``dot`` is the write's highest new dot (what a ``PutAck`` names)."""

    delta: v.KeyState | None
    result: Result
    dot: v.Dot | None = None


# -- reading a state -------------------------------------------------------------------


def effective_kind(state: v.KeyState) -> str | None:
    top = v.winner(state)
    if top is None or (top.kind == v.REGISTER and top.value is None):
        return None
    return top.kind


def counter_total(state: v.KeyState) -> int:
    total = 0
    for sibling in state.siblings:
        if sibling.kind == v.COUNTER and sibling.value is not None:
            p, _, n = sibling.value.partition(":")
            total += int(p) - int(n)
    return total


def members(state: v.KeyState) -> list[str]:
    return sorted({s.value for s in state.siblings if s.kind == v.SET_ELEMENT and s.value is not None})


def stored_value(state: v.KeyState) -> str | None:
    """What the node's state machine holds for the key (digests compare it): the register
    value, the counter's decimal value, a set's sorted members as JSON; None when absent."""
    kind = effective_kind(state)
    if kind == v.REGISTER:
        return v.resolve(state)
    if kind == v.COUNTER:
        return str(counter_total(state))
    if kind == v.SET_ELEMENT:
        return _JSON.encode(members(state)).decode()
    return None


def read_result(request: Request, state: v.KeyState) -> Result:
    """The answer to a read (``GET``, ``SMEMBERS``, ``SIBLINGS``: a multi-value register's
    every concurrent value, newest first) from the merged state."""
    kind = effective_kind(state)
    if isinstance(request.command, SMembers):
        return Ok(members(state)) if kind in (None, v.SET_ELEMENT) else WRONGTYPE
    if isinstance(request.command, Siblings):
        if kind not in (None, v.REGISTER):
            return WRONGTYPE
        newest_first = sorted((s for s in state.siblings if s.kind == v.REGISTER and s.value is not None),
                              key=lambda s: (s.timestamp, s.dot), reverse=True)
        return Ok([s.value for s in newest_first])
    assert isinstance(request.command, Get)
    if kind == v.SET_ELEMENT:
        return WRONGTYPE
    return Ok(stored_value(state))


# -- writing ----------------------------------------------------------------------------


def plan(request: Request, seen: v.KeyState, local: v.KeyState, node: int, now: float,
         counters: bool = True) -> Plan:
    """The write ``request`` makes after reading ``seen`` (its coordinator ``node`` also
    holds ``local``), at time ``now``. ``counters``: INCRBY on a new key or a counter is a
    PN-counter increment (the ``counters = "crdt"`` option), else a register's
    read-modify-write."""
    merged = v.merge(seen, local)
    counter = max(seen.context.top(node), local.context.top(node))
    command = request.command
    kind = effective_kind(merged)

    def sibling(offset: int, value: str | None, kind: str) -> v.Sibling:
        return v.Sibling((node, counter + offset), value, now, request.client_id, request.seq, kind)

    match command:
        case Incr(by=by) if kind == v.COUNTER or (counters and kind is None):
            return _increment(merged, node, by, sibling)
        case SAdd(members=added):
            if kind not in (None, v.SET_ELEMENT):
                return Plan(None, WRONGTYPE)
            fresh = list(dict.fromkeys(added))
            observed = [s.dot for s in merged.siblings if s.kind == v.SET_ELEMENT and s.value in fresh]
            new = [sibling(i + 1, m, v.SET_ELEMENT) for i, m in enumerate(fresh)]
            present = set(members(merged))
            delta = v.write(v.context_of({}, set(observed)), *new)
            return Plan(delta, Ok(sum(1 for m in fresh if m not in present)), new[-1].dot)
        case SRem(members=removed):
            if kind not in (None, v.SET_ELEMENT):
                return Plan(None, WRONGTYPE)
            observed = [s.dot for s in merged.siblings if s.kind == v.SET_ELEMENT and s.value in removed]
            count = len(set(removed) & set(members(merged)))
            if not observed:
                return Plan(None, Ok(0))
            dot = (node, counter + 1)
            return Plan(v.write(v.context_of({}, set(observed)), dots=(dot,)), Ok(count), dot)
    if kind == v.SET_ELEMENT and not isinstance(command, Set | Delete):
        return Plan(None, WRONGTYPE)
    current = stored_value(merged) if kind != v.SET_ELEMENT else None
    value, result = _register(request, current)
    if value is _NOTHING:
        return Plan(None, result)
    new = msgspec.structs.replace(sibling(1, value, v.REGISTER), context=merged.context)  # type: ignore[arg-type]
    return Plan(v.write(merged.context, new), result, new.dot)


def _increment(merged: v.KeyState, node: int, by: int, sibling) -> Plan:
    own = v.winner(v.KeyState(merged.context, tuple(
        s for s in merged.siblings if s.kind == v.COUNTER and s.dot[0] == node)))
    p, n = (0, 0)
    if own is not None and own.value is not None:
        left, _, right = own.value.partition(":")
        p, n = int(left), int(right)
    total = counter_total(merged) + by
    if not -INT64 <= total < INT64:
        return Plan(None, BadRequest("increment or decrement would overflow"))
    p, n = (p + by, n) if by >= 0 else (p, n - by)
    new = sibling(1, f"{p}:{n}", v.COUNTER)
    replaced = v.context_of({}, {own.dot}) if own is not None else v.EMPTY_CONTEXT
    return Plan(v.write(replaced, new), Ok(total), new.dot)


_NOTHING = object()


def _register(request: Request, current: str | None) -> tuple[object, Result]:
    """(the value to write, or ``_NOTHING``; the client's result) of a register command
    applied to the value read (Redis semantics)."""
    command = request.command
    match command:
        case Set(value=value, only_if=only_if, return_old=return_old):
            if (only_if == "nx" and current is not None) or (only_if == "xx" and current is None):
                return _NOTHING, Ok(current if return_old else False)
            return value, Ok(current if return_old else True)
        case Delete():
            return None, Ok(1 if current is not None else 0)
        case Append(value=value):
            new = (current or "") + value
            return new, Ok(len(new))
        case Incr(by=by):
            try:
                number = int(current if current is not None else "0")
            except ValueError:
                return _NOTHING, BadRequest("value is not an integer or out of range")
            number += by
            if not -INT64 <= number < INT64:
                return _NOTHING, BadRequest("increment or decrement would overflow")
            return str(number), Ok(number)
    return _NOTHING, BadRequest(f"quorum does not run {type(command).__name__}")
