"""The end-of-run checks, through ``replikv.check`` (looked up by name, so a checker
function that is missing shows as a check that could not run, with its name, rather
than as a silent pass).

What may live here: calls into ``replikv.check`` and the conversion of the simulator's
history dicts into ``check.HistoryEvent``. Nothing here decides what a scheme promises.
"""

from __future__ import annotations

import importlib
from typing import Any

import msgspec

_WHERE = ("replikv.check", "replikv.check.invariants", "replikv.check.linearizability", "replikv.check.history",
          "replikv.check.txn.check", "replikv.check.held", "replikv.check.sequential")


def checker(name: str) -> Any | None:
    """``replikv.check.<name>`` (or from the submodule that defines it), else ``None``."""
    for module_name in _WHERE:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        found = getattr(module, name, None)
        if found is not None:
            return found
    return None


def history_events(history: list[dict[str, Any]]) -> list[Any]:
    event_type = checker("HistoryEvent")
    if event_type is None:
        raise LookupError("replikv.check.HistoryEvent is not available")
    return [msgspec.convert(event, event_type) for event in history]


class CheckOutcome(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    value: Any
    detail: str


def run_linearizable(events: list[Any], max_steps: int) -> CheckOutcome:
    fn = checker("check_linearizable")
    if fn is None:
        return CheckOutcome(name="linearizable", value=None, detail="replikv.check.check_linearizable missing")
    result = fn(events, max_steps=max_steps)
    detail = result.explanation or ("linearizable" if result.valid else "unknown")
    return CheckOutcome(name="linearizable", value=result.valid, detail=detail[:2000])


def run_sequential(events: list[Any], max_steps: int) -> CheckOutcome:
    """``sequential``: per-key sequential consistency (each process's order kept, stale
    reads allowed); ``value`` is the ``SequentialReport`` (verdict and the count of
    reads that were stale but allowed)."""
    fn = checker("check_sequential_reads")
    if fn is None:
        return CheckOutcome(name="sequential", value=None, detail="replikv.check.check_sequential_reads missing")
    report = fn(events, max_steps=max_steps)
    result = report.result
    detail = result.explanation or ("sequentially consistent" if result.valid else "unknown")
    detail = f"{detail}; {report.stale_allowed} of {report.reads} reads stale but allowed"
    return CheckOutcome(name="sequential", value=report, detail=detail[:2000])


def run_lost_writes(events: list[Any], final_state: dict[str, str] | None,
                    held: HeldRequests | None = None) -> CheckOutcome:
    """Acknowledged writes lost: those the final state shows were lost
    (``check.lost_acked_writes``) and, given ``held``, every other one no surviving
    replica holds (``check.held``: a later write to the same key hides a lost write from
    the final state, not from this). Each is counted once, with its reason."""
    fn = checker("lost_acked_writes")
    if fn is None:
        return CheckOutcome(name="lost_acked_writes", value=None, detail="replikv.check.lost_acked_writes missing")
    if final_state is None:
        return CheckOutcome(name="lost_acked_writes", value=None, detail="no leader after quiescing: no final state")
    lost = fn(events, final_state)
    if held is not None:
        if held.survivors is None:
            return CheckOutcome(name="lost_acked_writes", value=None, detail=(
                "which requests the surviving replicas hold is unknown (a replica restored a snapshot "
                "the run never saw taken)"))
        unheld = checker("unheld_acked_writes")
        if unheld is None:
            return CheckOutcome(name="lost_acked_writes", value=None,
                                detail="replikv.check.unheld_acked_writes missing")
        seen = {_identity(w.op) for w in lost if w.op is not None}
        for w in unheld(held.history, held.survivors, held.applied_by):
            if w.op is not None and _identity(w.op) not in seen:
                lost.append(w)
    detail = "; ".join(w.reason for w in lost[:5]) + (f" (+{len(lost) - 5} more)" if len(lost) > 5 else "")
    return CheckOutcome(name="lost_acked_writes", value=len(lost), detail=detail or "none lost")


def _identity(op: Any) -> tuple[Any, ...]:
    """An operation, whichever list it was paired in (indexes differ between the whole
    history and its single-key part): a process runs one operation at a time, and a
    write's value is unique per key."""
    return (op.process, op.invoke_time, op.f, op.key, repr(op.value))


class HeldRequests(msgspec.Struct, frozen=True, kw_only=True):
    """What the host saw the replicas hold, for ``check.held`` (``sim.applied``)."""

    history: list[Any]
    """The whole history (transactions too: they count in the request sequence numbers)."""
    survivors: dict[int, frozenset[tuple[int, int]]] | None
    """Node -> request ids its state holds, for the nodes whose state is the final state;
    None when one of them cannot say."""
    applied_by: dict[tuple[int, int], set[int]]
    """Request id -> every node that ever applied it."""


def run_stale_reads(events: list[Any]) -> CheckOutcome:
    fn = checker("stale_reads")
    if fn is None:
        return CheckOutcome(name="stale_reads", value=None, detail="replikv.check.stale_reads missing")
    stale = fn(events)
    detail = "; ".join(s.reason for s in stale[:3]) + (f" (+{len(stale) - 3} more)" if len(stale) > 3 else "")
    return CheckOutcome(name="stale_reads", value=len(stale), detail=detail or "none")


# -- transactions (``f: "txn"``, docs/history.md "Transactions") ------------------------


def split_txn(events: list[Any]) -> tuple[list[Any], list[Any]]:
    """(single-key events, txn events): each checker takes only its own kind."""
    single = [e for e in events if e.f != "txn"]
    return single, [e for e in events if e.f == "txn"]


def run_txn(events: list[Any]) -> CheckOutcome:
    """``strict_serializable``: the transaction checker (``check.txn.check_txn``, Elle's
    list-append inference; Adya 1999 for the anomaly names) on the txn events. ``value``
    is the ``CheckResult``: its ``anomalies`` count each anomaly by name, and the
    explanation shows each one with its smallest cycle in words."""
    fn = checker("check_txn")
    if fn is None:
        return CheckOutcome(name="strict_serializable", value=None, detail="replikv.check.check_txn missing")
    result = fn(events)
    return CheckOutcome(name="strict_serializable", value=result, detail=txn_detail(result))


def txn_detail(result: Any, limit: int = 6000) -> str:
    """The checker's verdict line, then ONE example of each anomaly found (for a cycle,
    its smallest cycle in words), so every name the verdict lists is shown before the
    text is cut at ``limit``."""
    if result.valid is not False:
        return result.explanation[:limit]
    shown: dict[str, str] = {}
    for failure in result.failures:
        shown.setdefault(failure.anomaly, failure.explanation)
    return "\n\n".join([result.explanation.split("\n", 1)[0], *shown.values()])[:limit]


def run_lost_appends(events: list[Any], final_state: dict[str, str] | None) -> CheckOutcome:
    """Elements appended by committed (``ok``) transactions that the final state of their
    key lacks: an acknowledged transaction's write was lost. (The transaction checker
    sees a lost append only if a later read misses it; the final state always does.)"""
    if final_state is None:
        return CheckOutcome(name="lost_acked_appends", value=None, detail="no final state")
    fn = checker("pair_operations")
    if fn is None:
        return CheckOutcome(name="lost_acked_appends", value=None, detail="replikv.check.pair_operations missing")
    lost: list[str] = []
    for op in fn(events):
        if op.type != "ok":
            continue
        for kind, key, element in op.value:
            if kind == "append" and str(element) not in final_state.get(key, "").split():
                lost.append(f"acknowledged append of {element} to {key} (process {op.process}, ok at "
                            f"{op.complete_time:g} ms) is not in the final list of {key}")
    detail = "; ".join(lost[:5]) + (f" (+{len(lost) - 5} more)" if len(lost) > 5 else "")
    return CheckOutcome(name="lost_acked_appends", value=len(lost), detail=detail or "none lost")
