"""MULTI/EXEC and WATCH against real clusters (``replikv serve`` processes, raft and
pb-sync, 3 nodes): redis-py's transaction pipeline and optimistic locking with a
conflicting writer on another node, a transaction fed byte by byte over a raw socket,
and a scheme without transactions (the test kit's ``toy-lww``) refusing EXEC."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from replikv.cluster.state import ClusterState
from replikv.jepsen.cluster import running_cluster

pytestmark = pytest.mark.process

WAIT_S = 20.0


@pytest.fixture
def cluster(request: pytest.FixtureRequest, tmp_path) -> Iterator[ClusterState]:
    with running_cluster(tmp_path / "cluster", request.param, 3) as state:
        yield state


def connect(state: ClusterState, node: int, protocol: int = 2) -> redis.Redis:
    port = state.members()[node - 1].client_port
    return redis.Redis(port=port, socket_timeout=5, protocol=protocol, retry=Retry(NoBackoff(), 0))


def until_writable(r: redis.Redis) -> None:
    """Wait (bounded) until the cluster has a leader/primary that takes writes."""
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            r.set("ready", "1")
            return
        except redis.ResponseError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data


@pytest.mark.parametrize("cluster", ["raft", "pb-sync"], indirect=True)
@pytest.mark.parametrize("protocol", [2, 3])
def test_transactions_and_optimistic_locking_on_a_real_cluster(cluster: ClusterState, protocol: int) -> None:
    r = connect(cluster, 2, protocol)  # node 2: not the first leader/primary; forwards
    writer = connect(cluster, 3, protocol)
    try:
        until_writable(r)
        pipe = r.pipeline()
        pipe.set("t", "x").incr("n").append("t", "yz").get("t").mget("t", "n", "none")
        assert pipe.execute() == [True, 1, 3, b"xyz", [b"xyz", b"1", None]]

        attempts = 0
        while True:
            attempts += 1
            with r.pipeline() as pipe:
                try:
                    pipe.watch("balance")
                    current = int(pipe.get("balance") or 0)
                    if attempts == 1:
                        assert writer.set("balance", "100") is True  # a conflicting writer
                    pipe.multi()
                    pipe.set("balance", str(current + 1))
                    pipe.append("log", f" attempt{attempts}")
                    result = pipe.execute()
                    break
                except redis.WatchError:
                    assert r.get("log") is None  # nothing of the aborted transaction applied
        assert attempts == 2 and result == [True, len(" attempt2")]
        assert r.get("balance") == b"101" and writer.get("log") == b" attempt2"

        pipe = r.pipeline()
        pipe.set("u", "1").incr("t")  # INCR of "xyz" fails inside: the whole Txn aborts
        with pytest.raises(redis.ResponseError, match="transaction aborted: value is not an integer"):
            pipe.execute()
        assert r.get("u") is None and r.get("t") == b"xyz"
    finally:
        r.close()
        writer.close()


@pytest.mark.parametrize("cluster", ["raft", "pb-sync"], indirect=True)
def test_a_transaction_fed_byte_by_byte_to_a_real_node(cluster: ClusterState) -> None:
    until_writable(connect(cluster, 1))
    port = cluster.members()[0].client_port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        request = b"WATCH w\r\nMULTI\r\n*3\r\n$6\r\nAPPEND\r\n$1\r\nk\r\n$2\r\n 1\r\nAPPEND k \" 2\"\r\nGET k\r\nEXEC\r\n"
        for i in range(len(request)):
            sock.sendall(request[i : i + 1])
        expected = b"+OK\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n:2\r\n:4\r\n$4\r\n 1 2\r\n"
        assert read_exactly(sock, len(expected)) == expected
        sock.sendall(b"WATCH k\r\n")
        assert read_exactly(sock, 5) == b"+OK\r\n"
        assert connect(cluster, 3).append("k", " 3") == 6
        sock.sendall(b"MULTI\r\nDEL k\r\nEXEC\r\n")
        expected = b"+OK\r\n+QUEUED\r\n*-1\r\n"
        assert read_exactly(sock, len(expected)) == expected
    assert connect(cluster, 2).get("k") == b" 1 2 3"


@pytest.mark.parametrize("cluster", ["toy-lww"], indirect=True)
def test_a_scheme_without_transactions_refuses_exec_on_a_real_cluster(cluster: ClusterState) -> None:
    r = connect(cluster, 1)
    pipe = r.pipeline()
    pipe.set("a", "1").set("b", "2")
    with pytest.raises(redis.ResponseError, match="toy-lww scheme does not offer multi-key transactions"):
        pipe.execute()
    assert r.get("a") is None and r.get("b") is None
    assert r.set("a", "1") is True  # plain writes go on
