"""``replikv.client.Client`` against fake nodes behind real RESP servers on loopback:
operations, leader discovery, retries that apply a write once, and error typing."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Awaitable, Callable

import pytest

from replikv.client import (
    AbortedError,
    BadRequestError,
    Client,
    IndefiniteError,
    NotLeaderError,
    RequestTimeout,
    UnavailableError,
)
from replikv.core.commands import Append, Cas, Delete, Get, Incr, Set
from replikv.core.errors import Aborted, BadRequest, NotLeader, Timeout, Unavailable
from replikv.resp.server import close_resp, serve_resp
from replikv.resp.testing import FakeCluster

LIMIT_S = 20

Body = Callable[[FakeCluster, list[str]], Awaitable[None]]


def with_cluster(body: Body, size: int = 1, leader: int | None = 1) -> FakeCluster:
    """One RESP server per fake node; ``body(cluster, addresses)`` in node order."""
    cluster = FakeCluster(size, leader=leader)

    async def main() -> None:
        ids = itertools.count(1000)
        servers = [
            await serve_resp(node, port=0, client_ids=lambda: next(ids))
            for _, node in sorted(cluster.nodes.items())
        ]
        addresses = [f"127.0.0.1:{s.sockets[0].getsockname()[1]}" for s in servers]
        try:
            await asyncio.wait_for(body(cluster, addresses), LIMIT_S)
        finally:
            for server in servers:
                await asyncio.wait_for(close_resp(server), LIMIT_S)

    asyncio.run(main())
    return cluster


def client(addresses, **options) -> Client:
    options.setdefault("backoff_s", 0.001)
    options.setdefault("timeout_s", 2.0)
    return Client(addresses, rng=random.Random(7), **options)


def test_operations() -> None:
    async def body(cluster: FakeCluster, addresses: list[str]) -> None:
        async with client(addresses, client_id=42) as c:
            assert await c.get("k") is None
            assert await c.set("k", "v") is True
            assert await c.set("k", "w", nx=True) is False
            assert await c.get("k") == "v"
            assert await c.cas("k", "x", "y") is False and await c.cas("k", "v", "y") is True
            assert await c.cas("new", None, "1") is True and await c.cas("new", None, "2") is False
            assert await c.incr("n") == 1 and await c.incr("n", by=-5) == -4
            await c.mset({"a": "1", "b": "é"})
            assert await c.mget("a", "b", "zz") == ["1", "é", None]
            assert await c.delete("a", "b", "zz") == 2
            assert await c.set(b"raw\xff", b"\x00\xfe") is True
            assert await c.get(b"raw\xff") == b"\x00\xfe".decode("utf-8", "surrogateescape")
            result = await c.txn(
                [Set("t", "1"), Incr("t", 2), Get("t"), Cas("t", "3", "4"), Delete("t"), Get("t")]
            )
            assert result == [True, 3, "3", True, 1, None]
            assert await c.wait(0, 10) == 0
            status = await c.status()
            assert status["role"] == "master" and status["leader"] == "1"
            assert c.seq == 16  # one seq per operation (wait and status are not requests)
        assert {r.client_id for r in cluster.applied} == {42}
        assert [r.seq for r in cluster.applied] == sorted(r.seq for r in cluster.applied)

    cluster = with_cluster(body)
    assert cluster.state_machine.get("new") == "1"


def test_list_append_transactions_are_applied_once_when_a_reply_is_lost() -> None:
    """The ``replikv test --workload txn`` shape: appends and reads in one ``Txn``; a
    retry after a lost reply reuses the session identity, so the appends land once."""

    async def body(cluster: FakeCluster, addresses: list[str]) -> None:
        async with client(addresses, client_id=9) as c:
            assert await c.append("x", " 1") == 2
            cluster.nodes[1].script.steps.append("apply-lose-reply")
            result = await c.txn([Append("x", " 2"), Append("y", " 3"), Get("x"), Get("y")])
            assert result == [4, 2, " 1 2", " 3"]

    cluster = with_cluster(body)
    assert cluster.state_machine.items() == {"x": " 1 2", "y": " 3"}
    assert [r.seq for r in cluster.applied] == [1, 2, 2]  # the retry met the session table


def test_follows_not_leader_hints_and_learns_node_ids() -> None:
    async def body(cluster: FakeCluster, addresses: list[str]) -> None:
        async with client(addresses) as c:
            assert await c.set("k", "1") is True
            assert c.address == addresses[2]
            cluster.leader = 2  # failover
            assert await c.incr("n") == 1
            assert c.address == addresses[1]
        cluster.leader = None  # no leader known: the client walks the nodes, then gives up
        async with client(addresses, retries=4) as c:
            with pytest.raises(NotLeaderError) as error:
                await c.set("x", "1")
            assert error.value.definite
        tries = [
            n
            for n, node in sorted(cluster.nodes.items())
            for r in node.requests
            if r.command == Set("x", "1")
        ]
        assert sorted(tries) == [1, 1, 2, 2, 3]  # five attempts, round the nodes

    cluster = with_cluster(body, size=3, leader=3)
    assert [n.node_id for n in cluster.nodes.values() if n.requests] == [1, 2, 3]


def test_a_write_whose_reply_is_lost_is_retried_and_applied_once() -> None:
    async def body(cluster: FakeCluster, addresses: list[str]) -> None:
        async with client(addresses, client_id=5) as c:
            cluster.nodes[1].script.steps.append("apply-lose-reply")
            assert await c.incr("n") == 1
            cluster.nodes[1].script.steps.append("hang")  # no reply at all: the attempt times out
            c.timeout_s = 0.3
            assert await c.incr("n") == 2

    cluster = with_cluster(body)
    assert cluster.state_machine.get("n") == "2"
    assert [(r.client_id, r.seq) for r in cluster.applied] == [(5, 1), (5, 1), (5, 2)]
    assert len(cluster.nodes[1].requests) == 4  # two attempts per increment


def test_definite_errors_are_raised_at_once() -> None:
    async def body(cluster: FakeCluster, addresses: list[str]) -> None:
        async with client(addresses) as c:
            await c.set("s", "text")
            with pytest.raises(BadRequestError) as bad:
                await c.incr("s")
            assert bad.value.definite and "not an integer" in str(bad.value)
            with pytest.raises(AbortedError):
                await c.txn([Set("a", "1"), Incr("s")])
            assert await c.get("a") is None
            before = len(cluster.nodes[1].requests)
        assert before == 4

    with_cluster(body)


def test_unknown_outcome_is_never_reported_as_definite() -> None:
    async def body(cluster: FakeCluster, addresses: list[str]) -> None:
        async with client(addresses, retries=3) as c:
            cluster.nodes[1].script.steps.extend(
                [Timeout(), NotLeader(None), NotLeader(None), NotLeader(None)]
            )
            with pytest.raises(IndefiniteError) as error:
                await c.set("k", "v")
            assert not error.value.definite and isinstance(error.value, RequestTimeout)
            cluster.nodes[1].script.steps.extend([Unavailable("down")] * 4)
            with pytest.raises(UnavailableError) as down:
                await c.set("k", "v")
            assert down.value.definite

    with_cluster(body)


def test_unreachable_nodes_are_a_definite_unavailable() -> None:
    async def body(cluster: FakeCluster, addresses: list[str]) -> None:
        dead = "127.0.0.1:1"  # nothing listens on port 1
        async with client([dead, addresses[0]]) as c:
            assert await c.set("k", "v") is True  # skips the dead node
        async with client([dead], retries=2) as c:
            with pytest.raises(UnavailableError):
                await c.get("k")

    with_cluster(body)


def test_bad_arguments_are_refused_early() -> None:
    with pytest.raises(ValueError):
        Client([])
    with pytest.raises(ValueError):
        Client(["127.0.0.1:7001"], read_level="eventual")
    with pytest.raises(ValueError):
        Client(["127.0.0.1:7001"], client_id=0)


@pytest.mark.parametrize(
    "refusal", [BadRequest("over the node's request budget"), Aborted("conflict")]
)
def test_a_definite_refusal_of_a_retry_after_an_unknown_outcome_is_indefinite(refusal) -> None:
    """Issues 8.6/8.10: the first attempt was applied but its reply was lost; the retry is
    refused with a definite error (a budget, an evicted session re-run). The first attempt
    may have happened, so the client must not report "it did not happen"."""

    async def body(cluster: FakeCluster, addresses: list[str]) -> None:
        async with client(addresses, retries=2) as c:
            cluster.nodes[1].script.steps.extend(["apply-lose-reply", refusal])
            with pytest.raises(IndefiniteError) as error:
                await c.set("k", "v")
            assert not error.value.definite

    cluster = with_cluster(body)
    assert cluster.state_machine.get("k") == "v"  # it did happen


def test_a_wrongtype_reply_is_a_definite_bad_request() -> None:
    """``-WRONGTYPE ...`` (quorum's CRDT commands on a key of another type) is Redis's own
    error; the Python client raises ``BadRequestError`` for it, definite, with Redis's words."""
    from replikv.client.errors import error_for
    from replikv.core.errors import WrongType
    from replikv.resp.commands import client_error_from_reply, render_error
    from replikv.resp.protocol import ReplyParser

    parser = ReplyParser()
    parser.feed(render_error(WrongType()))
    reply = parser.next_reply()
    error = error_for(client_error_from_reply(reply))
    assert isinstance(error, BadRequestError) and error.definite
    assert "WRONGTYPE" in str(error) and "wrong kind of value" in str(error)
