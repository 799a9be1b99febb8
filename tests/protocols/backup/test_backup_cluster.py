"""A real ``backup`` cluster (``replikv cluster``, separate processes) and redis-cli:
writes at the primary, a standby's copy arrives after interval_ms, a killed primary,
a standby promoted by hand, the old primary back as a standby. Every call has a timeout;
the cluster is taken down (and its process groups killed) at the end."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import time

import pytest

from replikv.cluster import manager, ports, processes

pytestmark = [pytest.mark.process, pytest.mark.timeout(180),
              pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli not installed")]


def replikv(*args: str) -> str:
    done = subprocess.run([*processes.serve_prefix(), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"replikv {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def cli(port: int, *args: str) -> str:
    done = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def until(condition, timeout_s: float = 20.0) -> bool:
    """Poll ``condition`` (a real cluster: no virtual clock to advance) until it holds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def root(tmp_path):
    where = tmp_path / "cluster"
    yield where
    with contextlib.suppress(Exception):
        manager.down(where, timeout_s=3.0)
    with contextlib.suppress(Exception):
        for node in json.loads((where / "cluster.json").read_text()).get("nodes", []):
            with contextlib.suppress(OSError):
                os.killpg(node["pid"], signal.SIGKILL)


def test_backup_cluster_copies_fails_over_by_hand_and_takes_the_old_primary_back(root) -> None:
    base = ports.free_base_port(3, rng=random.Random(os.getpid()))
    replikv("cluster", "up", "--protocol", "backup", "--nodes", "3", "--base-port", str(base),
            "--option", "interval_ms=200", "--data-dir", str(root), "--timeout", "30")
    p1, p2, p3 = base + 1, base + 2, base + 3
    assert cli(p1, "SET", "k", "v") == "OK"
    assert cli(p2, "SET", "k2", "via-standby") == "OK"  # forwarded to the primary
    assert until(lambda: cli(p3, "GET", "k") == "v"), "the standby never received a copy"
    assert until(lambda: cli(p3, "GET", "k2") == "via-standby")
    replikv("cluster", "kill", "1", "--data-dir", str(root))
    replikv("cluster", "promote", "2", "--data-dir", str(root))
    assert cli(p2, "SET", "after", "failover") == "OK"
    assert cli(p2, "GET", "k") == "v"
    replikv("cluster", "restart", "1", "--data-dir", str(root))
    assert until(lambda: cli(p1, "GET", "after") == "failover"), "the old primary did not take the new copy"
    status = json.loads(replikv("cluster", "status", "--json", "--data-dir", str(root)))
    roles = {n["id"]: n["role"] for n in status["nodes"]}
    assert roles == {1: "standby", 2: "primary", 3: "standby"}
