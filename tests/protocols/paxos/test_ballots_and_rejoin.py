"""Tier-1 step tests: ballots survive a restart (Paxos Made Live §4: a restarted proposer
never reuses a ballot, a restarted acceptor never forgets a promise), a stale leader
steps down on a Nack (Paxos Made Simple §2.5), and a node that lost its disk does not
promise until it has caught up (``rejoin.py``, PML §4)."""

from __future__ import annotations

import pytest

from replikv.core import Receive, Submit, Tick
from replikv.core.errors import NotLeader, Timeout
from replikv.core.replica import Recovery
from replikv.protocols.paxos import messages as m
from replikv.protocols.paxos.constants import FOLLOWER, LEADER, REJOINING
from replikv.protocols.paxos.records import ChosenRecord, PromiseRecord

from .steps import campaign, elect, make, persists, records, replies, sends, write


@pytest.mark.parametrize("mode", ["multipaxos", "paxos"])
def test_pml_4_a_restarted_proposer_never_reuses_a_ballot(mode):
    first = make(1, mode=mode)
    effects = campaign(first)
    used = first.proposer.ballot
    disk = records(effects)
    assert disk == [PromiseRecord(used, False)]
    restarted = make(1, mode=mode, records=disk, seed=1)
    assert restarted.acceptor.promised == used
    campaign(restarted)
    assert restarted.proposer.ballot > used
    assert restarted.proposer.ballot[0] > used[0]


def test_pml_4_a_restarted_acceptor_keeps_its_promise():
    acceptor = make(2)
    disk = records(acceptor.handle(Receive(3, m.Prepare((5, 3), 1))))
    restarted = make(2, records=disk)
    effects = restarted.handle(Receive(1, m.Prepare((4, 1), 1)))
    assert [s.msg for s in sends(effects)] == [m.Nack((4, 1), (5, 3))]
    effects = restarted.handle(Receive(1, m.Accept((4, 1), (m.Value(1, write(1, "x")),))))
    assert [s.msg for s in sends(effects)] == [m.Nack((4, 1), (5, 3))]
    assert persists(effects) == []


def test_2_5_a_stale_leader_steps_down_on_a_nack_and_answers_its_clients():
    leader = make(1)
    elect(leader)
    ballot = leader.proposer.ballot
    assert leader.proposer.role == LEADER
    proposed = write(1, "proposed")
    leader.handle(Submit(proposed))  # given slot 1, Accepts sent: it may still be chosen
    effects = leader.handle(Receive(2, m.Nack(ballot, (ballot[0] + 1, 3))))
    assert leader.proposer.role == FOLLOWER and leader.proposer.leader is None
    assert [(r.request, r.result) for r in replies(effects)] == [(proposed, Timeout())]
    # a write after stepping down is refused definitely (never proposed here)
    effects = leader.handle(Submit(write(2, "later")))
    assert [r.result for r in replies(effects)] == [NotLeader(None)]
    # the next ballot beats the one the Nack reported
    leader.handle(Tick(10_000.0))
    assert leader.proposer.ballot > (ballot[0] + 1, 3)


def test_2_5_a_lower_nack_does_not_depose_the_leader():
    leader = make(1)
    elect(leader)
    ballot = leader.proposer.ballot
    leader.handle(Receive(2, m.Nack((0, 2), ballot)))
    assert leader.proposer.role == LEADER


def test_rejoin_after_a_lost_disk_promises_nothing_until_caught_up():
    node = make(2, recovery=Recovery(lost=True))
    assert node.role == REJOINING
    # the flag is on disk: a crash while rejoining keeps the node out
    effects = node.handle(Tick(0.0))
    queries = sends(effects, m.RejoinQuery)
    assert sorted(s.dst for s in queries) == [1, 3]
    # neither promise nor accept nor heartbeat vote while rejoining
    assert sends(node.handle(Receive(1, m.Prepare((3, 1), 1))), m.Promise) == []
    effects = node.handle(Receive(1, m.Accept((3, 1), (m.Value(1, write(1, "a")),))))
    assert sends(effects, m.Accepted) == [] and persists(effects) == []
    # the floor: the highest ballot any peer promised
    node.handle(Receive(1, m.RejoinInfo((3, 1))))
    node.handle(Receive(3, m.RejoinInfo((3, 1))))
    assert node.rejoin.floor == (3, 1)
    # a leader at the floor heartbeats: its highest proposed slot (2) is the target
    effects = node.handle(Receive(1, m.Heartbeat((3, 1), 1, 2, (3, 1), 2, 1)))
    assert sends(effects, m.HeartbeatReply) == []
    assert [s.msg for s in sends(effects, m.CatchUp)] == [m.CatchUp(1)]
    assert node.role == REJOINING
    assert sends(node.handle(Receive(3, m.Prepare((4, 3), 1))), m.Promise) == []
    # caught up: the learned values, then the promise with the flag cleared, in that order
    learned = (m.Value(1, write(1, "a")), m.Value(2, write(2, "b")))
    effects = node.handle(Receive(1, m.Learn(learned)))
    assert records(effects) == [ChosenRecord(learned), PromiseRecord((3, 1), False)]
    assert node.role == FOLLOWER and node.chosen.executed == 2
    # and only now does it promise (once the lease it granted leader 1 ran out: lease.py)
    node.handle(Tick(node.config.election_timeout_ms))
    effects = node.handle(Receive(3, m.Prepare((4, 3), 3)))
    assert [s.msg.ballot for s in sends(effects, m.Promise)] == [(4, 3)]


def test_rejoin_waits_for_every_peer_before_fixing_the_floor():
    node = make(2, recovery=Recovery(lost=True))
    node.handle(Tick(0.0))
    node.handle(Receive(1, m.RejoinInfo((3, 1))))
    assert node.rejoin.floor is None
    # a leader below any ballot it could have promised does not let it in
    node.handle(Receive(1, m.Heartbeat((3, 1), 1, 0, (0, 0), 0, 1)))
    assert node.role == REJOINING and node.rejoin.target is None
    node.handle(Receive(3, m.RejoinInfo((7, 3))))
    assert node.rejoin.floor == (7, 3)
    effects = node.handle(Receive(1, m.Heartbeat((3, 1), 1, 0, (0, 0), 0, 2)))
    assert node.role == REJOINING and node.rejoin.target is None
    assert sends(effects, m.HeartbeatReply) == []
