"""The rewrites for operations of unknown outcome (``prune._left_out``,
``prune._value_horizons``, ``starts.late_starts``) against the brute-force oracle of
``test_check_oracle``, on small histories shaped like pb-sync's under faults: unknown
writes and chains of unknown cas, reads of null, compare-failed cas, a few deletes and
acknowledged writes. Each deliberately wrong version of a rule is caught: some history
gets a different verdict from the oracle."""

from __future__ import annotations

import math
import random

import pytest
from histories import Op, events
from hypothesis import given
from hypothesis import strategies as st
from test_check_oracle import SETTINGS, oracle

from replikv.check import prune, starts
from replikv.check.history import CAS_MISMATCH
from replikv.check.linearizability import check_linearizable


def chain_history(rng: random.Random, *, deletes: bool = True) -> list:
    """Up to 6 operations on one key, most of them of unknown outcome."""
    ops = []
    for p in range(1, rng.randint(2, 6) + 1):
        start = rng.randint(0, 14)
        end = start + rng.randint(0, 8)
        kind = rng.choice(["info-write", "info-write", "info-cas", "info-cas", "read", "read",
                           "mismatch", "write", "cas"] + (["delete"] if deletes else []))
        value = rng.randint(1, 4)
        if kind == "info-write":
            ops.append(Op(p, "write", "k", value, start, end, "info"))
        elif kind == "info-cas":
            ops.append(Op(p, "cas", "k", [rng.choice([None, 1, 2, 3]), value], start, end, "info"))
        elif kind == "read":
            ops.append(Op(p, "read", "k", None, start, end, "ok", rng.choice([None, None, 1, 2, 3])))
        elif kind == "mismatch":
            expected = rng.choice([None, 1, 2, 3])
            ops.append(Op(p, "cas", "k", [expected, 9], start, end, "fail", None, CAS_MISMATCH))
        elif kind == "write":
            ops.append(Op(p, "write", "k", value, start, end, "ok"))
        elif kind == "cas":
            ops.append(Op(p, "cas", "k", [rng.choice([None, 1, 2, 3]), value], start, end, "ok"))
        else:
            ops.append(Op(p, "delete", "k", None, start, end, rng.choice(["ok", "info"])))
    return events(*ops)


SAMPLES = [chain_history(random.Random(seed), deletes=seed % 4 != 3) for seed in range(3000)]


@SETTINGS
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_unknown_chains_agree_with_brute_force(seed) -> None:
    history = chain_history(random.Random(seed), deletes=seed % 3 != 0)
    assert check_linearizable(history).valid is oracle(history)


def test_the_fixed_samples_agree_with_brute_force() -> None:
    wrong = [h for h in SAMPLES if check_linearizable(h).valid is not oracle(h)]
    assert not wrong


def _ignore_failed_cas(value, seen, mismatch_expects, first_made, via_cas):
    """Wrong: as if no compare-failed cas could need an unknown write."""
    return -math.inf if value in seen else min(via_cas, default=math.inf)


def _ignore_chains(seen_by):
    """Wrong: an unknown cas expecting x does not keep writes of x alive."""
    return {value: max(seen_by.last_seen.get(value, -math.inf),
                       seen_by.mismatches.latest_not_expecting(value))
            for value in set(seen_by.producers) | set(seen_by.swaps)
            | {v for targets in seen_by.swaps.values() for v in targets}}


def _ignore_deletes(ops, skip):
    """Wrong: the key counts as absent until the last read of null even with deletes."""
    reads = [op.invoke_time for position, op in enumerate(ops) if position not in skip
             and op.type == "ok" and op.f == "read" and op.output is None]
    return max(reads, default=-math.inf)


def _ignore_cas_users(value, seen, mismatch_expects, first_made, via_cas):
    """Wrong: an unknown write that only an unknown cas expects starts when the
    compare-failed cas could first need it, as if the cas could not pass it on."""
    if value in seen:
        return -math.inf
    needs = [e for e in mismatch_expects if e != value]
    if any(e is None for e in needs):
        return -math.inf
    return min((first_made.get(e, math.inf) for e in needs), default=math.inf)


@pytest.mark.parametrize(("target", "name", "wrong"), [
    (starts, "_first_use", _ignore_failed_cas),
    (prune, "_value_horizons", _ignore_chains),
    (starts, "null_until", _ignore_deletes),
    (starts, "_first_use", _ignore_cas_users),
])
def test_a_wrong_rule_is_caught_by_the_oracle(monkeypatch, target, name, wrong) -> None:
    monkeypatch.setattr(target, name, wrong)
    assert any(check_linearizable(h).valid is not oracle(h) for h in SAMPLES)
