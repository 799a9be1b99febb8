"""The leader writes its log in parallel with replicating it (Raft thesis §10.2.1).

Its AppendEntries overtake its own pending Persists (``AppendEntries.overtakes_persist``,
``core/pipeline.py``); its own copy counts toward a commit only once ``Persisted`` says
it is durable. Every test runs the replicas through ``NodeDriver`` (``harness.py``): the
effect pipeline, and the durability check of every ack and every overtaking message
against the durable records. The harness's disks sync only when told (``auto_sync``
off), so "pending" is a state a test can hold.
"""

from __future__ import annotations

from replikv.core import AddServer, Get, Ok, Receive, Request, Set, Submit
from replikv.protocols.raft import messages as m

from .harness import Cluster
from .steps import sends


def _quiet_cluster(seed: int = 1) -> tuple[Cluster, int, int, int]:
    """A 3-node cluster with a leader, nothing in flight, disks synced only on demand."""
    cluster = Cluster(3, seed=seed, batch=False)
    leader = cluster.elect()
    cluster.run(100)
    cluster.auto_sync = False
    first, second = (n for n in sorted(cluster.nodes) if n != leader)
    return cluster, leader, first, second


def _appends_carrying(effects: list, request: Request) -> list[int]:
    """The destinations of the AppendEntries in ``effects`` that carry ``request``."""
    return sorted(
        s.dst for s in sends(effects, m.AppendEntries) if any(e.request == request for e in s.msg.entries)
    )


def test_10_2_1_a_leader_whose_own_persist_is_pending_still_sends_append_entries() -> None:
    cluster, leader, first, second = _quiet_cluster()
    w1, w2 = Request(7, 1, Set("a", "1")), Request(7, 2, Set("b", "2"))
    cluster.input(leader, Submit(w1))
    assert cluster.nodes[leader].unsynced, "the leader's write of w1 is pending"
    effects = cluster.input(leader, Submit(w2))
    # w2's AppendEntries leave now, ahead of the pending Persists of w1 and w2
    assert _appends_carrying(effects, w2) == [first, second]
    replica = cluster.nodes[leader].replica
    assert len(cluster.nodes[leader].unsynced) == 2
    assert replica.durable_index < replica.log.last_index
    assert w1.id not in cluster.replies and w2.id not in cluster.replies


def test_10_2_1_at_n3_one_follower_ack_commits_only_with_the_leaders_durable_copy() -> None:
    """Leader + one follower is a majority of 3 only once the leader's copy is durable:
    the follower's ack alone commits nothing; the leader's ``Persisted`` commits it."""
    cluster, leader, first, second = _quiet_cluster(seed=2)
    w1, w2 = Request(7, 1, Set("a", "1")), Request(7, 2, Set("b", "2"))
    cluster.input(leader, Submit(w1))
    cluster.input(leader, Submit(w2))
    index = cluster.nodes[leader].replica.log.last_index
    commit_before = cluster.status(leader).commit_index
    cluster.cut.add((leader, second))  # only the first follower hears of w1 and w2
    cluster.deliver()
    cluster.sync(first)  # its acks are durable: they leave
    cluster.deliver()
    assert cluster.status(leader).peers[first] == index
    assert cluster.status(leader).commit_index == commit_before  # 1 of 3 disks
    assert w1.id not in cluster.replies and w2.id not in cluster.replies
    cluster.sync(leader)  # the leader's own copy is durable: 2 of 3
    assert cluster.status(leader).commit_index == index
    assert cluster.replies[w1.id] == Ok(True) and cluster.replies[w2.id] == Ok(True)


def test_10_2_1_at_n3_two_follower_acks_commit_while_the_leaders_copy_is_pending() -> None:
    """Two followers' durable copies are a majority of 3 without the leader's; the
    answers to the clients still follow the leader's pending Persist in its effect
    stream (only AppendEntries overtake it)."""
    cluster, leader, first, second = _quiet_cluster(seed=3)
    w1, w2 = Request(7, 1, Set("a", "1")), Request(7, 2, Set("b", "2"))
    cluster.input(leader, Submit(w1))
    cluster.input(leader, Submit(w2))
    index = cluster.nodes[leader].replica.log.last_index
    cluster.deliver()
    cluster.sync(first)
    cluster.sync(second)
    cluster.deliver()
    replica = cluster.nodes[leader].replica
    assert replica.durable_index < index  # the leader's disk has not confirmed them
    assert cluster.status(leader).commit_index == index
    assert w1.id not in cluster.replies  # the Reply waits behind the leader's Persist
    cluster.sync(leader)
    assert cluster.replies[w1.id] == Ok(True) and cluster.replies[w2.id] == Ok(True)


def test_a_lone_voter_leads_and_sends_to_its_learner_only_once_its_term_is_durable() -> None:
    """The term an AppendEntries speaks in is never pending: a candidate counts its own
    vote once its TermVote is durable (Figure 2), so a lone voter, which needs no other
    vote, does not lead, nor send entries to its learner, before that (its
    AppendEntries would otherwise overtake the TermVote, and a crash could leave the
    learner holding entries of a term the leader may lead again)."""
    cluster = Cluster(1, seed=5)
    leader = cluster.elect()
    cluster.add_node(2)
    request = Request(9, 1, AddServer(2, learner=True))
    assert cluster.submit_and_wait(leader, request) == Ok(None)
    cluster.crash(leader)
    cluster.auto_sync = False
    cluster.restart(leader)
    start = len(cluster.sent)
    cluster.run_until(lambda: cluster.status(leader).role == "candidate", 1_000)
    replica = cluster.nodes[leader].replica
    assert [type(msg) for _src, _dst, msg in cluster.sent[start:]] == []  # no peer voter
    assert cluster.nodes[leader].unsynced, "its TermVote is pending"
    cluster.sync(leader)
    assert cluster.status(leader).role == "leader"
    appends = [msg for src, dst, msg in cluster.sent[start:] if dst == 2 and isinstance(msg, m.AppendEntries)]
    assert appends and {a.term for a in appends} == {replica.term}


def test_10_2_1_a_leader_that_crashes_before_its_fsync_loses_nothing_committed() -> None:
    """Crash point between the leader's write and its fsync: its AppendEntries already
    left, both followers made the entries durable (a majority of 3 without the leader),
    and the leader's own copy is lost with its memory. The entries survive on the
    followers, one of them leads next (the old leader's log is shorter, §5.4.1), and the
    old leader takes them back when it restarts: every log ends equal."""
    cluster, leader, first, second = _quiet_cluster(seed=4)
    writes = [Request(7, 1, Set("a", "1")), Request(7, 2, Set("b", "2"))]
    for write in writes:
        cluster.input(leader, Submit(write))
    index = cluster.nodes[leader].replica.log.last_index
    cluster.deliver()
    cluster.sync(first)
    cluster.sync(second)
    cluster.deliver()
    assert cluster.status(leader).commit_index == index  # committed by the followers' disks
    assert cluster.nodes[leader].replica.durable_index < index
    cluster.crash(leader)  # its unsynced Persists are gone
    cluster.auto_sync = True
    cluster.restart(leader)
    assert cluster.nodes[leader].replica.log.last_index < index  # it lost its own copy
    new = cluster.elect()
    assert new in (first, second)
    cluster.run(500)
    for node in sorted(cluster.nodes):
        assert cluster.data(node) == {"a": "1", "b": "2"}, f"node {node}"
    logs = {cluster.nodes[n].replica.durable_state()[2] for n in cluster.nodes}
    assert len(logs) == 1
    cluster.assert_one_leader_per_term()


def test_6_4_a_read_round_runs_while_every_disk_has_appends_pending() -> None:
    """A linearizable read needs a heartbeat round, not an fsync (thesis §6.4): the
    leader's Heartbeat leaves ahead of its own pending log write, and each follower's
    HeartbeatReply ahead of the follower's pending appends. The read's answer (at the
    read index taken when it arrived, before w2) still follows the leader's pending
    Persist in its effect stream, but no follower's disk has synced. Before issue 14's
    sixth session both messages waited behind those Persists."""
    cluster, leader, first, second = _quiet_cluster(seed=5)
    w1, w2 = Request(7, 1, Set("a", "1")), Request(7, 2, Set("a", "2"))
    cluster.auto_sync = True
    assert cluster.submit_and_wait(leader, w1) == Ok(True)
    cluster.run(100)  # w1's commit reaches the followers; nothing in flight
    cluster.auto_sync = False
    cluster.input(leader, Submit(w2))
    cluster.deliver()  # w2's AppendEntries reach both followers; nobody syncs
    assert cluster.nodes[leader].unsynced and cluster.nodes[first].unsynced and cluster.nodes[second].unsynced
    read = Request(8, 1, Get("a"), read_level="linearizable")
    effects = cluster.input(leader, Submit(read))
    assert sorted(s.dst for s in sends(effects, m.Heartbeat)) == [first, second]
    cluster.deliver()
    replies = [msg for src, dst, msg in cluster.sent if dst == leader and type(msg) is m.HeartbeatReply]
    assert replies, "the followers answer the round while their appends are pending"
    assert cluster.nodes[first].unsynced and cluster.nodes[second].unsynced
    assert read.id not in cluster.replies  # behind the leader's own pending Persist
    cluster.sync(leader)
    assert cluster.replies[read.id] == Ok("1")
    assert w2.id not in cluster.replies  # w2 is on no follower's disk yet
    assert cluster.nodes[first].unsynced and cluster.nodes[second].unsynced


def test_a_heartbeat_reply_in_a_term_not_yet_durable_waits_for_it() -> None:
    """Figure 2: a term is on disk before the node responds in it. A follower that adopts
    a newer term from a heartbeat answers with ``HeartbeatReplyInNewTerm``, held behind
    the Persist of that term; once its term is durable it answers with the overtaking
    ``HeartbeatReply`` again."""
    cluster, leader, first, second = _quiet_cluster(seed=6)
    term, before = cluster.status(first).term, len(cluster.sent)
    effects = cluster.input(first, Receive(leader, m.Heartbeat(term + 1, 0, 1, 0)))
    assert sends(effects) == [] and cluster.nodes[first].unsynced
    cluster.sync(first)
    held = [msg for src, dst, msg in cluster.sent[before:] if src == first and isinstance(msg, m.HeartbeatReply)]
    assert [type(msg) for msg in held] == [m.HeartbeatReplyInNewTerm] and held[0].term == term + 1
    effects = cluster.input(first, Receive(leader, m.Heartbeat(term + 1, 0, 2, 0)))
    assert [type(s.msg) for s in sends(effects)] == [m.HeartbeatReply]
