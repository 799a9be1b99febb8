"""A backup that fell behind (lost messages, restart, compaction) catches up."""

from __future__ import annotations

from replikv.core import Request, Set
from replikv.protocols.primary_backup.messages import AppendReject, HeartbeatReply, InstallSnapshot
from replikv.protocols.primary_backup.records import SnapshotRecord

from .harness import Cluster


def write(seq: int, value: str | None = None, key: str = "k") -> Request:
    return Request(client_id=7, seq=seq, command=Set(key, value if value is not None else str(seq)))


def test_backup_names_its_position_on_a_gap_and_the_primary_resends_from_there() -> None:
    for scheme in ("pb-async", "pb-sync"):
        cluster = Cluster(scheme)
        cluster.tick()
        cluster.partition((1, 2), (3,))
        for seq in range(1, 4):
            cluster.submit(1, write(seq))
        cluster.heal()
        cluster.submit(1, write(4))  # arrives at 3 after a gap of three entries
        rejects = [m for src, _, m in cluster.sent if src == 3 and isinstance(m, AppendReject)]
        assert rejects and rejects[0].index == 0
        assert cluster.status(3).last_index == 4
        cluster.tick(cluster.config.heartbeat_ms)
        assert cluster.data(3) == cluster.data(1) == {"k": "4"}, scheme


def test_lost_appends_are_repaired_by_the_next_heartbeat() -> None:
    cluster = Cluster("pb-async")
    cluster.tick()
    cluster.partition((1, 2), (3,))
    cluster.submit(1, write(1))
    cluster.heal()
    assert cluster.status(3).last_index == 0
    cluster.tick(cluster.config.heartbeat_ms)
    nacks = [m for src, _, m in cluster.sent if src == 3 and isinstance(m, HeartbeatReply) and not m.ok]
    assert nacks, "the heartbeat exposed the gap"
    assert cluster.data(3) == {"k": "1"}


def test_restarted_backup_catches_up_from_its_durable_log() -> None:
    cluster = Cluster("pb-sync")
    cluster.tick()
    cluster.submit(1, write(1))
    cluster.crash(2)
    cluster.restart(2)
    assert cluster.status(2).last_index == 1
    cluster.submit(1, write(2))
    cluster.tick(cluster.config.heartbeat_ms)
    assert cluster.data(2) == {"k": "2"}


def test_backup_behind_a_compacted_primary_is_caught_up_by_snapshot() -> None:
    cluster = Cluster("pb-async", snapshot_threshold=5, snapshot_growth=0.0)  # a snapshot every 5 writes
    cluster.tick()
    cluster.crash(3)
    for seq in range(1, 13):
        cluster.submit(1, write(seq, key=f"k{seq}"))
    primary = cluster.status(1)
    assert cluster.replica(1)._log.base_index == 10
    assert isinstance(cluster.nodes[1].durable[1], SnapshotRecord)  # replace restated the state
    cluster.restart(3)
    cluster.tick(cluster.config.heartbeat_ms * 2)
    snapshots = [m for _, dst, m in cluster.sent if dst == 3 and isinstance(m, InstallSnapshot)]
    assert len(snapshots) == 1 and snapshots[0].index == 10
    assert cluster.data(3) == cluster.data(1)
    assert cluster.status(3).last_index == primary.last_index == 12
    assert any(isinstance(r, SnapshotRecord) for r in cluster.nodes[3].durable)


def test_sync_backup_installs_a_snapshot_and_acks_it() -> None:
    cluster = Cluster("pb-sync", snapshot_threshold=3)
    cluster.tick()
    cluster.partition((1, 2), (3,))
    for seq in range(1, 3):
        cluster.submit(1, write(seq, key=f"k{seq}"))
    cluster.heal()
    cluster.tick(cluster.config.heartbeat_ms)  # 3 catches up and the writes commit
    for seq in range(3, 8):
        cluster.submit(1, write(seq, key=f"k{seq}"))
    cluster.crash(3)
    cluster.nodes[3].durable = []  # a replacement disk: only a snapshot can catch it up
    cluster.restart(3)
    cluster.tick(cluster.config.heartbeat_ms * 2)
    assert any(dst == 3 and isinstance(m, InstallSnapshot) for _, dst, m in cluster.sent)
    assert cluster.status(1).peers[3] == cluster.status(1).last_index
    assert cluster.data(3) == cluster.data(1)


def test_async_backup_restarted_behind_the_snapshot_gets_it_even_with_a_full_send_window() -> None:
    """pb-async bounds the entries shipped past a backup's last reported progress. A backup
    that crashed with that window full (the primary's ``next`` far ahead of its ``match``)
    and restarted behind the primary's compaction point reports its position; the
    snapshot it then needs is not an entry in the window, so it must go out at once
    (swarm seed pb-async 255: the primary sent it nothing but heartbeats, forever)."""
    cluster = Cluster("pb-async", snapshot_threshold=5, snapshot_growth=0.0, max_batch=2, max_inflight=2)
    cluster.tick()
    cluster.crash(3)
    for seq in range(1, 13):
        cluster.submit(1, write(seq, key=f"k{seq}"))
    primary = cluster.replica(1)
    window = cluster.config.max_batch * cluster.config.max_inflight
    assert primary._next[3] - 1 - primary._match[3] == window  # shipped into the void, window full
    assert primary._log.base_index == 10
    cluster.restart(3)  # its disk is empty: it holds index 0, below the primary's snapshot
    sent_before = len(cluster.sent)
    cluster.tick(cluster.config.heartbeat_ms)
    reports = [m for src, dst, m in cluster.sent[sent_before:] if src == 3 and isinstance(m, HeartbeatReply)]
    assert reports and not reports[0].ok and reports[0].index == 0
    snapshots = [m for _, dst, m in cluster.sent[sent_before:] if dst == 3 and isinstance(m, InstallSnapshot)]
    assert [s.index for s in snapshots] == [10]
    cluster.tick(cluster.config.heartbeat_ms * 2)
    assert cluster.status(3).last_index == cluster.status(1).last_index == 12
    assert cluster.status(1).peers[3] == 12
    assert cluster.data(3) == cluster.data(1)


def test_own_compactions_are_flagged_and_an_installed_snapshot_is_a_barrier() -> None:
    """core.io ``compaction``: a node's own snapshot restates what its earlier Persists
    hold (the host may write it beside the log); a snapshot installed from the primary
    is new state and stays a barrier."""
    cluster = Cluster("pb-async", snapshot_threshold=5, snapshot_growth=0.0)
    replaces: dict[int, list] = {1: [], 3: []}
    flush = cluster.flush

    def spy(node: int) -> None:
        replaces.setdefault(node, []).extend(p for p in cluster.nodes[node].writing if p.replace)
        flush(node)

    cluster.flush = spy
    cluster.tick()
    cluster.crash(3)
    for seq in range(1, 13):
        cluster.submit(1, write(seq, key=f"k{seq}"))
    assert replaces[1] and all(p.compaction for p in replaces[1])
    cluster.restart(3)
    cluster.tick(cluster.config.heartbeat_ms * 2)
    assert replaces[3] and not replaces[3][0].compaction
    assert cluster.data(3) == cluster.data(1)
