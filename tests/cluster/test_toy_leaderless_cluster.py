"""The proof of a scheme-neutral runtime (issue 9): the test kit's leaderless toy scheme
``toy-lww`` (tests/testkit, registered by entry point, no edit for it anywhere else) runs
as a real 3-node cluster that any Redis client talks to, at every node."""

from __future__ import annotations

import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from replikv.cluster import manager
from replikv.jepsen.cluster import running_cluster

pytestmark = pytest.mark.process

WAIT_S = 20.0


def _connect(port: int) -> redis.Redis:
    return redis.Redis(port=port, socket_timeout=5, retry=Retry(NoBackoff(), 0))


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_every_node_takes_writes_and_the_replicas_converge(tmp_path) -> None:
    root = tmp_path / "cluster"
    with running_cluster(root, "toy-lww", 3) as state:
        nodes = [_connect(m.client_port) for m in state.members()]
        for i, r in enumerate(nodes, start=1):
            assert r.set(f"k{i}", f"from node {i}") is True  # leaderless: no NotLeader anywhere
        for r in nodes:  # pushed to every peer, then anti-entropy
            _until(lambda r=r: [r.get(f"k{i}") for i in (1, 2, 3)]
                   == [b"from node 1", b"from node 2", b"from node 3"], "replication")
        nodes[2].close()  # a half-closed connection would hold node 3's port after the kill
        manager.kill(root, 3)
        assert nodes[0].set("after", "kill") is True  # a node down stops nobody
        manager.restart(root, 3)
        restarted = _connect(state.members()[2].client_port)
        _until(lambda: restarted.get("after") == b"kill", "the restarted node to catch up")
        assert restarted.get("k1") == b"from node 1"  # its own WAL, recovered
