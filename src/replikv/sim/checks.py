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

_WHERE = ("replikv.check", "replikv.check.invariants", "replikv.check.linearizability", "replikv.check.history")


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


def run_lost_writes(events: list[Any], final_state: dict[str, str] | None) -> CheckOutcome:
    fn = checker("lost_acked_writes")
    if fn is None:
        return CheckOutcome(name="lost_acked_writes", value=None, detail="replikv.check.lost_acked_writes missing")
    if final_state is None:
        return CheckOutcome(name="lost_acked_writes", value=None, detail="no leader after quiescing: no final state")
    lost = fn(events, final_state)
    detail = "; ".join(w.reason for w in lost[:5]) + (f" (+{len(lost) - 5} more)" if len(lost) > 5 else "")
    return CheckOutcome(name="lost_acked_writes", value=len(lost), detail=detail or "none lost")


def run_stale_reads(events: list[Any]) -> CheckOutcome:
    fn = checker("stale_reads")
    if fn is None:
        return CheckOutcome(name="stale_reads", value=None, detail="replikv.check.stale_reads missing")
    stale = fn(events)
    detail = "; ".join(s.reason for s in stale[:3]) + (f" (+{len(stale) - 3} more)" if len(stale) > 3 else "")
    return CheckOutcome(name="stale_reads", value=len(stale), detail=detail or "none")
