"""Acceptance of issue 8 on real processes: docs/storage.md's "Recovering a node whose
data is damaged or gone", done exactly as written with ``replikv cluster`` commands (a
separate process, as from an operator's shell), loses no acknowledged write.

- raft (issue 8 item 1): leader L, followers F and S. S is paused while L writes, so
  the writes are on L and F only; then L and F crash, F's data directory is moved away
  and F comes back with ``cluster restart --rejoin``. S and the empty F are a majority
  of bodies, but a rejoining node may not vote, so only L's return may elect a leader,
  which holds every write (Raft §5.4.1). Before the fix F and S elected S: 236 of 300
  acknowledged writes were gone.
- pb-sync, the same procedure for the primary: every write is on every replica (the
  "2n" of the chapter); a backup and then the primary crash, the primary's data
  directory is moved away and it comes back with ``--rejoin``. It must adopt the
  backups' log before it serves, not start empty and have the others follow it.
- pb-sync (issue 8 item 2): the primary crashes and its WAL is cut in the middle of its
  last record (a torn tail, dropped at recovery as a write never completed). The
  backups hold that acknowledged write; the restarted primary adopts the longest log of
  its epoch before it reclaims, instead of committing its shorter one.

Each case then reads every key from every node at the ``local`` level (the node's own
state, not a forwarded read). Every command has a timeout; the fixture kills every
recorded process group at the end, whatever happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import random
import signal
import struct
import subprocess
import time

import msgspec
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from replikv.cluster import manager, ports, processes
from replikv.cluster.state import STATE_FILE, ClusterState, load_state

pytestmark = [pytest.mark.process, pytest.mark.timeout(120)]

FRAME_HEADER = 9
"""length (4), crc (4), type (1): docs/storage.md, "File format"."""
MAGIC_BYTES = 8


@pytest.fixture
def cluster_dir(tmp_path: pathlib.Path):
    root = tmp_path / "cluster"
    yield root
    pids: set[int] = set()
    with contextlib.suppress(Exception):
        state = msgspec.json.decode((root / STATE_FILE).read_bytes(), type=ClusterState)
        pids = {e.pid for e in state.nodes if e.pid}
    with contextlib.suppress(Exception):
        manager.down(root, timeout_s=3.0)
    for pid in pids:  # last line of defence: a paused or stuck node
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGCONT)
            os.killpg(pid, signal.SIGKILL)


class Operator:
    """``replikv cluster <verb> ... --data-dir ROOT`` as an operator types it."""

    def __init__(self, root: pathlib.Path) -> None:
        self.root = root
        self.log: list[str] = []

    def __call__(self, *args: str, timeout: float = 60.0) -> str:
        argv = [*processes.serve_prefix(), "cluster", *args, "--data-dir", str(self.root)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        self.log.append(f"$ replikv cluster {' '.join(args)}  -> {done.returncode}")
        assert done.returncode == 0, f"replikv cluster {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def up(self, protocol: str) -> None:
        base = ports.free_base_port(3, rng=random.Random(os.getpid()))
        self("up", "--protocol", protocol, "--nodes", "3", "--base-port", str(base), "--timeout", "30")
        self("wait", "--timeout", "30")

    def status(self) -> dict:
        return json.loads(self("status", "--json"))

    def port(self, node: int) -> int:
        return load_state(self.root).node(node).client_port

    def data_dir(self, node: int) -> pathlib.Path:
        return pathlib.Path(load_state(self.root).node(node).data_dir)

    def move_data_dir_away(self, node: int) -> pathlib.Path:
        """docs/storage.md step 2: ``mv replikv-data/node-N replikv-data/node-N.corrupt-<time>``."""
        data_dir = self.data_dir(node)
        kept = data_dir.with_name(f"{data_dir.name}.corrupt-{int(time.time())}")
        data_dir.rename(kept)
        return kept

    def client(self, node: int) -> redis.Redis:
        # No redis-py retries: a retried write could turn an applied one into an error (docs/redis.md).
        return redis.Redis(port=self.port(node), socket_timeout=10, socket_connect_timeout=2,
                           retry=Retry(NoBackoff(), 0), protocol=2)


def write_keys(op: Operator, node: int, count: int, prefix: str) -> dict[str, str]:
    """``count`` writes to ``node``, each of which must be acknowledged. A write answered
    with an indefinite error (``TIMEOUT``: pb-sync declared a backup down while this
    shared machine stalled it past ``failure_timeout_ms``) is sent again with the same
    value until it is acknowledged, as an operator would; a definite error fails."""
    acked: dict[str, str] = {}
    with op.client(node) as client:
        for i in range(count):
            key, value = f"{prefix}{i}", f"v{i}"
            deadline = time.monotonic() + 20.0
            while True:
                try:
                    assert client.set(key, value) is True, f"write {key} to node {node} not acknowledged"
                    break
                except redis.ResponseError as e:
                    if not str(e).startswith("TIMEOUT") or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)  # pace the retry while the primary waits for its backup
            acked[key] = value
    return acked


def missing_on_every_node(op: Operator, acked: dict[str, str]) -> dict[int, list[str]]:
    """Per node, the acknowledged keys its own state does not hold (``local`` reads)."""
    keys = sorted(acked)
    missing: dict[int, list[str]] = {}
    for node in (1, 2, 3):
        with op.client(node) as client:
            assert client.execute_command("READLEVEL", "local") in (b"OK", "OK", True)
            values = client.mget(keys)
        missing[node] = [k for k, v in zip(keys, values, strict=True) if v is None or v.decode() != acked[k]]
    return missing


def last_frame(wal: bytes) -> tuple[int, int]:
    """``(start, end)`` of the last frame of a WAL image: frames are walked from the magic
    on, up to the zeros a killed node leaves written ahead of its last frame (a frame's
    type byte is never 0; docs/storage.md, "Zeros written ahead")."""
    offset, last = MAGIC_BYTES, None
    while offset + FRAME_HEADER <= len(wal) and wal[offset + FRAME_HEADER - 1] != 0:
        (length,) = struct.unpack_from("<I", wal, offset)
        if offset + FRAME_HEADER + length > len(wal):
            break
        last, offset = offset, offset + FRAME_HEADER + length
    assert last is not None and not wal[offset:].strip(b"\x00"), "the WAL does not end on a whole frame"
    return last, offset


def cut_last_record_in_the_middle(data_dir: pathlib.Path) -> bytes:
    """Tear the live WAL generation in the middle of its last frame, as a crash during
    its write over the zeros ahead does: its second half is zeros. Returns the whole
    frame."""
    wal = max(data_dir.glob("wal-*.log"))
    image = wal.read_bytes()
    start, end = last_frame(image)
    cut = start + (end - start) // 2
    with open(wal, "r+b") as f:
        f.seek(cut)
        f.write(bytes(end - cut))
    return image[start:end]


@pytest.mark.timeout(150)
def test_raft_rejoin_after_moving_a_followers_data_away_loses_nothing(cluster_dir: pathlib.Path) -> None:
    """Issue 8 item 1, step by step as docs/storage.md says."""
    op = Operator(cluster_dir)
    op.up("raft")
    leader = op.status()["leader"]
    follower, stale = (n for n in (1, 2, 3) if n != leader)
    op("pause", str(stale))
    acked = write_keys(op, leader, 300, "k")  # committed on the leader and the follower only
    op("kill", str(follower))
    op("kill", str(leader))
    op.move_data_dir_away(follower)
    op("resume", str(stale))
    assert "restarted to rejoin" in op("restart", "--rejoin", str(follower))
    op("restart", str(leader))
    op("wait", "--timeout", "40")
    missing = missing_on_every_node(op, acked)
    assert missing == {1: [], 2: [], 3: []}, (
        f"acknowledged writes lost (of 300): { {n: len(m) for n, m in missing.items()} }; {op.log}")


@pytest.mark.timeout(150)
def test_pb_sync_rejoin_after_moving_the_primarys_data_away_loses_nothing(cluster_dir: pathlib.Path) -> None:
    """The same procedure on pb-sync, for the hardest node to lose: the primary."""
    op = Operator(cluster_dir)
    op.up("pb-sync")
    primary = op.status()["leader"]
    backup = next(n for n in (1, 2, 3) if n != primary)
    acked = write_keys(op, primary, 300, "k")  # pb-sync: on every replica
    op("kill", str(backup))
    op("kill", str(primary))
    op.move_data_dir_away(primary)
    assert "restarted to rejoin" in op("restart", "--rejoin", str(primary))
    op("restart", str(backup))
    op("wait", "--timeout", "40")
    missing = missing_on_every_node(op, acked)
    assert missing == {1: [], 2: [], 3: []}, (
        f"acknowledged writes lost (of 300): { {n: len(m) for n, m in missing.items()} }; {op.log}")
    after = op.status()["leader"]
    assert write_keys(op, after, 1, "after")  # and it serves writes again


@pytest.mark.timeout(150)
def test_pb_sync_primary_with_a_torn_last_record_keeps_every_acknowledged_write(cluster_dir: pathlib.Path) -> None:
    """Issue 8 item 2: 1,000 writes; the primary (node 1) crashes; its WAL is cut in the
    middle of the last record; restart; wait; every key on every node."""
    op = Operator(cluster_dir)
    op.up("pb-sync")
    assert op.status()["leader"] == 1
    acked = write_keys(op, 1, 1000, "k")
    op("kill", "1")
    torn = cut_last_record_in_the_middle(op.data_dir(1))
    assert b"k999" in torn, "the torn record is not the last acknowledged write"
    op("restart", "1")
    op("wait", "--timeout", "40")
    missing = missing_on_every_node(op, acked)
    assert missing == {1: [], 2: [], 3: []}, (
        f"acknowledged writes lost (of 1000): { {n: len(m) for n, m in missing.items()} }; {op.log}")
