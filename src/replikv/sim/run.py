"""The simulator's public entry points: one seeded run, and a sweep over seeds.

    result = run_simulation(SimSettings(protocol="pb-sync", scenario=load_builtin("steady"),
                                        seed=7), rng_factory=random.Random)
    result.report          # the --json fields (docs/simulator.md)
    result.history_jsonl() # client history, DESIGN.md format
    result.trace_jsonl()   # message trace (when SimSettings.trace)

``rng_factory`` builds a ``random.Random`` from a string seed; the simulator derives a
named stream per concern from it, so this pure layer never imports ``random`` itself
(the caller passes ``random.Random``).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from replikv.core.errors import ConfigError
from replikv.core.replica import ProtocolSpec
from replikv.schemes import get_spec
from replikv.sim.report import build_report, percentile
from replikv.sim.scenario import Scenario, ScenarioError, membership_faults, protocol_options
from replikv.sim.simulation import Simulation

if TYPE_CHECKING:
    import random

RngFactory = Callable[[str], "random.Random"]
_JSON = msgspec.json.Encoder()


@dataclass(frozen=True)
class SimSettings:
    protocol: str
    scenario: Scenario
    seed: int
    scenario_ref: str | None = None
    """How the CLI names the scenario (``--scenario X`` or ``--scenario-file F``)."""
    nodes: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    """Protocol options on top of the scenario's ``[protocol]`` table (``--option k=v``)."""
    read_level: str | None = None
    check: bool = True
    trace: bool = False

    def effective_scenario(self) -> Scenario:
        scenario = self.scenario
        if self.nodes is not None:
            scenario = msgspec.structs.replace(scenario, run=msgspec.structs.replace(scenario.run, nodes=self.nodes))
        if self.read_level is not None:
            workload = msgspec.structs.replace(scenario.workload, read_level=self.read_level)
            scenario = msgspec.structs.replace(scenario, workload=workload)
        return scenario


@dataclass
class RunResult:
    report: dict[str, Any]
    history: list[dict[str, Any]]
    trace: bytes | None

    def history_jsonl(self) -> bytes:
        return b"".join(_JSON.encode(event) + b"\n" for event in self.history)

    def trace_jsonl(self) -> bytes:
        return self.trace or b""

    @property
    def failed(self) -> list[str]:
        """Checks the scheme promises that failed (non-empty: exit non-zero)."""
        return self.report["failed"]


class ScenarioUnsupported(ScenarioError):
    """A scenario asks for something the scheme does not do (refused before running)."""


def unsupported_reason(spec: ProtocolSpec, scenario: Scenario,
                       options: Mapping[str, Any] | None = None) -> str | None:
    """Why ``spec`` cannot run ``scenario`` (None: it can): membership changes
    (``add-node``/``remove-node``) need ``ProtocolSpec.membership_changes``, and the
    scenario's ``[protocol]`` table must be options the scheme takes (a scenario tuned
    for one family, such as ``dueling-proposers``' ``retransmit_ms``, says so instead of
    failing as a bad ``--option`` the user never passed). ``options``, the run's own on
    top of that table (as ``--option``), must make a valid configuration with it."""
    changes = membership_faults(scenario)
    if changes and not spec.membership_changes:
        return (f"scenario {scenario.name} cannot run with {spec.name}: it changes membership "
                f"({', '.join(changes)}) and {spec.name} does not support membership changes")
    table = protocol_options(scenario, spec.name)
    try:
        spec.make_config(table)
    except ConfigError as exc:
        unknown = [name for name, value in table.items() if _unknown_option(spec, name, value)]
        what = ", ".join(unknown) if unknown else str(exc).removeprefix("bad protocol option: ")
        return (f"scenario {scenario.name} cannot run with {spec.name}: its [protocol] table sets "
                f"options {spec.name} does not take ({what})")
    if options:
        try:
            spec.make_config({**table, **options})
        except ConfigError as exc:
            return f"scenario {scenario.name} cannot run with {spec.name} and options {dict(options)}: {exc}"
    return None


def _unknown_option(spec: ProtocolSpec, name: str, value: Any) -> bool:
    try:
        spec.make_config({name: value})
    except ConfigError as exc:
        return "unknown field" in str(exc)
    return False


def check_supported(spec: ProtocolSpec, scenario: Scenario) -> None:
    """Raise ``ScenarioUnsupported`` (with the reason) when ``spec`` cannot run ``scenario``."""
    reason = unsupported_reason(spec, scenario)
    if reason is not None:
        raise ScenarioUnsupported(reason)


def reproduce_command(settings: SimSettings, seed: int | None = None) -> str:
    """The exact ``replikv sim`` command line that reruns one seed."""
    scenario = settings.scenario_ref or f"--scenario {settings.scenario.name}"
    parts = ["replikv", "sim", "--protocol", settings.protocol, *shlex.split(scenario),
             "--seed", str(settings.seed if seed is None else seed)]
    if settings.nodes is not None:
        parts += ["--nodes", str(settings.nodes)]
    if settings.read_level is not None:
        parts += ["--read-level", settings.read_level]
    for key, value in sorted(settings.options.items()):
        parts += ["--option", f"{key}={_option_text(value)}"]
    if not settings.check:
        parts.append("--no-check")
    return shlex.join(parts)


def _option_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def run_simulation(settings: SimSettings, rng_factory: RngFactory) -> RunResult:
    """Run one seed to the end (faults, heal, quiesce) and check it. A scenario the
    scheme cannot run raises ``ScenarioUnsupported`` before anything runs; a replica's
    exception or an exhausted event budget is a failed check of the report."""
    spec = get_spec(settings.protocol)
    scenario = settings.effective_scenario()
    check_supported(spec, scenario)
    sim = Simulation(
        spec,
        scenario,
        settings.seed,
        rng_factory,
        options=settings.options,
        trace=settings.trace,
    )
    sim.run()
    report = build_report(sim, reproduce_command(settings), check=settings.check)
    trace = sim.trace.to_bytes() if sim.trace is not None else None
    return RunResult(report=report, history=sim.workload.history, trace=trace)


def summarize(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-field aggregates over a sweep (the ``summary`` of ``--seeds N --json``)."""
    n = len(reports)
    lost = [r["lost_acked_writes"] for r in reports if r["lost_acked_writes"] is not None]
    lin = [r["linearizable"] for r in reports]
    avail = sorted(r["availability"] for r in reports if r["availability"] is not None)
    p50 = sorted(r["latency_ms"]["p50"] for r in reports if r["latency_ms"]["p50"] is not None)
    p99 = sorted(r["latency_ms"]["p99"] for r in reports if r["latency_ms"]["p99"] is not None)
    mpw = sorted(r["messages_per_write"] for r in reports if r["messages_per_write"] is not None)
    steady50 = sorted(r["steady_latency_ms"]["p50"] for r in reports if r["steady_latency_ms"]["p50"] is not None)
    steady99 = sorted(r["steady_latency_ms"]["p99"] for r in reports if r["steady_latency_ms"]["p99"] is not None)
    failover = sorted(r["failover_ms"] for r in reports if r.get("failover_ms") is not None)
    staleness = [r["max_staleness_ms"] for r in reports if r.get("max_staleness_ms") is not None]
    failing = [r for r in reports if r["failed"]]

    def median_of(field: str) -> float | None:
        return percentile(sorted(r[field] for r in reports if r.get(field) is not None), 0.5)

    return {
        "runs": n,
        "ops": {k: sum(r["ops"][k] for r in reports) for k in ("ok", "fail", "info")},
        "acked_writes": sum(r["acked_writes"] for r in reports),
        "lost_acked_writes_total": sum(lost),
        "seeds_with_lost_writes": [r["seed"] for r in reports if r["lost_acked_writes"]],
        "linearizable_fraction": round(sum(1 for v in lin if v is True) / n, 4) if n else None,
        "linearizable_unknown": sum(1 for v in lin if v is None),
        "seeds_not_linearizable": [r["seed"] for r in reports if r["linearizable"] is False],
        "stale_reads_total": sum(r["stale_reads"] or 0 for r in reports),
        "divergent": sum(1 for r in reports if r["divergent"]),
        "seeds_divergent": [r["seed"] for r in reports if r["divergent"]],
        "divergent_decisions": sum(r.get("divergent_decisions") or 0 for r in reports),
        "seeds_divergent_decisions": [r["seed"] for r in reports if r.get("divergent_decisions")],
        "availability": {"min": avail[0] if avail else None, "p50": percentile(avail, 0.5)},
        "latency_ms": {"p50": percentile(p50, 0.5), "p99": percentile(p99, 0.99)},
        "messages_per_write": percentile(mpw, 0.5),
        "steady_latency_ms": {"p50": percentile(steady50, 0.5), "p99": percentile(steady99, 0.5)},
        "throughput_ops_s": median_of("throughput_ops_s"),
        "read_availability_p50": median_of("read_availability"),
        "write_availability_p50": median_of("write_availability"),
        "failover_ms": {"p50": percentile(failover, 0.5), "max": failover[-1] if failover else None},
        "max_staleness_ms": max(staleness) if staleness else None,
        "violations": sum(len(r["violations"]) for r in reports),
        "failing_seeds": [{"seed": r["seed"], "failed": r["failed"], "reproduce": r["reproduce"]} for r in failing],
    }
