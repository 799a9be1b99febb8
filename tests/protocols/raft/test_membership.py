"""Membership changes (Raft §6, thesis ch. 4) and leadership transfer (thesis §3.10)."""

from __future__ import annotations

from replikv.core import (
    AddServer,
    BadRequest,
    NotLeader,
    Ok,
    RemoveServer,
    Reply,
    Request,
    Set,
    Submit,
    Timeout,
    TransferLeader,
    Unavailable,
)
from replikv.protocols.raft import messages as m

from .harness import Cluster


def _admin(client: int, seq: int, command) -> Request:
    return Request(client, seq, command)


def _cluster_with_data(seed: int = 1, **options) -> tuple[Cluster, int]:
    cluster = Cluster(3, seed=seed, **options)
    leader = cluster.elect()
    for seq in range(1, 6):
        assert cluster.submit_and_wait(leader, Request(1, seq, Set(f"k{seq}", "v"))) == Ok(True)
    return cluster, leader


def test_4_1_add_a_fresh_node_as_voter_catches_up_first() -> None:
    cluster, leader = _cluster_with_data()
    fresh = cluster.add_node(4)
    assert fresh.replica.status().role == "learner"  # not in its own members: waits
    result = cluster.submit_and_wait(leader, _admin(9, 1, AddServer(4)))
    assert result == Ok(None)
    voters, learners = cluster.nodes[leader].replica.membership()
    assert voters == (1, 2, 3, 4) and learners == ()
    # it was a learner first, then promoted (two configuration entries)
    changes = [
        c.request.command
        for c in cluster.commits[leader]
        if isinstance(c.request.command, AddServer)
    ]
    assert changes == [AddServer(4, learner=True), AddServer(4, learner=False)]
    cluster.run(100)
    assert cluster.data(4) == cluster.data(leader)
    assert cluster.status(4).role == "follower"


def test_learner_replicates_but_does_not_count() -> None:
    cluster, leader = _cluster_with_data(seed=2)
    cluster.add_node(4)
    assert cluster.submit_and_wait(leader, _admin(9, 1, AddServer(4, learner=True))) == Ok(None)
    cluster.run(100)
    assert cluster.status(4).role == "learner" and cluster.data(4) == cluster.data(leader)
    # with both other voters down, the learner does not make a majority
    others = [n for n in (1, 2, 3) if n != leader]
    for n in others:
        cluster.crash(n)
    cluster.submit(leader, Request(1, 99, Set("x", "y")))
    cluster.run(100)
    assert cluster.status(leader).commit_index < cluster.status(leader).last_index
    for n in others:
        cluster.restart(n)
    cluster.run(500)
    leader = cluster.elect()
    # never promoted by itself; a second AddServer promotes it
    assert cluster.nodes[leader].replica.membership()[1] == (4,)
    assert cluster.submit_and_wait(leader, _admin(9, 2, AddServer(4))) == Ok(None)
    assert cluster.nodes[leader].replica.membership() == ((1, 2, 3, 4), ())


def test_4_2_2_removed_leader_steps_down_after_commit() -> None:
    cluster, leader = _cluster_with_data(seed=3)
    result = cluster.submit_and_wait(leader, _admin(9, 1, RemoveServer(leader)))
    assert result == Ok(None)
    assert cluster.status(leader).role == "learner"  # not a voter: never campaigns
    cluster.run(600)
    new = cluster.leader()
    assert new is not None and new != leader
    assert cluster.nodes[new].replica.membership()[0] == tuple(n for n in (1, 2, 3) if n != leader)
    assert cluster.submit_and_wait(new, Request(2, 1, Set("after", "1"))) == Ok(True)
    cluster.assert_one_leader_per_term()


def test_4_1_one_change_at_a_time_and_bad_requests() -> None:
    cluster, leader = _cluster_with_data(seed=4)
    cluster.add_node(4)
    cluster.add_node(5)
    cluster.submit(leader, _admin(9, 1, AddServer(4, learner=True)))
    cluster.input(leader, Submit(_admin(9, 2, AddServer(5, learner=True))))
    cluster.sync(leader)  # the answer waits behind the first change's Persist; no delivery
    assert [type(r.result) for r in cluster.reply_log if r.request.id == (9, 2)] == [Unavailable]
    assert (9, 1) not in cluster.replies  # the first change is still uncommitted
    cluster.deliver()
    assert cluster.replies[(9, 1)] == Ok(None)
    assert cluster.submit_and_wait(
        leader, _admin(9, 3, AddServer(leader, learner=True))
    ) == BadRequest(f"node {leader} is a voter")
    single = Cluster(1, seed=1)
    only = single.elect()
    assert isinstance(single.submit_and_wait(only, _admin(1, 1, RemoveServer(only))), BadRequest)
    follower = next(n for n in (1, 2, 3) if n != leader)
    cluster.submit(follower, _admin(9, 4, RemoveServer(5)))
    assert cluster.replies[(9, 4)] == NotLeader(leader)


def test_promotion_that_cannot_catch_up_times_out() -> None:
    cluster, leader = _cluster_with_data(seed=5, request_timeout_ms=300.0)
    cluster.add_node(4)
    cluster.crash(4)
    assert isinstance(cluster.submit_and_wait(leader, _admin(9, 1, AddServer(4))), Timeout)
    assert cluster.nodes[leader].replica.membership() == ((1, 2, 3), (4,))


def test_3_10_leadership_transfer() -> None:
    cluster, leader = _cluster_with_data(seed=6)
    target = next(n for n in (1, 2, 3) if n != leader)
    timeout_now = []
    cluster.drop = lambda s, d, msg: (
        timeout_now.append((s, d)) and False if isinstance(msg, m.TimeoutNow) else False
    )
    result = cluster.submit_and_wait(leader, _admin(9, 1, TransferLeader(target)))
    assert result == Ok(None)
    assert timeout_now == [(leader, target)]
    cluster.run(100)
    assert cluster.leader() == target
    assert cluster.submit_and_wait(target, Request(3, 1, Set("t", "1"))) == Ok(True)
    cluster.assert_one_leader_per_term()


def test_3_10_transfer_stops_writes_and_times_out_when_target_is_down() -> None:
    cluster, leader = _cluster_with_data(seed=7)
    target = next(n for n in (1, 2, 3) if n != leader)
    cluster.crash(target)
    cluster.submit(leader, _admin(9, 1, TransferLeader(target)))
    cluster.deliver()
    effects = cluster.input(leader, Submit(Request(3, 1, Set("w", "1"))))
    assert [e.result for e in effects if isinstance(e, Reply)] == [
        NotLeader(target)
    ]  # writes paused, definitely not applied
    cluster.run(150)
    assert isinstance(cluster.replies[(9, 1)], Timeout)
    assert cluster.leader() == leader
    assert cluster.submit_and_wait(leader, Request(3, 2, Set("w", "2"))) == Ok(True)


def test_4_2_1_learner_is_promoted_while_writes_keep_coming() -> None:
    """Catch-up in rounds (thesis §4.2.1): under a write every tick, with the new node's
    links one tick slower than the others, its match index never equals the commit
    index (which moves on each tick), yet a round ends well within an election timeout,
    so it is promoted."""
    cluster, leader = _cluster_with_data(seed=7)
    cluster.add_node(4)
    held: list[tuple[int, int, object]] = []

    def one_tick_late(src: int, dst: int, msg) -> bool:
        if 4 in (src, dst) and (src, dst, msg) not in released:
            held.append((src, dst, msg))
            return True
        return False

    released: list = []
    cluster.drop = one_tick_late
    cluster.submit(leader, _admin(9, 1, AddServer(4)))
    behind = []
    for seq in range(1, 60):
        late, held[:] = list(held), []
        released[:] = late
        cluster.queue.extend(late)
        cluster.submit(leader, Request(2, seq, Set("load", str(seq))))
        cluster.tick()
        cluster.deliver()
        replica = cluster.nodes[leader].replica
        if replica.progress.get(4) is not None:
            behind.append(replica.progress[4].match < replica.commit_index)
        if (9, 1) in cluster.replies:
            break
    assert cluster.replies.get((9, 1)) == Ok(None)
    assert cluster.nodes[leader].replica.membership() == ((1, 2, 3, 4), ())
    assert behind and all(behind)  # it was never level with the commit index


def test_operator_requests_of_client_minus_one_are_answered() -> None:
    """The runtime submits operator commands as client ``-node`` (node 1: client -1, the
    id of the replica's own entries, which use seq 0): they must still get their reply,
    both the promotion of AddServer(voter) and RemoveServer."""
    cluster = Cluster(3, seed=3)
    leader = cluster.elect()  # any leader: the replica never looks at whose id it is
    cluster.add_node(4)
    assert cluster.submit_and_wait(leader, _admin(-1, 1_000_001, AddServer(4))) == Ok(None)
    assert cluster.nodes[leader].replica.membership() == ((1, 2, 3, 4), ())
    assert cluster.submit_and_wait(leader, _admin(-1, 1_000_002, RemoveServer(4))) == Ok(None)
    assert cluster.nodes[leader].replica.membership() == ((1, 2, 3), ())
