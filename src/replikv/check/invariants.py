"""Invariants cheaper and blunter than a consistency model: lost acknowledged writes,
certainly stale reads, diverged replicas.

What may live here: checks over a paired history (and a final state or replica
digests) that need no search.

The rule that makes them decidable: **every value is written at most once per key**
(each write and each cas writes a value no other write or cas on that key writes).
The workloads guarantee it. Then a value names the operation that produced it: the
*producers* of a value v are the operations (``ok`` or ``info``; never ``fail``) whose
effect leaves v: a write of v, a cas to v, an ``ok`` incr that returned v, an ``info``
incr (its result is unknown, so any integer), or, for "absent", a delete (and the empty
initial state). Increments break uniqueness only in the lenient direction (more
producers, fewer reports), so every report below is certain under the rule.

One more fact: an operation takes effect between its invoke and its completion
(``info``: any time after its invoke). So "p completed before w was invoked" means p
took effect before w did.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from replikv.check.history import HistoryEvent, Operation
from replikv.check.linearizability import by_key, operations_of
from replikv.check.register import as_int, canon, describe, result_of, show_value


class LostWrite(msgspec.Struct, frozen=True, kw_only=True):
    """``kind`` is ``"lost"`` (``op``, acknowledged, has no trace in the final value)
    or ``"corrupt"`` (the final value was never written; ``op`` is ``None``)."""

    key: str
    kind: str
    op: Operation | None
    final: Any
    reason: str


class StaleRead(msgspec.Struct, frozen=True, kw_only=True):
    """``read`` returned a value produced only before ``missed`` (an acknowledged
    mutation that completed before the read was invoked)."""

    key: str
    read: Operation
    missed: Operation
    reason: str


def _producers(ops: Iterable[Operation], value: str | None) -> list[Operation]:
    """Operations whose effect may leave ``value`` (see the module docstring)."""
    found = []
    for op in ops:
        if op.type == "fail" or op.f == "read":
            continue
        known, result = result_of(op)
        if (known and result == value) or (
                not known and op.f == "incr" and value is not None and as_int(value) is not None):
            found.append(op)
    return found


def _latest_effect(producers: list[Operation]) -> float:
    """When the last producer certainly took effect: "every producer took effect before
    w" is ``latest < w.invoke_time`` (a producer never precedes itself, so w is never
    lost to its own value). No producer: ``-inf`` (only the initial state)."""
    return max((p.complete_time for p in producers), default=float("-inf"))


def _before(first: Operation, second: Operation) -> bool:
    """``first`` certainly took effect before ``second``."""
    return first.complete_time < second.invoke_time


def lost_acked_writes(history: Iterable[HistoryEvent] | Iterable[Operation],
                      final_state: Mapping[str, Any]) -> list[LostWrite]:
    """Acknowledged mutations whose effect is absent from ``final_state``.

    For each key in the history (a key missing from ``final_state`` is absent), with
    ``final`` its final value and w an ``ok`` write, cas, incr or delete on it:

    * ``final`` was never produced by any operation (and is not "absent") -> one
      ``corrupt`` report for the key;
    * otherwise w is lost when every producer of ``final`` other than w took effect
      before w did (completed before w was invoked): the last operation to touch the
      key came before w, so w never took effect or was undone. When ``final`` is
      absent, the producers are the deletes (plus the empty initial state, which
      precedes everything): a write is lost unless some delete could have come after it.
    """
    reports: list[LostWrite] = []
    for key, ops in by_key(operations_of(history)).items():
        final = canon(final_state.get(key))
        producers = _producers(ops, final)
        if final is not None and not producers:
            reports.append(LostWrite(
                key=key, kind="corrupt", op=None, final=final_state.get(key),
                reason=f"the final value {show_value(final)} of key {key!r} was never written"))
            continue
        latest = _latest_effect(producers)
        for w in ops:
            if w.type == "ok" and w.f != "read" and latest < w.invoke_time:
                last = "the key is absent and no delete may have followed it" if final is None \
                    else f"the final value {show_value(final)} was written before it was invoked"
                reports.append(LostWrite(key=key, kind="lost", op=w, final=final_state.get(key),
                                         reason=f"acknowledged {describe(w)} is lost: {last}"))
    return reports


def stale_reads(history: Iterable[HistoryEvent] | Iterable[Operation]) -> list[StaleRead]:
    """Reads that certainly missed an acknowledged mutation.

    A read r (``ok``) returning v is stale when some ``ok`` mutation w, with a result
    other than v, completed before r was invoked, and every producer of v took effect
    before w (completed before w was invoked; the empty initial state counts as a
    producer of "absent" that precedes everything). Then w came after v's producer and
    before r, so r should have seen w or something later. A value never written is not
    reported here (the linearizability check reports it).
    """
    found: list[StaleRead] = []
    for key, ops in by_key(operations_of(history)).items():
        mutations = [op for op in ops if op.type == "ok" and op.f != "read"]
        for r in ops:
            if r.f != "read" or r.type != "ok":
                continue
            value = canon(r.output)
            producers = _producers(ops, value)
            if value is not None and not producers:
                continue
            latest = _latest_effect(producers)
            missed = [w for w in mutations if _before(w, r) and latest < w.invoke_time]
            if missed:
                w = max(missed, key=lambda op: (op.complete_time, op.index))
                found.append(StaleRead(key=key, read=r, missed=w, reason=(
                    f"{describe(r)} missed {describe(w)}, which completed before the read "
                    f"was invoked, after every operation that could have left "
                    f"{show_value(value)} in {key!r}")))
    return found


def digest_groups(digests: Mapping[int, str]) -> list[list[int]]:
    """Nodes grouped by digest: biggest group first, ties broken by lowest node id."""
    groups: dict[str, list[int]] = {}
    for node in sorted(digests):
        groups.setdefault(digests[node], []).append(node)
    return sorted(groups.values(), key=lambda nodes: (-len(nodes), nodes[0]))


def divergent(digests: Mapping[int, str]) -> bool:
    """Do the replicas' state digests differ?"""
    return len(set(digests.values())) > 1


def divergent_nodes(digests: Mapping[int, str]) -> list[int]:
    """Nodes outside the biggest group of agreeing replicas (sorted)."""
    groups = digest_groups(digests)
    return sorted(node for group in groups[1:] for node in group)


def describe_divergence(digests: Mapping[int, str]) -> str:
    """One line: which nodes agree with which."""
    groups = digest_groups(digests)
    if len(groups) <= 1:
        return f"all {len(digests)} replicas agree"
    parts = [f"nodes {', '.join(map(str, g))} have digest {digests[g[0]][:12]}" for g in groups]
    return "replicas diverged: " + "; ".join(parts)
