"""Fixtures for the cluster tooling tests: a cluster directory whose processes are
always stopped (process groups killed) when the test ends, whatever happened."""

from __future__ import annotations

import contextlib
import os
import pathlib
import random
import signal
import socket
import sys

import msgspec
import pytest

from replikv.cluster import manager
from replikv.cluster.state import STATE_FILE, ClusterState

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


def _kill_recorded(root: pathlib.Path) -> None:
    """Last line of defence: SIGKILL every process group the state file names."""
    with contextlib.suppress(OSError, msgspec.DecodeError):
        state = msgspec.json.decode((root / STATE_FILE).read_bytes(), type=ClusterState)
        for entry in state.nodes:
            if entry.pid:
                with contextlib.suppress(OSError):
                    os.killpg(entry.pid, signal.SIGCONT)
                    os.killpg(entry.pid, signal.SIGKILL)


@pytest.fixture
def cluster_dir(tmp_path: pathlib.Path):
    root = tmp_path / "cluster"
    pids_seen: set[int] = set()
    yield root
    with contextlib.suppress(Exception):
        state = msgspec.json.decode((root / STATE_FILE).read_bytes(), type=ClusterState)
        pids_seen.update(e.pid for e in state.nodes if e.pid)
    with contextlib.suppress(Exception):
        manager.down(root, timeout_s=3.0)
    _kill_recorded(root)
    for pid in pids_seen:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
