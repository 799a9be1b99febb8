"""Acknowledged writes that no surviving replica holds: the request-level count of lost
writes (issue 13).

``invariants.lost_acked_writes`` judges from the final state, so a later write to the
same key hides an earlier one that was lost: the final value is the later write's
whether or not the earlier one ever reached the survivors. A host that can see which
requests each replica's state applied (the simulator can: ``sim.applied``) removes the
blind spot. The rule, the chapter's "data loss" column made exact:

    an acknowledged (``ok``) write, cas, delete or incr is **lost** when none of the
    surviving replicas (those whose state is the final state the cluster serves) holds
    its request, i.e. none applied it, directly or through a snapshot it restored.

Requests are named ``(client_id, seq)`` as the client sent them; in the histories this
check reads (the simulator's, docs/history.md), the client id is the history's
``process`` and ``seq`` counts that process's invocations from 1 (a process that saw an
unknown outcome is never reused). Multi-key transactions are left to
``lost_acked_appends`` (an append cannot be hidden by a later one).

What may live here: the rule and its reasons; no knowledge of how a host learns what a
replica holds.
"""

from __future__ import annotations

from collections.abc import Collection, Container, Iterable, Mapping

from replikv.check.history import HistoryEvent, Operation, pair_operations
from replikv.check.invariants import LostWrite
from replikv.check.register import describe

RequestId = tuple[int, int]

MUTATIONS = ("write", "cas", "delete", "incr")


def request_ids(ops: Iterable[Operation]) -> dict[int, RequestId]:
    """Operation index -> ``(process, n)``, n counting the process's invocations from 1
    (ops in invoke order, as ``pair_operations`` gives them)."""
    count: dict[int, int] = {}
    found: dict[int, RequestId] = {}
    for op in sorted(ops, key=lambda o: o.index):
        count[op.process] = count.get(op.process, 0) + 1
        found[op.index] = (op.process, count[op.process])
    return found


def unheld_acked_writes(
    history: Iterable[HistoryEvent],
    survivors: Mapping[int, Container[RequestId]],
    applied_by: Mapping[RequestId, Collection[int]] | None = None,
) -> list[LostWrite]:
    """Every acknowledged single-key mutation whose request no node of ``survivors``
    (node -> the request ids its state holds) holds, in invoke order.

    ``history`` is the whole history (transactions included: they count in the
    processes' sequence numbers). ``applied_by`` (request id -> every node that ever
    applied it, crashed incarnations included) only makes the reasons sharper: it tells
    a write the survivors never received from one they received and lost.
    """
    assert survivors, "the lost-write count needs at least one surviving replica"
    ops = pair_operations(history)
    ids = request_ids(ops)
    nodes = sorted(survivors)
    lost: list[LostWrite] = []
    for op in ops:
        if op.type != "ok" or op.f not in MUTATIONS:
            continue
        request = ids[op.index]
        if any(request in survivors[node] for node in nodes):
            continue
        lost.append(LostWrite(key=op.key or "", kind="unheld", op=op, final=None,
                              reason=_reason(op, request, nodes, applied_by)))
    return lost


def _reason(op: Operation, request: RequestId, survivors: list[int],
            applied_by: Mapping[RequestId, Collection[int]] | None) -> str:
    where = f"node {survivors[0]}" if len(survivors) == 1 else f"nodes {', '.join(map(str, survivors))}"
    text = (f"acknowledged {describe(op)} on {op.key!r} (request {request[0]}#{request[1]}) is lost: "
            f"the surviving state ({where}) never applied it")
    if applied_by is not None:
        others = sorted(applied_by.get(request, ()))
        if not others:
            text += "; no replica's state machine ever applied it"
        else:
            held = ", ".join(map(str, others))
            text += f"; only node{'s' if len(others) > 1 else ''} {held} applied it, and that copy did not survive"
    return text
