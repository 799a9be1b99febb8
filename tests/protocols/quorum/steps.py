"""Helpers for pure quorum step tests: replicas called directly, effects checked in order,
and a tiny in-test network that delivers chosen messages by hand."""

from __future__ import annotations

import random

from replikv.core import Persist, Persisted, Receive, Reply, Request, Send, Submit, Tick
from replikv.core.commands import Delete, Get, Incr, Set
from replikv.core.replica import CreateArgs, Recovery
from replikv.kv import KVStateMachine
from replikv.protocols.quorum import QUORUM_SPEC, QuorumReplica

INTACT = Recovery()


def make(node: int = 1, members=(1, 2, 3), records=(), recovery: Recovery = INTACT, **options) -> QuorumReplica:
    config = QUORUM_SPEC.make_config(options)
    return QUORUM_SPEC.create(CreateArgs(node, tuple(members), config, random.Random(0), KVStateMachine(),
                                         tuple(records), recovery=recovery))


def put(seq: int, value: str, key: str = "k", client: int = 9, level: str = "linearizable") -> Request:
    return Request(client, seq, Set(key, value), level)


def get(seq: int, key: str = "k", client: int = 9, level: str = "linearizable") -> Request:
    return Request(client, seq, Get(key), level)


def incr(seq: int, by: int = 1, key: str = "k", client: int = 9) -> Request:
    return Request(client, seq, Incr(key, by))


def delete(seq: int, key: str = "k", client: int = 9) -> Request:
    return Request(client, seq, Delete(key))


def sends(effects, kind=None) -> list[Send]:
    return [e for e in effects if isinstance(e, Send) and (kind is None or isinstance(e.msg, kind))]


def persists(effects) -> list[Persist]:
    return [e for e in effects if isinstance(e, Persist)]


def replies(effects) -> list[Reply]:
    return [e for e in effects if isinstance(e, Reply)]


class Cluster:
    """Replicas 1..n and a list of messages in flight; nothing moves unless a test says so.
    Persists become durable at once unless ``hold`` names the node."""

    def __init__(self, n: int = 3, **options) -> None:
        self.members = tuple(range(1, n + 1))
        self.nodes = {i: make(i, self.members, **options) for i in self.members}
        self.records: dict[int, list] = {i: [] for i in self.members}
        self.inflight: list[tuple[int, Send]] = []
        self.replies: list[Reply] = []
        self.now = 0.0

    def feed(self, node: int, inp) -> None:
        effects = self.nodes[node].handle(inp)
        durable = 0
        for effect in effects:
            if isinstance(effect, Persist):
                self.records[node].extend(effect.records)
                durable = effect.seq
            elif isinstance(effect, Send):
                self.inflight.append((node, effect))
            elif isinstance(effect, Reply):
                self.replies.append(effect)
        if durable:
            self.feed(node, Persisted(durable))

    def submit(self, node: int, request: Request) -> None:
        self.feed(node, Submit(request))

    def deliver(self, only=lambda src, send: True, drop=lambda src, send: False) -> int:
        """Deliver every message in flight that ``only`` selects (and what they cause),
        dropping those ``drop`` selects; returns how many were delivered."""
        count = 0
        progress = True
        while progress:
            progress = False
            for item in list(self.inflight):
                src, send = item
                if not only(src, send):
                    continue
                self.inflight.remove(item)
                if drop(src, send):
                    continue
                count += 1
                progress = True
                self.feed(send.dst, Receive(src, send.msg))
        return count

    def tick(self, ms: float) -> None:
        self.now += ms
        for node in self.members:
            self.feed(node, Tick(self.now))

    def value(self, node: int, key: str = "k"):
        return self.nodes[node].state_machine().get(key)

    def result(self, request: Request):
        found = [r.result for r in self.replies if r.request == request]
        assert len(found) <= 1, found
        return found[0] if found else None
