"""A history the search could not decide before the "no overwritten guess" rule
(``search.py``): ``paxos`` under ``holes-after-crash`` at N=5, seed 138 (the simulator's
own history, ``data/paxos-holes-after-crash-n5-seed138.jsonl``). Key ``k3`` has 38
operations, 18 of unknown outcome pending to the end (15 writes, 2 increments and a
cas: with increments on the key ``prune`` gives them no horizon); a dead end late in
the key made the search apply the 2^17 subsets of those guesses one after another,
each overwriting the last, and 200,000 steps (the simulator's budget) ran out, as did
15 minutes of ``replikv check``. With the rule the whole history is decided in a few
thousand steps, and so are the same key with one read planted stale or from the
future (those came back unknown before too)."""

from __future__ import annotations

import pathlib

import msgspec
import pytest

from replikv.check.grouping import by_key, operations_of, relevant
from replikv.check.history import read_history
from replikv.check.linearizability import check_linearizable, search_ops

HISTORY = pathlib.Path(__file__).parent / "data" / "paxos-holes-after-crash-n5-seed138.jsonl"
SIMULATOR_BUDGET = 200_000  # sim.scenario.Checks.max_steps


def test_paxos_holes_after_crash_seed_138_is_decided_in_the_simulators_budget() -> None:
    result = check_linearizable(read_history(HISTORY), max_steps=SIMULATOR_BUDGET)
    assert result.valid is True


def _key_k3() -> list:
    return by_key(relevant(operations_of(read_history(HISTORY))))["k3"]


def test_key_k3_is_the_hard_one() -> None:
    ops = _key_k3()
    assert len(ops) == 38 and sum(op.type == "info" for op in ops) == 18
    outcome = search_ops(ops, max_steps=SIMULATOR_BUDGET)
    assert outcome.valid is True and outcome.steps < 5_000


@pytest.mark.parametrize(("position", "planted"), [
    (29, "26"),  # a read of 23 made a read of 26, written only later
    (30, "2"),   # a read of 24 made a read of 2, overwritten long before
    (30, "27"),  # ... of 27, written only later
])
def test_a_planted_bad_read_on_key_k3_is_rejected_in_the_budget(position, planted) -> None:
    ops = _key_k3()
    assert ops[position].f == "read" and ops[position].type == "ok"
    ops[position] = msgspec.structs.replace(ops[position], output=planted)
    outcome = search_ops(ops, max_steps=SIMULATOR_BUDGET)
    assert outcome.valid is False
