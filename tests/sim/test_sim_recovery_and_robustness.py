"""Issue 8 on the simulator side: recovery info at restart (a wiped disk, a torn tail),
duplicated client requests, one outstanding copy per request, the event budget, a
replica's exception as a failed check, and scenarios a scheme cannot run."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from click.testing import CliRunner
from tests.sim.helpers import events, report, simulate
from tests.sim.toy import TOY, Toy, _spec

from replikv.cli.sim_cmd import sim as sim_command
from replikv.core.errors import ConfigError, NotLeader
from replikv.core.io import Reply, Submit
from replikv.core.replica import Recovery
from replikv.schemes import get_spec
from replikv.sim.disk import Disk
from replikv.sim.run import ScenarioUnsupported, SimSettings, run_simulation, unsupported_reason
from replikv.sim.scenario import load_builtin, parse_scenario
from replikv.sim.swarm import swarm_scenario

SCHEMES = ("pb-async", "pb-sync", "raft")
NEW_SCENARIOS = ("lost-disk", "torn-restarts", "dup-requests", "dup-reorder-crash")

BASE = """
[run]
nodes = 3
ops = 150
fault_start_ms = 100
fault_end_ms = 600
[workload]
clients = 3
think_ms = 5
mix = { read = 0.3, write = 0.7 }
"""


class _Recording(Toy):
    """The toy, remembering what every incarnation was told at creation."""

    created: list[tuple[int, int, Recovery]] = []

    def __init__(self, args) -> None:
        super().__init__(args)
        _Recording.created.append((args.node, len(args.recovered), args.recovery))


def _recorded(text: str) -> list[tuple[int, int, Recovery]]:
    _Recording.created = []
    simulate(text, _spec("recording", _Recording))
    return _Recording.created


# -- recovery info ---------------------------------------------------------------------


def test_disk_wipe_is_reported_until_a_told_incarnation_writes() -> None:
    """The damage is the disk's to remember until the replica has recorded it: a start
    that crashes before any write of its own is durable must not leave the next start
    believing the disk whole (swarm seed 1100093, 2pc N=5)."""
    disk = Disk()
    disk.write(0.0, 1, ("a", "b", "c"), False, 1.0)
    disk.complete(1)
    disk.crash(wipe=True)
    assert disk.records == [] and not disk.corrupt
    assert disk.take_recovery() == (True, 0)
    disk.write(5.0, 1, ("boot",), False, 1.0)
    disk.crash()  # the first write of the told incarnation never became durable
    assert disk.take_recovery() == (True, 0)
    disk.write(9.0, 1, ("boot",), False, 1.0)
    disk.complete(1)
    assert disk.take_recovery() == (False, 0)


def test_disk_reports_the_records_a_torn_tail_actually_cut() -> None:
    disk = Disk()
    disk.write(0.0, 1, ("a", "b", "c"), False, 1.0)
    disk.complete(1)
    disk.crash(torn=2)
    assert disk.records == ["a"] and disk.take_recovery() == (False, 2)
    disk.crash(torn=5)  # only one record was left to tear; the first cut is not on record yet
    assert disk.records == [] and disk.take_recovery() == (False, 3)
    disk.write(3.0, 1, ("boot",), False, 1.0)
    disk.complete(1)
    disk.crash()
    assert disk.take_recovery() == (False, 0)  # recorded by the replica, then a clean crash


def test_a_wiped_node_restarts_empty_and_is_told_it_lost_its_disk() -> None:
    text = BASE + """
[[faults]]
at_ms = 300
action = "crash"
node = 2
wipe = true
[[faults]]
at_ms = 350
action = "restart"
node = 2
[[faults]]
at_ms = 450
action = "crash"
node = 2
[[faults]]
at_ms = 500
action = "restart"
node = 2
"""
    node2 = [(records, recovery) for node, records, recovery in _recorded(text) if node == 2]
    assert len(node2) == 3
    assert node2[0] == (0, Recovery())
    assert node2[1] == (0, Recovery(lost=True))  # every record gone, and said so
    assert node2[2][1] == Recovery() and node2[2][0] > 0  # the next incarnation is a plain restart


def test_the_torn_count_reaches_create_args() -> None:
    text = BASE + '[[faults]]\nat_ms = 300\naction = "crash"\nnode = 2\ntorn = 2\n'
    node2 = [(records, recovery) for node, records, recovery in _recorded(text) if node == 2]
    assert [recovery for _, recovery in node2] == [Recovery(), Recovery(torn_records=2)]
    assert node2[1][0] > 0


def test_a_crashed_leader_can_be_restarted_alone() -> None:
    text = BASE + """
[[faults]]
at_ms = 200
action = "crash"
node = "leader"
wipe = true
[[faults]]
at_ms = 200
action = "crash"
node = "any"
[[faults]]
at_ms = 300
action = "restart"
node = "leader"
"""
    trace = events(simulate(text, TOY))
    crashes = [e for e in trace if e["ev"] == "crash"]
    assert [(e["node"], e.get("wipe", False)) for e in crashes] == [(1, True), (2, False), (3, False)]
    restarts = [e for e in trace if e["ev"] == "restart"]
    assert (restarts[0]["node"], restarts[0]["t"], restarts[0].get("lost")) == (1, 300.0, True)
    assert all(e["t"] >= 600 for e in restarts[1:])  # the others only at the end of the window


@pytest.mark.parametrize("protocol", SCHEMES)
def test_lost_disk_wipes_the_leader_and_restarts_it_first_for_every_scheme(protocol: str) -> None:
    settings = SimSettings(protocol=protocol, scenario=load_builtin("lost-disk"), seed=1, trace=True)
    result = run_simulation(settings, random.Random)
    trace = [json.loads(line) for line in result.trace_jsonl().splitlines()]
    wiped = [e["node"] for e in trace if e["ev"] == "crash" and e.get("wipe")]
    assert len(wiped) == 1
    restarts = [e for e in trace if e["ev"] == "restart"]
    assert restarts[0]["node"] == wiped[0] and restarts[0]["records"] == 0 and restarts[0]["lost"] is True
    assert sorted(e["node"] for e in restarts) == [1, 2, 3]


@pytest.mark.parametrize("protocol", SCHEMES)
def test_torn_restarts_tears_a_record_at_every_crash(protocol: str) -> None:
    settings = SimSettings(protocol=protocol, scenario=load_builtin("torn-restarts"), seed=1, trace=True)
    result = run_simulation(settings, random.Random)
    trace = [json.loads(line) for line in result.trace_jsonl().splitlines()]
    crashes = [e for e in trace if e["ev"] == "crash"]
    # the last crash waits for a leader, which a scheme may not have by then
    assert len(crashes) >= 3 and all(e["torn"] == 1 for e in crashes)
    assert result.report["scenario"] == "torn-restarts"


# -- duplication and client copies ------------------------------------------------------


def test_the_network_duplicates_client_requests_and_replies() -> None:
    text = BASE.replace("[workload]", "[network]\ndup = 0.3\n[workload]")
    trace = events(simulate(text, TOY))
    submits = Counter((e["dst"], e["client"], e["seq"]) for e in trace if e["ev"] == "deliver" and e["msg"] == "Submit")
    replies = Counter((e["dst"], e["client"], e["seq"]) for e in trace if e["ev"] == "deliver" and e["msg"] == "Reply")
    assert max(submits.values()) >= 2 and max(replies.values()) >= 2


class _NoLeader(Toy):
    """Nobody leads: every request is answered NotLeader without a hint."""

    def handle(self, inp):
        if isinstance(inp, Submit):
            return [Reply(inp.request, NotLeader(None))]
        return super().handle(inp)

    def status(self):
        import msgspec

        return msgspec.structs.replace(super().status(), role="follower", leader=None)


NO_LEADER = """
[run]
nodes = 3
ops = 12
[network]
dup = 0.3
[workload]
clients = 2
timeout_ms = 60
redirect_ms = 5
mix = { write = 1.0 }
"""


def test_a_client_keeps_one_copy_of_a_request_in_flight() -> None:
    """Issue 8.12: a re-send only answers the copy the client waits on. Before, every
    NotLeader (duplicates included) was re-sent, so copies multiplied each round."""
    sim = simulate(NO_LEADER, _spec("no-leader", _NoLeader))
    sends = Counter((e["client"], e["seq"]) for e in events(sim) if e["ev"] == "send" and e["msg"] == "Submit")
    # one chain of re-sends per request: at most one per redirect pause within the timeout
    assert sends and max(sends.values()) <= 60 / 5 + 1
    assert report(sim)["ops"]["info"] == 12


def test_redirects_are_bounded_and_back_off() -> None:
    text = NO_LEADER.replace("timeout_ms = 60", "timeout_ms = 5000\nbackoff_after = 3\nmax_redirects = 6")
    sim = simulate(text, _spec("no-leader", _NoLeader))
    history = sim.workload.history
    infos = [e for e in history if e["type"] == "info"]
    assert infos and all(e["error"] == "no leader found after 6 redirects" for e in infos)
    trace = events(sim)
    first = [e["t"] for e in trace if e["ev"] == "send" and e["msg"] == "Submit" and e["client"] == 1 and e["seq"] == 1]
    gaps = [round(b - a) for a, b in zip(first, first[1:], strict=False)]
    assert len(first) == 7 and gaps[-1] > 4 * gaps[0]  # 5 ms pauses, then doubling


SPLIT_THREE_WAYS = """
name = "split-three-ways"
[run]
nodes = 3
ops = 400
fault_start_ms = 500
fault_end_ms = 2500
[network]
dup = 0.1
[workload]
clients = 3
timeout_ms = 1000
[[faults]]
at_ms = 600
action = "partition"
groups = [[1], [2], [3]]
clients = "all"
"""


def test_raft_with_duplication_and_no_leader_for_long_finishes() -> None:
    """Issue 8.12 regression: every node alone for 1.9 s, 10% duplication; clients keep
    being told "not leader" without a hint. This run never ended before (copies of each
    request multiplied every 5 ms round); now it takes a few thousand events."""
    settings = SimSettings(protocol="raft", scenario=parse_scenario(SPLIT_THREE_WAYS), seed=1)
    result = run_simulation(settings, random.Random)
    assert result.report["aborted"] is None and result.report["events"] < 100_000


# -- event budget and replica errors ----------------------------------------------------


def test_a_run_over_its_event_budget_fails_the_event_budget_check() -> None:
    sim = simulate(BASE.replace("[run]", "[run]\nmax_events = 500"), TOY)
    rep = report(sim)
    assert rep["failed"] == ["event_budget"]
    assert rep["aborted"]["check"] == "event_budget" and "more than 500 events" in rep["aborted"]["detail"]
    assert sim.engine.events == 500


class _Exploding(Toy):
    """Raises on the fifth client write at the leader, like a protocol assertion."""

    def handle(self, inp):
        if isinstance(inp, Submit) and self.node == 1 and inp.request.command.__class__.__name__ == "Set":
            self._writes = getattr(self, "_writes", 0) + 1
            assert self._writes < 5, "truncating committed entry"
        return super().handle(inp)


EXPLODING = _spec("exploding", _Exploding)


def test_a_replica_exception_is_a_failed_check_with_its_text_and_reproduce_line(monkeypatch) -> None:
    monkeypatch.setattr("replikv.sim.run.get_spec", lambda name: EXPLODING)
    settings = SimSettings(protocol="pb-sync", scenario=load_builtin("steady"), seed=3)
    rep = run_simulation(settings, random.Random).report
    assert rep["failed"] == ["replica_error"]
    check = next(c for c in rep["checks"] if c["name"] == "replica_error")
    assert check["passed"] is False and check["promised"] is True
    assert "node 1 raised handling Submit: AssertionError: truncating committed entry" in check["detail"]
    assert "test_sim_recovery_and_robustness.py" in check["detail"]
    assert "reproduce: replikv sim --protocol pb-sync --scenario steady --seed 3" in check["detail"]


def test_a_sweep_reports_a_replica_exception_and_goes_on(monkeypatch) -> None:
    monkeypatch.setattr("replikv.sim.run.get_spec", lambda name: EXPLODING)
    result = CliRunner().invoke(sim_command, ["--protocol", "pb-sync", "--seeds", "2"])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "FAILED seed 1: replica_error" in result.output and "FAILED seed 2: replica_error" in result.output
    assert "reproduce: replikv sim --protocol pb-sync --scenario steady --seed 2" in result.output


# -- scenarios a scheme cannot run -------------------------------------------------------


@pytest.mark.parametrize("protocol", ["pb-sync", "pb-async"])
def test_membership_is_refused_for_primary_backup(protocol: str) -> None:
    result = CliRunner().invoke(sim_command, ["--protocol", protocol, "--scenario", "membership"])
    assert result.exit_code == 2, result.output
    assert (f"scenario membership cannot run with {protocol}: it changes membership (add-node, remove-node) "
            f"and {protocol} does not support membership changes") in " ".join(result.output.split())
    with pytest.raises(ScenarioUnsupported, match="membership"):
        run_simulation(SimSettings(protocol=protocol, scenario=load_builtin("membership"), seed=1), random.Random)


def test_every_builtin_runs_or_is_refused_for_membership_or_options_and_raft_runs_membership() -> None:
    from replikv.sim.scenario import builtin_names, protocol_options

    for name in builtin_names():
        scenario = load_builtin(name)
        for protocol in SCHEMES:
            spec = get_spec(protocol)
            reason = unsupported_reason(spec, scenario)
            if name == "membership":
                assert (reason is not None) == (protocol != "raft"), (name, protocol)
                continue
            try:
                spec.make_config(protocol_options(scenario, protocol))
                takes_options = True
            except ConfigError:
                takes_options = False
            assert (reason is None) == takes_options, (name, protocol, reason)
            if reason is not None:
                assert f"its [protocol] table sets options {protocol} does not take" in reason, reason


@pytest.mark.parametrize(("protocol", "scenario", "option"), [
    ("2pc", "dueling-proposers", "heartbeat_ms"), ("pb-sync", "quorum-pbs", "write_level"),
])
def test_a_scenario_tuned_for_another_family_is_refused_with_a_reason(protocol: str, scenario: str,
                                                                      option: str) -> None:
    result = CliRunner().invoke(sim_command, ["--protocol", protocol, "--scenario", scenario])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert f"scenario {scenario} cannot run with {protocol}: its [protocol] table sets options" in text, text
    assert option in text and "--option" not in text.split("Error:")[1], text
    with pytest.raises(ScenarioUnsupported, match=option):
        run_simulation(SimSettings(protocol=protocol, scenario=load_builtin(scenario), seed=1), random.Random)


@pytest.mark.parametrize("protocol", SCHEMES)
def test_the_swarm_never_draws_a_scenario_the_scheme_cannot_run(protocol: str) -> None:
    spec = get_spec(protocol)
    for seed in range(1, 101):
        assert unsupported_reason(spec, swarm_scenario(seed, protocol, 3, random.Random)) is None


@pytest.mark.parametrize("name", NEW_SCENARIOS)
def test_the_new_scenarios_load(name: str) -> None:
    scenario = load_builtin(name)
    assert scenario.name == name and scenario.description
