"""Per-key linearizability of a history against the register model.

What may live here: splitting a history by key, running ``search`` on each key, and
folding the verdicts. Explanations are built in ``explain``.

Linearizability is local (Herlihy & Wing 1990, §3.3, "locality"): a history is
linearizable iff each object's sub-history is, so each key is checked on its own.
``fail`` operations definitely did not happen and are dropped; an ``info`` read
changes nothing and is dropped; other ``info`` operations may take effect at any time
after their invoke, or never. Each key starts absent (the store starts empty).

Before searching a key, a quick pre-check (``staleness``) looks for violations that
need no search: a read of a value nothing wrote, or a certainly stale read. Either is
a certain verdict with a three-line proof, whatever the history's size; everything
else goes to the search (``search``, after ``prune``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

from replikv.check.explain import explain_certain, explain_linearizability
from replikv.check.grouping import by_key, operations_of, relevant
from replikv.check.history import HistoryEvent, Operation
from replikv.check.prune import prepare
from replikv.check.register import State
from replikv.check.result import CheckResult, KeyFailure, combine
from replikv.check.search import SearchOutcome, Stuck, search

DEFAULT_MAX_STEPS = 2_000_000


def search_ops(ops: Sequence[Operation], *, initial: State = None, max_steps: int,
               deadline: float | None = None) -> SearchOutcome:
    """Run the search on one key's relevant operations (after ``prune.prepare``); the
    positions in the answer are positions in ``ops``."""
    prepared = prepare(ops)
    outcome = search(prepared.calls, prepared.returns, prepared.compiled, prepared.certain,
                     initial, max_steps=max_steps, deadline=deadline)
    if outcome.stuck is None:
        return outcome
    origin = prepared.origin
    stuck = Stuck(tuple(origin[i] for i in outcome.stuck.order), outcome.stuck.state,
                  origin[outcome.stuck.blocked])
    return SearchOutcome(outcome.valid, outcome.steps, stuck)


KeyVerdict = tuple[bool | None, int, KeyFailure | None]
"""One key's answer: valid (``None``: out of budget), search steps spent, the failure."""


def check_per_key(model: str, history: Iterable[HistoryEvent] | Iterable[Operation],
                  check_key: Callable[[str, list[Operation], int, float | None], KeyVerdict], *,
                  max_steps: int, timeout_s: float | None) -> CheckResult:
    """Run ``check_key(key, ops, steps_left, deadline)`` on each key's relevant operations
    in sorted key order, sharing one step budget (each key gets what the previous ones
    left; a key reached with none left is ``None``), and fold the verdicts for ``model``.
    Keys may be checked apart because the models checked here are local (Herlihy & Wing
    1990, §3.3)."""
    ops = operations_of(history)
    deadline = time.monotonic() + timeout_s if timeout_s is not None else None
    per_key: list[tuple[str, bool | None, int, KeyFailure | None]] = []
    left = max_steps
    for key, key_ops in by_key(relevant(ops)).items():
        if left <= 0:
            per_key.append((key, None, 0, None))
            continue
        valid, steps, failure = check_key(key, key_ops, left, deadline)
        left -= steps
        per_key.append((key, valid, steps, failure))
    return combine(model, per_key, len(ops))


def check_linearizable(history: Iterable[HistoryEvent] | Iterable[Operation], *,
                       max_steps: int = DEFAULT_MAX_STEPS,
                       timeout_s: float | None = None) -> CheckResult:
    """Is the history linearizable, key by key?

    ``max_steps`` bounds the search states visited over the whole history (keys are
    checked in sorted order, each with what the previous ones left), so the same history
    gets the same answer on every run; ``timeout_s`` adds a wall-clock bound (for the
    CLI; it makes the verdict depend on the machine). Out of budget: ``valid is None``.
    """
    return check_per_key("linearizable", history, _linearizable_key,
                         max_steps=max_steps, timeout_s=timeout_s)


def _linearizable_key(key: str, key_ops: list[Operation], left: int,
                      deadline: float | None) -> KeyVerdict:
    quick = explain_certain(key, key_ops)
    if quick is not None:  # a certain violation found without searching
        return False, 0, quick
    outcome = search_ops(key_ops, max_steps=left, deadline=deadline)
    failure = None
    if outcome.valid is False:
        failure = explain_linearizability(key, key_ops, outcome.stuck)
    return outcome.valid, outcome.steps, failure
