"""Scenario files: what to run, with which workload, under which faults (docs/scenarios.md).

What may live here: the frozen msgspec structs a scenario TOML file is converted into
(unknown keys are errors that name their path), node selectors, and the loader for
built-in and user files. Nothing here runs anything.

Nodes are named by id (``2``) or by role resolved when the fault fires (``"primary"``,
``"leader"``, ``"backup:1"`` = first non-leader by id), so one file serves every scheme.
"""

from __future__ import annotations

import importlib.resources
import re
import tomllib
from typing import Any, Literal

import msgspec

from replikv.core.requests import GUARANTEES
from replikv.sim.distributions import Constant, Distribution, Uniform, validate

Selector = int | str
_SELECTOR = re.compile(r"^(primary|leader|self|peer|any|(backup|follower):[1-9][0-9]*)$")


class ScenarioError(ValueError):
    """A scenario file is wrong; the message names the file and the bad key."""


class _Strict(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


# -- faults on a timetable (tag: ``action``) -------------------------------------------


class _Fault(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, tag_field="action"):
    at_ms: float = 0.0


class Crash(_Fault, frozen=True, tag="crash"):
    """Crash ``node``: memory, pipeline, undurable writes and messages in flight to it are lost.
    ``torn`` drops that many records from the durable tail; ``bitflip`` corrupts a record
    before the tail so the node refuses to restart; ``wipe`` loses the WHOLE disk (every
    durable record: a replaced or erased disk), and the node's next start is told so
    (``Recovery(lost=True)``, issue 8 "I lost my disk")."""

    node: Selector
    torn: int = 0
    bitflip: bool = False
    wipe: bool = False


class Restart(_Fault, frozen=True, tag="restart"):
    node: Selector = "any"
    """``any`` restarts every crashed node; ``leader``/``primary`` is the node that led the
    highest term (epoch) seen so far, when it is down (so a crashed leader can be
    restarted alone)."""


class Pause(_Fault, frozen=True, tag="pause"):
    node: Selector


class Resume(_Fault, frozen=True, tag="resume"):
    node: Selector = "any"


class Partition(_Fault, frozen=True, tag="partition"):
    """Nodes in different groups cannot talk (both ways). Nodes in no group form one more
    group. ``clients``: ``majority`` (the largest group), ``all``, ``none`` or a group
    number (0-based)."""

    groups: list[list[Selector]]
    clients: int | str = "majority"
    stranded_clients: int = 0
    """This many clients (the last slots) stay with group 0 instead of ``clients``."""


class Isolate(_Fault, frozen=True, tag="isolate"):
    """Cut ``node`` from every other node, and from clients unless ``clients = "all"``."""

    node: Selector
    clients: str = "majority"
    stranded_clients: int = 0
    """This many clients (the last slots) stay with the isolated node instead."""


class OneWay(_Fault, frozen=True, tag="one-way"):
    """Drop every message from ``src`` nodes to ``dst`` nodes (not the other way)."""

    src: list[Selector]
    dst: list[Selector]


class Heal(_Fault, frozen=True, tag="heal"):
    """Remove every partition (node-node and client-node links)."""


class SetNetwork(_Fault, frozen=True, tag="network"):
    """Change the default link behaviour from now on (unset fields stay)."""

    loss: float | None = None
    dup: float | None = None
    reorder: float | None = None
    latency: Distribution | None = None


class LinkLatency(_Fault, frozen=True, tag="link-latency"):
    src: Selector
    dst: Selector
    latency: Distribution
    symmetric: bool = True


class Slow(_Fault, frozen=True, tag="slow"):
    """Multiply the latency of every link of ``node`` and of its disk by ``factor``."""

    node: Selector
    factor: float


class ClockDrift(_Fault, frozen=True, tag="clock-drift"):
    """The node's clock runs at ``rate`` (1.1 = 10% fast): its Tick times and tick spacing."""

    node: Selector
    rate: float


class PromoteNode(_Fault, frozen=True, tag="promote"):
    """Operator failover: Submit ``Promote`` to ``node``. Skipped when ``unless_leader`` and
    some up node already claims to lead in the highest generation seen among up nodes."""

    node: Selector
    unless_leader: bool = True


class AddNode(_Fault, frozen=True, tag="add-node"):
    """Start a fresh node (next free id unless given) and Submit ``AddServer`` to the leader."""

    node: int | None = None
    learner: bool = False


class RemoveNode(_Fault, frozen=True, tag="remove-node"):
    """Submit ``RemoveServer(node)`` to the leader."""

    node: Selector


Fault = (
    Crash | Restart | Pause | Resume | Partition | Isolate | OneWay | Heal | SetNetwork
    | LinkLatency | Slow | ClockDrift | PromoteNode | AddNode | RemoveNode
)


# -- faults triggered by events --------------------------------------------------------


class Trigger(_Strict, frozen=True, kw_only=True):
    """When ``node`` sends/receives a matching message for the ``nth`` time (counting from
    ``after_ms``, default the fault window's start), do ``action`` once.

    ``crash`` crashes ``target`` (``self`` = the node where it happened, ``peer`` = the
    other end, or a selector) before that input's effects run (receive) or before the
    message leaves (send). ``drop``/``delay``/``duplicate`` act on the message itself.
    ``then`` are timetable faults scheduled ``at_ms`` after the trigger fired."""

    node: Selector = "any"
    dir: Literal["send", "receive"] = "receive"
    msg: str | list[str] | None = None
    msg_flag: Literal["asserts_durable", "heartbeat", "not_heartbeat"] | None = None
    peer: Selector = "any"
    nth: int = 1
    after_ms: float | None = None
    action: Literal["crash", "drop", "delay", "duplicate"]
    target: Selector = "self"
    delay_ms: float = 0.0
    torn: int = 0
    bitflip: bool = False
    then: list[Fault] = []


# -- the rest of a scenario ------------------------------------------------------------


class RunSpec(_Strict, frozen=True):
    nodes: int = 3
    ops: int | None = 200
    """Total client operations (invocations); ``None``: bounded by ``duration_ms``."""
    duration_ms: float | None = None
    """Clients stop invoking at this virtual time."""
    fault_start_ms: float | None = None
    fault_end_ms: float | None = None
    """At the end of the fault window everything is healed, restarted and resumed."""
    quiet_ms: float | None = None
    """Quiescence: this long with nothing but ticks and heartbeats (default 3 x the
    scheme's settle time: its election timeout where it has one)."""
    max_quiesce_ms: float = 30_000.0
    heal_bound_ms: float = 10_000.0
    """How long after quiescing a write may take to commit (the ``heals`` check)."""
    max_time_ms: float = 600_000.0
    max_events: int = 2_000_000
    """Event budget of one run: a run that needs more events is stopped and fails the
    ``event_budget`` check (a livelock, or copies of messages multiplying), instead of
    running for ever. The largest built-in scenarios need under 30,000 events."""


class TxnSpec(_Strict, frozen=True):
    """The shape of the ``txn`` ops of the mix: Elle's list-append transactions
    (Kingsbury & Alvaro, VLDB 2020, §3). Each is one atomic ``Txn`` of ``ops[0]`` to
    ``ops[1]`` micro-ops on ``keys`` keys of its own (``t1``..``tN``, never the register
    keys): an append of an element unique in the run, or a read of the whole list."""

    ops: list[int] = msgspec.field(default_factory=lambda: [1, 4])
    """Micro-ops per transaction: ``[min, max]``, drawn uniformly."""
    keys: int = 8
    """Few keys, so transactions contend (the anomalies need it)."""
    read_share: float = 0.5
    """The chance that a micro-op is a read (else an append)."""


class WorkloadSpec(_Strict, frozen=True):
    clients: int = 5
    keys: int = 4
    """Keys in use at once; each is retired after ``ops_per_key`` ops for a fresh one."""
    ops_per_key: int = 50
    mix: dict[str, float] = msgspec.field(default_factory=lambda: {"read": 0.5, "write": 0.4, "cas": 0.1})
    read_level: Literal["linearizable", "lease", "local", "sequential"] = "linearizable"
    timeout_ms: float = 1500.0
    think_ms: float = 1.0
    mode: Literal["closed", "open"] = "closed"
    interval_ms: float = 20.0
    """Open loop: each client starts an op every ``interval_ms`` (or when the last ends)."""
    redirect_ms: float = 5.0
    """Pause before retrying at another node after NotLeader without a useful hint."""
    forward: bool = False
    """Clients stay with a home node (client i: the i-th node) and the nodes forward
    requests to the leader by ``core.router.Route``, as a real cluster does (the
    runtime's forwarding path). Off: clients follow ``NotLeader`` hints themselves."""
    backoff_after: int = 100
    """After this many redirects of one operation, every further redirect waits (hint or
    not), ``redirect_ms`` doubling each time up to ``max_backoff_ms``."""
    max_backoff_ms: float = 100.0
    txn: TxnSpec = TxnSpec()
    """The transactions of the ``txn`` mix entry (``mix = { txn = 1.0 }``)."""
    max_redirects: int = 400
    """An operation redirected this many times ends ``info`` (a copy sent earlier may
    still be applied): re-sends are bounded even when no node leads for long."""
    sessions: list[str] = []
    """Session guarantees every client turns on (``core.requests.GUARANTEES`` names, or
    ``all``): each request carries the client's ``ClientSession`` and the client keeps
    the token of each ``Ok`` (a fresh process starts a fresh session). Schemes that do not
    declare ``ProtocolSpec.session_guarantees`` ignore them. Empty: no session."""
    roam: bool = False
    """Each operation goes to a node drawn at random: clients move between nodes (a
    leaderless scheme's coordinator is whichever node the client reached)."""


class LinkSpec(_Strict, frozen=True):
    src: Selector
    dst: Selector
    latency: Distribution | None = None
    loss: float | None = None
    dup: float | None = None
    symmetric: bool = True


class NetworkSpec(_Strict, frozen=True):
    latency: Distribution = Uniform(min=0.5, max=1.5)
    client_latency: Distribution | None = None
    loss: float = 0.0
    dup: float = 0.0
    fifo: bool = True
    """Each link delivers in send order (like the TCP the runtime uses); ``false`` lets
    latency jitter reorder messages on a link."""
    crash_drops_sent: bool = False
    """A crash also loses what the node sent that has not arrived yet (it was still in the
    dead node's socket buffers): replication lag becomes data loss for async schemes."""
    reorder: float = 0.0
    """Probability that a message gets an extra delay of up to ``reorder_ms``."""
    reorder_ms: float = 10.0
    links: list[LinkSpec] = []


class DiskSpec(_Strict, frozen=True):
    write: Distribution = Constant(ms=0.05)
    fsync: Distribution = Uniform(min=0.3, max=1.0)


class ChecksSpec(_Strict, frozen=True):
    leader_per_term: bool = True
    linearizable: bool = True
    max_steps: int = 200_000
    heals: bool = True
    """After the heal a probe write must commit within ``run.heal_bound_ms`` and every
    replica converge on it (the ``heals`` check)."""
    converges: bool = True
    """Replicas must hold the same data at the end (the ``converged`` check, where the
    scheme promises it). Off only where the scenario is beyond the fault model and a
    scheme may stop, safely, before converging (``torn-majority``)."""
    unknown_ok: str = ""
    """Why a promised check may come back unknown in this scenario (e.g. the checker's
    budget on a history it cannot decide). Empty: an unknown verdict fails the run."""


class Scenario(_Strict, frozen=True):
    name: str = "custom"
    description: str = ""
    run: RunSpec = RunSpec()
    protocol: dict[str, Any] = {}
    """Options for ``spec.make_config``; a sub-table named after a scheme applies to it only."""
    workload: WorkloadSpec = WorkloadSpec()
    network: NetworkSpec = NetworkSpec()
    disk: DiskSpec = DiskSpec()
    faults: list[Fault] = []
    triggers: list[Trigger] = []
    checks: ChecksSpec = ChecksSpec()


MIX_OPS = ("read", "write", "cas", "delete", "incr", "txn")
ALIASES = {"leader-crash": "primary-crash"}


def check_selector(value: Selector, where: str) -> None:
    if isinstance(value, int):
        if value < 1:
            raise ScenarioError(f"{where}: node ids start at 1, got {value}")
    elif not _SELECTOR.match(value):
        raise ScenarioError(
            f"{where}: bad node {value!r}; use an id, primary, leader, backup:K, follower:K, self, peer or any"
        )


def _validate(s: Scenario) -> None:
    if s.run.nodes < 1:
        raise ScenarioError("run.nodes: must be >= 1")
    if s.run.ops is None and s.run.duration_ms is None:
        raise ScenarioError("run: give ops or duration_ms (or both)")
    lo, hi = s.run.fault_start_ms, s.run.fault_end_ms
    if (lo is None) != (hi is None) or (lo is not None and hi is not None and hi < lo):
        raise ScenarioError("run: fault_start_ms and fault_end_ms go together, start <= end")
    w = s.workload
    if w.clients < 1 or w.keys < 1 or w.ops_per_key < 1:
        raise ScenarioError("workload: clients, keys and ops_per_key must be >= 1")
    if w.max_redirects < 1 or w.backoff_after < 0 or w.max_backoff_ms < 0:
        raise ScenarioError("workload: max_redirects must be >= 1, backoff_after and max_backoff_ms >= 0")
    if s.run.max_events < 1:
        raise ScenarioError("run.max_events: must be >= 1")
    for op, weight in w.mix.items():
        if op not in MIX_OPS:
            raise ScenarioError(f"workload.mix: unknown op {op!r}; choose from {', '.join(MIX_OPS)}")
        if weight < 0:
            raise ScenarioError(f"workload.mix.{op}: weight must be >= 0")
    if sum(w.mix.values()) <= 0:
        raise ScenarioError("workload.mix: weights must not all be zero")
    _validate_txn(w.txn)
    for name in w.sessions:
        if name not in (*GUARANTEES, "all"):
            raise ScenarioError(f"workload.sessions: unknown guarantee {name!r}; choose from "
                                f"{', '.join(GUARANTEES)} or all")
    n = s.network
    for name in ("loss", "dup", "reorder"):
        if not 0 <= getattr(n, name) < 1:
            raise ScenarioError(f"network.{name}: must be in [0, 1)")
    validate(n.latency, "network.latency")
    if n.client_latency is not None:
        validate(n.client_latency, "network.client_latency")
    for i, link in enumerate(n.links):
        check_selector(link.src, f"network.links[{i}].src")
        check_selector(link.dst, f"network.links[{i}].dst")
        if link.latency is not None:
            validate(link.latency, f"network.links[{i}].latency")
    validate(s.disk.write, "disk.write")
    validate(s.disk.fsync, "disk.fsync")
    for i, fault in enumerate(s.faults):
        _validate_fault(fault, f"faults[{i}]")
    for i, trig in enumerate(s.triggers):
        where = f"triggers[{i}]"
        for name in ("node", "peer", "target"):
            check_selector(getattr(trig, name), f"{where}.{name}")
        if trig.nth < 1:
            raise ScenarioError(f"{where}.nth: must be >= 1")
        for j, fault in enumerate(trig.then):
            _validate_fault(fault, f"{where}.then[{j}]")


def _validate_txn(txn: TxnSpec) -> None:
    if len(txn.ops) != 2 or not 1 <= txn.ops[0] <= txn.ops[1]:
        raise ScenarioError(f"workload.txn.ops: give [min, max] with 1 <= min <= max, got {txn.ops}")
    if txn.keys < 1:
        raise ScenarioError("workload.txn.keys: must be >= 1")
    if not 0 <= txn.read_share <= 1:
        raise ScenarioError("workload.txn.read_share: must be in [0, 1]")


def _validate_fault(fault: Fault, where: str) -> None:
    for name in ("node", "src", "dst"):
        value = getattr(fault, name, None)
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                check_selector(item, f"{where}.{name}")
    if isinstance(fault, Partition):
        for g, group in enumerate(fault.groups):
            for item in group:
                check_selector(item, f"{where}.groups[{g}]")
    if isinstance(fault, Slow | ClockDrift) and getattr(fault, "factor", getattr(fault, "rate", 1)) <= 0:
        raise ScenarioError(f"{where}: factor/rate must be > 0")
    if isinstance(fault, LinkLatency):
        validate(fault.latency, f"{where}.latency")
    if fault.at_ms < 0:
        raise ScenarioError(f"{where}.at_ms: must be >= 0")


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Parse TOML text into a validated ``Scenario``; errors name ``source`` and the key."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: not valid TOML: {exc}") from None
    try:
        scenario = msgspec.convert(raw, Scenario)
    except msgspec.ValidationError as exc:
        raise ScenarioError(f"{source}: {exc}") from None
    try:
        _validate(scenario)
    except ScenarioError as exc:
        raise ScenarioError(f"{source}: {exc}") from None
    except ValueError as exc:
        raise ScenarioError(f"{source}: {exc}") from None
    return scenario


def builtin_names() -> list[str]:
    """Every shipped scenario (files in ``replikv/sim/scenarios``) plus aliases."""
    folder = importlib.resources.files("replikv.sim").joinpath("scenarios")
    names = [p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml")]
    return sorted(names + [a for a, target in ALIASES.items() if target in names])


def load_builtin(name: str) -> Scenario:
    target = ALIASES.get(name, name)
    path = importlib.resources.files("replikv.sim").joinpath("scenarios", f"{target}.toml")
    if not path.is_file():
        raise ScenarioError(f"unknown scenario {name!r}; built-in: {', '.join(builtin_names())}")
    scenario = parse_scenario(path.read_text(encoding="utf-8"), f"scenario {target}")
    if name != target:
        scenario = msgspec.structs.replace(scenario, name=name)
    return scenario


def membership_faults(scenario: Scenario) -> list[str]:
    """The actions of ``scenario`` that change membership (timetable and triggers'
    ``then``): such a scenario needs a scheme with ``membership_changes``."""
    faults = [*scenario.faults, *(f for t in scenario.triggers for f in t.then)]
    return sorted({type(f).__struct_config__.tag for f in faults if isinstance(f, AddNode | RemoveNode)})


def protocol_options(scenario: Scenario, protocol: str) -> dict[str, Any]:
    """The ``[protocol]`` options for one scheme: common scalars + that scheme's sub-table."""
    common = {k: v for k, v in scenario.protocol.items() if not isinstance(v, dict)}
    specific = scenario.protocol.get(protocol, {})
    return {**common, **(specific if isinstance(specific, dict) else {})}


def validate_scenario(scenario: Scenario, source: str = "<scenario>") -> Scenario:
    """Validate a scenario built in code (e.g. by ``sim.swarm``) as a file would be."""
    try:
        _validate(scenario)
    except ValueError as exc:
        raise ScenarioError(f"{source}: {exc}") from None
    return scenario
