"""Helpers for pure ZAB step tests: one replica, inputs in, effects out, in order.

The replica is called directly (no node driver), so the effect list is exactly what it
emitted: a test can see that a ``Persist`` comes before the ``Send`` it guards.
"""

from __future__ import annotations

import random

import msgspec

from replikv.core import Persist, Persisted, Receive, Reply, Request, Send, Set, Tick
from replikv.core.replica import CreateArgs, Recovery
from replikv.kv import KVStateMachine
from replikv.protocols.zab import ZAB, ZabReplica
from replikv.protocols.zab import messages as m

INTACT = Recovery()
FAST = {"tick_ms": 10.0, "heartbeat_ms": 20.0, "election_timeout_ms": 100.0, "finalize_ms": 20.0,
        "retransmit_ms": 50.0}


def make(node: int = 1, members=(1, 2, 3), records=(), recovery: Recovery = INTACT, seed: int = 0,
         **options) -> ZabReplica:
    config = ZAB.make_config({**FAST, **options})
    replica = ZAB.create(CreateArgs(node, tuple(members), config, random.Random(seed), KVStateMachine(),
                                    tuple(records), recovery=recovery))
    replica.handle(Tick(0.0))
    return replica


def write(seq: int, value: str, key: str = "k", client: int = 9) -> Request:
    return Request(client, seq, Set(key, value))


def sends(effects, kind=None) -> list[Send]:
    return [e for e in effects if isinstance(e, Send) and (kind is None or isinstance(e.msg, kind))]


def persists(effects) -> list[Persist]:
    return [e for e in effects if isinstance(e, Persist)]


def replies(effects) -> list[Reply]:
    return [e for e in effects if isinstance(e, Reply)]


def records(effects) -> list:
    return [r for p in persists(effects) for r in p.records]


def durable(replica: ZabReplica, effects) -> list:
    """Make every Persist of ``effects`` durable; returns the effects of doing so."""
    out: list = []
    for persist in persists(effects):
        out += replica.handle(Persisted(persist.seq))
    return out


def vote_for(replica: ZabReplica, leader: int, epoch: int = 0, zxid=(0, 0)) -> m.Notification:
    return m.Notification(replica.election.round, leader, epoch, zxid, "looking")


def lead(replica: ZabReplica, followers=(2,), acks: dict | None = None) -> list:
    """Elect ``replica`` and take it through discovery and synchronization with
    ``followers`` (each reporting an empty history unless ``acks`` says otherwise);
    returns the effects of the last step."""
    for src in followers:
        replica.handle(Receive(src, vote_for(replica, replica.node, replica.persistent.current_epoch,
                                             replica.history.last_zxid)))
    replica.handle(Tick(replica.peer.now + 100.0))
    assert replica.peer.state == "leading", replica.peer
    out: list = []
    for src in followers:
        out = replica.handle(Receive(src, m.FollowerInfo(0)))
    durable(replica, out)
    epoch = replica.leading.epoch
    for src in followers:
        current, zxid = (acks or {}).get(src, (0, (0, 0)))
        out = replica.handle(Receive(src, m.AckEpoch(epoch, current, zxid)))
    out += durable(replica, out)
    for src in followers:
        out += replica.handle(Receive(src, m.AckNewLeader(epoch, replica.history.last_position)))
    assert replica.leading.established, replica.leading
    return out


def follow(replica: ZabReplica, leader: int = 1, epoch: int = 1, new_leader: m.NewLeader | None = None) -> list:
    """Make ``replica`` a synced follower of ``leader`` in ``epoch`` (``new_leader`` gets the
    follower's attempt number filled in)."""
    peers = [p for p in replica.members if p not in (replica.node, leader)]
    for src in [leader, *peers]:
        replica.handle(Receive(src, m.Notification(1, leader, 0, (0, 0), "following" if src != leader
                                                   else "leading")))
    assert replica.peer.state == "following", replica.peer
    attempt = replica.peer.attempt
    effects = replica.handle(Receive(leader, m.NewEpoch(epoch, attempt=attempt)))
    durable(replica, effects)
    new_leader = msgspec.structs.replace(new_leader or m.NewLeader(epoch), attempt=attempt)
    effects = replica.handle(Receive(leader, new_leader))
    durable(replica, effects)
    return effects
