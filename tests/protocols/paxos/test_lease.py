"""Leader leases in ``multipaxos`` (Paxos Made Live §5.2 master leases; the bound and
drift rule of the Raft thesis §6.4.1): step tests of both halves, the acceptor that
honours a lease it granted and the leader that reads inside it."""

from __future__ import annotations

from replikv.core import Get, Receive, Request, Set, Submit, Tick
from replikv.core.errors import NotLeader, Ok
from replikv.protocols.paxos import messages as m
from replikv.protocols.paxos.constants import LEADER
from replikv.protocols.paxos.records import PromiseRecord

from .steps import elect, make, persists, records, replies, sends, write

TIMEOUT = 100.0  # steps.FAST's election_timeout_ms
TICK = 10.0


def lease_read(seq: int = 1, key: str = "k") -> Request:
    return Request(7, seq, Get(key), read_level="lease")


def follower_that_answered_a_heartbeat(at: float = 50.0):
    node = make(2)
    node.handle(Tick(at))
    effects = node.handle(Receive(1, m.Heartbeat((1, 1), 1, 0, (0, 0), 0, 1)))
    assert [s.msg for s in sends(effects, m.HeartbeatReply)] == [m.HeartbeatReply((1, 1), 1, 0)]
    return node


def test_pml_5_2_an_acceptor_promises_no_other_proposer_while_the_lease_it_granted_may_run():
    node = follower_that_answered_a_heartbeat(at=50.0)
    # within an election timeout of the contact (dated at our last tick, 50): no answer
    node.handle(Tick(50.0 + TIMEOUT - TICK))
    effects = node.handle(Receive(3, m.Prepare((2, 3), 1)))
    assert sends(effects) == [] and effects == []
    assert node.acceptor.promised == (1, 1)  # answering the heartbeat promised its ballot
    # once it has passed, the re-sent Prepare is promised
    node.handle(Tick(50.0 + TIMEOUT))
    effects = node.handle(Receive(3, m.Prepare((2, 3), 1)))
    assert [s.msg.ballot for s in sends(effects, m.Promise)] == [(2, 3)]


def test_pml_5_2_the_lease_holder_itself_may_prepare_again_and_lower_ballots_are_still_refused():
    node = follower_that_answered_a_heartbeat(at=50.0)
    effects = node.handle(Receive(1, m.Prepare((3, 1), 1)))
    assert [s.msg.ballot for s in sends(effects, m.Promise)] == [(3, 1)]
    effects = node.handle(Receive(3, m.Prepare((2, 3), 1)))
    assert [s.msg for s in sends(effects)] == [m.Nack((2, 3), (3, 1))]


def test_pml_5_2_a_follower_does_not_campaign_while_it_honours_a_lease():
    node = follower_that_answered_a_heartbeat(at=50.0)
    node.proposer.deadline = 0.0  # as if its failure detector fired early
    effects = node.handle(Tick(60.0))
    assert sends(effects, m.Prepare) == [] and node.acceptor.promised == (1, 1)  # no ballot of its own


def test_pml_5_2_a_restarted_acceptor_waits_out_a_lease_it_may_have_granted():
    node = make(2, records=(PromiseRecord((1, 1), False),))
    # no tick yet since the restart: it cannot tell how long ago it answered a leader
    assert node.handle(Receive(3, m.Prepare((2, 3), 1))) == []
    node.handle(Tick(1000.0))
    assert node.handle(Receive(3, m.Prepare((2, 3), 1))) == []
    node.handle(Tick(1000.0 + TIMEOUT))
    effects = node.handle(Receive(3, m.Prepare((2, 3), 1)))
    assert [s.msg.ballot for s in sends(effects, m.Promise)] == [(2, 3)]


def leader_with_lease() -> tuple:
    """Leader 1 of three whose first heartbeat round (sent at 1000) both peers answered."""
    leader = make(1)
    elect(leader)
    assert leader.proposer.role == LEADER
    round_ = leader.leadership.round
    assert leader.leadership.round_sent[round_] == leader.proposer.now
    sent = leader.proposer.now
    for peer in (2, 3):
        leader.handle(Receive(peer, m.HeartbeatReply(leader.proposer.ballot, round_, 0)))
    assert leader.leadership.lease_from_ms == sent
    return leader, sent


def test_6_4_1_a_lease_read_inside_the_lease_is_served_without_a_round():
    leader, sent = leader_with_lease()
    span = (TIMEOUT - TICK) * (1 - leader.config.clock_drift)
    leader.handle(Tick(sent + span - 1))
    round_before = leader.leadership.round
    effects = leader.handle(Submit(lease_read()))
    assert [r.result for r in replies(effects)] == [Ok(None)]
    assert sends(effects, m.Heartbeat) == [] and leader.leadership.round == round_before


def test_6_4_1_after_the_lease_a_lease_read_waits_for_a_majority_round():
    leader, sent = leader_with_lease()
    span = (TIMEOUT - TICK) * (1 - leader.config.clock_drift)
    leader.handle(Tick(sent + span))
    effects = leader.handle(Submit(lease_read()))
    assert replies(effects) == []
    heartbeats = sends(effects, m.Heartbeat)
    assert sorted(s.dst for s in heartbeats) == [2, 3]
    effects = leader.handle(Receive(2, m.HeartbeatReply(leader.proposer.ballot, heartbeats[0].msg.round, 0)))
    assert [r.result for r in replies(effects)] == [Ok(None)]


def test_6_4_1_a_lease_read_still_waits_for_the_writes_proposed_before_it():
    leader, sent = leader_with_lease()
    leader.handle(Submit(write(1, "x")))
    effects = leader.handle(Submit(lease_read()))
    assert replies(effects) == []  # slot 1 is not executed yet
    leader.handle(Receive(2, m.Accepted(leader.proposer.ballot, (1,))))
    effects = leader.handle(Receive(3, m.Accepted(leader.proposer.ballot, (1,))))
    assert [(r.request.command, r.result) for r in replies(effects)] == [(Set("k", "x"), Ok(True)), (Get("k"), Ok("x"))]


def test_paxos_mode_serves_lease_reads_by_read_index_and_grants_no_lease():
    leader = make(1, mode="paxos")
    elect(leader)
    round_ = leader.leadership.round
    for peer in (2, 3):
        leader.handle(Receive(peer, m.HeartbeatReply(leader.proposer.ballot, round_, 0)))
    effects = leader.handle(Submit(lease_read()))
    assert replies(effects) == [] and sends(effects, m.Heartbeat)
    follower = make(2, mode="paxos")
    follower.handle(Tick(50.0))
    follower.handle(Receive(1, m.Heartbeat((1, 1), 1, 0, (0, 0), 0, 1)))
    effects = follower.handle(Receive(3, m.Prepare((2, 3), 1)))
    assert [s.msg.ballot for s in sends(effects, m.Promise)] == [(2, 3)]



def test_pml_5_2_no_new_leader_serves_lease_reads_while_the_old_lease_may_run():
    """Three replicas by hand: leader 1's round is answered by 2 and 3 at t0; 1 is then
    cut off. Node 3's failure detector fires at once: it does not campaign while it
    honours the lease, and even if it did, 2 leaves its Prepare unanswered for an election
    timeout, so 3 cannot lead (nor serve a lease read) until after 1's lease has ended."""
    one, two, three = make(1), make(2), make(3)
    elect(one)
    t0 = one.proposer.now
    ballot, round_ = one.proposer.ballot, one.leadership.round
    for node in (two, three):
        node.handle(Tick(t0))
        assert sends(node.handle(Receive(1, m.Heartbeat(ballot, 1, 0, (0, 0), 0, round_))), m.HeartbeatReply)
        one.handle(Receive(node.node, m.HeartbeatReply(ballot, round_, 0)))
    lease_end = t0 + (TIMEOUT - TICK) * (1 - one.config.clock_drift)
    three.proposer.deadline = 0.0
    assert sends(three.handle(Tick(t0 + TICK)), m.Prepare) == []  # 3 honours the lease it granted
    three.acceptor.lease_heard_ms = float("-inf")  # suppose it did not: 2 still holds the line
    three.proposer.deadline = 0.0
    prepares = {s.dst: s.msg for s in sends(three.handle(Tick(t0 + 2 * TICK)), m.Prepare)}
    assert sorted(prepares) == [1, 2]
    for now in (t0 + 2 * TICK, lease_end, t0 + TIMEOUT - TICK):
        two.handle(Tick(now))
        assert sends(two.handle(Receive(3, prepares[2])), m.Promise) == []
        assert three.proposer.role != LEADER
        (refused,) = replies(three.handle(Submit(lease_read(seq=int(now)))))
        assert isinstance(refused.result, NotLeader)
    one.handle(Tick(lease_end - 1))
    assert one._lease_valid()
    one.handle(Tick(lease_end))
    assert not one._lease_valid()  # the old lease is over before 2 may promise anyone else
    two.handle(Tick(t0 + TIMEOUT))
    (promise,) = sends(two.handle(Receive(3, prepares[2])), m.Promise)
    three.handle(Receive(2, promise.msg))
    assert three.proposer.role == LEADER


def test_pml_5_2_answering_a_heartbeat_promises_its_ballot_on_disk_before_the_reply():
    """A node that never promised (it missed phase 1) may still extend a lease by its
    reply; the promise on disk is what tells it after a crash that it may have."""
    node = make(2)
    node.handle(Tick(50.0))
    effects = node.handle(Receive(1, m.Heartbeat((1, 1), 1, 0, (0, 0), 0, 1)))
    assert records(effects) == [PromiseRecord((1, 1), False)]
    (reply,) = sends(effects, m.HeartbeatReply)
    assert effects.index(persists(effects)[0]) < effects.index(reply)
    restarted = make(2, records=records(effects))
    assert restarted.handle(Receive(3, m.Prepare((2, 3), 1))) == []
