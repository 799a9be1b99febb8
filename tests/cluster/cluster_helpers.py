"""Helpers shared by the cluster tooling tests (a uniquely named module, so importing it
never picks up another directory's conftest)."""

from __future__ import annotations

import os
import pathlib
import random
import socket
import sys

FAKE_NODE = [sys.executable, str(pathlib.Path(__file__).with_name("fake_node.py"))]


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_base_port(nodes: int = 5) -> int:
    """A base port with base+1..base+nodes and base+101..base+100+nodes free."""
    rng = random.Random(os.getpid())
    for _ in range(500):
        base = rng.randrange(20000, 60000, 10)
        if all(_free(base + i) and _free(base + 100 + i) for i in range(1, nodes + 1)):
            return base
    raise RuntimeError("no free port range")
