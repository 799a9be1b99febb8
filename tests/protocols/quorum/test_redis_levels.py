"""Per-request levels through the Redis front end: ``READLEVEL`` and ``WRITELEVEL`` one,
quorum or all become the level each request carries (quorum's R and W)."""

from __future__ import annotations

import asyncio
import itertools

from replikv.resp.session import ServerContext, Session
from replikv.resp.testing import FakeCluster


def _session() -> tuple[FakeCluster, Session]:
    cluster = FakeCluster(1)
    ids = itertools.count(100)
    return cluster, Session(ServerContext(service=cluster.nodes[1], next_client_id=lambda: next(ids),
                                          scheme="quorum"), "127.0.0.1")


def run(session: Session, *words: str) -> bytes:
    return asyncio.run(asyncio.wait_for(session.execute([w.encode() for w in words]), 5))


def test_writelevel_sets_the_level_of_writes_only_and_readlevel_of_reads():
    cluster, s = _session()
    assert run(s, "WRITELEVEL") == b"$7\r\ndefault\r\n"
    assert run(s, "WRITELEVEL", "one") == b"+OK\r\n"
    assert run(s, "READLEVEL", "all") == b"+OK\r\n"
    run(s, "SET", "k", "v")
    run(s, "GET", "k")
    run(s, "INCRBY", "n", "2")
    assert run(s, "WRITELEVEL", "default") == b"+OK\r\n"
    run(s, "SET", "k", "w")
    levels = [(type(r.command).__name__, r.read_level) for r in cluster.nodes[1].requests]
    assert levels == [("Set", "one"), ("Get", "all"), ("Incr", "one"), ("Set", "all")]


def test_unknown_levels_are_refused_with_the_choices():
    _, s = _session()
    assert run(s, "WRITELEVEL", "some").startswith(b"-ERR write level must be one of one, quorum, all, default")
    assert b"quorum" in run(s, "READLEVEL", "eventual")
    assert run(s, "WRITELEVEL") == b"$7\r\ndefault\r\n"


def test_session_is_refused_where_the_scheme_keeps_no_session_guarantees():
    _, s = _session()  # a test service without a ProtocolSpec that declares them
    assert run(s, "SESSION", "all", "on").startswith(b"-ERR scheme quorum keeps no session guarantees")
    assert run(s, "SESSION", "ryw", "off") == b"+OK\r\n"
    assert run(s, "SESSION", "TOKEN") == b"$0\r\n\r\n"
