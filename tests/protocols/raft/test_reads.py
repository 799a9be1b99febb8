"""Reads (Raft §8, thesis §6.4): read index, leases, local reads, NotLeader."""

from __future__ import annotations

from replikv.core import Get, NotLeader, Ok, Receive, Request, Set, Submit, Tick
from replikv.protocols.raft import messages as m

from .harness import Cluster
from .steps import elect, make, sends, sync


def _read(client: int, seq: int, level: str = "linearizable") -> Request:
    return Request(client, seq, Get("a"), read_level=level)


def test_6_4_read_index_waits_for_a_heartbeat_round() -> None:
    leader = make(node=1)
    effects = elect(leader)
    sync(leader, effects)
    leader.handle(Receive(2, m.AppendReply(1, True, match_index=1)))
    assert leader.commit_index == 1  # the term's no-op is committed
    leader.handle(Receive(2, m.HeartbeatReply(1, leader.leadership.round, 1)))  # election round done
    effects = leader.handle(Submit(_read(4, 1)))
    beats = sends(effects, m.Heartbeat)
    assert len(beats) == 2 and not [e for e in effects if type(e).__name__ == "Reply"]
    round_ = beats[0].msg.round
    # a reply from a single follower: with ourselves, a majority of 3
    effects = leader.handle(Receive(3, m.HeartbeatReply(1, round_, 1)))
    assert [type(e).__name__ for e in effects] == ["Reply"]
    assert effects[0].result == Ok(None)


def test_6_4_read_index_waits_for_the_terms_first_commit() -> None:
    leader = make(node=1)
    sync(leader, elect(leader))
    leader.handle(Receive(3, m.HeartbeatReply(1, leader.leadership.round, 0)))
    effects = leader.handle(Submit(_read(4, 1)))
    round_ = sends(effects, m.Heartbeat)[0].msg.round
    effects = leader.handle(Receive(2, m.HeartbeatReply(1, round_, 0)))
    assert not [e for e in effects if type(e).__name__ == "Reply"]  # no-op not committed
    effects = leader.handle(Receive(2, m.AppendReply(1, True, match_index=1)))
    assert [e.result for e in effects if type(e).__name__ == "Reply"] == [Ok(None)]


def test_6_4_an_old_round_does_not_confirm_a_newer_read() -> None:
    leader = make(node=1)
    sync(leader, elect(leader))
    leader.handle(Receive(2, m.AppendReply(1, True, match_index=1)))
    leader.handle(Receive(2, m.HeartbeatReply(1, leader.leadership.round, 1)))
    first = leader.handle(Submit(_read(4, 1)))
    old_round = sends(first, m.Heartbeat)[0].msg.round
    second = leader.handle(Submit(_read(4, 2)))  # a round is in flight: it waits for the next
    assert sends(second, m.Heartbeat) == []
    effects = leader.handle(Receive(2, m.HeartbeatReply(1, old_round, 1)))
    replies = [e.request.seq for e in effects if type(e).__name__ == "Reply"]
    assert replies == [1]
    new_round = sends(effects, m.Heartbeat)[0].msg.round
    assert new_round == old_round + 1
    effects = leader.handle(Receive(3, m.HeartbeatReply(1, new_round, 1)))
    assert [e.request.seq for e in effects if type(e).__name__ == "Reply"] == [2]


def test_6_4_1_lease_read_served_locally_then_expires() -> None:
    cluster = Cluster(3, seed=8)
    leader = cluster.elect()
    assert cluster.submit_and_wait(leader, Request(1, 1, Set("a", "x"))) == Ok(True)
    cluster.run(60)
    effects = cluster.input(leader, Submit(_read(2, 1, "lease")))
    assert [e.result for e in effects if type(e).__name__ == "Reply"] == [Ok("x")]
    assert sends(effects) == []  # no round trip inside the lease
    # cut the leader off: once election_timeout * (1 - drift) passed, no local answer
    cluster.isolate(leader)
    cluster.run(95)
    assert cluster.status(leader).role == "leader"
    effects = cluster.input(leader, Submit(_read(2, 2, "lease")))
    assert not [e for e in effects if type(e).__name__ == "Reply"]
    cluster.run(10)  # it waits for a read-index round, which cannot complete
    assert (2, 2) not in cluster.replies


def test_lease_reads_off_take_the_read_index_path() -> None:
    cluster = Cluster(3, seed=8, lease_reads=False)
    leader = cluster.elect()
    cluster.run(60)
    effects = cluster.input(leader, Submit(_read(2, 1, "lease")))
    assert not [e for e in effects if type(e).__name__ == "Reply"]
    cluster.deliver()
    assert cluster.replies[(2, 1)] == Ok(None)


def test_local_reads_anywhere_and_not_leader_for_the_rest() -> None:
    cluster = Cluster(3, seed=9)
    leader = cluster.elect()
    assert cluster.submit_and_wait(leader, Request(1, 1, Set("a", "y"))) == Ok(True)
    cluster.run(60)
    follower = next(n for n in sorted(cluster.nodes) if n != leader)
    effects = cluster.input(follower, Submit(_read(3, 1, "local")))
    assert [e.result for e in effects if type(e).__name__ == "Reply"] == [Ok("y")]
    for seq, request in enumerate(
        [_read(3, 2), _read(3, 3, "lease"), Request(3, 4, Set("a", "z"))], start=2
    ):
        effects = cluster.input(follower, Submit(request))
        assert [e.result for e in effects if type(e).__name__ == "Reply"] == [NotLeader(leader)], (
            seq
        )


def test_6_4_isolated_leader_never_answers_a_linearizable_read() -> None:
    cluster = Cluster(3, seed=10)
    leader = cluster.elect()
    cluster.isolate(leader)
    cluster.submit(leader, _read(5, 1))
    cluster.run(400)
    result = cluster.replies[(5, 1)]
    assert not isinstance(result, Ok)


def test_reads_stay_linearizable_across_a_new_leader() -> None:
    cluster = Cluster(3, seed=12)
    old = cluster.elect()
    assert cluster.submit_and_wait(old, Request(1, 1, Set("a", "1"))) == Ok(True)
    cluster.isolate(old)
    cluster.run(400)
    new = cluster.leader()
    assert new != old
    assert cluster.submit_and_wait(new, Request(1, 2, Set("a", "2"))) == Ok(True)
    cluster.input(old, Tick(cluster.now))
    cluster.submit(old, _read(6, 1))
    cluster.submit(old, _read(6, 2, "lease"))
    assert (6, 1) not in cluster.replies or not isinstance(cluster.replies[(6, 1)], Ok)
    assert (6, 2) not in cluster.replies or not isinstance(cluster.replies[(6, 2)], Ok)
    assert cluster.submit_and_wait(new, _read(6, 3)) == Ok("2")


def test_6_4_1_the_lease_leaves_out_one_tick_of_follower_clock_granularity() -> None:
    """A follower dates the leader's contact by its last Tick, up to tick_ms before the
    message arrived, so its promise not to elect anyone may end one tick early. A lease of
    election_timeout * (1 - drift) (90 ms here) overlapped that by up to a tick; the
    lease is (election_timeout - tick) * (1 - drift) = 81 ms. Found by planting a lease
    bug and timing the window (issue 9.7)."""
    cluster = Cluster(3, seed=8)
    leader = cluster.elect()
    assert cluster.submit_and_wait(leader, Request(1, 1, Set("a", "x"))) == Ok(True)
    cluster.run(60)
    cluster.isolate(leader)
    replica = cluster.nodes[leader].replica
    since = replica.leadership.lease_from_ms
    cluster.input(leader, Tick(since + 85))  # inside the old 90 ms lease, outside the 81 ms one
    assert replica.leadership.lease_from_ms == since  # cut off: no newer round confirmed
    effects = cluster.input(leader, Submit(_read(2, 7, "lease")))
    assert not [e for e in effects if type(e).__name__ == "Reply"]  # no local answer any more


def test_6_4_reads_of_each_kind_are_answered_in_order_and_a_lease_read_passes_a_waiting_one() -> None:
    """Waiting reads are answered as a prefix of each kind (``_serve_reads``): a lease
    read that arrives behind a linearizable read still waiting for its round is answered
    at once, the linearizable reads then in arrival order when their round returns, and
    the leader's count of waiting lease reads goes back to zero."""
    cluster = Cluster(3, seed=8)
    leader = cluster.elect()
    assert cluster.submit_and_wait(leader, Request(1, 1, Set("a", "x"))) == Ok(True)
    cluster.run(60)
    first = cluster.input(leader, Submit(_read(2, 1)))
    second = cluster.input(leader, Submit(_read(3, 1)))
    assert not [e for e in first + second if type(e).__name__ == "Reply"]  # a round each waits for
    lease = cluster.input(leader, Submit(_read(4, 1, "lease")))
    assert [(e.request.client_id, e.result) for e in lease if type(e).__name__ == "Reply"] == [(4, Ok("x"))]
    replica = cluster.nodes[leader].replica
    assert replica.leadership.lease_reads == 0 and len(replica.leadership.reads) == 2
    before = len(cluster.reply_log)
    cluster.deliver()
    answered = [r.request.client_id for r in cluster.reply_log[before:]]
    assert answered == [2, 3] and cluster.replies[(2, 1)] == cluster.replies[(3, 1)] == Ok("x")
    assert replica.leadership.reads == [] and replica.leadership.lease_reads == 0


def test_6_4_1_a_restarted_follower_keeps_the_lease_it_granted_before_its_crash() -> None:
    """A follower that acknowledged the leader's heartbeat round, crashed and came back at
    once has forgotten whom it heard from. Granting a pre-vote then lets a node cut off from
    the leader win an election and commit a write while the old leader's lease, which
    counted that acknowledgement, still runs: a lease read at the old leader returns the
    value the new leader overwrote. A restarted node that may have granted a lease (it
    recovered a term) promises nobody else for an election timeout from its first tick,
    as Multi-Paxos's acceptors do (protocols/paxos/lease.py; Paxos Made Live §5.2)."""
    cluster = Cluster(3, seed=8)
    leader = cluster.elect()
    f2, f3 = sorted(n for n in cluster.nodes if n != leader)
    assert cluster.submit_and_wait(leader, Request(1, 1, Set("a", "1"))) == Ok(True)
    cluster.cut |= {(leader, f3), (f3, leader)}  # f3 is cut off from the leader only
    cluster.run(30)  # f2 acknowledges heartbeat rounds: the leader's lease is fresh
    replica = cluster.nodes[leader].replica
    lease_from = replica.leadership.lease_from_ms
    assert cluster.now - lease_from < 30
    cluster.crash(f2)
    cluster.restart(f2)  # back within the same tick, with its term and log
    # f3 has not heard from a leader for long: its timer fires, it campaigns
    later = cluster.now + 5
    cluster.input(f3, Tick(later + 1000))
    cluster.deliver()
    won = cluster.status(f3).role == "leader"
    if won:  # f3 won with f2's vote: it commits a write the old leader never sees
        cluster.submit(f3, Request(2, 1, Set("a", "2")))
        for step in range(1, 4):  # f3's ticks only: the old leader's clock stays put
            cluster.deliver()
            cluster.input(f3, Tick(later + 1000 + step * cluster.config.tick_ms))
        cluster.deliver()
        assert cluster.replies.get((2, 1)) == Ok(True), cluster.replies.get((2, 1))
    cluster.input(leader, Tick(later))  # the old leader's clock: inside its lease
    effects = cluster.input(leader, Submit(_read(3, 1, "lease")))
    served = [e.result for e in effects if type(e).__name__ == "Reply"]
    assert not won, f"a node won an election while the lease it broke still ran (lease read: {served})"
    assert served == [Ok("1")]  # the lease holds, and nobody else could have written
