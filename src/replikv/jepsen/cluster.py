"""The cluster under test: started with the cluster tooling, always torn down.

What may live here: choosing free ports, starting the nodes (``replikv.cluster.manager``)
with fsync ``always`` in the run's folder, and a teardown that leaves no process behind
whatever happened (SIGTERM, then SIGKILL of every process group the state file names).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
from collections.abc import Iterator

import msgspec

from replikv.cluster import manager
from replikv.cluster.ports import free_base_port
from replikv.cluster.state import STATE_FILE, ClusterState

READY_TIMEOUT_S = 30.0


def kill_recorded(root: pathlib.Path) -> None:
    """Last line of defence: SIGCONT + SIGKILL every process group the state file names."""
    with contextlib.suppress(OSError, msgspec.DecodeError):
        state = msgspec.json.decode((root / STATE_FILE).read_bytes(), type=ClusterState)
        for entry in state.nodes:
            if entry.pid and manager.node_alive(entry):
                with contextlib.suppress(OSError):
                    os.killpg(entry.pid, signal.SIGCONT)
                    os.killpg(entry.pid, signal.SIGKILL)


@contextlib.contextmanager
def running_cluster(root: pathlib.Path, protocol: str, nodes: int,
                 options: dict[str, str] | None = None) -> Iterator[ClusterState]:
    """Start ``nodes`` local ``protocol`` nodes under ``root`` and stop them on exit."""
    opts = manager.UpOptions(protocol=protocol, nodes=nodes, base_port=free_base_port(nodes),
                             fsync="always", options=dict(options or {}),
                             ready_timeout_s=READY_TIMEOUT_S, failpoints=True)
    try:
        state = manager.up(root, opts)
        yield state
    finally:
        with contextlib.suppress(Exception):
            manager.down(root, timeout_s=5.0)
        kill_recorded(root)
