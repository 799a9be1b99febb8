"""Real ``replikv serve`` processes on loopback: Redis clients on every node, kill -9 of
the primary under a continuous writer, manual failover, restart and catch-up, a whole
cluster crash, and a damaged WAL. Every process is killed at teardown."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import redis
from rt_procs import Cluster

pytestmark = [pytest.mark.process, pytest.mark.timeout(120)]

FAST = ("request_timeout_ms=500",)


@pytest.fixture
def make_cluster(tmp_path: Path):
    made: list[Cluster] = []

    def make(protocol: str = "pb-sync", n: int = 3, options: tuple[str, ...] = FAST) -> Cluster:
        cluster = Cluster(tmp_path / f"c{len(made)}", protocol, n, options)
        cluster.root.mkdir()
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.cleanup()


class Writer(threading.Thread):
    """Writes w<i> = i through one node until stopped; remembers what was acknowledged."""

    def __init__(self, cluster: Cluster, node: int) -> None:
        super().__init__(daemon=True)
        self.client = cluster.redis(node, timeout=3)
        self.acked: dict[str, str] = {}
        self.errors: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.halt.is_set():
            i += 1
            try:
                if self.client.set(f"w{i}", str(i)):
                    self.acked[f"w{i}"] = str(i)
            except redis.RedisError as exc:
                self.errors.append(str(exc))
                time.sleep(0.02)  # pace retries while the cluster has no primary

    def wait_acks(self, count: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acked) < count:
            assert time.monotonic() < deadline, f"only {len(self.acked)} acks; errors: {self.errors[-3:]}"
            time.sleep(0.01)


def _set_once_started(client: redis.Redis, key: str, value: str, timeout: float = 20.0) -> bool:
    """The first write to a cluster just started: pb-sync refuses writes while a backup
    that has not connected yet counts as down, so wait (bounded) for every replica."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return bool(client.set(key, value))
        except redis.RedisError as exc:
            if "is down" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _check_readable(cluster: Cluster, node: int, acked: dict[str, str]) -> None:
    client = cluster.redis(node)
    keys = sorted(acked)
    values = client.mget(keys) if keys else []
    missing = [k for k, v in zip(keys, values, strict=True) if v is None or v.decode() != acked[k]]
    assert not missing, f"acknowledged writes lost: {missing[:10]} (of {len(keys)})"


@pytest.mark.parametrize("acks_before_kill", [5, 50, 200])
def test_pb_sync_redis_clients_failover_and_catch_up(make_cluster, acks_before_kill: int) -> None:
    """Kill points: early (the log barely started), mid-stream, and after a longer run."""
    cluster = make_cluster()
    cluster.start_all()
    for i in cluster.ids:  # every node accepts writes (backups forward to the primary)
        assert _set_once_started(cluster.redis(i), f"hello{i}", f"from {i}")
    for i in cluster.ids:
        assert [v.decode() for v in cluster.redis(i).mget(["hello1", "hello2", "hello3"])] == [
            "from 1", "from 2", "from 3"]
    writer = Writer(cluster, node=2)
    writer.start()
    writer.wait_acks(acks_before_kill)
    cluster.kill(1)  # kill -9 the primary under the writer
    assert cluster.redis(2).execute_command("RKVADMIN", "promote") == b"OK"
    assert cluster.status(2)["status"]["role"] == "primary"
    cluster.start(1)  # the old primary comes back, learns the new epoch and catches up
    before = len(writer.acked)
    writer.wait_acks(before + 30)
    writer.halt.set()
    writer.join(10)
    _check_readable(cluster, 2, writer.acked)
    digest = cluster.wait_converged()
    assert cluster.status(1)["status"]["role"] == "backup"
    assert cluster.status(1)["digest"] == digest


def test_pb_sync_whole_cluster_crash_and_restart_loses_no_acknowledged_write(make_cluster) -> None:
    cluster = make_cluster()
    cluster.start_all()
    writer = Writer(cluster, node=1)
    writer.start()
    writer.wait_acks(100)
    for i in cluster.ids:  # all at once, mid-stream
        cluster.kill(i)
    writer.halt.set()
    writer.join(10)
    cluster.start_all()
    _check_readable(cluster, 1, writer.acked)
    cluster.wait_converged()


def _single_node_with_writes(make_cluster, count: int) -> tuple[Cluster, Path]:
    cluster = make_cluster(n=1)
    cluster.start(1)
    client = cluster.redis(1)
    for i in range(count):
        assert client.set(f"k{i}", "x" * 100)
    assert cluster.stop(1) == 0  # graceful: flushes the WAL
    wals = sorted(cluster.data_dir(1).glob("wal-*.log"))
    assert wals, "no WAL file written"
    return cluster, wals[-1]


def test_a_flipped_byte_in_the_middle_of_the_wal_refuses_to_start(make_cluster) -> None:
    cluster, wal = _single_node_with_writes(make_cluster, 20)
    data = bytearray(wal.read_bytes())
    data[len(data) // 2] ^= 0x5A
    wal.write_bytes(bytes(data))
    proc = cluster.start(1, wait=False)
    assert proc.wait(20) == 2
    message = cluster.log(1)
    assert str(wal) in message and "offset" in message, message


def test_a_truncated_last_record_is_dropped_and_the_node_starts(make_cluster) -> None:
    cluster, wal = _single_node_with_writes(make_cluster, 20)
    data = wal.read_bytes()
    wal.write_bytes(data[:-7])  # a torn tail: the last record lost its end
    cluster.start(1)
    client = cluster.redis(1)
    assert client.get("k0") == b"x" * 100
    assert client.get("k18") == b"x" * 100
    assert client.set("after", "restart")


def test_bad_flags_are_refused_with_a_clear_message(make_cluster, tmp_path: Path) -> None:
    import subprocess

    from rt_procs import SERVE

    cases = [
        (["--protocol", "nope"], "unknown protocol"),
        (["--peers", "1=127.0.0.1:9", "--peer-port", "10"], "this node"),
        (["--client-port", "7000", "--peer-port", "7000"], "both 7000"),
        (["--peers", "2=localhost"], "HOST:PORT"),
    ]
    base = {"--id": "1", "--protocol": "pb-sync", "--client-port": "7001", "--peer-port": "7101",
            "--data-dir": str(tmp_path / "d")}
    for override, expected in cases:
        flags = dict(base)
        flags.update(dict(zip(override[::2], override[1::2], strict=True)))
        argv = [*SERVE, *[x for kv in flags.items() for x in kv]]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert done.returncode == 2, (override, done.stderr)
        assert expected in done.stderr, (override, done.stderr)


def test_raft_leader_kill_elects_a_new_leader_and_keeps_every_acknowledged_write(make_cluster) -> None:
    cluster = make_cluster("raft", options=("request_timeout_ms=1000", "heartbeat_ms=30", "election_timeout_ms=200"))
    cluster.start_all()
    writer = Writer(cluster, node=1)
    writer.start()
    writer.wait_acks(30)
    leader = cluster.status(1)["status"]["leader"]
    survivor = next(i for i in cluster.ids if i != leader)
    writer.halt.set()
    writer.join(10)
    first = writer.acked  # the keys w<i> = i are rewritten with the same values below
    writer = Writer(cluster, node=survivor)  # keep writing through a node that survives
    writer.start()
    writer.wait_acks(10)
    cluster.kill(leader)
    writer.wait_acks(len(writer.acked) + 30)  # a new leader is elected without an operator
    cluster.start(leader)
    writer.halt.set()
    writer.join(10)
    _check_readable(cluster, survivor, {**first, **writer.acked})
    cluster.wait_converged()


@pytest.mark.parametrize("protocol", ["pb-sync", "raft"])
def test_an_oversized_value_gets_an_error_and_changes_nothing(make_cluster, protocol: str) -> None:
    cluster = make_cluster(protocol, 3, (*FAST, "max_value_bytes=1024"))
    cluster.start_all()
    leader = cluster.redis(1)
    deadline = time.monotonic() + 20
    while True:  # until the cluster takes writes (a peer link still connecting on a loaded machine)
        try:
            assert leader.set("k", "small")
            break
        except redis.ResponseError as exc:
            assert str(exc).startswith("TIMEOUT") and time.monotonic() < deadline, exc
            time.sleep(0.1)
    for node in cluster.ids:  # at the leader/primary and forwarded from the others
        with pytest.raises(redis.ResponseError, match="exceeds max_value_bytes=1024"):
            cluster.redis(node).set("k", "x" * 1025)
        with pytest.raises(redis.ResponseError, match="exceeds max_value_bytes=1024"):
            cluster.redis(node).mset({"k": "y", "other": "z" * 2000})
    for node in cluster.ids:
        assert cluster.redis(node).get("k") == b"small"
        assert cluster.redis(node).get("other") is None
    assert leader.set("k", "x" * 1024)  # at the limit is fine
    assert cluster.redis(2).get("k") == b"x" * 1024
