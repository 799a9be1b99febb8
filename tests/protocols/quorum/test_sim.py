"""The quorum scheme in the simulator (issue 15's acceptance, a few seeds each; the
200-seed sweeps are in docs/protocols/quorum.md)."""

from __future__ import annotations

import pytest

from .simhelp import convergence_after_heal, run, write_availability_by_client


def _check(report: dict, name: str) -> dict:
    return next(c for c in report["checks"] if c["name"] == name)


@pytest.mark.parametrize(("scenario", "nodes"), [("steady", 3), ("partition-leader", 3), ("lossy", 3),
                                                 ("partition-minority", 5), ("restart-all", 5)])
def test_r_plus_w_above_n_loses_no_acked_write_and_reads_nothing_stale(scenario: str, nodes: int):
    report = run(scenario, seed=1, nodes=nodes).report
    assert report["failed"] == [], report["checks"]
    assert _check(report, "no_stale_reads")["promised"] and report["stale_reads"] == 0
    assert _check(report, "no_lost_acked_writes")["promised"] and report["lost_acked_writes"] == 0
    assert not _check(report, "linearizable")["promised"]
    assert report["divergent"] is False


def test_r_plus_w_at_most_n_reads_stale_and_does_not_promise_otherwise():
    report = run("quorum-partition-writes", seed=1).report  # R = W = one
    assert report["failed"] == []
    assert report["stale_reads"] > 0 and not _check(report, "no_stale_reads")["promised"]
    assert report["lost_acked_writes"] == 0 and report["divergent"] is False


def test_every_node_accepts_writes_under_a_partition_at_w_one():
    result = run("quorum-partition-writes", seed=2)
    by_client = write_availability_by_client(result.history, 1000.0, 2500.0)
    assert sorted(by_client) == [1, 2, 3, 4, 5]
    assert all(ok == total > 0 for ok, total in by_client.values()), by_client


def test_at_w_quorum_the_minority_side_refuses_writes():
    result = run("quorum-partition-writes", seed=2, read_level="quorum", write_level="quorum")
    assert result.report["failed"] == []
    by_client = write_availability_by_client(result.history, 1000.0, 2500.0)
    assert by_client[1][0] == 0 and by_client[2][0] == 0  # nodes 1, 2: two of five
    assert all(ok == total for ok, total in (by_client[n] for n in (3, 4, 5)))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_replicas_converge_after_heal_within_the_anti_entropy_bound(seed: int):
    """Bound: each node starts an exchange every anti_entropy_ms (200) with its peers in
    turn, so every pair has exchanged within (N - 1) x 200 ms of the heal."""
    took, sent = convergence_after_heal("quorum-partition-writes", seed)
    assert took is not None and took <= 4 * 200 + 50, took
    assert sent > 0
