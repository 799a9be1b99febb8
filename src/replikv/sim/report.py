"""The report of one run: the stable ``--json`` fields (docs/simulator.md) and the checks.

What may live here: metrics computed from a finished ``Simulation`` (history, counters,
final replica states) and the decision which failed checks break a promise the scheme
makes (``spec.promises``), which is what makes ``replikv sim`` exit non-zero.
"""

from __future__ import annotations

from typing import Any

from replikv.check import pair_operations, stale_reads
from replikv.check.history import CAS_MISMATCH
from replikv.check.register import canon
from replikv.check.staleness import Producers
from replikv.sim.applied import held_requests
from replikv.sim.checks import (
    CheckOutcome,
    history_events,
    run_linearizable,
    run_lost_appends,
    run_lost_writes,
    run_sequential,
    run_stale_reads,
    run_txn,
    split_txn,
)
from replikv.sim.cutoff import cut_off_windows
from replikv.sim.decisions import divergent_decisions, scheme_metrics
from replikv.sim.scenario import ClockDrift
from replikv.sim.simulation import PROBE_KEY, WRITE_OPS, Simulation


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
                                                              and done.get("error") == CAS_MISMATCH))
        for group in ("all", "read" if invoke["f"] == "read" else "write"):
            counts[group][0] += ok
            counts[group][1] += 1
    return {
        "availability": _fraction(*counts["all"]),
        "read_availability": _fraction(*counts["read"]),
        "write_availability": _fraction(*counts["write"]),
    }


def steady_fields(sim: Simulation, pairs: list) -> dict[str, Any]:
    """Latency and throughput in steady state: over the operations invoked from the first
    acknowledged operation (the cluster serves: a first election is over) to the first
    fault (or the end of the workload when there is none). ``throughput_ops_s`` counts the
    ok operations completed in that window per virtual second. ``fault_latency_ms``: the
    same percentiles over the operations invoked in the fault window (once the cluster
    serves), e.g. with a slow node."""
    oks = [done["time"] for _, done in pairs if done is not None and done["type"] == "ok"]
    if not oks:
        return {"steady_latency_ms": {"p50": None, "p99": None}, "throughput_ops_s": None,
                "fault_latency_ms": {"p50": None, "p99": None}}
    start = min(oks)
    first_fault = sim.nemesis.first_fault_ms
    end = first_fault if first_fault is not None else sim.workload_end_ms
    latencies = sorted(done["time"] - invoke["time"] for invoke, done in pairs
                       if done is not None and done["type"] == "ok" and start <= invoke["time"] < end)
    served = sum(1 for t in oks if start <= t <= end)
    seconds = (end - start) / 1000
    fault = None
    if first_fault is not None:
        fault_end = sim.fault_end if sim.fault_end is not None else sim.workload_end_ms
        fault = sorted(done["time"] - invoke["time"] for invoke, done in pairs
                       if done is not None and done["type"] == "ok"
                       and max(start, first_fault) <= invoke["time"] < fault_end)
    return {
        "steady_latency_ms": {"p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99)},
        "throughput_ops_s": round(served / seconds, 1) if seconds > 0 else None,
        "fault_latency_ms": {"p50": percentile(fault or [], 0.5), "p99": percentile(fault or [], 0.99)},
    }


def final_state(sim: Simulation) -> tuple[int | None, dict[str, str] | None]:
    """(leader, data) after the run: the leader's state where one leads; otherwise (a
    leaderless scheme, or none elected) the state every up replica agrees on; None when
    they disagree (the ``converged`` check says so)."""
    leader = sim.current_leader()
    if leader is not None:
        replica = sim.hosts[leader].replica
        assert replica is not None
        data = replica.state_machine().items()
    else:
        machines = [h.replica.state_machine() for n in sim.all_nodes()
                    if (h := sim.hosts[n]).up and h.replica is not None]
        if not machines or len({m.digest() for m in machines}) != 1:
            return None, None
        data = machines[0].items()
    data.pop(PROBE_KEY, None)
    return leader, dict(data)


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


def clock_rates(sim: Simulation) -> tuple[float, float]:
    """(slowest, fastest) clock rate the run used: every clock runs at 1.0 before its
    first ``clock-drift`` fault and after the heal, plus every rate a ``clock-drift`` fault
    of the timetable or of a trigger's ``then`` sets (counted even if it never fired)."""
    rates = [1.0]
    faults = [*sim.scenario.faults, *(f for t in sim.scenario.triggers for f in t.then)]
    rates.extend(f.rate for f in faults if isinstance(f, ClockDrift))
    return min(rates), max(rates)


def lease_fields(sim: Simulation) -> dict[str, Any]:
    """What a leader lease may promise in this run (thesis §6.4.1).

    The lease lasts ``lease_bound_ms = (election_timeout - tick) * (1 - clock_drift)`` on
    the leader's clock from when its last majority-acknowledged heartbeat left; followers
    that acknowledged it refuse to elect anyone for ``election_timeout`` on theirs, counted
    from their last tick (up to one tick early). With clock rates ``slow..fast``, the lease
    can outlive that promise by
    ``lease_overrun_ms = max(0, lease_bound/slow - (election_timeout - tick)/fast)`` of real time,
    which is also the most a lease read can be stale. It is 0 exactly when the measured
    relative drift ``1 - slow/fast`` is within ``clock_drift``. A scheme with no elected
    leader (no ``election_timeout_ms``: 2pc, 3pc) has no lease: its lease fields are None."""
    slow, fast = clock_rates(sim)
    drift = round(1 - slow / fast, 6)
    fields: dict[str, Any] = {"clock_drift_measured": drift, "lease_bound_ms": None, "lease_overrun_ms": None}
    if sim.scenario.workload.read_level == "lease" and hasattr(sim.config, "election_timeout_ms"):
        timeout, bound = sim.config.election_timeout_ms - sim.config.tick_ms, sim.config.clock_drift
        lease = timeout * (1 - bound)
        fields["lease_bound_ms"] = round(lease, 3)
        fields["lease_overrun_ms"] = 0.0 if drift <= bound else round(max(0.0, lease / slow - timeout / fast), 3)
    return fields


def max_staleness(events: list[Any]) -> float:
    """For each certainly stale read (``check.stale_reads``): how long before the read
    was invoked the value it returned had been superseded, i.e. read invocation minus the
    completion of the EARLIEST acknowledged mutation it missed (one invoked after every
    producer of the returned value, completed before the read). The max over the run;
    0 without stale reads."""
    stale = stale_reads(events)
    if not stale:
        return 0.0
    by_key: dict[str, list[Any]] = {}
    for op in pair_operations(events):
        by_key.setdefault(op.key, []).append(op)
    producers: dict[str, Producers] = {}
    worst = 0.0
    for found in stale:
        ops = by_key[found.key]
        if found.key not in producers:
            producers[found.key] = Producers(ops)
        latest = producers[found.key].latest(canon(found.read.output))
        read_at = found.read.invoke_time
        earliest = min(
            (w.complete_time for w in ops
             if w.type == "ok" and w.f != "read" and latest is not None and w.invoke_time > latest
             and w.complete_time < read_at),
            default=found.missed.complete_time,
        )
        worst = max(worst, read_at - earliest)
    return round(worst, 3)


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
        logged = kind == "ok" or (kind == "fail" and done.get("error") == CAS_MISMATCH)
        if kind == "ok":
            latencies.append(done["time"] - invoke["time"])
            acked += 1
        committed_free += logged and done["time"] < sim.free_until
    latencies.sort()
    leader, state = final_state(sim)
    node_digests = digests(sim)
    # an aborted run stopped mid-flight: whether its replicas would have converged is unknown
    divergent = len(set(node_digests.values())) > 1 if sim.aborted is None else None
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
        "strict_serializable": None,
        "txn_anomalies": None,
        "divergent": divergent,
        "divergent_decisions": None,
        "scheme_metrics": scheme_metrics(sim),
        "messages_per_write": round(sim.free_messages / committed_free, 3) if committed_free else None,
        "heartbeats_per_s": round(sim.heartbeats / seconds, 2),
        "latency_ms": {"p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99)},
        **steady_fields(sim, pairs),
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
        "cut_off": cut_off(sim),
        "triggers_fired": sim.nemesis.fired,
        "operator": sim.operator_log,
        "violations": list(sim.violations),
        **lease_fields(sim),
        "max_staleness_ms": None,
        "aborted": sim.aborted,
    }
    report["checks"] = _checks(sim, report, history, state, check)
    unknown_ok = bool(sim.scenario.checks.unknown_ok)
    report["failed"] = [c["name"] for c in report["checks"]
                        if c["promised"] and (c["passed"] is False or (c["passed"] is None and not unknown_ok))]
    return report


def cut_off(sim: Simulation) -> dict[str, Any] | None:
    """For a scheme that declares a ``synchrony_bound``: the longest window in which a
    node was cut off from every peer by slowness or loss for longer than the bound
    (``sim.cutoff``; ``times``: how many such windows), else None. Such a node
    looked crashed to the scheme's timeouts though it was up: for a scheme that is
    not partition tolerant the run is judged as under a partition (3PC, Skeen 1981: the
    termination protocol is safe only with fail-stop nodes and bounded delays)."""
    bound = sim.network.silence_bound_ms
    windows = cut_off_windows(sim.network.silences, bound, sim.all_nodes()) if bound is not None else []
    if not windows:
        return None
    at, ms, node = max(windows, key=lambda w: (w[1], -w[0]))
    return {"node": node, "at_ms": at, "ms": ms, "bound_ms": bound, "times": len(windows)}


def _checks(sim: Simulation, report: dict[str, Any], history: list, state: dict | None, check: bool) -> list[dict]:
    promises = sim.spec.promises_under(sim.config, len(sim.members))
    # a silence longer than a timeout-based failure detector's bound is a partition to it
    safe_here = not (sim.nemesis.partitioned or report["cut_off"]) or promises.partition_tolerant
    lease = report["lease_bound_ms"] is not None
    # a lease promises linearizable reads only while clocks drift within clock_drift
    clocks_ok = not lease or report["lease_overrun_ms"] == 0
    # local and sequential reads are served by any node: stale reads are allowed
    reads_promised = (promises.linearizable_reads and report["read_level"] not in ("local", "sequential")
                      and safe_here and clocks_ok)
    checks: list[dict[str, Any]] = []

    def add(name: str, passed: bool | None, promised: bool, detail: str) -> None:
        checks.append({"name": name, "passed": passed, "promised": promised, "detail": detail})

    per_term = [v for v in sim.violations if v["check"] == "leader_per_term"]
    add("leader_per_term", not per_term, sim.scenario.checks.leader_per_term,
        "; ".join(f"term {v['term']}: nodes {v['nodes']}" for v in per_term) or "at most one leader per term")
    if sim.aborted is not None:
        # the run stopped early (a replica raised, or the event budget ran out): its
        # history and states are cut short, so the end-of-run checks would judge nothing
        add(sim.aborted["check"], False, True, f"{sim.aborted['detail']}; reproduce: {report['reproduce']}")
        return checks
    heals = sim.scenario.checks.heals
    report["probe_ok_ms"] = sim.probe_ok_ms
    if heals:
        add("heals", sim.probe_ok_ms is not None, True,
            f"a write committed {sim.probe_ok_ms} ms after the healed cluster settled" if sim.probe_ok_ms is not None
            else f"no write committed within {sim.scenario.run.heal_bound_ms} ms after the heal")
    add("converged", not report["divergent"], safe_here and sim.scenario.checks.converges,
        "replicas hold the same data" if not report["divergent"] else f"digests differ: {report['digests']}")
    split, detail = divergent_decisions(sim)
    report["divergent_decisions"] = split
    if split is not None:
        # nodes that decided one transaction differently (2PC/3PC): 3PC's termination
        # protocol is not partition tolerant, so under a partition it is shown, not promised
        cut = report["cut_off"]
        if split and cut is not None and not sim.nemesis.partitioned and not promises.partition_tolerant:
            detail += (f" (not promised: from {cut['at_ms']:g} ms node {cut['node']} was cut off from every peer"
                       f" for {cut['ms']:g} ms, its messages or theirs late or lost, longer than the"
                       f" {cut['bound_ms']:g} ms the scheme's timeouts assume: a partition to them)")
        add("no_divergent_decisions", split == 0, safe_here, detail)
    if not check:
        return checks
    # the register checks take the single-key ops, the transaction checker the txns
    all_events = history_events(history)
    events, txns = split_txn(all_events)
    lost = run_lost_writes(events, state, held_requests(sim, report["final_leader"], all_events))
    if txns:
        lost = _with_lost_appends(lost, run_lost_appends(txns, state))
    report["lost_acked_writes"] = lost.value
    add("no_lost_acked_writes", None if lost.value is None else lost.value == 0,
        promises.linearizable_writes and safe_here, lost.detail)
    if txns:
        txn = run_txn(txns)
        report["strict_serializable"] = None if txn.value is None else txn.value.valid
        report["txn_anomalies"] = None if txn.value is None else dict(txn.value.anomalies)
        add(txn.name, report["strict_serializable"], _txn_promised(sim, report, safe_here and clocks_ok),
            txn.detail)
        if not events:
            return checks  # no single-key op: nothing for the register checks to judge
    if sim.scenario.checks.linearizable:
        lin = run_linearizable(events, sim.scenario.checks.max_steps)
        report["linearizable"] = lin.value
        add("linearizable", lin.value, reads_promised, lin.detail)
    if report["read_level"] == "sequential":
        seq = run_sequential(events, sim.scenario.checks.max_steps)
        report["sequential"] = None if seq.value is None else seq.value.result.valid
        report["stale_reads_allowed"] = None if seq.value is None else seq.value.stale_allowed
        add("sequential", report["sequential"], promises.linearizable_writes and safe_here, seq.detail)
    stale = run_stale_reads(events)
    report["stale_reads"] = stale.value
    # fresh reads (R + W > N): no read misses a write acknowledged before it started
    fresh_promised = reads_promised or (promises.fresh_reads and report["read_level"] not in ("local", "sequential")
                                        and safe_here)
    add("no_stale_reads", None if stale.value is None else stale.value == 0, fresh_promised, stale.detail)
    if stale.value is not None:
        report["max_staleness_ms"] = max_staleness(events) if stale.value else 0.0
    if lease and stale.value is not None:
        add("lease_staleness_bounded", *_lease_check(report, sim.config.clock_drift,
                                                      promises.linearizable_reads and safe_here))
    return checks


def _txn_promised(sim: Simulation, report: dict[str, Any], safe_here: bool) -> bool:
    """``strict_serializable`` is promised by a scheme that applies a ``Txn`` atomically
    (``spec.transactions``) and whose acknowledged writes are linearizable, where those
    promises hold (``safe_here``: no partition it does not tolerate, clocks within a
    lease's bound). A Txn with a write goes through the write path, reads and all; a
    read-only Txn is served as a read at the workload's read level, from the node that
    orders writes unless the level is ``local`` (then nothing is promised). pb-sync does
    not promise linearizable reads only because a primary cut off by a partition may
    serve them, which ``safe_here`` already excludes."""
    promises = sim.spec.promises
    return (sim.spec.transactions and promises.linearizable_writes and safe_here
            and report["read_level"] not in ("local", "sequential"))


def _with_lost_appends(lost: CheckOutcome, appends: CheckOutcome) -> CheckOutcome:
    """``no_lost_acked_writes`` over both kinds of op: lost single-key writes plus the
    appends of acknowledged transactions missing from the final state."""
    if lost.value is None or appends.value is None:
        return lost if lost.value is None else appends
    if not appends.value:
        return lost
    detail = appends.detail if not lost.value else f"{lost.detail}; {appends.detail}"
    return CheckOutcome(name=lost.name, value=lost.value + appends.value, detail=detail)


def _lease_check(report: dict[str, Any], bound: float, promised: bool) -> tuple[bool, bool, str]:
    """(passed, promised, detail) of ``lease_staleness_bounded``: no lease read may be
    stale while clocks drift within ``clock_drift`` (thesis §6.4.1); the check is
    promised only then. Beyond it the detail says by how much reads exceeded the bound,
    and whether they stayed within the overrun the drift allows."""
    staleness, overrun = report["max_staleness_ms"], report["lease_overrun_ms"]
    drift = report["clock_drift_measured"]
    clocks = f"clock drift {drift:.1%} {'<=' if overrun == 0 else '>'} clock_drift {bound:.1%}"
    where = f"lease {report['lease_bound_ms']} ms; {clocks}"
    if report["stale_reads"] == 0:
        return True, promised and overrun == 0, f"no stale read ({where})"
    within = "within" if staleness <= overrun else "BEYOND"
    detail = (f"{report['stale_reads']} stale reads, max staleness {staleness} ms exceeds the bound of 0 ms "
              f"({where}; {within} the {overrun} ms the lease can overrun at these clock rates)")
    return False, promised and overrun == 0, detail
