"""Simulated clients exercise the forwarding path real nodes use (issue 9.4): with
``[workload] forward = true`` each client stays with a home node, and nodes route its
requests by ``core.router.Route`` (the rule ``runtime/node.py`` follows)."""

from __future__ import annotations

import json
import random

import pytest

from replikv.sim.run import SimSettings, run_simulation
from replikv.sim.scenario import load_builtin


def _run(protocol: str, scenario: str, seed: int):
    return run_simulation(SimSettings(protocol=protocol, scenario=load_builtin(scenario), seed=seed, trace=True),
                          random.Random)


@pytest.mark.parametrize("protocol", ["raft", "pb-sync"])
def test_requests_are_forwarded_to_the_leader_and_answered_through_the_home_node(protocol: str):
    result = _run(protocol, "forwarding", 3)
    report = result.report
    assert report["failed"] == [], report["checks"]
    trace = [json.loads(line) for line in result.trace_jsonl().splitlines()]
    forwards = [e for e in trace if e["ev"] == "send" and e.get("msg") == "Forward"]
    replies = [e for e in trace if e["ev"] == "send" and e.get("msg") == "ForwardReply"]
    assert forwards and replies
    # clients got answers from nodes that do not lead (their home), not only from the leader
    answering = {e["node"] for e in trace if e["ev"] == "reply" and e.get("result") == "Ok"}
    assert len(answering) > 1


def test_without_forwarding_no_node_forwards():
    trace = [json.loads(line) for line in _run("raft", "dup-reorder-crash", 3).trace_jsonl().splitlines()]
    assert not [e for e in trace if e.get("msg") in ("Forward", "ForwardReply")]
