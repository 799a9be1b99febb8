"""What clients saw while a 2PC/3PC coordinator was down in ``coordinator-crash-after-votes``
(the first acceptance line of issue 11): each operation invoked while node 1 was down,
classed by whether it touched a key the in-doubt transaction locked at the survivors,
and by how it was answered. A test helper (the simulator has no such report field)."""

from __future__ import annotations

import random
from dataclasses import dataclass

import msgspec

from replikv.core.commands import keys_of
from replikv.schemes import get_spec
from replikv.sim.run import SimSettings
from replikv.sim.scenario import load_builtin
from replikv.sim.simulation import Simulation

WRITES = frozenset({"write", "cas", "delete", "incr", "append"})
COORDINATOR = 1


@dataclass(frozen=True)
class Answer:
    op: str
    """``write`` or ``read`` (a transaction with any write is a write)."""
    locked: bool
    """It touched a key the in-doubt transaction of node 1 held at a survivor."""
    outcome: str
    """``ok``, ``locked`` (lock conflict / locked by a transaction in doubt),
    ``unavailable`` (a vote missing, N-of-N), ``timeout``, or ``other``."""
    while_down: bool
    """Answered before node 1 came back."""
    ms: float


def run(protocol: str, seed: int, nodes: int | None = None) -> tuple[Simulation, list[Answer]]:
    scenario = SimSettings(protocol=protocol, scenario=load_builtin("coordinator-crash-after-votes"), seed=seed,
                           nodes=nodes).effective_scenario()
    sim = Simulation(get_spec(protocol), scenario, seed, random.Random, trace=True)
    samples: list[tuple[float, bool, frozenset[str]]] = []

    def sample() -> None:
        held: set[str] = set()
        for node, host in sim.hosts.items():
            if node != COORDINATOR and host.up:
                for txid, doubt in host.replica.in_doubt.items():
                    if txid[0] == COORDINATOR:
                        held.update(keys_of(doubt.request.command))
        samples.append((sim.engine.now, sim.hosts[COORDINATOR].up, frozenset(held)))
        if sim.engine.now < scenario.run.fault_end_ms:
            sim.engine.at(sim.engine.now + 1.0, sample)

    sim.engine.at(scenario.run.fault_start_ms or 0.0, sample)
    sim.run()
    down = [t for t, up, _ in samples if not up]
    assert down, "the coordinator never crashed: the scenario tested nothing"
    start, end = min(down), max(down)
    held_at = {round(t): keys for t, _, keys in samples}
    invoked: dict[int, dict] = {}
    answers: list[Answer] = []
    for event in sim.workload.history:
        if event["type"] == "invoke":
            invoked[event["process"]] = event
            continue
        call = invoked.pop(event["process"], None)
        if call is None or not start <= call["time"] < end:
            continue
        keys, write = _keys(call)
        answers.append(Answer("write" if write else "read", bool(keys & held_at.get(round(call["time"]), set())),
                              _outcome(event), event["time"] < end, event["time"] - call["time"]))
    return sim, answers


def votes_at_crash(sim: Simulation) -> dict[int, str]:
    """The votes sent for the transaction whose YES crashed the coordinator (node ->
    ``VoteYes``/``VoteNo``). With one NO among them the in-doubt YES voters learn the
    abort from that participant (cooperative termination, Bernstein §7.4): 2PC blocks
    only when every participant voted YES."""
    assert sim.trace is not None
    events = [msgspec.json.decode(line) for line in sim.trace.lines]
    fired = next(e for e in events if e["ev"] == "trigger")
    txid = next(e["txid"] for e in events if e["ev"] == "deliver" and e["t"] == fired["t"]
                and e.get("msg") == "VoteYes" and e["dst"] == COORDINATOR)
    return {e["src"]: e["msg"] for e in events
            if e["ev"] == "send" and e.get("msg") in ("VoteYes", "VoteNo") and e.get("txid") == txid}


def _keys(call: dict) -> tuple[set[str], bool]:
    if call["f"] == "txn":
        return {op[1] for op in call["value"]}, any(op[0] != "r" for op in call["value"])
    return {call["key"]}, call["f"] in WRITES


def _outcome(event: dict) -> str:
    if event["type"] == "ok":
        return "ok"
    if event["type"] == "info":
        return "timeout"
    error = event.get("error", "")
    if "lock conflict" in error or "locked by a transaction in doubt" in error:
        return "locked"
    if "did not vote" in error:
        return "unavailable"
    return "other"
