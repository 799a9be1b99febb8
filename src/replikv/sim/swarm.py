"""Swarm testing: every seed draws its own fault knobs, then its own fault schedule.

What may live here: the pure mapping ``seed -> (knobs, Scenario)`` for
``replikv sim --swarm``. Swarm testing (Groce et al., "Swarm Testing", ISSTA 2012) runs
many configurations that each switch a random subset of features on, instead of one
configuration with everything on: a seed with only a one-way partition and a slow fsync
finds bugs that a seed where every fault fires at once drowns out. So a seed first draws
WHICH faults it has and how strong they are (the knobs: loss, duplication, reordering,
latency spread and long tails, partition count and shape incl. one-way, crash count and
torn tails, pauses, slow fsync, clock drift, a slow node, pb failover mode, read level,
snapshots, workload shape), then WHEN and WHERE they strike (the schedule).

Both come from named streams of the caller's ``rng_factory`` (``"{seed}:swarm:knobs"``,
``"{seed}:swarm:schedule"``), so the same seed always builds the same scenario and this
module never imports ``random``. The simulation itself then runs with its own streams
(``"{seed}:net"`` ...), as for any scenario.

Every fault is inside ``[fault_start_ms, fault_end_ms)``; at ``fault_end_ms`` the
simulator heals the network, restores loss/latency/slowness/clocks, restarts crashed
nodes and resumes paused ones, then quiesces, so convergence is always checked.

Fault model (what the schemes are judged against, docs/simulator.md "Swarm"):
- clock drift stays within ``ReplicaConfig.clock_drift`` (rates in [1-d, 1+d] with
  ``d <= 0.04``, so two clocks differ by less than the 10% leases assume, Raft thesis
  §6.4.1);
- a torn tail drops the last durable record of the crashing node (storage.md: a damaged
  final record is indistinguishable from a torn write), at most one crash per run;
- no bit flips before the tail: that node refuses to restart for good, so the run could
  not heal; the engine tests cover it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from replikv.core.errors import ConfigError
from replikv.schemes import get_spec
from replikv.sim.distributions import Constant, Distribution, LogNormal, Normal, Uniform
from replikv.sim.run import RunResult, SimSettings, reproduce_command, run_simulation
from replikv.sim.scenario import (
    ChecksSpec,
    ClockDrift,
    Crash,
    DiskSpec,
    Fault,
    Heal,
    Isolate,
    NetworkSpec,
    OneWay,
    Partition,
    Pause,
    PromoteNode,
    Restart,
    Resume,
    RunSpec,
    Scenario,
    SetNetwork,
    Slow,
    WorkloadSpec,
    validate_scenario,
)

if TYPE_CHECKING:
    import random

RngFactory = Callable[[str], "random.Random"]

PARTITION_SHAPES = (
    "isolate-leader",   # the leader alone, clients with the majority
    "isolate-node",     # one node by id (often a follower)
    "split",            # a random minority vs the rest
    "one-way-from-leader",  # the leader's messages to everyone are lost; it still hears them
    "one-way-to-leader",    # everyone's messages to the leader are lost; it still talks
    "one-way-pair",         # one directed node-to-node link is cut
)
DEFAULT_NODES = 3
SWARM_REF = "--swarm"
"""How reproduce lines name a swarm seed's scenario: ``replikv sim ... --swarm --seed N``."""
MAX_DRIFT = 0.04
"""Largest |rate - 1| a clock gets: two clocks then differ by < 10% (``clock_drift``)."""


class SwarmKnobs(msgspec.Struct, frozen=True, kw_only=True):
    """What one seed switched on, and how strongly (the ``swarm`` field of its report)."""

    seed: int
    protocol: str
    nodes: int
    loss: float
    dup: float
    reorder: float
    fifo: bool
    latency: str
    """Base link latency: ``uniform`` or ``normal`` spread."""
    long_tail: float
    """Sigma of a lognormal latency during the fault window (0: none)."""
    crash_drops_sent: bool
    partitions: int
    partition_shapes: tuple[str, ...]
    crashes: int
    torn_tail: bool
    pauses: int
    slow_fsync: bool
    clock_drift: float
    """Largest |rate - 1| drawn for node clocks (0: none)."""
    slow_node: float
    """Latency multiplier of one node's links and disk during the window (0: none)."""
    failover: str | None
    read_level: str
    snapshot_threshold: int | None
    clients: int
    mix: str
    fault_ms: float
    """Length of the fault window."""
    forward: bool = False
    """Clients stay with home nodes, which forward to the leader (``core.router``). Drawn
    from its own stream, so the other knobs of a seed are what they always were."""

    def labels(self) -> list[str]:
        """Short names of the faults this seed has (the swarm summary table's rows)."""
        on = {
            "loss": self.loss > 0,
            "dup": self.dup > 0,
            "reorder": self.reorder > 0,
            "non-fifo": not self.fifo,
            "long-tail": self.long_tail > 0,
            "crash-drops-sent": self.crash_drops_sent and self.crashes > 0,
            "partition": self.partitions > 0,
            "one-way": any(s.startswith("one-way") for s in self.partition_shapes),
            "crash": self.crashes > 0,
            "multi-crash": self.crashes > 1,
            "torn-tail": self.torn_tail,
            "pause": self.pauses > 0,
            "slow-fsync": self.slow_fsync,
            "clock-drift": self.clock_drift > 0,
            "slow-node": self.slow_node > 0,
            "auto-failover": self.failover == "auto",
            "lease-reads": self.read_level == "lease",
            "snapshots": self.snapshot_threshold is not None,
            "delete-incr": self.mix == "full",
            "forwarding": self.forward,
        }
        return [name for name, value in on.items() if value]


def _maybe(rng: random.Random, p: float, lo: float, hi: float) -> float:
    """With probability ``p`` a value in ``[lo, hi]`` (rounded), else 0."""
    return round(rng.uniform(lo, hi), 3) if rng.random() < p else 0.0


def draw_knobs(seed: int, protocol: str, nodes: int, rng_factory: RngFactory) -> SwarmKnobs:
    """Which faults seed ``seed`` has, and how strong they are (swarm testing, §2)."""
    rng = rng_factory(f"{seed}:swarm:knobs")
    # a scheme that promises nothing under partitions gets fewer of them, so most of its
    # seeds still judge its promises
    partitions = rng.choice((0, 0, 1, 1, 2, 3) if _partition_tolerant(protocol) else (0, 0, 0, 0, 1, 2))
    crashes = rng.choice((0, 0, 1, 1, 2, 3))
    return SwarmKnobs(
        seed=seed,
        protocol=protocol,
        nodes=nodes,
        loss=_maybe(rng, 0.5, 0.01, 0.15),
        dup=_maybe(rng, 0.4, 0.01, 0.1),
        reorder=_maybe(rng, 0.5, 0.05, 0.3),
        fifo=rng.random() < 0.5,
        latency=rng.choice(("uniform", "normal")),
        long_tail=_maybe(rng, 0.4, 0.3, 1.5),
        crash_drops_sent=rng.random() < 0.5,
        partitions=partitions,
        partition_shapes=tuple(rng.choice(PARTITION_SHAPES) for _ in range(partitions)),
        crashes=crashes,
        torn_tail=crashes > 0 and rng.random() < 0.3,
        pauses=rng.choice((0, 0, 0, 1, 2)),
        slow_fsync=rng.random() < 0.3,
        clock_drift=_maybe(rng, 0.4, 0.005, MAX_DRIFT),
        slow_node=_maybe(rng, 0.3, 2.0, 15.0),
        failover=(("auto" if rng.random() < 0.4 else "manual") if _failover_is_a_choice(protocol) else None),
        read_level="lease" if _offers(protocol, "lease") and rng.random() < 0.3 else "linearizable",
        snapshot_threshold=rng.choice((20, 50, 200)) if rng.random() < 0.3 else None,
        clients=rng.randint(2, 8),
        mix="full" if rng.random() < 0.3 else "basic",
        fault_ms=float(rng.randint(15, 40) * 100),
        forward=rng_factory(f"{seed}:swarm:forward").random() < 0.5,
    )


def _failover_is_a_choice(protocol: str) -> bool:
    """Manual failover with an automatic option in the scheme's config (primary/backup)."""
    spec = get_spec(protocol)
    return spec.failover == "manual" and "failover" in spec.config_type.__struct_fields__


def _offers(protocol: str, read_level: str) -> bool:
    return read_level in get_spec(protocol).read_levels


def _partition_tolerant(protocol: str) -> bool:
    try:
        return get_spec(protocol).promises.partition_tolerant
    except (ConfigError, ImportError, AttributeError):
        return True


def swarm_scenario(seed: int, protocol: str, nodes: int, rng_factory: RngFactory) -> Scenario:
    """The scenario seed ``seed`` runs under ``replikv sim --swarm`` (knobs + schedule)."""
    return build_scenario(draw_knobs(seed, protocol, nodes, rng_factory), rng_factory)


def build_scenario(knobs: SwarmKnobs, rng_factory: RngFactory) -> Scenario:
    """Place the knobs' faults on a timetable inside the fault window."""
    rng = rng_factory(f"{knobs.seed}:swarm:schedule")
    start = float(rng.randint(2, 6) * 100)
    end = start + knobs.fault_ms
    faults: list[Fault] = []
    if knobs.loss or knobs.dup or knobs.reorder or knobs.long_tail:
        tail = LogNormal(median=round(rng.uniform(0.5, 3.0), 3), sigma=knobs.long_tail,
                         max=float(rng.randint(20, 300))) if knobs.long_tail else None
        faults.append(SetNetwork(at_ms=start, loss=knobs.loss, dup=knobs.dup, reorder=knobs.reorder, latency=tail))
    faults += _partitions(knobs, rng, start, end)
    faults += _crashes(knobs, rng, start, end)
    faults += _pauses(knobs, rng, start, end)
    if knobs.clock_drift:
        for node in range(1, knobs.nodes + 1):
            rate = round(1.0 + rng.uniform(-knobs.clock_drift, knobs.clock_drift), 4)
            faults.append(ClockDrift(at_ms=start, node=node, rate=rate))
    if knobs.slow_node:
        at = _at(rng, start, end - 200)
        faults.append(Slow(at_ms=at, node=rng.randint(1, knobs.nodes), factor=knobs.slow_node))
    faults.sort(key=lambda f: f.at_ms)
    scenario = Scenario(
        name="swarm",
        description=f"swarm seed {knobs.seed}: {', '.join(knobs.labels()) or 'no faults'}",
        run=RunSpec(nodes=knobs.nodes, ops=20_000, duration_ms=end + 300, fault_start_ms=start, fault_end_ms=end),
        protocol=_protocol_options(knobs),
        workload=_workload(knobs, rng),
        network=NetworkSpec(
            latency=_base_latency(knobs, rng),
            client_latency=Uniform(min=0.2, max=round(rng.uniform(0.4, 2.0), 3)),
            fifo=knobs.fifo,
            crash_drops_sent=knobs.crash_drops_sent,
            reorder_ms=float(rng.randint(5, 40)),
        ),
        disk=DiskSpec(write=Constant(ms=0.05), fsync=_fsync(knobs, rng)),
        faults=faults,
        checks=ChecksSpec(),
    )
    return validate_scenario(scenario, f"swarm seed {knobs.seed}")


def _at(rng: random.Random, lo: float, hi: float) -> float:
    """A fault time in ``[lo, hi]`` on a 10 ms grid."""
    return float(rng.randint(int(lo) // 10, max(int(lo), int(hi)) // 10) * 10)


def _partitions(knobs: SwarmKnobs, rng: random.Random, start: float, end: float) -> list[Fault]:
    faults: list[Fault] = []
    n = knobs.nodes
    for shape in knobs.partition_shapes:
        at = _at(rng, start, end - 150)
        length = float(rng.randint(10, 100) * 10)
        if shape == "isolate-leader":
            fault: Fault = Isolate(at_ms=at, node="leader", stranded_clients=rng.choice((0, 0, 1)))
        elif shape == "isolate-node":
            fault = Isolate(at_ms=at, node=rng.randint(1, n))
        elif shape == "split":
            minority = sorted(rng.sample(range(1, n + 1), rng.randint(1, max(1, (n - 1) // 2))))
            fault = Partition(at_ms=at, groups=[list(minority)])
        elif shape == "one-way-from-leader":
            fault = OneWay(at_ms=at, src=["leader"], dst=["any"])
        elif shape == "one-way-to-leader":
            fault = OneWay(at_ms=at, src=["any"], dst=["leader"])
        else:
            a, b = rng.sample(range(1, n + 1), 2) if n > 1 else (1, 1)
            fault = OneWay(at_ms=at, src=[a], dst=[b])
        faults += [fault, Heal(at_ms=min(at + length, end))]
    return faults


def _crashes(knobs: SwarmKnobs, rng: random.Random, start: float, end: float) -> list[Fault]:
    faults: list[Fault] = []
    torn_at = rng.randrange(knobs.crashes) if knobs.torn_tail else -1
    for i in range(knobs.crashes):
        at = _at(rng, start, end - 100)
        node: int | str = "leader" if rng.random() < 0.5 else rng.randint(1, knobs.nodes)
        faults.append(Crash(at_ms=at, node=node, torn=1 if i == torn_at else 0))
        down = float(rng.randint(5, 120) * 10)
        if knobs.failover == "manual":
            # the operator's failover (pb): promote the first up backup unless one leads
            faults.append(PromoteNode(at_ms=min(at + rng.randint(5, 40) * 10, end), node="backup:1"))
        if at + down < end:
            faults.append(Restart(at_ms=at + down, node=node if isinstance(node, int) else "any"))
    return faults


def _pauses(knobs: SwarmKnobs, rng: random.Random, start: float, end: float) -> list[Fault]:
    faults: list[Fault] = []
    for _ in range(knobs.pauses):
        at = _at(rng, start, end - 100)
        node: int | str = "leader" if rng.random() < 0.5 else rng.randint(1, knobs.nodes)
        faults.append(Pause(at_ms=at, node=node))
        length = float(rng.randint(5, 150) * 10)
        if at + length < end:
            faults.append(Resume(at_ms=at + length, node=node if isinstance(node, int) else "any"))
    return faults


def _base_latency(knobs: SwarmKnobs, rng: random.Random) -> Distribution:
    if knobs.latency == "normal":
        return Normal(mean_ms=round(rng.uniform(0.5, 4.0), 3), stddev=round(rng.uniform(0.1, 1.5), 3), min=0.1)
    lo = round(rng.uniform(0.2, 1.0), 3)
    return Uniform(min=lo, max=round(lo + rng.uniform(0.2, 5.0), 3))


def _fsync(knobs: SwarmKnobs, rng: random.Random) -> Distribution:
    if knobs.slow_fsync:
        return LogNormal(median=round(rng.uniform(1.0, 8.0), 3), sigma=round(rng.uniform(0.5, 1.2), 3),
                         max=float(rng.randint(50, 300)))
    return Uniform(min=0.3, max=1.0)


def _protocol_options(knobs: SwarmKnobs) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if knobs.failover is not None:
        options["failover"] = knobs.failover
    if knobs.snapshot_threshold is not None:
        options["snapshot_threshold"] = knobs.snapshot_threshold
    return options


def _workload(knobs: SwarmKnobs, rng: random.Random) -> WorkloadSpec:
    if knobs.mix == "full":
        mix = {"read": 0.4, "write": 0.3, "cas": 0.1, "delete": 0.1, "incr": 0.1}
    else:
        mix = {"read": 0.5, "write": 0.4, "cas": 0.1}
    return WorkloadSpec(
        clients=knobs.clients,
        keys=rng.randint(1, 6),
        ops_per_key=rng.randint(20, 60),
        mix=mix,
        read_level=knobs.read_level,  # type: ignore[arg-type]
        forward=knobs.forward,
        timeout_ms=float(rng.randint(3, 10) * 100),
        think_ms=float(rng.randint(0, 20)),
    )


def knobs_dict(knobs: SwarmKnobs) -> dict[str, Any]:
    """The knobs as plain JSON-able data, plus their ``labels``."""
    data = msgspec.to_builtins(knobs)
    data["labels"] = knobs.labels()
    return data


def swarm_settings(
    protocol: str,
    seed: int,
    rng_factory: RngFactory,
    nodes: int | None = None,
    options: dict[str, Any] | None = None,
    read_level: str | None = None,
    check: bool = True,
    trace: bool = False,
) -> tuple[SimSettings, SwarmKnobs]:
    """Settings to run swarm seed ``seed`` (``nodes=None``: ``DEFAULT_NODES``, and the
    reproduce line leaves ``--nodes`` out); ``options``/``read_level`` override the knobs."""
    knobs = draw_knobs(seed, protocol, nodes or DEFAULT_NODES, rng_factory)
    settings = SimSettings(
        protocol=protocol,
        scenario=build_scenario(knobs, rng_factory),
        seed=seed,
        scenario_ref=SWARM_REF,
        nodes=nodes,
        options=dict(options or {}),
        read_level=read_level,
        check=check,
        trace=trace,
    )
    return settings, knobs


def run_swarm_seed(protocol: str, seed: int, rng_factory: RngFactory, **kwargs: Any) -> RunResult:
    """Run one swarm seed; its report gains a ``swarm`` field (``knobs_dict``)."""
    settings, knobs = swarm_settings(protocol, seed, rng_factory, **kwargs)
    result = run_simulation(settings, rng_factory)
    result.report["swarm"] = knobs_dict(knobs)
    return result


def knob_table(reports: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """For every knob label: how many seeds had it and how many of those failed."""
    table: dict[str, dict[str, int]] = {}
    for report in reports:
        for label in report["swarm"]["labels"]:
            row = table.setdefault(label, {"seeds": 0, "failing": 0})
            row["seeds"] += 1
            row["failing"] += bool(report["failed"])
    return dict(sorted(table.items(), key=lambda kv: (-kv[1]["failing"], kv[0])))


def error_report(settings: SimSettings, knobs: SwarmKnobs, error: str) -> dict[str, Any]:
    """The report of a seed whose run raised (a replica or host bug): it failed the
    ``no_exception`` check, with the error as detail; the other fields are empty."""
    return {
        "protocol": settings.protocol,
        "scenario": settings.scenario.name,
        "seed": settings.seed,
        "nodes": knobs.nodes,
        "ops": {"ok": 0, "fail": 0, "info": 0},
        "acked_writes": 0,
        "lost_acked_writes": None,
        "linearizable": None,
        "stale_reads": None,
        "divergent": False,
        "messages_per_write": None,
        "heartbeats_per_s": None,
        "latency_ms": {"p50": None, "p99": None},
        "availability": None,
        "failover_ms": None,
        "reproduce": reproduce_command(settings),
        "violations": [],
        "checks": [{"name": "no_exception", "passed": False, "promised": True, "detail": error}],
        "failed": ["no_exception"],
        "error": error,
        "swarm": knobs_dict(knobs),
    }
