"""The node-wide budget of buffered request bytes (issue 8, item 8): many connections of
large bulks cannot take a node's memory; the connection that pushes past the budget gets
``-ERR`` and is closed, and the node's memory returns near where it started."""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path

import pytest
from rt_procs import Cluster

BUDGET = 32 << 20
BULK = 8 << 20
SENT = 7 << 20  # of each 8 MiB bulk: an incomplete command the node must buffer
CONNECTIONS = 30


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _info(cluster: Cluster, section: str) -> dict[str, str]:
    text = cluster.redis(1).execute_command("INFO", section)
    return {k: str(v) for k, v in text.items()} if isinstance(text, dict) else {}


@pytest.fixture
def node(tmp_path: Path):
    cluster = Cluster(tmp_path, "pb-sync", 1)
    cluster.start(1, extra=("--client-buffer-budget", str(BUDGET)))
    yield cluster
    cluster.cleanup()


def _half_command(port: int) -> socket.socket:
    """A connection that sent SET k <8 MiB bulk> but only 7 MiB of the bulk."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n" % BULK)
    with contextlib.suppress(OSError):  # closed by the node after its error: read it below
        conn.sendall(b"x" * SENT)
    return conn


def _answer(conn: socket.socket, wait_s: float) -> bytes:
    """What the node sent on ``conn`` within ``wait_s`` (b"" when nothing)."""
    conn.settimeout(wait_s)
    try:
        return conn.recv(4096)
    except (TimeoutError, OSError):
        return b""


def test_many_connections_of_large_bulks_stay_within_the_node_budget(node: Cluster) -> None:
    pid = node.procs[1].pid
    client = node.redis(1)
    assert client.set("warm", "up")
    baseline = _rss_bytes(pid)
    held: list[socket.socket] = []
    refused = 0
    peak_rss = baseline
    for _ in range(CONNECTIONS):
        conn = _half_command(node.client[1])
        answer = _answer(conn, 0.3)
        if answer:
            assert answer.startswith(b"-ERR client buffer budget exceeded"), answer
            assert b"client_buffer_budget" in answer
            refused += 1
            conn.close()
        else:
            held.append(conn)
        peak_rss = max(peak_rss, _rss_bytes(pid))
    # The budget holds about BUDGET // SENT incomplete commands; every later one is refused.
    assert len(held) == BUDGET // SENT, (len(held), refused)
    assert refused == CONNECTIONS - len(held)
    clients = _info(node, "clients")
    assert int(clients["client_buffer_peak"]) <= BUDGET + (64 << 10)
    assert int(clients["client_buffer_refused"]) == refused
    assert peak_rss - baseline < 4 * BUDGET, (baseline, peak_rss)  # not 30 x 7 MiB
    for conn in held:
        conn.close()
    deadline = time.monotonic() + 10
    while int(_info(node, "clients")["client_buffer_bytes"]) > 64:  # only the INFO asking
        assert time.monotonic() < deadline, "the closed connections' bytes were never released"
        time.sleep(0.05)
    after = _rss_bytes(pid)
    print(f"rss MiB: baseline {baseline >> 20}, peak {peak_rss >> 20}, after close {after >> 20}; "
          f"held {len(held)}, refused {refused}")
    assert after - baseline < 2 * BUDGET, (baseline, after)
    assert client.set("after", "ok") and client.get("after") == b"ok"  # the node serves on
