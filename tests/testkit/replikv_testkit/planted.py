"""Planted bugs: real schemes with one promise broken on purpose.

A checker that passes the real scheme and never fails the planted one proves nothing;
each of these must be caught by a built-in scenario (or the swarm) within 50 seeds
(tests/sim/test_planted_bugs.py says which and measures it).

- ``raft+stale-reads``: the leader answers ``linearizable``/``lease`` reads from its own
  state at once, skipping the read-index round (Raft §8, thesis §6.4: "a leader must check
  whether it has been deposed before processing a read-only request"), and check-quorum is
  off, so a deposed leader keeps serving while cut off.
- ``raft+ack-before-persist`` / ``pb-sync+ack-before-persist``: every acknowledgement of
  durable state (vote, append ack, backup ack) is moved ahead of the ``Persist`` of the
  same step (Raft Fig. 2: "updated on stable storage before responding to RPCs").
- ``raft+forget-vote``: a restarted node forgets its term and vote (Raft Fig. 2's
  persistent ``currentTerm``/``votedFor`` not persisted): it can vote twice in one term.
- ``raft+figure8``: the leader commits the highest index a majority holds whatever its
  term, counting replicas of an older term's entry (the rule Raft §5.4.2 and Figure 8
  forbid: "Raft never commits log entries from previous terms by counting replicas").
- ``raft+lease-no-drift``: lease reads whose lease lasts the full election timeout on
  the leader's clock, without the clock-drift margin (thesis §6.4.1: the lease must end
  ``election_timeout * (1 - clock_drift)`` after the round was sent), while the config
  still says ``clock_drift = 0.1``: within the drift the config allows, a new leader can
  commit before the old one's lease ends.
- ``pb-sync+early-ack``: pb-sync that acknowledges a write after the primary's own write,
  before every backup has it (the chapter's asynchronous replication under the name of the
  synchronous one: acknowledged writes die with the primary).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import replace

import msgspec

from replikv.core.commands import is_read
from replikv.core.io import Effect, Input, Persist, Reply, Send, Submit
from replikv.core.quorum import quorum_index
from replikv.core.replica import CreateArgs, Replica, StateMachine, Status
from replikv.protocols.primary_backup import PB_ASYNC, PB_SYNC
from replikv.protocols.raft import RAFT, RaftConfig
from replikv.protocols.raft import create as create_raft
from replikv.protocols.raft.constants import LEADER
from replikv.protocols.raft.records import TermVote
from replikv.protocols.raft.replica import RaftReplica


class Wrapper:
    """Forwards the replica protocol to the real replica; subclasses bend one thing."""

    def __init__(self, inner: Replica) -> None:
        self._inner = inner

    def handle(self, inp: Input) -> list[Effect]:
        return self._inner.handle(inp)

    def status(self) -> Status:
        return self._inner.status()

    def durable_state(self) -> Hashable:
        return self._inner.durable_state()

    def state_machine(self) -> StateMachine:
        return self._inner.state_machine()

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


class LeaderLocalReads(Wrapper):
    """The leader serves reads from local state (``raft+stale-reads``)."""

    def handle(self, inp: Input) -> list[Effect]:
        if (isinstance(inp, Submit) and is_read(inp.request.command)
                and inp.request.read_level != "local" and self._inner.status().role == "leader"):
            original = inp.request
            rewritten = msgspec.structs.replace(original, read_level="local")
            effects = self._inner.handle(Submit(rewritten))
            # a local read is answered at once; answer it as the request the host sent
            return [Reply(original, e.result) if isinstance(e, Reply) and e.request == rewritten else e
                    for e in effects]
        return self._inner.handle(inp)


class AckBeforePersist(Wrapper):
    """Every ack of durable state leaves ahead of the step's first ``Persist``."""

    def handle(self, inp: Input) -> list[Effect]:
        effects = self._inner.handle(inp)
        first = next((i for i, e in enumerate(effects) if isinstance(e, Persist)), None)
        if first is None:
            return effects
        acks = [e for e in effects[first:] if isinstance(e, Send) and e.msg.asserts_durable]
        if not acks:
            return effects
        rest = [e for e in effects[first:] if not (isinstance(e, Send) and e.msg.asserts_durable)]
        return effects[:first] + acks + rest


class StaleReadsConfig(RaftConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    check_quorum: bool = False
    lease_reads: bool = False


def _stale_reads(args: CreateArgs) -> Replica:
    return LeaderLocalReads(create_raft(args))


def _ack_before_persist(create):
    return lambda args: AckBeforePersist(create(args))


def _forget_vote(args: CreateArgs) -> Replica:
    kept = tuple(r for r in args.recovered if not isinstance(r, TermVote))
    return create_raft(replace(args, recovered=kept))


class CommitByCounting(RaftReplica):
    """``raft+figure8``: §5.4.2's commit rule without its term condition."""

    def _advance_commit(self) -> None:
        if self.volatile.role != LEADER:
            return
        match = {p: pr.match for p, pr in self.leadership.progress.items()}
        match[self.node] = self.log_state.durable_index
        index = quorum_index(match, self.voters)
        if index > self.log_state.commit_index:
            self._set_commit(index)  # BUG: an older term's entry, committed by counting


class LeaseWithoutDrift(RaftReplica):
    """``raft+lease-no-drift``: the lease lasts the whole election timeout."""

    def _lease_valid(self) -> bool:
        config = self.config
        if not (config.lease_reads and config.check_quorum) or self.leadership.transfer is not None:
            return False
        return self.timers.now < self.leadership.lease_from_ms + config.election_timeout_ms  # BUG


def _raft_as(cls: type[RaftReplica]):
    def create(args: CreateArgs) -> Replica:
        assert isinstance(args.config, RaftConfig)
        return cls(node=args.node, members=tuple(args.members), config=args.config, rng=args.rng,
                   state_machine=args.state_machine, recovered=tuple(args.recovered), recovery=args.recovery)
    return create


RAFT_FIGURE8 = replace(
    RAFT, name="raft+figure8", create=_raft_as(CommitByCounting),
    summary="PLANTED BUG: Raft whose leader commits an older term's entries by counting replicas",
)
RAFT_LEASE_NO_DRIFT = replace(
    RAFT, name="raft+lease-no-drift", create=_raft_as(LeaseWithoutDrift),
    summary="PLANTED BUG: Raft lease reads without the clock-drift margin",
)
RAFT_STALE_READS = replace(
    RAFT, name="raft+stale-reads", config_type=StaleReadsConfig, create=_stale_reads,
    summary="PLANTED BUG: Raft whose leader serves reads locally without a read index",
)
RAFT_ACK_BEFORE_PERSIST = replace(
    RAFT, name="raft+ack-before-persist", create=_ack_before_persist(RAFT.create),
    summary="PLANTED BUG: Raft that acknowledges votes and entries before they are durable",
)
RAFT_FORGET_VOTE = replace(
    RAFT, name="raft+forget-vote", create=_forget_vote,
    summary="PLANTED BUG: Raft whose term and vote do not survive a restart",
)
PB_SYNC_ACK_BEFORE_PERSIST = replace(
    PB_SYNC, name="pb-sync+ack-before-persist", create=_ack_before_persist(PB_SYNC.create),
    summary="PLANTED BUG: pb-sync whose backups acknowledge before their copy is durable",
)
PB_SYNC_EARLY_ACK = replace(
    PB_ASYNC, name="pb-sync+early-ack", promises=PB_SYNC.promises,
    summary="PLANTED BUG: pb-sync that acknowledges before every backup has the write",
)
