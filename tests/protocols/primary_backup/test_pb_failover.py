"""Failover: manual Promote with epoch fencing, automatic failover and its split brain."""

from __future__ import annotations

from replikv.core import Ok, Promote, Request, Set, Timeout
from replikv.core.io import Persist, Reply
from replikv.protocols.primary_backup.epochs import next_owned, owner
from replikv.protocols.primary_backup.messages import Append, Probe, Stale
from replikv.protocols.primary_backup.records import EpochRecord, TruncateRecord

from .harness import Cluster


def write(seq: int, value: str | None = None, key: str = "k", client: int = 7) -> Request:
    return Request(client_id=client, seq=seq, command=Set(key, value if value is not None else str(seq)))


PROMOTE = Request(client_id=99, seq=1, command=Promote())


def test_each_epoch_has_one_owner_and_promotion_usually_means_epoch_plus_one() -> None:
    members = (1, 2, 3)
    assert [owner(e, members) for e in range(1, 7)] == [1, 2, 3, 1, 2, 3]
    assert next_owned(1, 2, members) == 2
    assert next_owned(1, 3, members) == 3
    assert next_owned(2, 2, members) == 5


def test_promote_persists_the_new_epoch_before_acting_and_answers_ok() -> None:
    cluster = Cluster("pb-sync", auto_flush=False)
    cluster.tick()
    cluster.feed(2, __import__("replikv.core", fromlist=["Submit"]).Submit(PROMOTE))
    assert cluster.status(2).role == "primary" and cluster.status(2).term == 2
    writes = cluster.nodes[2].writing
    assert isinstance(writes[0], Persist) and writes[0].records == (EpochRecord(2, 2),)
    assert cluster.results(PROMOTE) == [] and not cluster.network  # all held behind the epoch
    cluster.flush(2)
    assert cluster.results(PROMOTE) == [Ok(None)]
    assert cluster.network  # the announcement goes out after the epoch is durable


def test_manual_promote_fences_the_old_primary_which_steps_down() -> None:
    cluster = Cluster("pb-sync")
    cluster.tick()
    cluster.submit(1, write(1, "a"))
    cluster.partition((1,), (2, 3))
    cluster.submit(2, PROMOTE)
    assert cluster.results(PROMOTE) == [Ok(None)]
    assert cluster.status(2).term == 2 and cluster.status(3).leader == 2
    pending = write(2, "old-primary")
    cluster.submit(1, pending)  # the isolated old primary still takes it, cannot commit it
    cluster.heal()
    cluster.tick(cluster.config.heartbeat_ms)
    stale = [m for src, dst, m in cluster.sent if dst == 1 and isinstance(m, Stale)]
    assert stale and stale[0].epoch == 2
    assert cluster.status(1).role == "backup" and cluster.status(1).term == 2
    assert cluster.results(pending) == [Timeout()]  # indefinite, never NotLeader
    assert TruncateRecord(1) in cluster.nodes[1].durable  # the divergent suffix is gone
    assert cluster.status(1).last_index == 1
    newer = write(3, "b")
    cluster.submit(2, newer)
    assert cluster.results(newer) == [Ok(True)]
    cluster.tick(cluster.config.heartbeat_ms)
    assert cluster.data(1) == cluster.data(2) == cluster.data(3) == {"k": "b"}


def test_backups_ignore_an_old_epoch_and_answer_with_the_current_one() -> None:
    cluster = Cluster("pb-async")
    cluster.tick()
    cluster.submit(2, PROMOTE)
    backup = cluster.replica(3)
    effects = backup.handle(__import__("replikv.core", fromlist=["Receive"]).Receive(
        1, Append(1, 0, 0, (), 0, 0)))
    assert [e.msg for e in effects] == [Stale(2)]
    assert cluster.status(3).leader == 2


def test_async_failover_loses_acknowledged_writes_the_new_primary_never_received() -> None:
    cluster = Cluster("pb-async")
    cluster.tick()
    cluster.submit(1, write(1, "kept"))
    cluster.partition((1,), (2, 3))
    lost = write(2, "lost")
    cluster.submit(1, lost)
    assert cluster.results(lost) == [Ok(True)]  # acknowledged on the primary's copy alone
    cluster.submit(2, PROMOTE)
    cluster.heal()
    cluster.tick(cluster.config.heartbeat_ms * 2)
    assert cluster.status(1).role == "backup"
    assert cluster.data(1) == cluster.data(2) == {"k": "kept"}  # the anomaly, measured


def test_sync_promoted_backup_commits_entries_whose_client_timed_out() -> None:
    """The chapter's 2PC-less anomaly: the backup stored and acked, the primary failed
    before replying; after promotion the write is there although its client saw no Ok."""
    cluster = Cluster("pb-sync")
    cluster.tick()
    cluster.partition((1, 2), (3,))  # node 3 never acks: the write cannot commit
    unknown = write(1, "maybe")
    cluster.submit(1, unknown)
    cluster.crash(1)
    cluster.heal()
    cluster.submit(2, PROMOTE)
    assert cluster.data(2) == {"k": "maybe"}
    cluster.tick(cluster.config.heartbeat_ms)
    assert cluster.data(3) == {"k": "maybe"}
    assert all(r.result != Ok(True) for _, r in cluster.replies if r.request == unknown)


def test_auto_failover_fires_after_the_timeout_and_not_before() -> None:
    cluster = Cluster("pb-async", failover="auto")
    cluster.tick()
    cluster.crash(1)
    config = cluster.config
    cluster.tick(config.failover_timeout_ms - config.tick_ms)
    assert cluster.status(2).role == "backup" and cluster.status(3).role == "backup"
    cluster.tick(config.tick_ms * 2)
    assert cluster.status(2).role == "primary" and cluster.status(2).term == 2
    cluster.tick(config.failover_stagger_ms * 2)
    assert cluster.status(3).role == "backup" and cluster.status(3).leader == 2  # staggered


def test_manual_mode_never_promotes_by_itself() -> None:
    cluster = Cluster("pb-sync")
    cluster.tick()
    cluster.crash(1)
    cluster.tick(cluster.config.failover_timeout_ms * 4)
    assert [cluster.status(m).role for m in (2, 3)] == ["backup", "backup"]


def test_auto_failover_under_a_partition_is_split_brain() -> None:
    cluster = Cluster("pb-async", failover="auto")
    cluster.tick()
    cluster.partition((1,), (2, 3))
    cluster.tick(cluster.config.failover_timeout_ms + cluster.config.tick_ms * 2)
    assert cluster.status(1).role == cluster.status(2).role == "primary"
    assert cluster.status(1).term != cluster.status(2).term
    left, right = write(1, "left", client=1), write(1, "right", client=2)
    cluster.submit(1, left)
    cluster.submit(2, right)
    assert cluster.results(left) == [Ok(True)] and cluster.results(right) == [Ok(True)]
    cluster.heal()
    cluster.tick(cluster.config.heartbeat_ms * 2)
    roles = sorted(cluster.status(m).role for m in (1, 2, 3))
    assert roles == ["backup", "backup", "primary"]  # the higher epoch wins; one write is lost
    assert cluster.data(1) == cluster.data(2) == cluster.data(3) == {"k": "right"}


def test_restarted_primary_takes_a_fresh_epoch_before_acting() -> None:
    cluster = Cluster("pb-async")
    cluster.tick()
    cluster.submit(1, write(1))
    cluster.crash(1)
    cluster.restart(1)
    assert cluster.status(1).role == "primary" and cluster.status(1).term == 4
    assert EpochRecord(4, 1) in cluster.nodes[1].durable
    cluster.tick(cluster.config.heartbeat_ms)
    assert [cluster.status(m).term for m in (2, 3)] == [4, 4]
    later = write(2, "after")
    cluster.submit(1, later)
    assert cluster.results(later) == [Ok(True)]


def test_promote_at_the_primary_is_ok_and_changes_nothing() -> None:
    cluster = Cluster("pb-sync")
    cluster.tick()
    cluster.submit(1, PROMOTE)
    assert cluster.results(PROMOTE) == [Ok(None)] and cluster.status(1).term == 1
    assert not [r for _, r in cluster.replies if isinstance(r, Reply) and r.result != Ok(None)]


def test_restarted_old_primary_yields_to_a_backup_promoted_while_it_was_down() -> None:
    cluster = Cluster("pb-async")
    cluster.tick()
    cluster.submit(1, write(1, "a"))
    cluster.crash(1)
    cluster.submit(2, PROMOTE)
    acked = write(2, "b")
    cluster.submit(2, acked)
    assert cluster.results(acked) == [Ok(True)]
    cluster.restart(1)
    assert cluster.status(1).role == "backup" and cluster.status(1).term == 2
    cluster.tick(cluster.config.heartbeat_ms)
    assert cluster.status(2).role == "primary"
    assert cluster.data(1) == cluster.data(2) == {"k": "b"}


def test_restarted_primary_reclaims_after_the_timeout_when_peers_are_silent_under_auto_failover() -> None:
    cluster = Cluster("pb-async", failover="auto")
    cluster.tick()
    cluster.submit(1, write(1))
    cluster.crash(1)
    cluster.partition((1,), (2, 3))
    cluster.restart(1)
    assert cluster.status(1).role == "recovering" and cluster.status(1).leader is None
    cluster.tick(cluster.config.failover_timeout_ms - cluster.config.tick_ms)
    assert cluster.status(1).role == "recovering"
    cluster.tick(cluster.config.tick_ms)
    assert cluster.status(1).role == "primary" and cluster.status(1).term == 4


def test_restarted_primary_under_manual_failover_waits_for_its_peers_or_the_operator() -> None:
    """Silence is no evidence that nobody was promoted (a real cluster's links may still
    be reconnecting), so under manual failover only the peers' answers or an operator
    end the wait."""
    cluster = Cluster("pb-async")
    cluster.tick()
    cluster.submit(1, write(1))
    cluster.crash(1)
    cluster.partition((1,), (2, 3))
    cluster.restart(1)
    cluster.tick(10 * cluster.config.failover_timeout_ms)
    assert cluster.status(1).role == "recovering"
    cluster.submit(1, PROMOTE)
    assert cluster.status(1).role == "primary"


def test_restarted_primary_under_manual_failover_reclaims_when_every_peer_answers_from_its_epoch() -> None:
    cluster = Cluster("pb-async")
    cluster.tick()
    cluster.submit(1, write(1))
    cluster.crash(1)
    cluster.restart(1)
    cluster.tick(2 * cluster.config.heartbeat_ms)
    assert cluster.status(1).role == "primary"


def _node_1_reclaimed_epoch_7_and_writes(cluster: Cluster, scheme: str) -> None:
    """Node 1 is primary of epoch 7 (the next it owns above 4), followed by both peers,
    and a write through it reaches every replica."""
    assert cluster.status(1).role == "primary" and cluster.status(1).term == 7, scheme
    assert cluster.status(2).leader == cluster.status(3).leader == 1
    acked = write(2, "b")
    cluster.submit(1, acked)
    assert cluster.results(acked) == [Ok(True)], scheme
    cluster.tick(cluster.config.heartbeat_ms)
    assert cluster.data(1) == cluster.data(2) == cluster.data(3) == {"k": "b"}, scheme


def test_node_learning_an_epoch_it_owns_but_forgot_probes_and_reclaims_above_it() -> None:
    """Only node 1 ever takes an epoch node 1 owns. If a torn tail loses the record of the
    epoch it reclaimed (4) and peers then tell it about epoch 4, it was that epoch's
    primary: it must come back as a restarted primary does (probe, then reclaim in a
    fresh epoch), not as a backup of itself (swarm seed 271: the auto-failover tick
    looked itself up among the other nodes and raised ValueError)."""
    for scheme in ("pb-async", "pb-sync"):
        cluster = Cluster(scheme, failover="auto")
        cluster.tick()
        cluster.submit(1, write(1, "a"))
        cluster.crash(1)
        cluster.restart(1)
        cluster.tick(2 * cluster.config.heartbeat_ms)
        assert cluster.status(1).role == "primary" and cluster.status(1).term == 4
        assert cluster.status(2).term == cluster.status(3).term == 4
        cluster.crash(1)
        durable = cluster.nodes[1].durable
        assert durable[-1] == EpochRecord(4, 1)
        cluster.nodes[1].durable = durable[:-1]  # torn tail: epoch 4 is forgotten
        sent_before = len(cluster.sent)
        cluster.restart(1)  # back in epoch 1; its first probe is answered Stale(4)
        assert any(dst == 1 and m == Stale(4) for _, dst, m in cluster.sent[sent_before:])
        assert cluster.status(1).role == "recovering" and cluster.status(1).term == 4
        assert cluster.nodes[1].durable[-1] == EpochRecord(4, 1)  # the fence is durable again
        # past every auto-failover deadline: it must never act as a backup of itself
        cluster.tick(cluster.config.failover_timeout_ms + 3 * cluster.config.failover_stagger_ms)
        _node_1_reclaimed_epoch_7_and_writes(cluster, scheme)


def test_torn_off_promotion_under_manual_failover_is_found_by_the_repairing_node() -> None:
    """Swarm seed pb-sync 50043: node 1 is promoted to epoch 4 (node 3 follows it) and
    crashes; a torn tail cuts the epoch-4 record, so it restarts under repair as a backup
    of epoch 2, whose owner (node 2) has itself moved on to epoch 4. With manual failover
    nobody speaks first: the epoch-4 backups wait for node 1, node 1 for node 2. The
    repairing node probes its peers once its primary is silent, draws ``Stale(4)``, learns
    that the newest epoch is its own and reclaims above it, with no operator."""
    for scheme in ("pb-async", "pb-sync"):
        cluster = Cluster(scheme)
        cluster.tick()
        cluster.submit(1, write(1, "a"))
        cluster.crash(1)
        promote = Request(client_id=99, seq=1, command=Promote())
        cluster.submit(2, promote)
        assert cluster.results(promote) == [Ok(None)] and cluster.status(2).term == 2
        cluster.restart(1)
        cluster.tick(2 * cluster.config.heartbeat_ms)
        assert cluster.status(1).role == "backup" and cluster.status(1).term == 2
        cluster.crash(2)
        again = Request(client_id=99, seq=2, command=Promote())
        cluster.submit(1, again)
        assert cluster.results(again) == [Ok(None)], scheme
        assert cluster.status(1).term == 4 and cluster.status(3).term == 4
        cluster.crash(1)
        assert cluster.nodes[1].durable[-1] == EpochRecord(4, 1)
        cluster.restart(1, torn=1)  # epoch 4 is forgotten; node 1 is under repair
        cluster.restart(2)  # node 3 tells it about epoch 4 (node 1 owns it)
        cluster.tick(2 * cluster.config.heartbeat_ms)
        assert cluster.status(1).role == "backup" and cluster.status(1).term == 2, scheme
        assert cluster.status(2).role == "backup" and cluster.status(2).term == 4, scheme
        sent_before = len(cluster.sent)
        cluster.tick(cluster.config.failover_timeout_ms + 2 * cluster.config.heartbeat_ms)
        assert any(src == 1 and m == Probe(2) for src, _, m in cluster.sent[sent_before:]), scheme
        _node_1_reclaimed_epoch_7_and_writes(cluster, scheme)
