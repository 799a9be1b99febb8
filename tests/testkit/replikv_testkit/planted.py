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
from replikv.core.replica import CreateArgs, Replica, StateMachine, Status
from replikv.protocols.primary_backup import PB_ASYNC, PB_SYNC
from replikv.protocols.raft import RAFT, RaftConfig
from replikv.protocols.raft import create as create_raft
from replikv.protocols.raft.records import TermVote


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
