"""Free ports for local clusters: one probe and one base-port search, shared by the
tooling (``manager``'s port check), the benchmark (``bench/cluster_bench``) and the
Jepsen-style runner (``jepsen/cluster``).

What may live here: asking the OS whether ports can be bound now. The answer is only a
hint (another process may take the port a moment later); callers that start servers
still report a bind failure clearly.
"""

from __future__ import annotations

import random
import socket

from replikv.cluster.state import client_port, peer_port

BASE_PORT_RANGE = (20000, 32600)
"""Where ``free_base_port`` looks: every client and peer port of a range (peers at
base + 100 + id) stays below Linux's default ephemeral range (32768-60999). A listening
port inside that range can be taken at any moment by some outgoing connection's local
port, which once made a node added later fail with "port already in use" in CI."""
BASE_PORT_STEP = 10


def port_free(host: str, port: int, *, reuse_address: bool = False) -> bool:
    """True when a TCP socket can bind ``(host, port)`` now.

    ``reuse_address=True`` probes as a listening server does (asyncio sets SO_REUSEADDR),
    so a port held only by a closed connection in TIME_WAIT counts as free; without it
    the probe is stricter, which suits a search that may pick any other range instead.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if reuse_address:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def cluster_ports(base: int, nodes: int) -> list[int]:
    """Every port a cluster of nodes 1..``nodes`` uses: client ports, then peer ports
    (the layout of ``cluster.state``)."""
    ids = range(1, nodes + 1)
    return [client_port(base, i) for i in ids] + [peer_port(base, i) for i in ids]


def free_base_port(
    nodes: int,
    host: str = "127.0.0.1",
    *,
    rng: random.Random | None = None,
    attempts: int = 500,
) -> int:
    """A base port whose client and peer ports for nodes 1..``nodes`` are all free now.

    Bases are drawn from ``rng`` (a fresh unseeded one by default: any free range will
    do, the choice shapes no result; tests pass a seeded one). Raises ``RuntimeError``
    after ``attempts`` draws without a free range.
    """
    rng = rng or random.Random()
    low, high = BASE_PORT_RANGE
    for _ in range(attempts):
        base = rng.randrange(low, high, BASE_PORT_STEP)
        if all(port_free(host, port) for port in cluster_ports(base, nodes)):
            return base
    raise RuntimeError(f"no free port range found for {nodes} nodes on {host} after {attempts} tries")
