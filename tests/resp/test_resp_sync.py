"""``SYNC``: ZooKeeper's sync() as a Redis command, a barrier every scheme answers at the
connection's read level (core ``Sync``: a read with no key)."""

from __future__ import annotations

import asyncio
import itertools

from replikv.core.commands import Sync, is_read, keys_of
from replikv.core.errors import Ok
from replikv.core.requests import Request
from replikv.kv import KVStateMachine
from replikv.resp.session import ServerContext, Session
from replikv.resp.testing import FakeCluster


def make() -> tuple[FakeCluster, Session]:
    cluster = FakeCluster(1)
    ids = itertools.count(100)
    return cluster, Session(ServerContext(service=cluster.nodes[1], next_client_id=lambda: next(ids),
                                          scheme="fake"), "127.0.0.1")


def run(session: Session, *words: str) -> bytes:
    return asyncio.run(asyncio.wait_for(session.execute([w.encode() for w in words]), 5))


def test_sync_is_sent_as_a_keyless_read_and_answered_ok() -> None:
    cluster, s = make()
    assert run(s, "SYNC") == b"+OK\r\n"
    assert cluster.nodes[1].requests[-1].command == Sync()
    assert run(s, "SYNC", "x") == b"-ERR wrong number of arguments for 'sync' command\r\n"


def test_sync_is_a_read_of_nothing() -> None:
    assert is_read(Sync()) and keys_of(Sync()) == ()
    assert KVStateMachine().read(Request(1, 1, Sync())) == Ok(None)
