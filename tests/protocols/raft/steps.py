"""Helpers for pure step tests: one replica, inputs in, effects out."""

from __future__ import annotations

import random

from replikv.core import Entry, Persist, Persisted, Receive, Request, Send, Set, Tick
from replikv.core.replica import CreateArgs, Recovery
from replikv.kv import KVStateMachine
from replikv.protocols.raft import RAFT, RaftReplica
from replikv.protocols.raft import messages as m
from replikv.protocols.raft.records import LogAppend, TermVote

from .harness import FAST, INTACT


def make(
    node: int = 1,
    members=(1, 2, 3),
    records=(),
    seed: int = 0,
    recovery: Recovery = INTACT,
    **options,
) -> RaftReplica:
    config = RAFT.make_config({**FAST, **options})
    args = CreateArgs(
        node,
        tuple(members),
        config,
        random.Random(seed),
        KVStateMachine(),
        tuple(records),
        recovery=recovery,
    )
    return RAFT.create(args)


def entry(index: int, term: int, key: str = "k") -> Entry:
    return Entry(index, term, Request(9, index, Set(key, f"v{index}")))


def with_log(terms: list[int], term: int, node: int = 1, **options) -> RaftReplica:
    """A replica recovered with one entry per listed term (indexes 1..) in ``term``."""
    entries = tuple(entry(i + 1, t) for i, t in enumerate(terms))
    return make(node, records=(TermVote(term, None), LogAppend(entries)), **options)


def sends(effects, kind=None) -> list[Send]:
    return [e for e in effects if isinstance(e, Send) and (kind is None or isinstance(e.msg, kind))]


def persists(effects) -> list[Persist]:
    return [e for e in effects if isinstance(e, Persist)]


def sync(replica: RaftReplica, effects) -> list:
    """Report every Persist in ``effects`` durable; return the new effects."""
    out = []
    for p in persists(effects):
        out += replica.handle(Persisted(p.seq))
    return out


def elect(replica: RaftReplica, voters=(2,), now: float = 1_000.0) -> list:
    """Drive ``replica`` through pre-vote and election to leadership; effects of the win."""
    replica.handle(Tick(0.0))
    effects = replica.handle(Tick(now))
    assert sends(effects, m.PreVote) or sends(effects, m.RequestVote)
    effects += sync(replica, effects)
    term = replica.term + 1
    if replica.role == "precandidate":
        for v in voters:
            effects = replica.handle(Receive(v, m.PreVoteReply(term, True)))
        effects += sync(replica, effects)
    assert replica.role in ("candidate", "leader")
    for v in voters:
        if replica.role == "candidate":
            effects = replica.handle(Receive(v, m.RequestVoteReply(replica.term, True)))
    assert replica.role == "leader"
    return effects
