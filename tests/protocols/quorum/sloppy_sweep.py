"""Sloppy-quorum sweeps of ``quorum`` (Dynamo §4.6) in the simulator, judged per key on
the key's own replicas (the simulator's end checks assume every node holds every key):

- write availability while node 1 is cut off (acknowledged / attempted writes invoked in
  the fault window);
- after the heal (clients stop at it): how long until every key's replicas hold the same
  state and no hint is left (the convergence time), and then every acknowledged write
  seen by every replica of its key (``undelivered``) and by at least one (``lost``).

    python -m tests.protocols.quorum.sloppy_sweep SEEDS [NODES] [on|off]

prints one line per seed and the totals (docs/protocols/quorum.md, "Sloppy quorum").
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass

import msgspec

from replikv.protocols.quorum import versions as v
from replikv.protocols.quorum.records import Hinted, Stored
from replikv.schemes import get_spec
from replikv.sim.scenario import load_builtin
from replikv.sim.simulation import Simulation

SAMPLE_MS = 5.0
WATCH_MS = 5_000.0


@dataclass
class Outcome:
    attempted: int
    acked: int
    converged_ms: float | None
    undelivered: int
    lost: int
    acked_total: int


def run(seed: int, nodes: int = 5, sloppy: bool = True, **extra: object) -> Outcome:
    scenario = load_builtin("quorum-sloppy")
    scenario = msgspec.structs.replace(scenario, run=msgspec.structs.replace(scenario.run, nodes=nodes))
    options = {"sloppy_quorum": sloppy, "replicas": 3 if nodes >= 5 else 2, **extra}
    start, heal = scenario.run.fault_start_ms, scenario.run.fault_end_ms
    assert start is not None and heal is not None
    sim = Simulation(get_spec("quorum"), scenario, seed, random.Random, options=options)
    converged: list[float] = []

    def replicas() -> dict[int, object]:
        return {n: h.replica for n, h in sim.hosts.items() if h.up and h.replica is not None}

    def settled() -> bool:
        found = replicas()
        if any(r.hints.states for r in found.values()):
            return False
        keys = sorted({k for r in found.values() for k in r.store.states})
        for key in keys:
            owners = next(iter(found.values())).ring.preference(key)
            if len({msgspec.msgpack.encode(found[n].store.get(key)) for n in owners}) > 1:
                return False
        return True

    def sample() -> None:
        if settled():
            converged.append(sim.engine.now)
        elif sim.engine.now < heal + WATCH_MS:
            sim.engine.after(SAMPLE_MS, sample)

    sim.engine.at(heal, sample)
    sim.run()
    attempted = acked = 0
    invoked: dict[int, dict] = {}
    writes: list[tuple[str, str]] = []
    for event in sim.workload.history:
        if event["type"] == "invoke":
            invoked[event["process"]] = event
            continue
        begun = invoked.pop(event["process"])
        if begun["f"] != "write":
            continue
        if event["type"] == "ok":
            writes.append((begun["key"], str(begun["value"])))
        if start <= begun["time"] <= heal:
            attempted += 1
            acked += event["type"] == "ok"
    dots: dict[tuple[str, str], v.Dot] = {}
    for host in sim.hosts.values():
        for record in host.disk.records:
            if isinstance(record, Stored | Hinted):
                for sibling in record.state.siblings:
                    if sibling.value is not None:
                        dots.setdefault((record.key, sibling.value), sibling.dot)
    found = replicas()
    ring = next(iter(found.values())).ring
    undelivered = lost = 0
    for key, value in writes:
        dot = dots[(key, value)]  # save before send: the coordinator's own disk has it
        seen = [found[n].store.get(key).context.covers(dot) for n in ring.preference(key) if n in found]
        undelivered += not all(seen)
        lost += not any(seen)
    return Outcome(attempted, acked, converged[0] - heal if converged else None, undelivered, lost, len(writes))


def main(argv: list[str]) -> None:
    seeds = int(argv[0])
    nodes = int(argv[1]) if len(argv) > 1 else 5
    sloppy = (argv[2] if len(argv) > 2 else "on") == "on"
    outcomes = []
    for seed in range(1, seeds + 1):
        outcome = run(seed, nodes, sloppy)
        outcomes.append(outcome)
        print(seed, outcome, flush=True)
    times = sorted(o.converged_ms for o in outcomes if o.converged_ms is not None)
    attempted = sum(o.attempted for o in outcomes)
    acked = sum(o.acked for o in outcomes)
    print(f"N={nodes} sloppy {'on' if sloppy else 'off'} seeds 1-{seeds}: window writes {acked}/{attempted} "
          f"acked ({acked / max(1, attempted):.3f}), acked writes {sum(o.acked_total for o in outcomes)}, "
          f"undelivered {sum(o.undelivered for o in outcomes)}, lost {sum(o.lost for o in outcomes)}, "
          f"not converged {sum(o.converged_ms is None for o in outcomes)}, convergence after heal ms: "
          f"median {times[len(times) // 2] if times else None}, max {times[-1] if times else None}")


if __name__ == "__main__":
    main(sys.argv[1:])
