"""Property tests of the transaction checker against model executions
(``check.txn.generate``): an atomic execution is always strictly serializable; a
non-atomic one (each micro-op applied at its own instant) shows a named anomaly with
its cycle. Derandomized: the same examples every run."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from txn_histories import T, a, r, txn_events

from replikv.check.history import pair_operations
from replikv.check.txn.check import check_txn
from replikv.check.txn.generate import TxnMix, generate_txn_history

SETTINGS = settings(max_examples=60, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
CYCLES = {"G0", "G1c", "G-single", "G2", "G0-realtime", "G1c-realtime", "G-single-realtime",
          "G2-realtime"}


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), clients=st.integers(1, 8), keys=st.integers(1, 5),
       txns=st.integers(1, 120), max_ops=st.integers(1, 6),
       read_share=st.sampled_from([0.0, 0.3, 0.5, 0.8]),
       info_rate=st.sampled_from([0.0, 0.05, 0.2]), fail_rate=st.sampled_from([0.0, 0.05, 0.2]),
       latency=st.sampled_from([1.0, 10.0]))
def test_an_atomic_execution_is_always_accepted(seed, clients, keys, txns, max_ops, read_share,
                                                info_rate, fail_rate, latency) -> None:
    mix = TxnMix(max_ops=max_ops, read_share=read_share, info_rate=info_rate,
                 fail_rate=fail_rate)
    history = generate_txn_history(random.Random(seed), txns=txns, clients=clients,
                                   keys=[f"k{i}" for i in range(keys)], mix=mix,
                                   latency_ms=latency)
    result = check_txn(history)
    assert result.valid is True, result.explanation


def test_a_non_atomic_execution_is_rejected_with_a_named_cycle() -> None:
    for seed in range(1, 11):
        history = generate_txn_history(random.Random(seed), txns=200, clients=6,
                                       keys=["x", "y", "z"], atomic=False)
        result = check_txn(history)
        assert result.valid is False
        cycles = [f for f in result.failures if f.anomaly in CYCLES]
        assert cycles, result.explanation
        assert "a cycle of" in cycles[0].explanation and "-> T" in cycles[0].explanation


def test_the_same_seed_atomic_is_accepted() -> None:
    for seed in range(1, 11):
        history = generate_txn_history(random.Random(seed), txns=200, clients=6,
                                       keys=["x", "y", "z"], atomic=True)
        assert check_txn(history).valid is True


def test_appends_applied_one_by_one_between_reads_are_caught() -> None:
    # T0 appends to x and y; its append to x lands, T1 reads x and y, then T0's append
    # to y lands: T1 saw half of T0
    result = check_txn(txn_events(T(1, a("x", 1), a("y", 2), t0=0, t1=10),
                                  T(2, r("x", [1]), r("y", []), t0=1, t1=9)))
    assert result.anomalies == {"G-single": 1}
    (failure,) = result.failures
    assert [op.process for op in failure.ops] == [1, 2]
    assert "T0 -wr-> T1: x: T1 read [1], whose last element 1 T0 appended" in failure.explanation
    assert "T1 -rw-> T0: y: T1 read [], all that was ever read, and T0 appended 2 later" in (
        failure.explanation)


def test_generated_histories_are_deterministic() -> None:
    one = generate_txn_history(random.Random(5), txns=50, clients=3, keys=["x", "y"])
    two = generate_txn_history(random.Random(5), txns=50, clients=3, keys=["x", "y"])
    assert one == two
    assert all(op.f == "txn" for op in pair_operations(one))
