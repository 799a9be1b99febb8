"""Primary/backup under lost disks, torn tails and duplicated requests (issue 8, items 1,
2, 10, 11), as CI-sized seeded sweeps; the larger sweeps are marked slow."""

from __future__ import annotations

import pathlib
import random

import pytest

from replikv.sim.run import SimSettings, run_simulation
from replikv.sim.scenario import Scenario, load_builtin, parse_scenario

HERE = pathlib.Path(__file__).parent


def own(name: str) -> Scenario:
    path = HERE / "scenarios" / f"{name}.toml"
    return parse_scenario(path.read_text(), str(path))


def sweep(protocol: str, scenario: Scenario, seeds: range) -> list[dict]:
    return [run_simulation(SimSettings(protocol=protocol, scenario=scenario, seed=s), random.Random).report
            for s in seeds]


def safe(report: dict) -> bool:
    return report["lost_acked_writes"] == 0 and not report["divergent"] and not report["failed"]


def test_lost_disk_loses_nothing_and_does_not_diverge() -> None:
    """Every node crashes, the primary's disk is wiped and it restarts alone: it waits for
    the others and copies their log (before: every acknowledged write lost, 10 of 10)."""
    reports = sweep("pb-sync", load_builtin("lost-disk"), range(1, 6))
    assert all(safe(r) for r in reports), [r["reproduce"] for r in reports if not safe(r)]


def test_lost_disk_pb_async_loses_at_most_the_write_its_backups_never_made_durable() -> None:
    """pb-async copies the others' log too, and never diverges; what it may lose is what
    only the wiped disk held durably: on seeds 3 and 5 one write the primary acknowledged
    while its Append was in flight (the backups applied it, then crashed before their own
    Persist). On seed 3 a later write to the same key hides it from the final state; the
    count by request (issue 13) sees it. (Seeds 2 and 3 until the simulated disk
    group-committed, docs/simulator.md: the loss moves with the timing of the crash.)"""
    reports = sweep("pb-async", load_builtin("lost-disk"), range(1, 6))
    assert all(not r["divergent"] and not r["failed"] for r in reports), [r["reproduce"] for r in reports]
    assert [r["lost_acked_writes"] for r in reports] == [0, 0, 1, 0, 1]


def test_torn_restarts_lose_no_acknowledged_write_on_pb_sync() -> None:
    reports = sweep("pb-sync", load_builtin("torn-restarts"), range(1, 11))
    assert all(safe(r) for r in reports), [r["reproduce"] for r in reports if not safe(r)]


def test_torn_tails_on_two_nodes_at_once_lose_nothing_on_pb_sync() -> None:
    """A harsher variant: torn tails of 2 and 3 records on the primary and a crash of every
    node with two of them torn (before: 11 of 50 seeds lost acknowledged writes)."""
    reports = sweep("pb-sync", own("pb-torn-restarts"), range(11, 21))
    assert all(safe(r) for r in reports), [r["reproduce"] for r in reports if not safe(r)]


@pytest.mark.parametrize("protocol", ["pb-sync", "pb-async"])
@pytest.mark.parametrize("scenario", ["dup-requests", "dup-reorder-crash"])
def test_a_refused_request_is_never_applied_by_a_later_copy(protocol: str, scenario: str) -> None:
    """Issue 8.10 (before: pb-sync failed dup-requests in 40 of 50 seeds). pb-async promises
    no linearizability across a primary crash (acked writes not yet shipped are lost),
    so there only the promised checks count."""
    reports = sweep(protocol, load_builtin(scenario), range(1, 6))
    strict = protocol == "pb-sync" or scenario == "dup-requests"
    bad = [r["reproduce"] for r in reports if r["failed"] or (strict and r["linearizable"] is False)]
    assert not bad


@pytest.mark.slow
def test_lost_disk_50_seeds() -> None:
    assert all(safe(r) for r in sweep("pb-sync", load_builtin("lost-disk"), range(1, 51)))


@pytest.mark.slow
def test_lost_disk_50_seeds_pb_async_loses_at_most_one_in_flight_write() -> None:
    reports = sweep("pb-async", load_builtin("lost-disk"), range(1, 51))
    assert all(not r["divergent"] and not r["failed"] and r["lost_acked_writes"] <= 1 for r in reports)


@pytest.mark.slow
def test_torn_restarts_200_seeds_on_pb_sync() -> None:
    assert all(safe(r) for r in sweep("pb-sync", load_builtin("torn-restarts"), range(1, 201)))
