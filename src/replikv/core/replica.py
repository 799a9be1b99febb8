"""The protocol contract: what every scheme's replica offers and how it is built.

    class Replica(Protocol):
        def handle(self, inp: Input) -> list[Effect]: ...   # deterministic
        def status(self) -> Status: ...
        def durable_state(self) -> Hashable: ...

A replica owns a ``StateMachine`` (given at creation, from ``kv``): it applies what it
commits and answers clients itself, so the simulator and runtime hosts stay thin and
identical. Recovery is a pure fold: ``spec.create(..., recovered=records)`` rebuilds a
replica from the records it persisted.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from replikv.core.config import NodeConfig
from replikv.core.errors import Result
from replikv.core.io import Effect, Input
from replikv.core.messages import Message, Record
from replikv.core.requests import Request

if TYPE_CHECKING:
    import random


LEADER_ROLES = ("leader", "primary")
"""The roles of a node that orders writes (Raft's leader, primary/backup's primary, a
ZAB leader, a Multi-Paxos distinguished proposer): the one definition every host,
checker and tool uses. A leaderless scheme never reports one."""


class Status(msgspec.Struct, frozen=True, kw_only=True):
    """What a replica says about itself (INFO replication, ``cluster status``, checkers).

    Scheme-neutral: ``term`` is the scheme's *generation*, whatever it calls it (Raft's
    term, primary/backup's epoch, ZAB's epoch, a Paxos ballot ``(round, node)``), an int
    or a tuple of ints, compared only with the same scheme's. A scheme with no leader
    reports ``leader=None``; one with no log position reports its indexes as None."""

    node: int
    role: str
    """``leader``/``follower``/``candidate``/``learner`` or ``primary``/``backup``/..."""
    term: int | tuple[int, ...]
    """The generation: term, epoch or ballot (``generation`` is the same value)."""
    leader: int | None
    commit_index: int | None
    applied_index: int | None
    last_index: int | None
    members: tuple[int, ...]
    peers: dict[int, int] = {}
    """Per-peer replicated index as the leader/primary knows it (for lag)."""
    suspects: tuple[int, ...] = ()
    """Peers this node's failure detector counts as down now, where the scheme has one
    that refuses work (a pb-sync primary answers writes ``Uncertain`` while any backup
    is suspected). ``cluster up`` and ``cluster wait`` wait until the leader has none."""

    @property
    def generation(self) -> int | tuple[int, ...]:
        return self.term

    @property
    def leads(self) -> bool:
        """This node orders writes now (its role is one of ``LEADER_ROLES``)."""
        return self.role in LEADER_ROLES


class StateMachine(Protocol):
    """Deterministic application of committed requests (implemented by ``kv``)."""

    def apply(self, request: Request) -> Result: ...

    def read(self, request: Request) -> Result: ...

    def snapshot(self) -> bytes: ...

    def restore(self, data: bytes) -> None: ...

    def digest(self) -> str: ...

    snapshot_size: int
    """Items (keys and client sessions) the last ``snapshot()`` taken or ``restore()``d
    held; 0 before either (``NodeConfig.snapshot_due`` compares the log with it)."""


class DurableView(Protocol):
    """A scheme's fold of its durable records, to judge what its acks claim (issue 9).

    The node driver applies each ``Persist`` to it once durable, and asks ``holds(msg)``
    before a message with ``asserts_durable`` leaves: does the disk hold what it claims
    (the vote, the appended entries, the promise)?
    """

    def apply(self, records: Sequence[Record], replace: bool) -> None: ...

    def holds(self, dst: int, msg: Message) -> bool: ...

    def describe(self) -> str: ...


class Replica(Protocol):
    def handle(self, inp: Input) -> list[Effect]: ...

    def status(self) -> Status: ...

    def durable_state(self) -> Hashable: ...

    def state_machine(self) -> StateMachine: ...


@dataclass(frozen=True)
class Promises:
    """What a scheme promises, so checkers judge it by its own word (the chapter's table)."""

    linearizable_writes: bool
    """Acknowledged writes survive any single crash and are never lost."""
    linearizable_reads: bool
    """Reads at the default level are linearizable."""
    partition_tolerant: bool
    """Stays consistent (not necessarily available) under any partition."""
    available_with_one_down: bool
    """Writes go on with one replica down."""
    fresh_reads: bool = False
    """Reads at the default level never miss a write acknowledged before they started (no
    certainly stale read), though they are not linearizable: a leaderless scheme whose
    read and write quorums intersect (R + W > N). Checked by ``no_stale_reads``."""


@dataclass(frozen=True)
class Recovery:
    """What the host knows about the durable state it hands back (issue 8, "I lost my disk").

    ``recovered`` records alone cannot tell a fresh node from one that lost its disk, nor
    an intact log from one whose damaged tail storage cut off. The host can, and says so:

    - ``lost``: this node had durable state and lost it (its disk was wiped, or the
      operator restarted it with ``--rejoin``). Whatever it voted, promised or acknowledged
      before is gone, so it must not vote, promise or count toward a quorum until it has
      been brought back up to date by the others (each scheme says how in its docs).
    - ``torn_records``: recovery cut this many damaged records off the tail. Normally an
      un-fsynced write torn by a crash; if the disk lost an fsynced record, acknowledged
      state is gone, and a scheme that can tell must treat it like ``lost`` for that suffix.
    """

    lost: bool = False
    torn_records: int = 0

    @property
    def damaged(self) -> bool:
        return self.lost or self.torn_records > 0


@dataclass(frozen=True)
class CreateArgs:
    node: int
    members: tuple[int, ...]
    config: NodeConfig
    rng: random.Random
    state_machine: StateMachine
    recovered: Sequence[Record] = ()
    recovery: Recovery = Recovery()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProtocolSpec:
    """A scheme as the hosts see it. Registered in ``replikv.schemes``."""

    name: str
    summary: str
    config_type: type[NodeConfig]
    messages: tuple[type[Message], ...]
    records: tuple[type[Record], ...]
    create: Callable[[CreateArgs], Replica]
    promises: Promises
    leader_word: str = "leader"
    """What the scheme calls its distinguished node (``primary`` for primary/backup)."""
    leadership: str = "leader"
    """``leader`` (one node orders writes: a leader or primary) or ``leaderless``."""
    failover: str = "elected"
    """How a new leader comes: ``elected`` (by the scheme), ``manual`` (operator
    ``Promote``, or automatic only if configured) or ``none`` (leaderless)."""
    read_levels: tuple[str, ...] = ("linearizable", "lease", "local")
    """The read levels the scheme offers (a config's ``read_level`` must be one)."""
    admin_commands: tuple[type, ...] = ()
    """The administrative commands it answers (``Promote``, ``AddServer``, ...)."""
    transactions: bool = True
    """Multi-key ``Txn`` applied atomically."""
    session_guarantees: bool = False
    """It keeps the session guarantees a request's ``ClientSession`` turns on, with the
    session token it returns in ``Ok.session`` (docs/design.md, "Sessions"). The Redis
    front end's ``SESSION`` command refuses a scheme that does not declare it."""
    messages_per_write: str = ""
    """The chapter's figure for one write in steady state (``2n``, ``4n``, ``6n``...)."""
    primary_order: bool = False
    """Every node delivers (``Commit``) one total order, index after index, with no gap
    or duplicate (ZAB's primary order); the simulator checks it after every step
    (``check.delivery``) and fails the run at the first break."""
    durable_view: Callable[[], DurableView] | None = None
    """Makes the scheme's ``DurableView``; required when any of its messages
    ``asserts_durable`` (the driver judges those acks against the durable records)."""
    promises_for: Callable[[NodeConfig, int], Promises] | None = None
    """For a scheme whose promises depend on its configuration (a leaderless scheme's R
    and W): ``(config, cluster size) -> Promises``. Hosts ask ``promises_under``."""
    decisions: Callable[[Sequence[Record]], dict[str, str]] | None = None
    """For schemes that decide each transaction on every node (2PC/3PC): folds one node's
    durable records into ``{transaction id: outcome}``, so a checker can find nodes that
    decided the same transaction differently (the simulator's ``divergent_decisions``)."""
    synchrony_bound: Callable[[NodeConfig], float] | None = None
    """For a scheme whose safety rests on timeouts that a live peer always beats (Skeen's
    3PC: fail-stop nodes and a synchronous network): ``config -> ms``, the longest a live
    node's messages may go unheard before its timeouts take it for crashed. The simulator
    judges a run in which an up node was cut off from every peer for longer (for each
    peer, its messages to it or theirs to it late or lost all that time) as under a
    partition: that is what it is to the scheme's failure detector (``sim.cutoff``)."""
    coordinator_crash_after: str = ""
    """For schemes whose transaction coordinator can block its participants (2PC, Gray &
    Lamport 2006 §2; the chapter's "2PC is a blocking protocol"): the name of the message
    type after whose send a coordinator's crash leaves every participant prepared, voted
    and undecided, with no decision durable anywhere (2PC/3PC: ``Prepare``). ``replikv
    test --nemesis crash-after-votes`` arms the failpoint ``after-send:<it>``
    (``runtime.failpoints``); empty: the scheme has no such moment and the nemesis is
    refused."""

    def make_config(self, values: dict[str, Any] | None = None) -> NodeConfig:
        from replikv.core.config import load_config
        from replikv.core.errors import ConfigError

        config = load_config(self.config_type, dict(values or {}))
        if config.read_level not in self.read_levels:
            raise ConfigError(
                f"{self.name} offers the read levels {', '.join(self.read_levels)}, not {config.read_level!r}"
            )
        return config

    def promises_under(self, config: NodeConfig | None, nodes: int) -> Promises:
        """What the scheme promises with this configuration on ``nodes`` nodes."""
        if self.promises_for is None or config is None:
            return self.promises
        return self.promises_for(config, nodes)

    def offers(self, command_type: type) -> bool:
        """Does this scheme answer the administrative command ``command_type``?"""
        return command_type in self.admin_commands

    @property
    def membership_changes(self) -> bool:
        """The scheme adds and removes members at run time (it answers ``AddServer``).
        Hosts refuse to run a scenario that changes membership with a scheme that does not
        (``sim.run.unsupported_reason``), and the tooling refuses ``add-node``."""
        from replikv.core.commands import AddServer

        return self.offers(AddServer)
