"""CRDT counters and sets in the simulator: under loss, duplication, reordering and a
partition, every replica converges to the same value and no acknowledged increment is
lost (check.crdt; Shapiro et al. 2011)."""

from __future__ import annotations

import json
import random

import pytest

from replikv.check.crdt import Update, check_counter, check_orset
from replikv.core.commands import Incr, SAdd, SRem
from replikv.core.errors import Ok
from replikv.core.requests import Request
from replikv.schemes import get_spec
from replikv.sim.scenario import load_builtin
from replikv.sim.simulation import Simulation

CLIENT = 900_000


def run_crdt(seed: int, updates_count: int = 120) -> tuple[list[Update], list[Update], dict, dict]:
    scenario = load_builtin("quorum-crdt")
    sim = Simulation(get_spec("quorum"), scenario, seed, random.Random)
    rng = random.Random(seed * 7919)
    issued: dict[tuple[int, int], dict] = {}
    original = sim.route_reply

    def route_reply(node, request, result):
        if request.id in issued:
            entry = issued[request.id]
            if "outcome" not in entry:
                entry["outcome"] = "ok" if isinstance(result, Ok) else ("fail" if result.definite else "info")
                entry["complete"] = sim.engine.now
            return
        original(node, request, result)

    sim.route_reply = route_reply  # type: ignore[method-assign]

    def submit(i: int) -> None:
        kind = rng.choice(("incr", "incr", "add", "remove"))
        if kind == "incr":
            command, extra = Incr("counter", rng.randint(-3, 9)), {}
            extra = {"amount": command.by}
        elif kind == "add":
            element = rng.choice("abcdef")
            command, extra = SAdd("set", (element,)), {"element": element}
        else:
            element = rng.choice("abcdef")
            command, extra = SRem("set", (element,)), {"element": element}
        request = Request(CLIENT + i, 1, command)
        issued[request.id] = {"kind": kind, "invoke": sim.engine.now, **extra}
        node = sim.members[int(rng.random() * len(sim.members))]
        if not sim.hosts[node].submit(request):
            issued[request.id].update(outcome="fail", complete=sim.engine.now)

    for i in range(updates_count):
        sim.engine.at(20.0 + i * 18.0, submit, i)
    sim.run()
    updates = [Update(kind=e["kind"], outcome=e.get("outcome", "info"), invoke=e["invoke"],
                      complete=e.get("complete", float("inf")) if e.get("outcome", "info") != "info" else float("inf"),
                      amount=e.get("amount", 0), element=e.get("element", "")) for e in issued.values()]
    counters = {n: int(h.replica.state_machine().get("counter") or 0) for n, h in sim.hosts.items() if h.up}
    sets = {n: frozenset(json.loads(h.replica.state_machine().get("set") or "[]"))
            for n, h in sim.hosts.items() if h.up}
    return [u for u in updates if u.kind == "incr"], [u for u in updates if u.kind != "incr"], counters, sets


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_counters_and_sets_converge_and_lose_no_acknowledged_update(seed: int):
    increments, set_updates, counters, sets = run_crdt(seed)
    assert sum(1 for u in increments if u.outcome == "ok") > 20  # the network let work through
    counter = check_counter(increments, counters)
    assert counter.valid, (counter, counters)
    orset = check_orset(set_updates, sets)
    assert orset.valid, (orset, sets)


def test_the_checks_catch_a_lost_increment_and_a_divergent_set():
    updates = [Update("incr", "ok", 0.0, 1.0, amount=5), Update("incr", "ok", 2.0, 3.0, amount=2),
               Update("incr", "info", 4.0, float("inf"), amount=1)]
    assert check_counter(updates, {1: 7, 2: 8}).lost == [] and not check_counter(updates, {1: 7, 2: 8}).converged
    assert check_counter(updates, {1: 5, 2: 5}).lost  # the acknowledged +2 is gone
    adds = [Update("add", "ok", 0.0, 1.0, element="x"), Update("remove", "ok", 2.0, 3.0, element="x"),
            Update("add", "ok", 4.0, 5.0, element="x")]
    assert not check_orset(adds, {1: frozenset(), 2: frozenset()}).valid  # the last add was lost
    assert check_orset(adds[:2], {1: frozenset(), 2: frozenset()}).valid
    assert not check_orset(adds[:2], {1: frozenset({"x"}), 2: frozenset({"x"})}).valid  # remove undone
