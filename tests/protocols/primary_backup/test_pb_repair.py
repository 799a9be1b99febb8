"""Lost and torn durable state, and the recovering primary that adopts the most
up-to-date log of its peers before it serves (issue 8, items 1, 2 and 11)."""

from __future__ import annotations

import pytest

from replikv.core import Get, Ok, Promote, Request, Set, Submit
from replikv.core.commands import AddServer, RemoveServer, TransferLeader
from replikv.core.errors import BadRequest, NotLeader, Unavailable, Uncertain
from replikv.protocols.primary_backup.records import RepairRecord

from .harness import Cluster

SCHEMES = ["pb-async", "pb-sync"]


def write(seq: int, key: str = "k", client: int = 7) -> Request:
    return Request(client_id=client, seq=seq, command=Set(key, str(seq)))


def promote(seq: int = 1) -> Request:
    return Request(client_id=99, seq=seq, command=Promote())


def acked(cluster: Cluster, requests: list[Request]) -> dict[str, str]:
    """Keys and values of the writes answered Ok."""
    return {r.command.key: r.command.value for r in requests if any(type(x) is Ok for x in cluster.results(r))}


def write_keys(cluster: Cluster, count: int) -> list[Request]:
    requests = [write(seq, key=f"k{seq}") for seq in range(1, count + 1)]
    for request in requests:
        cluster.submit(1, request)
    cluster.tick(cluster.config.heartbeat_ms * 2)  # pb-sync backups learn the commit
    return requests


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_primary_that_lost_its_disk_waits_for_its_peers_and_then_adopts_their_log(scheme: str) -> None:
    """Issue 8.1: every node crashes, the primary loses its disk and restarts alone. It
    must not start empty and serve; once the others return it copies their log."""
    cluster = Cluster(scheme)
    cluster.tick()
    requests = write_keys(cluster, 10)
    expected = acked(cluster, requests)
    assert len(expected) == 10
    for node in (1, 2, 3):
        cluster.crash(node)
    cluster.restart(1, lost=True)
    cluster.tick(cluster.config.failover_timeout_ms * 3)
    assert cluster.status(1).role == "recovering"
    probe = write(11, key="alone")
    cluster.submit(1, probe)
    assert cluster.results(probe) == [NotLeader(None)]
    read = Request(client_id=8, seq=1, command=Get("k1"), read_level="local")
    cluster.submit(1, read)
    assert type(cluster.results(read)[0]) is Unavailable  # nothing served from an empty disk
    cluster.restart(2)
    cluster.restart(3)
    cluster.tick(cluster.config.heartbeat_ms * 4)
    assert cluster.status(1).role == "primary"
    for node in (1, 2, 3):
        assert cluster.data(node) == expected, node
    assert RepairRecord(False) in cluster.nodes[1].durable
    after = write(12, key="after")
    cluster.submit(1, after)
    cluster.tick(cluster.config.heartbeat_ms * 2)
    assert cluster.results(after) == [Ok(True)]
    assert cluster.data(2) == cluster.data(1) == cluster.data(3)


def test_a_lost_primary_never_reclaims_on_silence_even_with_auto_failover() -> None:
    cluster = Cluster("pb-sync", failover="auto")
    cluster.tick()
    write_keys(cluster, 3)
    for node in (1, 2, 3):
        cluster.crash(node)
    cluster.restart(1, lost=True)
    cluster.tick(cluster.config.failover_timeout_ms * 5)
    assert cluster.status(1).role == "recovering" and cluster.status(1).last_index == 0


def test_the_repair_mark_survives_a_crash_before_the_repair_ends() -> None:
    cluster = Cluster("pb-sync", failover="auto")
    cluster.tick()
    write_keys(cluster, 3)
    for node in (1, 2, 3):
        cluster.crash(node)
    cluster.restart(1, lost=True)
    assert cluster.nodes[1].durable == [RepairRecord(True)]
    cluster.crash(1)
    cluster.restart(1)  # the host no longer says "lost": the record does
    cluster.tick(cluster.config.failover_timeout_ms * 5)
    assert cluster.status(1).role == "recovering"


@pytest.mark.parametrize("torn", [1, 2])
def test_a_torn_tail_on_the_primary_does_not_truncate_the_backups(torn: int) -> None:
    """Issue 8.2: the restarted primary lost its last (acknowledged) records to a torn
    tail. It must adopt the backups' longer log, not make them drop it."""
    cluster = Cluster("pb-sync")
    cluster.tick()
    requests = write_keys(cluster, 20)
    expected = acked(cluster, requests)
    assert len(expected) == 20
    cluster.crash(1)
    cluster.restart(1, torn=torn)
    cluster.tick(cluster.config.heartbeat_ms * 4)
    assert cluster.status(1).role == "primary"
    for node in (1, 2, 3):
        assert cluster.data(node) == expected, node
        assert cluster.status(node).last_index == 20, node


def test_an_intact_restarted_primary_adopts_entries_only_its_backups_made_durable() -> None:
    """The primary ships an entry, the backups persist it, the primary crashes before
    its own write is durable: the entry is on every backup. The restarted primary takes
    it rather than deposing it (a probe changes nothing at a backup)."""
    cluster = Cluster("pb-sync")
    cluster.tick()
    cluster.submit(1, write(1))
    cluster.auto_flush = False
    cluster.feed(1, Submit(write(2)))
    for _ in range(3):
        cluster.settle()
        cluster.flush(2)
        cluster.flush(3)
    assert cluster.status(2).last_index == cluster.status(3).last_index == 2
    cluster.crash(1)  # its own Persist of entry 2 never became durable
    assert max(r.index for r in cluster.nodes[1].durable if hasattr(r, "request")) == 1
    cluster.auto_flush = True
    cluster.restart(1)
    cluster.tick(cluster.config.heartbeat_ms * 4)
    assert cluster.status(1).role == "primary"
    assert all(cluster.status(node).last_index == 2 for node in (1, 2, 3))
    assert all(cluster.data(node) == {"k": "2"} for node in (1, 2, 3))


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_backup_under_repair_refuses_promote_and_local_reads_until_caught_up(scheme: str) -> None:
    cluster = Cluster(scheme)
    cluster.tick()
    write_keys(cluster, 5)
    cluster.crash(3)
    cluster.restart(3, lost=True)
    cluster.crash(1)
    first = promote(1)
    cluster.submit(3, first)
    (refusal,) = cluster.results(first)
    assert type(refusal) is Uncertain and not refusal.definite
    assert cluster.status(3).role == "backup"
    cluster.restart(1)
    cluster.tick(cluster.config.heartbeat_ms * 6)
    assert cluster.status(3).last_index == 5
    assert RepairRecord(False) in cluster.nodes[3].durable
    second = promote(2)
    cluster.submit(3, second)
    assert cluster.results(second) == [Ok(None)]
    assert cluster.data(3) == cluster.data(1)


def test_a_backup_under_repair_never_promotes_itself() -> None:
    cluster = Cluster("pb-async", failover="auto")
    cluster.tick()
    write_keys(cluster, 3)
    cluster.crash(1)
    cluster.crash(2)
    cluster.crash(3)
    cluster.restart(2, lost=True)
    cluster.tick(cluster.config.failover_timeout_ms * 4)
    assert cluster.status(2).role == "backup" and cluster.status(2).last_index == 0


def test_transfer_leader_names_promote_and_membership_changes_stay_refused() -> None:
    cluster = Cluster("pb-sync")
    cluster.tick()
    transfer = Request(99, 1, TransferLeader(2))
    cluster.submit(1, transfer)
    (answer,) = cluster.results(transfer)
    assert type(answer) is BadRequest
    assert "membership" not in answer.describe() and "cluster promote" in answer.describe()
    for seq, command in ((2, AddServer(4)), (3, RemoveServer(3))):
        request = Request(99, seq, command)
        cluster.submit(1, request)
        assert cluster.results(request) == [BadRequest("primary/backup does not support membership changes")]


def test_a_refused_write_may_still_be_applied_by_a_delayed_copy_so_the_refusal_is_indefinite() -> None:
    """Issue 8.10: pb-sync refuses a write while a backup is down; a delayed duplicate of
    the same (client_id, seq) arrives after the backup came back and is applied. So the
    refusal must not say "definitely not applied"."""
    cluster = Cluster("pb-sync")
    cluster.tick()
    cluster.crash(3)
    cluster.tick(cluster.config.failure_timeout_ms + cluster.config.tick_ms * 2)
    request = write(1, key="x")
    cluster.submit(1, request)
    (refusal,) = cluster.results(request)
    assert not refusal.definite
    cluster.restart(3)
    cluster.tick(cluster.config.heartbeat_ms * 2)
    cluster.submit(1, request)  # the delayed copy
    cluster.tick(cluster.config.heartbeat_ms * 2)
    assert cluster.data(1) == {"x": "1"}  # it took effect after all
