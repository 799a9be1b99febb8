"""Session guarantees checked in histories (Terry et al. 1994), each violation named."""

from __future__ import annotations

import random

from replikv.check.history import HistoryRecorder, pair_operations
from replikv.check.session import GUARANTEES, count_by_guarantee, session_violations
from replikv.sim.checks import history_events
from replikv.sim.run import SimSettings, run_simulation
from replikv.sim.scenario import load_builtin

from . import session_sweep

SEED_BREAKING_WRITES = 18
"""A seed of ``quorum-sessions`` (N = 3) whose sessions off break both write guarantees
(seed 1 did until the simulated disk group-committed; docs/simulator.md)."""


def _ops(*ops: tuple):
    recorder = HistoryRecorder()
    for process, f, key, value, start, end, output in sorted(ops, key=lambda o: o[4]):
        recorder.invoke(process, f, key, value, start)
        recorder.complete(process, "ok", output, end)
    return pair_operations(recorder.events)


def test_each_guarantee_is_named_when_broken():
    ryw = _ops((1, "write", "k", 1, 0, 1, 1), (1, "write", "k", 2, 2, 3, 2), (1, "read", "k", None, 4, 5, 1))
    assert [v.guarantee for v in session_violations(ryw)] == ["read-your-writes"]
    mr = _ops((2, "write", "k", 1, 0, 1, 1), (2, "write", "k", 2, 2, 3, 2),
              (1, "read", "k", None, 4, 5, 2), (1, "read", "k", None, 6, 7, 1))
    assert [v.guarantee for v in session_violations(mr)] == ["monotonic-reads"]
    mw = _ops((1, "write", "k", 1, 0, 1, 1), (1, "write", "k", 2, 2, 3, 2))
    assert [v.guarantee for v in session_violations(mw, {"k": "1"})] == ["monotonic-writes"]
    assert session_violations(mw, {"k": "2"}) == []
    wfr = _ops((2, "write", "k", 1, 0, 1, 1), (1, "read", "k", None, 2, 3, 1), (1, "write", "k", 2, 4, 5, 2))
    assert [v.guarantee for v in session_violations(wfr, {"k": "1"})] == ["writes-follow-reads"]


def test_a_concurrent_newer_value_is_no_violation():
    ok = _ops((1, "write", "k", 1, 0, 5, 1), (2, "write", "k", 2, 1, 6, 2), (1, "read", "k", None, 7, 8, 2))
    assert session_violations(ok, {"k": "2"}) == []


def test_reads_at_random_nodes_with_r_w_one_break_sessions_and_the_checker_counts_them():
    result = run_simulation(SimSettings(protocol="quorum", scenario=load_builtin("quorum-pbs"), seed=1),
                            random.Random)
    counts = count_by_guarantee(session_violations(pair_operations(history_events(result.history))))
    assert counts["read-your-writes"] > 0 and counts["monotonic-reads"] > 0


def test_sessions_carried_by_roaming_clients_are_never_violated_at_r_w_one():
    """Terry §3, the token travels with the client: every operation at a node drawn at
    random, R = W = one, node 1 cut off for 600 ms. On: no violation of any guarantee
    (a read that cannot cover its session waits, here until the heal). Off: the same
    seeds break read-your-writes and monotonic reads."""
    for seed, nodes in ((1, 3), (2, 3), (1, 5)):
        on, report = session_sweep.run(seed, nodes, sessions=True)
        assert report["failed"] == [] and on == dict.fromkeys(GUARANTEES, 0), (seed, nodes, on)
        off, _ = session_sweep.run(seed, nodes, sessions=False)
        assert off["read-your-writes"] > 0 and off["monotonic-reads"] > 0, (seed, nodes, off)


def test_monotonic_writes_and_writes_follow_reads_hold_on_the_final_state():
    """The two write guarantees are judged on the converged state; a seed whose sessions
    off break them keeps them with the sessions on."""
    off, _ = session_sweep.run(SEED_BREAKING_WRITES, 3, sessions=False)
    assert off["monotonic-writes"] + off["writes-follow-reads"] > 0, off
    on, report = session_sweep.run(SEED_BREAKING_WRITES, 3, sessions=True)
    assert report["failed"] == [] and on == dict.fromkeys(GUARANTEES, 0), on


def test_a_workload_names_only_known_guarantees():
    import pytest

    from replikv.sim.scenario import ScenarioError, parse_scenario

    with pytest.raises(ScenarioError, match="workload.sessions: unknown guarantee 'strong'"):
        parse_scenario('[workload]\nsessions = ["strong"]\n', "mine.toml")
    assert parse_scenario('[workload]\nsessions = ["all"]\nroam = true\n', "mine.toml").workload.roam


def test_sessions_hold_under_loss_duplication_reordering_and_a_crash():
    """``quorum-sessions-lossy``: the same, with 5% loss, 10% duplication, reordering and
    node 2 crashed for 500 ms."""
    on, report = session_sweep.run(1, 3, sessions=True, name="quorum-sessions-lossy")
    assert report["failed"] == [] and on == dict.fromkeys(GUARANTEES, 0), on
    off, _ = session_sweep.run(1, 3, sessions=False, name="quorum-sessions-lossy")
    assert off["read-your-writes"] > 0, off
