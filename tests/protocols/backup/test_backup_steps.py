"""Step tests of the ``backup`` scheme (Barrett's "Backups" column of the chapter's
table): local durable writes, a snapshot shipped every ``interval_ms``, failover by hand."""

from __future__ import annotations

import pytest

from replikv.core import Get, Ok, Promote, Request, Set
from replikv.core.errors import ConfigError, NotLeader, Unavailable
from replikv.core.io import Persist, Receive, Reply, Send, Submit
from replikv.protocols.backup.epochs import next_owned, owner
from replikv.protocols.backup.messages import Hello, Snapshot, SnapshotAck, Stale
from replikv.protocols.backup.records import EpochRecord, StateRecord, WriteRecord
from replikv.schemes import get_spec

from ..primary_backup.harness import Cluster

PROMOTE = Request(client_id=99, seq=1, command=Promote())


def write(seq: int, value: str | None = None, key: str = "k", client: int = 7) -> Request:
    return Request(client_id=client, seq=seq, command=Set(key, value if value is not None else str(seq)))


def read(seq: int, level: str = "local", key: str = "k", client: int = 8) -> Request:
    return Request(client_id=client, seq=seq, command=Get(key), read_level=level)


def sent(cluster: Cluster, kind: type) -> list[tuple[int, int, object]]:
    return [(src, dst, msg) for src, dst, msg in cluster.sent if isinstance(msg, kind)]


def test_the_spec_declares_what_the_scheme_is() -> None:
    spec = get_spec("backup")
    assert spec.failover == "manual" and spec.leadership == "leader" and spec.leader_word == "primary"
    assert spec.admin_commands == (Promote,) and not spec.membership_changes
    assert "local" in spec.read_levels and spec.messages_per_write == "0n"
    assert not spec.promises.linearizable_writes and spec.promises.available_with_one_down
    assert spec.durable_view is not None
    assert spec.make_config({}).read_level == "local"


def test_interval_ms_is_an_option_and_the_settle_time_covers_one_interval() -> None:
    spec = get_spec("backup")
    assert spec.make_config({}).interval_ms == 1000.0
    config = spec.make_config({"interval_ms": 250})
    assert config.interval_ms == 250 and config.settle_ms() >= 300
    assert spec.make_config({"interval_ms": 5000}).settle_ms() == 5000
    with pytest.raises(ConfigError, match="interval_ms must be >= tick_ms"):
        spec.make_config({"interval_ms": 1})


def test_a_write_is_answered_after_the_primarys_own_persist_and_sends_no_message() -> None:
    cluster = Cluster("backup", auto_flush=False)
    driver = cluster.nodes[1].driver
    effects = driver.handle(Submit(write(1)))
    assert [type(e) for e in effects] == [Persist]  # the Commit and Reply wait behind it
    persist = effects[0]
    assert persist.records == (WriteRecord(epoch=1, version=1, request=write(1)),)
    released = driver.release(persist.seq)
    assert [type(e) for e in released if isinstance(e, Reply | Send)] == [Reply]
    assert released[-1].result == Ok(True)


def test_the_primarys_own_snapshot_follows_the_writes_record_and_is_a_compaction() -> None:
    """core.io ``compaction``: the restatement after a write holds only what earlier
    records do (the write has its own ``WriteRecord``, the first epoch needs none), so the
    answer waits for the write's record alone; a copy installed on a standby is a barrier."""
    cluster = Cluster("backup", auto_flush=False, snapshot_threshold=2, snapshot_growth=0.0, interval_ms=100)
    driver = cluster.nodes[1].driver
    driver.handle(Submit(write(1)))
    effects = driver.handle(Submit(write(2)))
    persists = [e for e in effects if isinstance(e, Persist)]
    assert [p.replace for p in persists] == [False, True]
    assert persists[0].records == (WriteRecord(epoch=1, version=2, request=write(2)),)
    assert persists[1].compaction
    assert isinstance(persists[1].records[1], StateRecord) and persists[1].records[1].version == 2
    data = cluster.nodes[1].replica.state_machine().snapshot()
    installed = cluster.nodes[2].driver.handle(Receive(1, Snapshot(1, 1, 2, data)))
    (barrier,) = [e for e in installed if isinstance(e, Persist)]
    assert barrier.replace and not barrier.compaction


def test_every_interval_the_primary_ships_its_state_to_standbys_that_lack_it() -> None:
    cluster = Cluster("backup", interval_ms=100)
    cluster.tick(10)  # the first shipment: the standbys have never acknowledged a state
    first = sent(cluster, Snapshot)
    assert {dst for _, dst, _ in first} == {2, 3}
    cluster.submit(1, write(1, "a"))
    assert cluster.data(1) == {"k": "a"} and cluster.data(2) == {} and cluster.data(3) == {}
    cluster.tick(50)
    assert len(sent(cluster, Snapshot)) == 2, "nothing before the interval is up"
    cluster.tick(60)
    shipped = sent(cluster, Snapshot)[2:]
    assert [(dst, msg.version) for _, dst, msg in shipped] == [(2, 1), (3, 1)]
    assert cluster.data(2) == {"k": "a"} and cluster.data(3) == {"k": "a"}
    acks = sent(cluster, SnapshotAck)
    assert {(src, msg.version) for src, _, msg in acks[-2:]} == {(2, 1), (3, 1)}
    assert cluster.status(1).peers == {2: 1, 3: 1}
    cluster.tick(300)
    assert len(sent(cluster, Snapshot)) == 4, "an idle primary ships nothing the standbys hold"


def test_a_standby_acknowledges_a_snapshot_only_after_persisting_it() -> None:
    cluster = Cluster("backup", auto_flush=False, interval_ms=100)
    cluster.submit(1, write(1, "a"))
    cluster.flush(1)
    cluster.tick(10)
    cluster.settle()
    assert [type(p.records[1]) for p in cluster.nodes[2].writing] == [StateRecord]
    assert not sent(cluster, SnapshotAck), "no ack before the standby's Persist is durable"
    cluster.flush(2)
    assert [(src, msg.version) for src, _, msg in sent(cluster, SnapshotAck)] == [(2, 1)]
    assert cluster.nodes[2].durable[1] == StateRecord(state_epoch=1, version=1, data=cluster.nodes[2].durable[1].data)


def test_writes_after_the_last_copy_are_lost_when_an_operator_promotes_a_standby() -> None:
    cluster = Cluster("backup", interval_ms=100)
    cluster.submit(1, write(1, "a"))
    cluster.tick(10)  # shipped: the standbys hold k=a
    cluster.submit(1, write(2, "b"))  # acknowledged, not shipped yet
    assert cluster.results(write(2, "b")) == [Ok(True)]
    cluster.crash(1)
    cluster.tick(5000)
    assert cluster.status(2).role == "standby", "no automatic failover, however long the silence"
    cluster.submit(2, PROMOTE)
    assert cluster.results(PROMOTE) == [Ok(None)]
    assert cluster.status(2).role == "primary" and cluster.status(2).term == next_owned(1, 2, (1, 2, 3)) == 2
    assert cluster.nodes[2].durable[-1] == EpochRecord(epoch=2, primary=2)
    assert cluster.data(2) == {"k": "a"}, "the acknowledged write k=b is lost"
    cluster.tick(10)
    assert cluster.status(3).leader == 2 and cluster.status(3).term == 2


def test_promote_answers_after_the_epoch_is_durable() -> None:
    cluster = Cluster("backup", auto_flush=False)
    cluster.feed(2, Submit(PROMOTE))
    assert cluster.results(PROMOTE) == []
    assert [p.records for p in cluster.nodes[2].writing] == [(EpochRecord(epoch=2, primary=2),)]
    cluster.flush(2)
    assert cluster.results(PROMOTE) == [Ok(None)]


def test_an_old_primary_is_fenced_by_the_newer_epoch_and_takes_the_new_state() -> None:
    cluster = Cluster("backup", interval_ms=100)
    cluster.tick(10)
    cluster.partition((1,), (2, 3))
    cluster.submit(1, write(1, "old"))  # acknowledged by the cut-off primary
    cluster.submit(2, PROMOTE)
    cluster.submit(2, write(1, "new", client=8))
    assert cluster.status(1).role == "primary" and cluster.status(2).role == "primary"
    cluster.heal()
    cluster.tick(110)
    assert any(src == 1 and isinstance(msg, Snapshot) for src, _, msg in cluster.sent)
    assert any(src in (2, 3) and dst == 1 and isinstance(msg, Stale) for src, dst, msg in cluster.sent) or \
        cluster.status(1).term == 2
    assert cluster.status(1).role == "standby" and cluster.status(1).leader == 2
    assert cluster.data(1) == cluster.data(2) == cluster.data(3) == {"k": "new"}


def test_reads_are_local_by_default_and_linearizable_reads_go_to_the_primary() -> None:
    cluster = Cluster("backup", interval_ms=100)
    cluster.submit(1, write(1, "a"))
    cluster.submit(2, read(1))
    assert cluster.results(read(1)) == [Ok(None)], "the standby has no copy yet: a stale read"
    cluster.submit(2, read(2, "linearizable"))
    assert cluster.results(read(2, "linearizable")) == [NotLeader(1)]
    cluster.submit(1, read(3, "linearizable"))
    assert cluster.results(read(3, "linearizable")) == [Ok("a")]
    cluster.submit(2, write(2))
    assert cluster.results(write(2)) == [NotLeader(1)]


def test_a_restarted_primary_serves_again_only_after_every_peer_answered() -> None:
    cluster = Cluster("backup", interval_ms=100)
    cluster.submit(1, write(1, "a"))
    cluster.tick(10)
    cluster.crash(1)
    cluster.crash(3)
    cluster.restart(1)
    assert cluster.status(1).role == "recovering" and cluster.status(1).leader is None
    cluster.tick(200)
    assert {dst for src, dst, msg in sent(cluster, Hello) if src == 1} == {2, 3}
    cluster.submit(1, write(2, "b"))
    assert cluster.results(write(2, "b")) == [NotLeader(None)], "node 3 has not answered"
    cluster.restart(3)
    cluster.tick(60)
    status = cluster.status(1)
    assert status.role == "primary" and status.term == next_owned(1, 1, (1, 2, 3)) == 4
    assert cluster.data(1) == {"k": "a"}


def test_a_restarted_primary_that_hears_of_a_newer_epoch_becomes_a_standby() -> None:
    cluster = Cluster("backup", interval_ms=100)
    cluster.submit(1, write(1, "a"))
    cluster.tick(10)
    cluster.crash(1)
    cluster.submit(2, PROMOTE)
    cluster.submit(2, write(1, "b", client=8))
    cluster.restart(1)
    cluster.tick(150)
    assert cluster.status(1).role == "standby" and cluster.status(1).leader == 2
    assert cluster.data(1) == {"k": "b"}


def test_a_node_that_lost_its_disk_refuses_reads_and_promotion_until_it_has_a_copy() -> None:
    cluster = Cluster("backup", interval_ms=100)
    cluster.submit(1, write(1, "a"))
    cluster.tick(10)
    cluster.crash(3)
    cluster.restart(3, lost=True)
    cluster.submit(3, read(1))
    assert isinstance(cluster.results(read(1))[0], Unavailable)
    cluster.submit(3, PROMOTE)
    assert isinstance(cluster.results(PROMOTE)[0], Unavailable)
    cluster.submit(1, write(2, "b"))
    cluster.tick(110)
    cluster.submit(3, read(2))
    assert cluster.results(read(2)) == [Ok("b")]


def test_a_primary_that_lost_its_disk_takes_the_newest_copy_its_peers_hold() -> None:
    cluster = Cluster("backup", interval_ms=100)
    cluster.submit(1, write(1, "a"))
    cluster.tick(10)
    cluster.crash(1)
    cluster.restart(1, lost=True)  # its first tick asks the peers; they answer at once
    assert {dst for src, dst, _ in sent(cluster, Hello) if src == 1} == {2, 3}
    assert cluster.status(1).role == "primary" and cluster.status(1).term == 4
    assert cluster.data(1) == {"k": "a"}


def test_each_epoch_has_one_owner() -> None:
    members = (1, 2, 3)
    assert [owner(e, members) for e in range(1, 7)] == [1, 2, 3, 1, 2, 3]
    assert [next_owned(1, n, members) for n in members] == [4, 2, 3]
    assert next_owned(2, 2, members) == 5


def test_a_copy_overtaken_by_a_newer_one_is_not_installed() -> None:
    """Links may reorder (the simulator's ``fifo = false``): an older copy arriving after
    a newer one from the same primary must not roll the standby back, or it would stay
    behind for good (the primary saw the newer copy acknowledged and sends no more)."""
    cluster = Cluster("backup", interval_ms=100)
    cluster.submit(1, write(1, "a"))
    old = Snapshot(1, 1, 1, cluster.replica(1).state_machine().snapshot())
    cluster.submit(1, write(2, "b"))
    new = Snapshot(1, 1, 2, cluster.replica(1).state_machine().snapshot())
    cluster.feed(2, Receive(1, new))
    cluster.settle()
    cluster.feed(2, Receive(1, old))
    cluster.settle()
    assert cluster.data(2) == {"k": "b"}
    assert cluster.status(2).applied_index == 2
