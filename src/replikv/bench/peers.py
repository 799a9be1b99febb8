"""Peer systems a benchmark compares replikv with, started on loopback by the benchmark
itself and driven by the same load driver (``bench/load``) in the same run.

- ``etcd``: three ``etcd`` members (Debian's ``etcd-server``; Raft, the WAL fsynced before
  a write is acknowledged, linearizable reads), clients on the leader. It fsyncs whatever
  ``--fsync`` says: etcd 3.4 has no setting that turns the fsync off.
- ``redis``: one ``redis-server`` without persistence: the speed of the driver and the
  loopback, the ceiling no replicated store reaches.
- ``redis-aof-wait``: a Redis primary and two replicas, all with ``appendfsync always``
  (``everysec`` when replikv runs ``--fsync batch``, ``no`` with ``--fsync never``: the
  same durability setting on both sides); every ``SET`` is followed by ``WAIT 2 0``, so a
  write is acknowledged once both replicas have it (Redis replicas acknowledge receipt,
  not their own fsync: a weaker promise than raft's, which is why it is a reference and
  not a twin).
- ``pysyncobj``: three members of PySyncObj (PyPI ``pysyncobj``; Raft in pure Python, what
  Python developers reach for), each behind the small Redis-protocol harness of
  ``bench/pysyncobj_node.py``; clients on the leader. A write is acknowledged once it is in
  a majority's journal, which PySyncObj memory-maps and never fsyncs: compare it with
  replikv's ``--fsync never``.

A peer that is not installed is reported by name with the package that provides it;
nothing is faked.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import pathlib
import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from replikv.bench import connectors
from replikv.bench.load import Connector
from replikv.cluster import admin, processes
from replikv.cluster.ports import free_base_port
from replikv.cluster.respwire import RespConnection, RespError
from replikv.cluster.state import client_port, peer_port
from replikv.storage.base import check_policy

_START_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Running:
    """A started peer: where to send the load, and how."""

    host: str
    ports: list[int]
    connect: Connector
    described: str
    members: tuple[int, ...] = ()
    """Every member's client port, where a peer has several (``ports`` is where the load goes)."""


@dataclass(frozen=True)
class Peer:
    name: str
    binary: str
    package: str
    start: object  # Callable[[pathlib.Path, int, str], contextlib.AbstractContextManager[Running]]
    """``start(root, nodes, fsync)``: ``fsync`` is replikv's policy of the run (``always``,
    ``batch``, ``never``); a peer that has the same setting uses it, the others say in
    ``Running.described`` what they do instead."""
    module: str | None = None
    """A Python package the peer runs in (then ``binary`` is unused)."""

    def missing(self) -> str | None:
        """Why this peer cannot run here, or ``None``."""
        if self.module is not None:
            if importlib.util.find_spec(self.module) is None:
                return f"{self.name}: the Python package `{self.module}` is not installed (PyPI: pip install {self.package})"
            return None
        if shutil.which(self.binary) is None:
            return (f"{self.name}: `{self.binary}` is not installed "
                    f"(Debian: apt-get install {self.package})")
        return None


def _spawn(argv: list[str], log: pathlib.Path) -> int:
    return processes.spawn(argv, log)


def _stop(pids: list[int]) -> None:
    # Our own children: no marker is needed to be sure the pid is still theirs.
    for pid in pids:
        processes.terminate(pid, None, 5.0)


def _wait_ping(port: int, log: pathlib.Path) -> None:
    if not processes.wait_until(lambda: admin.ping("127.0.0.1", port, 0.5), _START_TIMEOUT_S):
        raise RuntimeError(f"redis-server on port {port} did not start: {processes.tail(log)}")


@contextlib.contextmanager
def _redis(root: pathlib.Path, nodes: int, fsync: str) -> Iterator[Running]:
    base = free_base_port(1, attempts=200)
    port = client_port(base, 1)
    log = root / "redis.log"
    pids = [_spawn([shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no", "--dir", str(root)], log)]
    try:
        _wait_ping(port, log)
        yield Running("127.0.0.1", [port], connectors.resp, "redis-server, 1 node, no persistence")
    finally:
        _stop(pids)


@contextlib.contextmanager
def _redis_aof_wait(root: pathlib.Path, nodes: int, fsync: str) -> Iterator[Running]:
    appendfsync = REDIS_APPENDFSYNC[fsync]
    base = free_base_port(nodes, attempts=200)
    ports = [client_port(base, i) for i in range(1, nodes + 1)]
    pids: list[int] = []
    try:
        for i, port in enumerate(ports, start=1):
            home = root / f"redis{i}"
            home.mkdir()
            argv = [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "yes", "--appendfsync", appendfsync, "--dir", str(home)]
            if i > 1:
                argv += ["--replicaof", "127.0.0.1", str(ports[0])]
            pids.append(_spawn(argv, home / "redis.log"))
        for i, port in enumerate(ports, start=1):
            _wait_ping(port, root / f"redis{i}" / "redis.log")
        _wait_replicas(ports[0], nodes - 1)
        yield Running("127.0.0.1", [ports[0]], connectors.resp_wait(nodes - 1),
                      f"redis-server, 1 primary + {nodes - 1} replicas, appendfsync {appendfsync}, WAIT {nodes - 1} 0")
    finally:
        _stop(pids)


def _wait_replicas(port: int, replicas: int) -> None:
    def linked() -> bool:
        with contextlib.suppress(OSError, ValueError, RespError):
            with RespConnection("127.0.0.1", port, 1.0) as connection:
                text = connection.call("INFO", "replication").decode("latin-1")
            return f"connected_slaves:{replicas}" in text and text.count("state=online") >= replicas
        return False

    if not processes.wait_until(linked, _START_TIMEOUT_S):
        raise RuntimeError(f"redis replicas did not connect to the primary on port {port}")


def _etcd_call(port: int, path: str, body: dict) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=2.0) as response:  # noqa: S310 (loopback only)
        return json.load(response)


def _etcd_leader(ports: list[int]) -> int | None:
    """The client port of the member that says it leads, or ``None`` yet."""
    for port in ports:
        with contextlib.suppress(OSError, ValueError, KeyError):
            status = _etcd_call(port, "/v3/maintenance/status", {})
            if status["leader"] == status["header"]["member_id"]:
                return port
    return None


def _await_leader(find: Callable[[], int | None], name: str, log: pathlib.Path) -> int:
    """The client port ``find`` names as the leader's, asked every 0.1 s until one is
    elected; a ``RuntimeError`` with the log's tail after ``_START_TIMEOUT_S``."""
    deadline = time.monotonic() + _START_TIMEOUT_S
    while (leader := find()) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} elected no leader in {_START_TIMEOUT_S:.0f} s: {processes.tail(log)}")
        time.sleep(0.1)
    return leader


@contextlib.contextmanager
def _etcd(root: pathlib.Path, nodes: int, fsync: str) -> Iterator[Running]:
    base = free_base_port(nodes, attempts=200)
    ids = range(1, nodes + 1)
    cluster = ",".join(f"n{i}=http://127.0.0.1:{peer_port(base, i)}" for i in ids)
    pids: list[int] = []
    try:
        for i in ids:
            client = f"http://127.0.0.1:{client_port(base, i)}"
            peer = f"http://127.0.0.1:{peer_port(base, i)}"
            argv = [shutil.which("etcd") or "etcd", "--name", f"n{i}", "--data-dir", str(root / f"etcd{i}"),
                    "--listen-client-urls", client, "--advertise-client-urls", client,
                    "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                    "--initial-cluster", cluster, "--initial-cluster-state", "new",
                    "--initial-cluster-token", "replikv-bench", "--logger", "zap", "--log-level", "error"]
            pids.append(_spawn(argv, root / f"etcd{i}.log"))
        ports = [client_port(base, i) for i in ids]
        leader = _await_leader(lambda: _etcd_leader(ports), "etcd", root / "etcd1.log")
        unchanged = "" if fsync == "always" else "; fsyncs every write whatever --fsync says"
        yield Running("127.0.0.1", [leader], connectors.etcd,
                      f"etcd {nodes} members, clients on the leader (JSON gateway{unchanged})")
    finally:
        _stop(pids)


@contextlib.contextmanager
def _pysyncobj(root: pathlib.Path, nodes: int, fsync: str) -> Iterator[Running]:
    base = free_base_port(nodes, attempts=200)
    ids = range(1, nodes + 1)
    links = {i: f"127.0.0.1:{peer_port(base, i)}" for i in ids}
    ports = [client_port(base, i) for i in ids]
    pids: list[int] = []
    try:
        for i in ids:
            argv = [sys.executable, "-m", "replikv.bench.pysyncobj_node", "--self", links[i],
                    "--port", str(client_port(base, i)), "--dir", str(root / f"pso{i}")]
            for j in ids:
                if j != i:
                    argv += ["--partner", links[j]]
            pids.append(_spawn(argv, root / f"pso{i}.log"))
        for i, port in zip(ids, ports, strict=True):
            _wait_ping(port, root / f"pso{i}.log")
        leader = _await_leader(lambda: next((port for port in ports if _says_leader(port)), None), "pysyncobj",
                               root / "pso1.log")
        yield Running("127.0.0.1", [leader], connectors.resp,
                      f"pysyncobj {nodes} members, clients on the leader (journal memory-mapped, not fsynced)",
                      tuple(ports))
    finally:
        _stop(pids)


def _says_leader(port: int) -> bool:
    with contextlib.suppress(OSError, ValueError, RespError), RespConnection("127.0.0.1", port, 1.0) as connection:
        return connection.call("ISLEADER") == 1
    return False


REDIS_APPENDFSYNC = {"always": "always", "batch": "everysec", "never": "no"}
"""replikv's ``--fsync`` policy → the Redis ``appendfsync`` setting that promises the same."""

PEERS: dict[str, Peer] = {
    "etcd": Peer("etcd", "etcd", "etcd-server", _etcd),
    "redis": Peer("redis", "redis-server", "redis-server", _redis),
    "redis-aof-wait": Peer("redis-aof-wait", "redis-server", "redis-server", _redis_aof_wait),
    "pysyncobj": Peer("pysyncobj", "", "pysyncobj", _pysyncobj, module="pysyncobj"),
}
"""Every peer by name; ``redis`` in ``--compare`` stands for both Redis set-ups."""


def expand(names: list[str]) -> list[str]:
    """``--compare`` names to peers: ``redis`` means both Redis set-ups. Raises
    ``ValueError`` naming the known peers for an unknown name."""
    out: list[str] = []
    for name in names:
        picked = ["redis-aof-wait", "redis"] if name == "redis" else [name]
        for peer in picked:
            if peer not in PEERS:
                raise ValueError(f"unknown peer {name!r}: choose from etcd, redis, redis-aof-wait, pysyncobj")
            if peer not in out:
                out.append(peer)
    return out


@contextlib.contextmanager
def started(name: str, nodes: int, fsync: str = "always") -> Iterator[Running]:
    """Start peer ``name`` in a temporary directory, wiped afterwards; ``fsync``: replikv's
    policy of the run (``PEERS``, ``Peer.start``)."""
    check_policy(fsync)
    root = pathlib.Path(tempfile.mkdtemp(prefix=f"replikv-bench-{name}-"))
    try:
        with PEERS[name].start(root, nodes, fsync) as running:
            yield running
    finally:
        shutil.rmtree(root, ignore_errors=True)
