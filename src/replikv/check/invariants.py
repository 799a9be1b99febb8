"""Invariants cheaper and blunter than a consistency model: lost acknowledged writes,
certainly stale reads, diverged replicas.

What may live here: checks over a paired history (and a final state or replica
digests) that need no search. The reasoning about which operations may have produced
a value is in ``staleness`` (its docstring states the rule).

The rule that makes them sharp: **every value is written at most once per key** (each
write and each cas writes a value no other write or cas on that key writes); the
workloads guarantee it. Every report below is certain even without it (a repeated
value only adds producers, so fewer reports); with it, a value names the one
operation that produced it and losses cannot hide behind a look-alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from replikv.check.grouping import by_key, operations_of
from replikv.check.history import HistoryEvent, Operation
from replikv.check.register import canon, describe, show_value
from replikv.check.staleness import Producers, certainly_stale


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
        latest = Producers(ops).latest(final)
        if latest is None:
            reports.append(LostWrite(
                key=key, kind="corrupt", op=None, final=final_state.get(key),
                reason=f"the final value {show_value(final)} of key {key!r} was never written"))
            continue
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
        for r, w in certainly_stale(ops):
            found.append(StaleRead(key=key, read=r, missed=w, reason=(
                f"{describe(r)} missed {describe(w)}, which completed before the read "
                f"was invoked, after every operation that could have left "
                f"{show_value(r.output)} in {key!r}")))
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
