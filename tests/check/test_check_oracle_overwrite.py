"""The search's "no overwritten guess" rule (``search.py``: an uncertain write or
delete is never applied right after another uncertain operation was applied) against
the brute-force oracle of ``test_check_oracle``, on small one-key histories shaped like
``paxos``'s under ``holes-after-crash``: increments (so ``prune`` leaves every unknown
operation pending to the end), unknown writes, increments and cas, reads and
acknowledged writes whose values collide with what the increments make. Each
deliberately wrong version of the rule is caught: some history gets a different
verdict from the oracle."""

from __future__ import annotations

import random

import pytest
from histories import Op, events
from test_check_oracle import oracle

from replikv.check import search
from replikv.check.linearizability import check_linearizable
from replikv.check.register import CAS_INFO, DELETE, INCR_INFO, WRITE


def overwrite_history(rng: random.Random) -> list:
    """Up to 6 operations on one key, at least one increment, most of them unknown."""
    ops = []
    count = rng.randint(2, 6)
    for p in range(1, count + 1):
        start = rng.randint(0, 12)
        end = start + rng.randint(0, 8)
        kind = rng.choice(["info-write", "info-write", "info-incr", "info-incr", "info-cas",
                           "read", "read", "write", "incr", "info-delete"])
        if p == 1 and kind not in ("info-incr", "incr"):
            kind = "info-incr"  # an increment on the key: no horizons (prune.py)
        value = rng.randint(0, 3)
        if kind == "info-write":
            ops.append(Op(p, "write", "k", value, start, end, "info"))
        elif kind == "info-incr":
            ops.append(Op(p, "incr", "k", 1, start, end, "info"))
        elif kind == "info-cas":
            ops.append(Op(p, "cas", "k", [rng.choice([None, 1, 2]), value], start, end, "info"))
        elif kind == "info-delete":
            ops.append(Op(p, "delete", "k", None, start, end, "info"))
        elif kind == "read":
            ops.append(Op(p, "read", "k", None, start, end, "ok", rng.choice([None, 1, 2, 3])))
        elif kind == "write":
            ops.append(Op(p, "write", "k", value, start, end, "ok"))
        else:
            ops.append(Op(p, "incr", "k", 1, start, end, "ok", rng.randint(1, 4)))
    return events(*ops)


SAMPLES = [overwrite_history(random.Random(seed)) for seed in range(2500)]


def test_overwritten_guesses_agree_with_brute_force() -> None:
    wrong = [h for h in SAMPLES if check_linearizable(h).valid is not oracle(h)]
    assert not wrong


def test_the_samples_are_not_all_alike() -> None:
    """Both verdicts occur, so agreeing with the oracle means something."""
    verdicts = [oracle(h) for h in SAMPLES[:400]]
    assert verdicts.count(True) > 50 and verdicts.count(False) > 50


@pytest.mark.parametrize(("name", "wrong"), [
    # every uncertain move held back after an uncertain one, not only blind ones
    ("_BLIND", (WRITE, DELETE, CAS_INFO, INCR_INFO)),
    # the flag also set by certain moves: a write after a read of a guess held back
    ("_flag_after", lambda self, move: True),
])
def test_a_wrong_rule_is_caught_by_the_oracle(monkeypatch, name, wrong) -> None:
    target = search._Search if name == "_flag_after" else search
    monkeypatch.setattr(target, name, wrong)
    assert any(check_linearizable(h).valid is not oracle(h) for h in SAMPLES)
