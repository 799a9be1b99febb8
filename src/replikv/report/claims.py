"""The chapter's claims as named experiments, each with a verdict (``replikv compare
--claim NAME``, ``--list-claims``).

What may live here: one ``Claim`` per claim of the chapter ("Replication", sections
"Primary/backup replication", "Two phase commit", "Partition tolerant consensus
algorithms", "Summary"): which schemes it is about, chosen by their declarations
(``ProtocolSpec.promises``, ``leadership``, ``failover``, ``read_levels``), never by name;
the built-in scenario that tests it; and the rule that turns the runs into a verdict
with its numbers. A claim whose scenario or schemes do not exist yet is ``pending``,
never judged on something else.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from replikv.core.replica import ProtocolSpec
from replikv.report.runs import Experiment, Sweep, run_experiments
from replikv.sim.scenario import builtin_names

REPRODUCED, NOT_REPRODUCED, PENDING = "reproduced", "not reproduced", "pending"


def _leads(spec: ProtocolSpec) -> bool:
    return spec.leadership != "leaderless"


def is_async(spec: ProtocolSpec) -> bool:
    """Acknowledges before the copies are safe: no promise that acked writes survive."""
    return _leads(spec) and not spec.promises.linearizable_writes


def is_sync_pb(spec: ProtocolSpec) -> bool:
    """Synchronous primary/backup: acked writes survive a crash, yet no majority rule (not
    partition tolerant), a new primary by the operator."""
    return _leads(spec) and spec.promises.linearizable_writes and not spec.promises.partition_tolerant


def is_n_of_n(spec: ProtocolSpec) -> bool:
    """Waits for every replica (writes stop with one node down)."""
    return spec.promises.linearizable_writes and not spec.promises.available_with_one_down


def is_majority(spec: ProtocolSpec) -> bool:
    """A majority quorum: partition tolerant, available with one node down."""
    return spec.promises.partition_tolerant and spec.promises.available_with_one_down and _leads(spec)


def offers_auto_failover(spec: ProtocolSpec) -> bool:
    """Promotion is manual unless configured (``failover = "auto"``)."""
    return _leads(spec) and spec.failover == "manual"


def is_atomic_commit(spec: ProtocolSpec) -> bool:
    """Leaderless atomic commitment (2PC/3PC): any node coordinates, every node takes part
    (writes stop with one node down)."""
    return spec.leadership == "leaderless" and spec.transactions and not spec.promises.available_with_one_down


@dataclass(frozen=True)
class Group:
    label: str
    select: Callable[[ProtocolSpec], bool]
    expect: str


@dataclass
class Verdict:
    claim: str
    status: str
    summary: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    """Per scheme: ``{scheme, group, numbers, holds, reproduce}``."""


Reader = Callable[[Sweep, "Sweep | None"], tuple[bool, str]]
"""(does this scheme's sweep show what its group expects, the numbers); the second
sweep is the same scheme under the claim's ``baseline`` scenario (None without one)."""


@dataclass(frozen=True)
class Claim:
    name: str
    statement: str
    section: str
    scenario: str
    groups: tuple[tuple[Group, Reader], ...]
    options: tuple[tuple[str, Any], ...] = ()
    read_level: str | None = None
    trace: bool = False
    """Keep each run's trace and history (the reader needs them)."""
    needs_all_groups: bool = True
    """Pending unless every group has a scheme (e.g. "N-of-N slows down, majority does not")."""
    baseline: str | None = None
    """A fault-free scenario each chosen scheme also runs, to compare against."""

    def experiment(self, spec: ProtocolSpec, seeds: int) -> Experiment:
        return Experiment(spec.name, self.scenario, seeds, options=self.options, read_level=self.read_level,
                          trace=self.trace, history=self.trace)

    def baseline_experiment(self, spec: ProtocolSpec, seeds: int) -> Experiment | None:
        return None if self.baseline is None else Experiment(spec.name, self.baseline, seeds)

    def members(self, specs: list[ProtocolSpec]) -> list[tuple[Group, Reader, list[ProtocolSpec]]]:
        return [(g, reader, [s for s in specs if g.select(s)]) for g, reader in self.groups]

    def experiments(self, specs: list[ProtocolSpec], seeds: int) -> list[Experiment]:
        if self.pending_reason(specs) is not None:
            return []
        found = []
        for _, _, chosen in self.members(specs):
            for spec in chosen:
                found.append(self.experiment(spec, seeds))
                baseline = self.baseline_experiment(spec, seeds)
                if baseline is not None:
                    found.append(baseline)
        return found

    def pending_reason(self, specs: list[ProtocolSpec]) -> str | None:
        if self.scenario not in builtin_names():
            return f"scenario {self.scenario} is not built yet"
        members = self.members(specs)
        empty = [g.label for g, _, chosen in members if not chosen]
        if (self.needs_all_groups and empty) or len(empty) == len(members):
            return f"no scheme compared is {' / '.join(empty)}"
        return None

    def judge(self, specs: list[ProtocolSpec], sweeps: dict[str, Sweep], seeds: int) -> Verdict:
        reason = self.pending_reason(specs)
        if reason is not None:
            return Verdict(self.name, PENDING, reason)
        rows, holds_all = [], True
        for group, reader, chosen in self.members(specs):
            for spec in chosen:
                sweep = sweeps[self.experiment(spec, seeds).key]
                baseline_experiment = self.baseline_experiment(spec, seeds)
                baseline = sweeps[baseline_experiment.key] if baseline_experiment is not None else None
                if sweep.unsupported is not None:
                    rows.append({"scheme": spec.name, "group": group.label, "expect": group.expect,
                                 "numbers": f"n/a: {sweep.unsupported}", "holds": None, "reproduce": None})
                    continue
                if sweep.errors or not sweep.reports:
                    holds, numbers = False, "; ".join(sweep.errors[:2]) or "no run"
                else:
                    holds, numbers = reader(sweep, baseline)
                holds_all = holds_all and holds
                rows.append({"scheme": spec.name, "group": group.label, "expect": group.expect,
                             "numbers": numbers, "holds": holds, "reproduce": sweep.reproduce})
        if not any(r["holds"] is not None for r in rows):
            return Verdict(self.name, PENDING, "no scheme compared can run the scenario", rows)
        status = REPRODUCED if holds_all else NOT_REPRODUCED
        failing = [f"{r['scheme']} ({r['group']}: expected {r['expect']}; {r['numbers']})"
                   for r in rows if r["holds"] is False]
        summary = "every scheme behaved as the chapter says" if holds_all else "not as claimed: " + "; ".join(failing)
        return Verdict(self.name, status, summary, rows)


# -- readers: (holds, numbers) from a sweep --------------------------------------------


def _most(count: int, runs: int) -> bool:
    return count * 2 > runs


def loses_writes_most_seeds(sweep: Sweep, baseline: Sweep | None = None) -> tuple[bool, str]:
    s = sweep.summary
    assert s is not None
    where = len(s["seeds_with_lost_writes"])
    return _most(where, s["runs"]), f"{s['lost_acked_writes_total']} acked writes lost on {where}/{s['runs']} seeds"


def loses_nothing(sweep: Sweep, baseline: Sweep | None = None) -> tuple[bool, str]:
    s = sweep.summary
    assert s is not None
    lost = s["lost_acked_writes_total"]
    return lost == 0 and not s["divergent"], (f"{lost} acked writes lost, {s['divergent']} diverged "
                                              f"in {s['runs']} seeds")


def accepts_uncertain_acks(sweep: Sweep, baseline: Sweep | None = None) -> tuple[bool, str]:
    """The client saw no answer (info) for writes the promoted backup holds, and the
    checker found the history linearizable anyway: nothing acknowledged was lost."""
    s = sweep.summary
    assert s is not None
    lin = round(s["linearizable_fraction"] * s["runs"])
    info = s["ops"]["info"]
    holds = lin == s["runs"] and s["lost_acked_writes_total"] == 0 and info > 0
    return holds, f"{info} ops of unknown outcome; linearizable {lin}/{s['runs']}; {s['lost_acked_writes_total']} lost"


def _median(values: list[float]) -> float | None:
    values = sorted(values)
    return values[(len(values) - 1) // 2] if values else None


SLOWDOWN = 2.0
"""The p99 factor that separates "follows the slow node" from "keeps pace" (the slow node
is ten times slower: a scheme that waits for it sees far more than this)."""


def _slowdown(sweep: Sweep, baseline: Sweep | None) -> tuple[float | None, str]:
    """The p99 latency of operations invoked while one backup (follower) is slow (median
    over seeds of ``fault_latency_ms.p99``) against the same scheme's steady-state p99
    without faults (the baseline sweep's ``steady_latency_ms.p99``)."""
    slow = _median([r["fault_latency_ms"]["p99"] for r in sweep.reports if r["fault_latency_ms"]["p99"] is not None])
    summary = baseline.summary if baseline is not None else None
    base = summary["steady_latency_ms"]["p99"] if summary is not None else None
    if slow is None or not base:
        return None, "no latency measured"
    ratio = slow / base
    return ratio, f"p99 {slow:.1f} ms with one slow node vs {base:.1f} ms without (x{ratio:.1f}; medians over seeds)"


def slows_down(sweep: Sweep, baseline: Sweep | None = None) -> tuple[bool, str]:
    ratio, text = _slowdown(sweep, baseline)
    return ratio is not None and ratio >= SLOWDOWN, text


def keeps_pace(sweep: Sweep, baseline: Sweep | None = None) -> tuple[bool, str]:
    ratio, text = _slowdown(sweep, baseline)
    return ratio is not None and ratio < SLOWDOWN, text


def split_brain(sweep: Sweep, baseline: Sweep | None = None) -> tuple[bool, str]:
    """Two primaries took writes: acknowledged writes of the losing side vanish at the heal."""
    return loses_writes_most_seeds(sweep, baseline)


def refuses_not_loses(sweep: Sweep, baseline: Sweep | None = None) -> tuple[bool, str]:
    s = sweep.summary
    assert s is not None
    holds, numbers = loses_nothing(sweep, baseline)
    return holds, f"{numbers}; write availability {s['write_availability_p50']:.0%} (median)"


def _partition_windows(trace: bytes) -> list[tuple[float, float, set[int], set[int]]]:
    """(start, end, minority nodes, majority nodes) of each partition in a run's trace."""
    windows: list[tuple[float, float, set[int], set[int]]] = []
    current: tuple[float, set[int], set[int]] | None = None
    for line in trace.splitlines():
        if b'"ev":"partition"' not in line and b'"ev":"heal"' not in line:
            continue
        event = json.loads(line)
        if current is not None:
            windows.append((current[0], event["t"], current[1], current[2]))
            current = None
        if event["ev"] == "partition":
            groups = sorted(event["groups"], key=len)
            current = (event["t"], set(groups[0]), set(groups[-1]))
    if current is not None:
        windows.append((current[0], float("inf"), current[1], current[2]))
    return windows


def minority_stops(sweep: Sweep, baseline: Sweep | None = None) -> tuple[bool, str]:
    """No node of the minority side acknowledges a write invoked while partitioned, and
    the majority side keeps acknowledging (partition windows from the trace, the
    answering node of each acknowledged write from the history's ``node``). A write
    decided before the partition may still be answered by the old leader after it."""
    minority_acks = majority_acks = runs = 0
    for report in sweep.reports:
        trace, history = sweep.traces.get(report["seed"]), sweep.histories.get(report["seed"])
        if trace is None or history is None:
            continue
        runs += 1
        windows = _partition_windows(trace)
        invoked: dict[int, float] = {}
        for event in history:
            if event["type"] == "invoke":
                invoked[event["process"]] = event["time"]
                continue
            if event["type"] != "ok" or event["f"] == "read" or "node" not in event:
                continue
            for start, end, minority, majority in windows:
                if start <= invoked[event["process"]] and event["time"] < end:
                    minority_acks += event["node"] in minority
                    majority_acks += event["node"] in majority
    return (runs > 0 and minority_acks == 0 and majority_acks > 0,
            f"{minority_acks} writes invoked while partitioned acknowledged by the minority side, "
            f"{majority_acks} by the majority side ({runs} seeds)")


def fenced(sweep: Sweep, baseline: Sweep | None = None) -> tuple[bool, str]:
    s = sweep.summary
    assert s is not None
    lin = round(s["linearizable_fraction"] * s["runs"])
    return (s["stale_reads_total"] == 0 and lin == s["runs"],
            f"{s['stale_reads_total']} stale reads; linearizable {lin}/{s['runs']}")


def safe_not_live(sweep: Sweep, baseline: Sweep | None = None) -> tuple[bool, str]:
    """Safety kept on every seed (linearizable, no invariant violation, no divergence),
    liveness lost on most: some writes of the dueling window were not acknowledged; and
    the cluster writes again after the heal (no seed failed ``heals``)."""
    s = sweep.summary
    assert s is not None
    lin = round(s["linearizable_fraction"] * s["runs"])
    stalled = sum(1 for r in sweep.reports if r["write_availability"] is not None and r["write_availability"] < 1)
    healed = sum(1 for r in sweep.reports if "heals" not in r["failed"])
    holds = (lin == s["runs"] and s["violations"] == 0 and not s["divergent"] and _most(stalled, s["runs"])
             and healed == s["runs"])
    avail = s["write_availability_p50"]
    return holds, (f"linearizable {lin}/{s['runs']}, {s['violations']} invariant violations; writes refused or "
                   f"timed out while dueling on {stalled}/{s['runs']} seeds (median write availability "
                   f"{avail if avail is None else format(avail, '.0%')}); writes again after the heal on "
                   f"{healed}/{s['runs']}")


def stale_beyond_bound(sweep: Sweep, baseline: Sweep | None = None) -> tuple[bool, str]:
    s = sweep.summary
    assert s is not None
    stale_seeds = sum(1 for r in sweep.reports if r["stale_reads"])
    return _most(stale_seeds, s["runs"]), (f"{s['stale_reads_total']} stale lease reads on {stale_seeds}/{s['runs']} "
                                           f"seeds, at most {s['max_staleness_ms']} ms stale")


BLOCKED_MS = 500.0
"""Half the time ``coordinator-crash-after-votes`` keeps the coordinator down (1 s): locks
held longer than this waited for it."""


def _lock_holds(sweep: Sweep) -> list[float]:
    """Each run's longest lock hold (``scheme_metrics.lock_hold_max_ms``, reported by
    schemes that lock at prepare)."""
    return [r["scheme_metrics"]["lock_hold_max_ms"] for r in sweep.reports
            if isinstance(r.get("scheme_metrics"), dict) and r["scheme_metrics"].get("lock_hold_max_ms") is not None]


def blocks(sweep: Sweep, baseline: Sweep | None = None) -> tuple[bool, str]:
    """Participants that voted yes hold their locks until the coordinator is back."""
    holds = _lock_holds(sweep)
    if not holds:
        return False, "no lock_hold_max_ms reported"
    blocked = sum(1 for h in holds if h >= BLOCKED_MS)
    return _most(blocked, len(holds)), (f"locks held {_median(holds):.0f} ms (median of the longest hold per seed); "
                                        f"{blocked}/{len(holds)} seeds held them {BLOCKED_MS:.0f} ms or more")


def terminates(sweep: Sweep, baseline: Sweep | None = None) -> tuple[bool, str]:
    """The survivors decide without the coordinator: locks released well before it returns."""
    holds = _lock_holds(sweep)
    if not holds:
        return False, "no lock_hold_max_ms reported"
    quick = sum(1 for h in holds if h < BLOCKED_MS)
    return _most(quick, len(holds)), (f"locks held {_median(holds):.0f} ms (median of the longest hold per seed); "
                                      f"{quick}/{len(holds)} seeds released them within {BLOCKED_MS:.0f} ms")


def _divergent_decisions(sweep: Sweep) -> int:
    return sum(1 for r in sweep.reports if r.get("divergent_decisions"))


def diverges(sweep: Sweep, baseline: Sweep | None = None) -> tuple[bool, str]:
    """The two sides of the partition decided the same transaction differently."""
    s = sweep.summary
    assert s is not None
    seeds = _divergent_decisions(sweep)
    return _most(seeds, s["runs"]), (f"conflicting decisions on {seeds}/{s['runs']} seeds; replicas diverged on "
                                     f"{s['divergent']}/{s['runs']}")


def never_diverges(sweep: Sweep, baseline: Sweep | None = None) -> tuple[bool, str]:
    s = sweep.summary
    assert s is not None
    seeds = _divergent_decisions(sweep)
    return seeds == 0 and not s["divergent"], (f"conflicting decisions on {seeds}/{s['runs']} seeds; replicas "
                                               f"diverged on {s['divergent']}/{s['runs']}")


CLAIMS: tuple[Claim, ...] = (
    Claim("async-loses-acked-writes",
          "Asynchronous replication loses acknowledged writes when the primary dies (what it had not yet "
          "shipped); synchronous primary/backup never does.",
          "Primary/backup replication", "primary-crash-lagging",
          ((Group("asynchronous", is_async, "lost writes on most seeds"), loses_writes_most_seeds),
           (Group("synchronous", lambda s: _leads(s) and s.promises.linearizable_writes, "nothing lost"),
            loses_nothing))),
    Claim("nofn-latency",
          "N-of-N replication is as slow as its slowest node; a majority quorum is not.",
          "Primary/backup replication; Partition tolerant consensus algorithms", "slow-backup",
          ((Group("N-of-N", is_n_of_n, "p99 x2 or more"), slows_down),
           (Group("majority", is_majority, "p99 under x2"), keeps_pace)), baseline="steady"),
    Claim("sync-ack-lost",
          "Synchronous P/B: the primary may crash after the backups hold a write but before the client hears "
          "back; the client must treat the outcome as unknown, and nothing acknowledged is lost.",
          "Primary/backup replication", "primary-crash-before-reply",
          ((Group("synchronous P/B", is_sync_pb, "unknown outcomes, linearizable, nothing lost"),
            accepts_uncertain_acks),), needs_all_groups=False),
    Claim("split-brain-auto-failover",
          "Automatic primary/backup failover splits the brain under a partition: two primaries accept writes, "
          "and one side's acknowledged writes are lost.",
          "Primary/backup replication", "partition-primary",
          ((Group("asynchronous, auto failover", lambda s: offers_auto_failover(s) and is_async(s),
                  "lost writes on most seeds"), split_brain),
           (Group("synchronous, auto failover", lambda s: offers_auto_failover(s) and not is_async(s),
                  "writes refused, nothing lost"), refuses_not_loses)),
          options=(("failover", "auto"),), needs_all_groups=False),
    Claim("2pc-blocks",
          "2PC blocks when the coordinator dies after the votes: participants that voted yes hold their locks "
          "until it returns; 3PC's survivors terminate without it.",
          "Two phase commit", "coordinator-crash-after-votes",
          ((Group("two-phase (atomic commit, partition tolerant)",
                  lambda s: is_atomic_commit(s) and s.promises.partition_tolerant,
                  f"locks held {BLOCKED_MS:.0f} ms or more"), blocks),
           (Group("three-phase (atomic commit, not partition tolerant)",
                  lambda s: is_atomic_commit(s) and not s.promises.partition_tolerant,
                  f"locks released within {BLOCKED_MS:.0f} ms"), terminates)), needs_all_groups=False),
    Claim("3pc-diverges",
          "3PC does not block on a coordinator crash, but under a partition each side terminates alone and the "
          "two sides can decide differently; 2PC blocks instead.",
          "Two phase commit", "3pc-partition-termination",
          ((Group("three-phase (atomic commit, not partition tolerant)",
                  lambda s: is_atomic_commit(s) and not s.promises.partition_tolerant,
                  "conflicting decisions on most seeds"), diverges),
           (Group("two-phase (atomic commit, partition tolerant)",
                  lambda s: is_atomic_commit(s) and s.promises.partition_tolerant,
                  "no conflicting decision"), never_diverges))),
    Claim("minority-stops",
          "A majority tolerates floor((N-1)/2) failures; the minority side of a partition stops accepting writes "
          "while the majority goes on.",
          "Partition tolerant consensus algorithms", "partition-leader",
          ((Group("majority", is_majority, "no write acked by the minority side"), minority_stops),), trace=True),
    Claim("stale-leader-fenced",
          "Epochs (terms) fence a stale leader: cut off from the majority, it serves no stale read and commits "
          "nothing.",
          "Partition tolerant consensus algorithms", "stale-leader-reads",
          ((Group("majority", is_majority, "no stale read, linearizable"), fenced),)),
    Claim("dueling-proposers",
          "Competing proposers keep safety but can lose liveness (FLP) until the network calms down.",
          "Partition tolerant consensus algorithms", "dueling-proposers",
          ((Group("majority", is_majority, "safe on every seed, writes stall while dueling, then recover"),
            safe_not_live),)),
    Claim("lease-clock-drift",
          "A lease read is stale once clocks drift past the lease's bound.",
          "Partition tolerant consensus algorithms", "lease-clock-drift",
          ((Group("lease reads", lambda s: is_majority(s) and "lease" in s.read_levels, "stale reads on most seeds"),
            stale_beyond_bound),)),
)


def find(name: str) -> Claim:
    for claim in CLAIMS:
        if claim.name == name:
            return claim
    raise KeyError(f"unknown claim {name!r}; choose one of: {', '.join(c.name for c in CLAIMS)}")


def run_claims(claims: list[Claim], specs: list[ProtocolSpec], seeds: int, workers: int,
               on_done: Callable[[Experiment, int], None] | None = None,
               on_total: Callable[[int], None] | None = None) -> list[Verdict]:
    experiments = [e for claim in claims for e in claim.experiments(specs, seeds)]
    sweeps = run_experiments(experiments, workers, on_done, on_total)
    return [claim.judge(specs, sweeps, seeds) for claim in claims]
