"""The report of one run: the stable ``--json`` fields (docs/simulator.md) and the checks.

What may live here: metrics computed from a finished ``Simulation`` (history, counters,
final replica states) and the decision which failed checks break a promise the scheme
makes (``spec.promises``), which is what makes ``replikv sim`` exit non-zero.
"""

from __future__ import annotations

from typing import Any

from replikv.sim.checks import history_events, run_linearizable, run_lost_writes, run_stale_reads
from replikv.sim.simulation import WRITE_OPS, Simulation
from replikv.sim.workload import CAS_DIFFERED as _CAS_DIFFERED


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), int(-(-fraction * len(sorted_values) // 1))))
    return round(sorted_values[rank - 1], 3)


def _operations(history: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """(invoke, completion or None) pairs, in invocation order."""
    open_ops: dict[int, int] = {}
    pairs: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    for event in history:
        if event["type"] == "invoke":
            open_ops[event["process"]] = len(pairs)
            pairs.append((event, None))
        else:
            index = open_ops.pop(event["process"])
            pairs[index] = (pairs[index][0], event)
    return pairs


def _fraction(ok: int, total: int) -> float | None:
    return round(ok / total, 4) if total else None


def _window_availability(sim: Simulation, pairs: list) -> dict[str, float | None]:
    first = sim.nemesis.first_fault_ms
    if first is None:
        return {"availability": None, "read_availability": None, "write_availability": None}
    end = sim.fault_end if sim.fault_end is not None else sim.workload_end_ms
    counts = {"all": [0, 0], "read": [0, 0], "write": [0, 0]}
    for invoke, done in pairs:
        if not first <= invoke["time"] <= end:
            continue
        ok = done is not None and (done["type"] == "ok" or (invoke["f"] == "cas" and done["type"] == "fail"
                                                              and done.get("error") == _CAS_DIFFERED))
        for group in ("all", "read" if invoke["f"] == "read" else "write"):
            counts[group][0] += ok
            counts[group][1] += 1
    return {
        "availability": _fraction(*counts["all"]),
        "read_availability": _fraction(*counts["read"]),
        "write_availability": _fraction(*counts["write"]),
    }


def final_state(sim: Simulation) -> tuple[int | None, dict[str, str] | None]:
    leader = sim.current_leader()
    if leader is None:
        return None, None
    replica = sim.hosts[leader].replica
    assert replica is not None
    return leader, dict(replica.state_machine().items())


def digests(sim: Simulation) -> dict[int, str]:
    """State digests of the nodes that are up and, when a leader is known, in its final
    configuration (a removed node legitimately stops receiving updates)."""
    found = {}
    nodes = sim.all_nodes()
    leader = sim.current_leader()
    if leader is not None and sim.hosts[leader].replica is not None:
        configuration = set(sim.hosts[leader].replica.status().members)
        nodes = [n for n in nodes if n in configuration]
    for node in nodes:
        host = sim.hosts[node]
        if host.up and host.replica is not None:
            found[node] = host.replica.state_machine().digest()
    return found


def build_report(sim: Simulation, reproduce: str, check: bool = True) -> dict[str, Any]:
    history = sim.workload.history
    pairs = _operations(history)
    counts = {"ok": 0, "fail": 0, "info": 0}
    latencies: list[float] = []
    acked = committed_free = 0
    for invoke, done in pairs:
        kind = done["type"] if done is not None else "info"
        counts[kind] += 1
        if done is None or invoke["f"] not in WRITE_OPS:
            if kind == "ok" and done is not None:
                latencies.append(done["time"] - invoke["time"])
            continue
        # a cas that did not swap went through the log too: it counts as a committed write
        logged = kind == "ok" or (kind == "fail" and done.get("error") == _CAS_DIFFERED)
        if kind == "ok":
            latencies.append(done["time"] - invoke["time"])
            acked += 1
        committed_free += logged and done["time"] < sim.free_until
    latencies.sort()
    leader, state = final_state(sim)
    node_digests = digests(sim)
    divergent = len(set(node_digests.values())) > 1
    seconds = max(sim.end_ms, 1.0) / 1000
    report: dict[str, Any] = {
        "protocol": sim.spec.name,
        "scenario": sim.scenario.name,
        "seed": sim.seed,
        "nodes": len(sim.members),
        "ops": counts,
        "acked_writes": acked,
        "lost_acked_writes": None,
        "linearizable": None,
        "stale_reads": None,
        "divergent": divergent,
        "messages_per_write": round(sim.free_messages / committed_free, 3) if committed_free else None,
        "heartbeats_per_s": round(sim.heartbeats / seconds, 2),
        "latency_ms": {"p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99)},
        **_window_availability(sim, pairs),
        "failover_ms": sim.failover_ms,
        "reproduce": reproduce,
        "read_level": sim.scenario.workload.read_level,
        "final_leader": leader,
        "digests": {str(n): d for n, d in node_digests.items()},
        "virtual_ms": round(sim.end_ms, 3),
        "events": sim.engine.events,
        "quiesced": sim.quiesced,
        "partitioned": sim.nemesis.partitioned,
        "triggers_fired": sim.nemesis.fired,
        "operator": sim.operator_log,
        "violations": list(sim.violations),
    }
    report["checks"] = _checks(sim, report, history, state, check)
    report["failed"] = [c["name"] for c in report["checks"] if c["promised"] and c["passed"] is False]
    return report


def _checks(sim: Simulation, report: dict[str, Any], history: list, state: dict | None, check: bool) -> list[dict]:
    promises = sim.spec.promises
    safe_here = not sim.nemesis.partitioned or promises.partition_tolerant
    checks: list[dict[str, Any]] = []

    def add(name: str, passed: bool | None, promised: bool, detail: str) -> None:
        checks.append({"name": name, "passed": passed, "promised": promised, "detail": detail})

    per_term = [v for v in sim.violations if v["check"] == "leader_per_term"]
    add("leader_per_term", not per_term, sim.scenario.checks.leader_per_term,
        "; ".join(f"term {v['term']}: nodes {v['nodes']}" for v in per_term) or "at most one leader per term")
    add("converged", not report["divergent"], safe_here,
        "replicas hold the same data" if not report["divergent"] else f"digests differ: {report['digests']}")
    if not check:
        return checks
    events = history_events(history)
    lost = run_lost_writes(events, state)
    report["lost_acked_writes"] = lost.value
    add("no_lost_acked_writes", None if lost.value is None else lost.value == 0,
        promises.linearizable_writes and safe_here, lost.detail)
    if sim.scenario.checks.linearizable:
        lin = run_linearizable(events, sim.scenario.checks.max_steps)
        report["linearizable"] = lin.value
        promised = promises.linearizable_reads and report["read_level"] != "local" and safe_here
        add("linearizable", lin.value, promised, lin.detail)
    stale = run_stale_reads(events)
    report["stale_reads"] = stale.value
    add("no_stale_reads", None if stale.value is None else stale.value == 0,
        promises.linearizable_reads and report["read_level"] != "local" and safe_here, stale.detail)
    return checks
