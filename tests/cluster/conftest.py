"""Fixtures for the cluster tooling tests: a cluster directory whose processes are
always stopped (process groups killed) when the test ends, whatever happened."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import tempfile

import msgspec
import pytest

from replikv.cluster import manager
from replikv.cluster.state import STATE_FILE, ClusterState


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


@pytest.fixture
def bench_tmp(tmp_path: pathlib.Path, monkeypatch):
    """Benchmark clusters (and peers) go under ``tmp_path``, tempfile's directory for the
    test; whatever a failed run left there is killed at teardown (each node's process
    group, from its state file)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    yield tmp_path
    for state_file in tmp_path.glob(f"*/{STATE_FILE}"):
        _kill_recorded(state_file.parent)
