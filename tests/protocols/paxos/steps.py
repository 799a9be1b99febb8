"""Helpers for pure Paxos step tests: one replica, inputs in, effects out, in order.

The replica is called directly (no node driver), so the effect list is exactly what the
replica emitted: a test can see that a ``Persist`` comes before the ``Send`` it guards
(the pipeline enforces the barrier; these tests check the replica puts it there).
"""

from __future__ import annotations

import random

from replikv.core import Persist, Receive, Reply, Request, Send, Set, Tick
from replikv.core.replica import CreateArgs, Recovery
from replikv.kv import KVStateMachine
from replikv.protocols.paxos import MULTIPAXOS_SPEC, PAXOS_SPEC, PaxosReplica
from replikv.protocols.paxos import messages as m

INTACT = Recovery()
FAST = {"tick_ms": 10.0, "heartbeat_ms": 20.0, "election_timeout_ms": 100.0}
SPECS = {"multipaxos": MULTIPAXOS_SPEC, "paxos": PAXOS_SPEC}


def make(node: int = 1, members=(1, 2, 3), records=(), seed: int = 0, mode: str = "multipaxos",
         recovery: Recovery = INTACT, **options) -> PaxosReplica:
    spec = SPECS[mode]
    config = spec.make_config({**FAST, **options})
    return spec.create(CreateArgs(node, tuple(members), config, random.Random(seed), KVStateMachine(),
                                  tuple(records), recovery=recovery))


def write(seq: int, value: str, key: str = "k", client: int = 9) -> Request:
    return Request(client, seq, Set(key, value))


def sends(effects, kind=None) -> list[Send]:
    return [e for e in effects if isinstance(e, Send) and (kind is None or isinstance(e.msg, kind))]


def persists(effects) -> list[Persist]:
    return [e for e in effects if isinstance(e, Persist)]


def replies(effects) -> list[Reply]:
    return [e for e in effects if isinstance(e, Reply)]


def records(effects) -> list:
    """Every record the effects persist, in order."""
    return [r for p in persists(effects) for r in p.records]


def position(effects, predicate) -> int:
    return next(i for i, e in enumerate(effects) if predicate(e))


def campaign(replica: PaxosReplica) -> list:
    """Let the follower's failure-detection timer fire: its phase 1 effects."""
    replica.handle(Tick(0.0))
    return replica.handle(Tick(10 * replica.config.election_timeout_ms))


def elect(replica: PaxosReplica, promises: dict[int, m.Promise] | None = None) -> list:
    """Make ``replica`` leader: campaign, then a promise from every peer (or the given
    ones); returns the effects of the last promise."""
    effects = campaign(replica)
    ballot = replica.proposer.ballot
    assert sends(effects, m.Prepare), effects
    answers = promises or {
        peer: m.Promise(ballot, replica.proposer.from_slot, 0) for peer in replica.members if peer != replica.node
    }
    out: list = []
    for peer, promise in sorted(answers.items()):
        out = replica.handle(Receive(peer, promise))
    return out
