"""Helpers shared by the cluster tooling tests (a uniquely named module, so importing it
never picks up another directory's conftest)."""

from __future__ import annotations

import os
import pathlib
import random
import sys

from replikv.cluster import ports

FAKE_NODE = [sys.executable, str(pathlib.Path(__file__).with_name("fake_node.py"))]


def free_base_port(nodes: int = 5) -> int:
    """A base port with base+1..base+nodes and base+101..base+100+nodes free (the shared
    search of ``replikv.cluster.ports``, seeded per test process)."""
    return ports.free_base_port(nodes, rng=random.Random(os.getpid()))
