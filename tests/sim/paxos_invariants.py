"""Paxos's safety invariant checked after every durable write and every execution of a
simulated run, over every acceptor's durable state (Paxos Made Simple §2.2, P2: at most
one value is chosen per slot).

A value is *chosen* for a slot once a majority of acceptors have it durably accepted
under one ballot. The watcher folds every ``AcceptRecord`` the node driver makes durable
(history, so a later wiped disk does not hide what was chosen) and fails at once when:

- two different values were proposed for one slot under one ballot (a proposer
  proposes at most one value per slot per ballot);
- a slot gets a second chosen value;
- a node executes a slot with a value other than the chosen one, or other than what
  another node executed there (learners agree), or executes slots out of order (the
  ``Commit`` indexes of one incarnation rise; a snapshot may skip some).
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field

import pytest

from replikv.core.driver import NodeDriver
from replikv.core.quorum import majority
from replikv.protocols.paxos.records import AcceptRecord
from replikv.sim.run import SimSettings, run_simulation
from replikv.sim.scenario import load_builtin
from replikv.sim.simulation import Simulation


class PaxosSafetyViolation(AssertionError):
    pass


@dataclass
class Watcher:
    nodes: int
    value_of: dict[tuple[int, tuple[int, int]], object] = field(default_factory=dict)
    accepted_by: dict[tuple[int, tuple[int, int]], set[int]] = field(default_factory=lambda: defaultdict(set))
    chosen: dict[int, object] = field(default_factory=dict)
    executed: dict[int, object] = field(default_factory=dict)
    last_commit: dict[tuple[int, int], int] = field(default_factory=dict)
    checks: int = 0

    def durable(self, node: int, records) -> None:
        for record in records:
            if type(record) is not AcceptRecord:
                continue
            for p in record.proposals:
                key = (p.slot, tuple(p.ballot))
                known = self.value_of.setdefault(key, p.request)
                if known != p.request:
                    raise PaxosSafetyViolation(f"slot {p.slot} ballot {p.ballot}: two proposals {known} / {p.request}")
                voters = self.accepted_by[key]
                voters.add(node)
                self.checks += 1
                if len(voters) >= majority(self.nodes):
                    first = self.chosen.setdefault(p.slot, p.request)
                    if first != p.request:
                        raise PaxosSafetyViolation(f"slot {p.slot} chosen twice: {first} and {p.request}")

    def executed_slot(self, node: int, incarnation: int, slot: int, request) -> None:
        self.checks += 1
        first = self.executed.setdefault(slot, request)
        if first != request:
            raise PaxosSafetyViolation(f"slot {slot} executed as {first} and as {request} (node {node})")
        chosen = self.chosen.get(slot)
        if chosen is not None and chosen != request:
            raise PaxosSafetyViolation(f"node {node} executed {request} at slot {slot}; chosen was {chosen}")
        previous = self.last_commit.get((node, incarnation))
        if previous is not None and slot <= previous:
            raise PaxosSafetyViolation(f"node {node} executed slot {slot} after {previous} (out of order)")
        self.last_commit[(node, incarnation)] = slot


def watched_run(monkeypatch: pytest.MonkeyPatch, protocol: str, scenario: str, seed: int,
                nodes: int | None = None) -> tuple[dict, Watcher]:
    """One seeded run with the watcher on every node; returns (report, watcher)."""
    spec_nodes = nodes or load_builtin(scenario).run.nodes
    watcher = Watcher(spec_nodes)
    release = NodeDriver.release
    on_commit = Simulation.on_commit

    def watched_release(self, seq):
        for persist in list(self._unapplied):
            if persist.seq <= seq:
                watcher.durable(self.node, persist.records)
        return release(self, seq)

    def watched_commit(self, node, commit):
        watcher.executed_slot(node, self.hosts[node].incarnation, commit.index, commit.request)
        return on_commit(self, node, commit)

    monkeypatch.setattr(NodeDriver, "release", watched_release)
    monkeypatch.setattr(Simulation, "on_commit", watched_commit)
    try:
        result = run_simulation(
            SimSettings(protocol=protocol, scenario=load_builtin(scenario), seed=seed, nodes=nodes),
            rng_factory=random.Random,
        )
    finally:
        monkeypatch.undo()
    return result.report, watcher
