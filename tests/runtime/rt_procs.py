"""Real ``replikv serve`` processes for tests: started in their own process group, killed
(the whole group) at teardown even when the test fails, every wait bounded."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis
from rt_helpers import free_ports

SERVE = [sys.executable, "-c", "from replikv.cli.main import main; main()", "serve"]


class Cluster:
    def __init__(self, root: Path, protocol: str, n: int, options: tuple[str, ...] = ()) -> None:
        self.root = root
        self.protocol = protocol
        self.ids = list(range(1, n + 1))
        ports = free_ports(2 * n)
        self.client = {i: ports[i - 1] for i in self.ids}
        self.peer = {i: ports[n + i - 1] for i in self.ids}
        self.options = options
        self.procs: dict[int, subprocess.Popen] = {}
        self.all_procs: list[subprocess.Popen] = []
        self.started: set[int] = set()
        """Nodes started at least once: later starts are restarts (no ``--bootstrap``)."""

    def data_dir(self, i: int) -> Path:
        return self.root / f"node{i}"

    def argv(self, i: int) -> list[str]:
        peers = ",".join(f"{j}=127.0.0.1:{self.peer[j]}" for j in self.ids if j != i)
        argv = [*SERVE, "--id", str(i), "--protocol", self.protocol, "--peers", peers,
                "--client-port", str(self.client[i]), "--peer-port", str(self.peer[i]),
                "--data-dir", str(self.data_dir(i)), "--cluster-id", "test"]
        for option in self.options:
            argv += ["--option", option]
        return argv

    def start(self, i: int, wait: bool = True, extra: tuple[str, ...] = ()) -> subprocess.Popen:
        """Start node ``i``: with ``--bootstrap`` the first time, then as a restart;
        ``extra`` flags (e.g. ``--rejoin``) are added."""
        argv = self.argv(i) + ([] if i in self.started else ["--bootstrap"]) + list(extra)
        self.started.add(i)
        with open(self.root / f"node{i}.log", "ab") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[i] = proc
        self.all_procs.append(proc)
        if wait:
            self.wait_ping(i)
        return proc

    def start_all(self) -> None:
        for i in self.ids:
            self.start(i, wait=False)
        for i in self.ids:
            self.wait_ping(i)

    def redis(self, i: int, timeout: float = 5.0) -> redis.Redis:
        return redis.Redis(port=self.client[i], socket_timeout=timeout, socket_connect_timeout=1, protocol=2)

    def wait_ping(self, i: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs[i].poll() is not None:
                raise AssertionError(f"node {i} exited with {self.procs[i].returncode}:\n{self.log(i)}")
            try:
                if self.redis(i, 1).ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise AssertionError(f"node {i} did not answer PING in {timeout}s:\n{self.log(i)}")

    def log(self, i: int) -> str:
        return (self.root / f"node{i}.log").read_text(errors="replace")[-3000:]

    def kill(self, i: int) -> None:
        proc = self.procs.pop(i)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop(self, i: int) -> int:
        proc = self.procs.pop(i)
        proc.send_signal(signal.SIGTERM)
        return proc.wait(10)

    def status(self, i: int) -> dict:
        return json.loads(self.redis(i).execute_command("RKVADMIN", "status"))

    def wait_converged(self, timeout: float = 20.0) -> str:
        """Wait until every running node reports the same state digest; returns it."""
        deadline = time.monotonic() + timeout
        digests: dict[int, str] = {}
        while time.monotonic() < deadline:
            try:
                digests = {i: self.status(i)["digest"] for i in sorted(self.procs)}
            except redis.RedisError:
                digests = {}
            if digests and len(set(digests.values())) == 1:
                return next(iter(digests.values()))
            time.sleep(0.1)
        raise AssertionError(f"nodes did not converge: {digests}")

    def cleanup(self) -> None:
        for proc in self.all_procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
