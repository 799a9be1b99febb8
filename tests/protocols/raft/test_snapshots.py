"""Snapshots and log compaction (Raft §7); recovery from persisted records."""

from __future__ import annotations

from replikv.core import Ok, Persist, Request, Set
from replikv.kv import KVStateMachine
from replikv.protocols.raft import messages as m
from replikv.protocols.raft.records import LogAppend, SnapshotRecord, TermVote, fold

from .harness import Cluster
from .steps import entry, with_log


def _write(cluster: Cluster, leader: int, client: int, seq: int) -> None:
    assert cluster.submit_and_wait(leader, Request(client, seq, Set(f"k{seq}", str(seq)))) == Ok(
        True
    )


def _follower_behind_a_snapshot(chunk_bytes: int) -> tuple[Cluster, int, int]:
    """A 3-node cluster whose leader compacted past a follower that is down."""
    cluster = Cluster(3, seed=2, snapshot_threshold=4, snapshot_chunk_bytes=chunk_bytes)
    leader = cluster.elect()
    lagging = next(n for n in sorted(cluster.nodes) if n != leader)
    cluster.crash(lagging)
    for seq in range(1, 13):
        _write(cluster, leader, 1, seq)
    return cluster, leader, lagging


def test_7_compaction_restates_the_durable_state_with_replace() -> None:
    cluster = Cluster(3, seed=1, snapshot_threshold=5)
    leader = cluster.elect()
    persisted: list[Persist] = []
    original = cluster._execute

    def spy(node, effects):
        persisted.extend(e for e in effects if isinstance(e, Persist) and node.id == leader)
        original(node, effects)

    cluster._execute = spy
    for seq in range(1, 6):
        _write(cluster, leader, 1, seq)
    replaces = [p for p in persisted if p.replace]
    assert replaces, "no snapshot taken"
    records = replaces[0].records
    assert replaces[0].compaction, "its own snapshot restates earlier Persists (core.io)"
    assert [type(r) for r in records] == [TermVote, SnapshotRecord, LogAppend]
    snap = records[1]
    assert snap.last_index == 5 and snap.voters == (1, 2, 3)
    assert all(e.index > 5 for e in records[2].entries)
    # the disk now starts with the snapshot and recovery folds it back
    state = fold(cluster.nodes[leader].disk)
    assert state.snapshot is not None and state.snapshot.last_index >= 5
    assert cluster.nodes[leader].replica.log.base_index >= 5


def test_7_lagging_follower_gets_the_snapshot_in_chunks() -> None:
    cluster, leader, lagging = _follower_behind_a_snapshot(chunk_bytes=64)
    assert cluster.nodes[leader].replica.log.base_index >= 8
    chunks = []
    cluster.drop = lambda s, d, msg: (
        chunks.append(msg) and False if isinstance(msg, m.InstallSnapshot) else False
    )
    replaces: list[Persist] = []
    original = cluster._execute

    def spy(node, effects):
        replaces.extend(e for e in effects if isinstance(e, Persist) and e.replace and node.id == lagging)
        original(node, effects)

    cluster._execute = spy
    cluster.restart(lagging)
    cluster.run(500)
    assert len(chunks) > 1 and chunks[-1].done
    assert replaces and not replaces[0].compaction, "an installed snapshot is new state: a barrier"
    assert all(len(c.data) <= 64 for c in chunks)
    assert cluster.data(lagging) == cluster.data(leader)
    assert cluster.nodes[lagging].replica.log.base_index >= 8
    # the follower's own disk was restated from the snapshot, and it survives a restart
    cluster.crash(lagging)
    cluster.restart(lagging)
    assert cluster.nodes[lagging].replica.log.base_index >= 8  # from its own disk
    cluster.run(100)
    assert cluster.data(lagging) == cluster.data(leader)


def test_7_snapshot_install_keeps_a_matching_suffix() -> None:
    replica = with_log([1, 1, 1, 1], term=1, node=2)
    snap = SnapshotRecord(2, 1, (1, 2, 3), (), KVStateMachine().snapshot())
    replica._install(snap)
    assert replica.durable_state()[2] == ((3, 1), (4, 1)) and replica.durable_state()[3] == (2, 1)
    other = with_log([1, 1, 2], term=2, node=3)
    other._install(SnapshotRecord(3, 1, (1, 2, 3), (), KVStateMachine().snapshot()))
    assert other.durable_state()[2] == () and other.commit_index == 3


def test_restart_all_keeps_every_committed_entry() -> None:
    cluster = Cluster(3, seed=3, snapshot_threshold=6)
    leader = cluster.elect()
    for seq in range(1, 11):
        _write(cluster, leader, 1, seq)
    before = cluster.data(leader)
    for node in sorted(cluster.nodes):
        cluster.crash(node)
    for node in sorted(cluster.nodes):
        cluster.restart(node)
    leader = cluster.elect()
    _write(cluster, leader, 1, 11)
    after = cluster.data(leader)
    assert {k: v for k, v in after.items() if k != "k11"} == before
    cluster.run(200)
    assert all(cluster.data(n) == after for n in cluster.nodes)


def test_recovery_fold_replays_truncations() -> None:
    records = [
        TermVote(1, 1),
        LogAppend((entry(1, 1), entry(2, 1), entry(3, 1))),
        TermVote(2, None),
        LogAppend((entry(2, 2),)),
    ]
    state = fold(records)
    assert [(e.index, e.term) for e in state.entries] == [(1, 1), (2, 2)]
    assert (state.term, state.voted_for) == (2, None)


def test_snapshot_cadence_waits_for_the_log_to_grow_as_large_as_the_last_snapshot() -> None:
    """Thesis §5.1.3: with threshold 5, a snapshot holding S items (keys and the client's
    session) is followed by the next one after max(5, S) entries (``snapshot_growth`` 1):
    at indexes 5, 10, 20, 40 (entry 1 is the leader's no-op, so a snapshot at index i
    holds i - 1 keys and one session); with growth 0, every 5 entries."""
    for growth, expected in ((1.0, [0, 5, 10, 20, 40]), (0.0, list(range(0, 61, 5)))):
        cluster = Cluster(1, seed=1, snapshot_threshold=5, snapshot_growth=growth)
        leader = cluster.elect()
        bases = [cluster.nodes[leader].replica.log.base_index]
        for seq in range(1, 61):
            _write(cluster, leader, 1, seq)
            base = cluster.nodes[leader].replica.log.base_index
            if base != bases[-1]:
                bases.append(base)
        assert bases == expected, growth


def test_7_a_follower_restarted_mid_transfer_gets_the_snapshot_from_where_it_stands() -> None:
    """A follower that restarts during an InstallSnapshot transfer has lost the chunks it
    held and answers the next chunk with ``next_offset = 0``; the leader resumes from
    there. It used to wait for a larger offset, resend the same chunk forever and leave
    the follower behind until its own next snapshot (a real cluster under SIGKILLs,
    ``tests/runtime/test_kill_loop.py``: 60 s and no progress once writes stopped)."""
    cluster, leader, lagging = _follower_behind_a_snapshot(chunk_bytes=16)
    snapshot = cluster.nodes[leader].replica.log.base_index
    chunks: list[m.InstallSnapshot] = []
    lose = [False]

    def drop(src: int, dst: int, msg) -> bool:
        """Record the chunks; after the second, lose every chunk until the restart."""
        if not isinstance(msg, m.InstallSnapshot):
            return False
        if lose[0]:
            return True
        chunks.append(msg)
        lose[0] = len(chunks) == 2
        return False

    cluster.drop = drop
    cluster.restart(lagging)
    cluster.run(50)
    assert len(chunks) == 2 and not chunks[-1].done and chunks[-1].offset > 0, "the crash must fall inside the transfer"
    cluster.crash(lagging)
    cluster.restart(lagging)
    lose[0] = False
    cluster.run(1000)
    assert cluster.nodes[leader].replica.log.base_index == snapshot, "no newer snapshot came to help"
    assert any(c.offset == 0 for c in chunks[2:]), "the transfer resumed from the start"
    assert chunks[-1].done
    assert cluster.data(lagging) == cluster.data(leader)
    assert cluster.nodes[lagging].replica.log.base_index >= snapshot
