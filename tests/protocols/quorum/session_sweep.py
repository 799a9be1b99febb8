"""Session-guarantee sweeps of ``quorum`` in the simulator: each guarantee's violations in
the history (``check/session.py``), with the sessions on or off.

    python -m tests.protocols.quorum.session_sweep SEEDS [NODES] [on|off] [SCENARIO]

prints one line per seed and the totals (docs/protocols/quorum.md, "Session guarantees").
"""

from __future__ import annotations

import random
import sys

import msgspec

from replikv.check.history import pair_operations
from replikv.check.session import GUARANTEES, count_by_guarantee, session_violations
from replikv.schemes import get_spec
from replikv.sim.checks import history_events
from replikv.sim.report import build_report
from replikv.sim.run import SimSettings, reproduce_command
from replikv.sim.scenario import Scenario, load_builtin
from replikv.sim.simulation import Simulation


def scenario(sessions: bool, name: str = "quorum-sessions", **workload) -> Scenario:
    found = load_builtin(name)
    changes = {"sessions": ["all"] if sessions else [], **workload}
    return msgspec.structs.replace(found, workload=msgspec.structs.replace(found.workload, **changes))


def run(seed: int, nodes: int | None = None, sessions: bool = True, name: str = "quorum-sessions",
        **workload) -> tuple[dict[str, int], dict]:
    """(violations per guarantee, the run's report) of one seed."""
    found = scenario(sessions, name, **workload)
    if nodes is not None:
        found = msgspec.structs.replace(found, run=msgspec.structs.replace(found.run, nodes=nodes))
    sim = Simulation(get_spec("quorum"), found, seed, random.Random)
    sim.run()
    report = build_report(sim, reproduce_command(SimSettings("quorum", found, seed)))
    host = next(h for h in sim.hosts.values() if h.up and h.replica is not None)
    machine = host.replica.state_machine()
    ops = pair_operations(history_events(sim.workload.history))
    final = {op.key: machine.get(op.key) for op in ops if op.key is not None}
    return count_by_guarantee(session_violations(ops, final)), report


def main(argv: list[str]) -> None:
    seeds = int(argv[0])
    nodes = int(argv[1]) if len(argv) > 1 else 3
    sessions = (argv[2] if len(argv) > 2 else "on") == "on"
    name = argv[3] if len(argv) > 3 else "quorum-sessions"
    totals = dict.fromkeys(GUARANTEES, 0)
    seeds_with = dict.fromkeys(GUARANTEES, 0)
    failed = []
    ok_reads = fails = 0
    for seed in range(1, seeds + 1):
        counts, report = run(seed, nodes, sessions, name)
        for name_, count in counts.items():
            totals[name_] += count
            seeds_with[name_] += count > 0
        if report["failed"]:
            failed.append((seed, report["failed"]))
        ok_reads += report["ops"]["ok"]
        fails += report["ops"]["fail"]
        print(seed, counts, report["ops"], report["failed"], flush=True)
    print(f"N={nodes} sessions {'on' if sessions else 'off'} seeds 1-{seeds}: violations {totals}, "
          f"seeds with violations {seeds_with}, ok ops {ok_reads}, failed ops {fails}, failing seeds {failed}")


if __name__ == "__main__":
    main(sys.argv[1:])
