"""Session guarantees through the Redis front end of a real ``quorum`` cluster (three
``replikv serve`` processes, R = W = one), with redis-py: a session that moves from node
1 to node 2 by handing its token over (``SESSION TOKEN``) never reads the stale value a
plain connection at node 2 reads while node 1 is cut off (Terry et al. 1994, §3)."""

from __future__ import annotations

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
def cluster(tmp_path) -> Iterator[ClusterState]:
    with running_cluster(tmp_path / "cluster", "quorum", 3, {"read_level": "one", "write_level": "one"}) as state:
        yield state


def connect(state: ClusterState, node: int) -> redis.Redis:
    port = state.members()[node - 1].client_port
    return redis.Redis(port=port, socket_timeout=10, retry=Retry(NoBackoff(), 0))


def admin_all(state: ClusterState, *words: str) -> None:
    for node in (1, 2, 3):
        connect(state, node).execute_command("RKVADMIN", *words)


def test_a_session_token_taken_to_another_node_never_reads_stale(cluster: ClusterState) -> None:
    first, second, plain = connect(cluster, 1), connect(cluster, 2), connect(cluster, 2)
    deadline = time.monotonic() + WAIT_S
    while True:  # every node up and talking
        try:
            first.set("ready", "1")
            break
        except redis.ResponseError:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert first.execute_command("SESSION", "all", "on") == b"OK"
    assert first.execute_command("SESSION") == [b"read-your-writes", b"on", b"monotonic-reads", b"on",
                                                b"monotonic-writes", b"on", b"writes-follow-reads", b"on"]
    admin_all(cluster, "partition", "1")
    assert first.set("k", "mine") is True  # W = one: node 1 alone holds it
    token = first.execute_command("SESSION", "TOKEN")
    assert token  # hex of the scheme's opaque token
    assert plain.get("k") is None  # no session: the stale answer
    assert second.execute_command("SESSION", "all", "on") == b"OK"
    assert second.execute_command("SESSION", "TOKEN", token) == b"OK"
    with pytest.raises(redis.ResponseError, match="session"):
        second.get("k")  # cannot cover the session's write: a definite error, not None
    admin_all(cluster, "heal")
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            assert second.get("k") == b"mine"
            break
        except redis.ResponseError:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_session_command_errors_are_clear(cluster: ClusterState) -> None:
    r = connect(cluster, 1)
    with pytest.raises(redis.ResponseError, match="must be one of ryw, mr, mw, wfr, all"):
        r.execute_command("SESSION", "strong", "on")
    with pytest.raises(redis.ResponseError, match="on or off"):
        r.execute_command("SESSION", "ryw", "yes")
    with pytest.raises(redis.ResponseError, match="hex"):
        r.execute_command("SESSION", "TOKEN", "zz")
    assert r.execute_command("SESSION", "TOKEN", "ff00") == b"OK"
    assert r.execute_command("SESSION", "ryw", "on") == b"OK"
    with pytest.raises(redis.ResponseError, match="not one this scheme issued"):
        r.get("k")
    assert r.execute_command("SESSION", "RESET") == b"OK"
    assert r.get("k") is None
