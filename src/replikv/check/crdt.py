"""Convergence of CRDT values: every replica ends with the same value, and no
acknowledged update is lost (Shapiro et al., SSS 2011: strong eventual consistency).

What may live here: the rules, applied to plain records of the updates clients made and
the final values each replica holds; no knowledge of how they were gathered.

- **PN-counter**: every replica's final value is the same, and it equals the sum of the
  acknowledged increments plus the increments of some subset of the updates whose
  outcome is unknown (a failed update never applied). With unknown updates of both signs
  the check is the bound [acked + negative unknowns, acked + positive unknowns].
- **OR-set** (add wins): every replica holds the same members. An element must be
  present when an acknowledged add of it was invoked after every remove of it that may
  have run had completed (a remove of unknown outcome never counts as completed). It
  must be absent when an acknowledged remove was invoked after every add of it that may
  have run had completed with an acknowledgement (a remove removes the adds it observed,
  and with R + W > N it observes every add completed before it began).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

OK, FAIL, UNKNOWN = "ok", "fail", "info"


@dataclass(frozen=True)
class Update:
    """One client update: ``kind`` ``incr`` (``amount``), ``add`` or ``remove``
    (``element``), its outcome (``ok``, ``fail``, ``info``) and when it was invoked and
    completed (``complete`` is infinite for an unknown outcome)."""

    kind: str
    outcome: str
    invoke: float
    complete: float
    amount: int = 0
    element: str = ""


@dataclass(frozen=True)
class Verdict:
    converged: bool
    lost: list[str]
    """One sentence per lost update (or element that should not be there)."""

    @property
    def valid(self) -> bool:
        return self.converged and not self.lost


def check_counter(updates: Sequence[Update], finals: Mapping[int, int]) -> Verdict:
    values = set(finals.values())
    converged = len(values) == 1
    acked = sum(u.amount for u in updates if u.kind == "incr" and u.outcome == OK)
    unknown = [u.amount for u in updates if u.kind == "incr" and u.outcome == UNKNOWN]
    low = acked + sum(a for a in unknown if a < 0)
    high = acked + sum(a for a in unknown if a > 0)
    lost = [f"node {node} holds {value}, outside [{low}, {high}] (acknowledged increments sum to {acked}, "
            f"{len(unknown)} of unknown outcome)" for node, value in sorted(finals.items())
            if not low <= value <= high]
    return Verdict(converged, lost)


def check_orset(updates: Sequence[Update], finals: Mapping[int, frozenset[str]]) -> Verdict:
    sets = set(finals.values())
    converged = len(sets) == 1
    lost: list[str] = []
    elements = sorted({u.element for u in updates if u.kind in ("add", "remove")})
    for element in elements:
        adds = [u for u in updates if u.kind == "add" and u.element == element]
        removes = [u for u in updates if u.kind == "remove" and u.element == element and u.outcome != FAIL]
        must_have = any(a.outcome == OK and all(r.complete < a.invoke for r in removes) for a in adds)
        live_adds = [a for a in adds if a.outcome != FAIL]
        must_not = any(r.outcome == OK and all(a.outcome == OK and a.complete < r.invoke for a in live_adds)
                       for r in removes) and not must_have
        for node, members in sorted(finals.items()):
            if must_have and element not in members:
                lost.append(f"node {node} lost {element!r}: an acknowledged add came after every remove")
            if must_not and element in members:
                lost.append(f"node {node} still holds {element!r}: an acknowledged remove came after every add")
    return Verdict(converged, lost)
