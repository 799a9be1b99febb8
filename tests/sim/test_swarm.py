"""Swarm testing (``replikv sim --swarm``): knobs drawn from the seed, a CI-sized swarm
per scheme, job-count independence, and the CLI.

Bigger swarms: ``replikv sim --protocol P --swarm --seeds 300 --jobs 2``.
"""

from __future__ import annotations

import json
import random

import msgspec
import pytest
from click.testing import CliRunner

from replikv.cli import sim_cmd
from replikv.cli.sim_cmd import run_swarm, sim
from replikv.sim.scenario import Crash, Restart, Resume
from replikv.sim.swarm import draw_knobs, run_swarm_seed, swarm_scenario

CI_SEEDS = 30


SCHEMES = ["pb-async", "pb-sync", "raft"]


def _encoded(seed: int, protocol: str = "raft", nodes: int = 3) -> bytes:
    return msgspec.json.encode(swarm_scenario(seed, protocol, nodes, random.Random))


def test_same_seed_same_scenario_different_seeds_different_knobs() -> None:
    assert _encoded(7) == _encoded(7)
    assert draw_knobs(7, "raft", 3, random.Random) == draw_knobs(7, "raft", 3, random.Random)
    scenarios = {_encoded(seed) for seed in range(30)}
    assert len(scenarios) == 30
    label_sets = {tuple(draw_knobs(seed, "raft", 3, random.Random).labels()) for seed in range(30)}
    assert len(label_sets) >= 20, "the knobs themselves must vary with the seed, not only the timing"
    # every knob is switched on by some seed and off by another
    all_labels = [set(draw_knobs(seed, "pb-sync", 3, random.Random).labels()) for seed in range(200)]
    for label in ("loss", "dup", "reorder", "non-fifo", "long-tail", "partition", "one-way", "crash",
                  "torn-tail", "pause", "slow-fsync", "clock-drift", "slow-node", "auto-failover"):
        having = sum(label in labels for labels in all_labels)
        assert 0 < having < 200, label


def test_faults_stay_in_the_window_and_clocks_within_the_lease_bound() -> None:
    for seed in range(60):
        scenario = swarm_scenario(seed, "pb-sync", 5, random.Random)
        run = scenario.run
        assert run.nodes == 5 and run.fault_start_ms is not None and run.fault_end_ms is not None
        assert run.duration_ms is not None and run.duration_ms > run.fault_end_ms
        for fault in scenario.faults:
            assert run.fault_start_ms <= fault.at_ms <= run.fault_end_ms, (seed, fault)
            if isinstance(fault, Crash):
                assert fault.torn in (0, 1) and not fault.bitflip
            if hasattr(fault, "rate"):
                assert abs(fault.rate - 1) <= 0.04
        torn = [f for f in scenario.faults if isinstance(f, Crash) and f.torn]
        assert len(torn) <= 1
        crashes = [f for f in scenario.faults if isinstance(f, Crash)]
        assert len(crashes) == draw_knobs(seed, "pb-sync", 5, random.Random).crashes
        restarts = [f for f in scenario.faults if isinstance(f, Restart | Resume)]
        assert all(f.at_ms < run.fault_end_ms for f in restarts)


def test_a_swarm_seed_is_healed_and_reports_its_knobs() -> None:
    report = run_swarm_seed("pb-sync", 3, random.Random).report
    assert report["scenario"] == "swarm"
    assert report["reproduce"] == "replikv sim --protocol pb-sync --swarm --seed 3"
    assert report["swarm"]["labels"] == draw_knobs(3, "pb-sync", 3, random.Random).labels()
    assert report["quiesced"] is True
    assert len(report["digests"]) == 3, "every node is up again after the fault window"


@pytest.mark.parametrize("protocol", SCHEMES)
def test_ci_swarm_keeps_every_promise(protocol: str) -> None:
    failing = []
    for seed in range(CI_SEEDS):
        report = run_swarm_seed(protocol, seed, random.Random).report
        assert report["ops"]["ok"] > 0, report["reproduce"]
        if report["failed"]:
            failing.append(f"{report['failed']}: {report['reproduce']}")
    assert failing == []


@pytest.mark.parametrize(("protocol", "batch"), [("pb-sync", True), ("pb-async", True), ("raft", False)])
def test_ci_swarm_keeps_every_promise_with_the_other_batching(protocol: str, batch: bool) -> None:
    """``batch`` is a user's option (``--option batch=true`` is how a real pb cluster
    gathers writes, docs/bench.md) but no swarm knob: the swarm runs each scheme's
    default, so the other setting gets a swarm of its own here (1,000 seeds each of
    pb-sync and pb-async with ``batch=true`` passed by hand, docs/simulator.md)."""
    failing = []
    for seed in range(CI_SEEDS):
        report = run_swarm_seed(protocol, seed, random.Random, options={"batch": batch}).report
        assert report["ops"]["ok"] > 0, report["reproduce"]
        assert f"batch={'true' if batch else 'false'}" in report["reproduce"]
        if report["failed"]:
            failing.append(f"{report['failed']}: {report['reproduce']}")
    assert failing == []


def test_results_do_not_depend_on_the_job_count() -> None:
    serial = run_swarm("pb-async", range(4), jobs=1)
    parallel = run_swarm("pb-async", range(4), jobs=2)
    assert [r["seed"] for r in parallel] == [0, 1, 2, 3]
    assert json.dumps(serial) == json.dumps(parallel)


def test_cli_swarm_json_knob_summary_and_reproduce_lines() -> None:
    result = CliRunner().invoke(sim, ["--protocol", "pb-sync", "--swarm", "--seed", "5", "--seeds", "3",
                                      "--jobs", "1", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [r["seed"] for r in data["runs"]] == [5, 6, 7]
    assert data["runs"][1]["reproduce"] == "replikv sim --protocol pb-sync --swarm --seed 6"
    knobs = data["summary"]["knobs"]
    for run in data["runs"]:
        for label in run["swarm"]["labels"]:
            assert knobs[label]["seeds"] >= 1
    assert sum(row["failing"] for row in knobs.values()) == 0


def test_cli_swarm_fails_with_reproduce_lines_when_a_promise_breaks(monkeypatch) -> None:
    real = sim_cmd._swarm_job

    def broken(protocol, seed, run_args):
        report = real(protocol, seed, run_args)
        if seed == 2:
            report["failed"] = ["converged"]
        return report

    monkeypatch.setattr(sim_cmd, "_swarm_job", broken)
    result = CliRunner().invoke(sim, ["--protocol", "pb-sync", "--swarm", "--seed", "1", "--seeds", "2",
                                      "--jobs", "1", "--nodes", "5"])
    assert result.exit_code == 1, result.output
    assert "FAILED seed 2: converged" in result.output
    assert "reproduce: replikv sim --protocol pb-sync --swarm --seed 2 --nodes 5" in result.output
    assert "failing seeds" in result.output


def test_cli_swarm_bad_flag_combinations() -> None:
    runner = CliRunner()
    assert runner.invoke(sim, ["--protocol", "raft", "--swarm", "--scenario", "steady"]).exit_code == 2
    assert runner.invoke(sim, ["--protocol", "raft", "--jobs", "2"]).exit_code == 2
    assert runner.invoke(sim, ["--protocol", "raft", "--swarm", "--jobs", "0"]).exit_code == 2
