"""Membership change (``membership.py``): a change chosen in a slot is in force from the
next slot (Paxos Made Simple §3, α = 1), one server at a time; step tests."""

from __future__ import annotations

from replikv.core import Receive, Submit, Tick
from replikv.core.commands import AddServer, RemoveServer
from replikv.core.errors import BadRequest, Ok, Unavailable
from replikv.core.requests import Request
from replikv.protocols.paxos import messages as m
from replikv.protocols.paxos.constants import FOLLOWER, LEADER, NOOP

from .steps import campaign, elect, make, replies, sends, write

OPERATOR = 1_000_000


def admin(seq: int, command) -> Request:
    return Request(OPERATOR, seq, command)


def accept_all(leader, effects, peers=(2, 3)) -> list:
    """``peers`` accept every slot ``effects`` proposed; the effects of their answers."""
    out: list = []
    for peer in peers:
        slots = tuple(v.slot for s in sends(effects, m.Accept) if s.dst == peer for v in s.msg.values)
        if slots:
            out += leader.handle(Receive(peer, m.Accepted(leader.proposer.ballot, slots)))
    return out


def test_3_a_change_takes_its_own_slot_stalls_later_writes_and_a_new_phase_1_follows():
    leader = make(1)
    elect(leader)
    effects = leader.handle(Submit(admin(1, AddServer(4))))
    (accept, *_) = sends(effects, m.Accept)
    assert accept.msg.values == (m.Value(1, admin(1, AddServer(4))),)
    assert sorted(s.dst for s in sends(effects, m.Accept)) == [2, 3]  # the old configuration
    # α = 1: a write that arrives now waits until the change is executed
    assert sends(leader.handle(Submit(write(1, "x"))), m.Accept) == []
    # the joining node is sent heartbeats, so it learns the frontier and catches up
    heartbeat = leader.handle(Tick(leader.proposer.now + leader.config.heartbeat_ms))
    assert 4 in {s.dst for s in sends(heartbeat, m.Heartbeat)}
    effects = accept_all(leader, effects)
    assert [(r.request, r.result) for r in replies(effects)] == [(admin(1, AddServer(4)), Ok(None))]
    assert leader.members == (1, 2, 3, 4)
    # a new configuration, a new phase 1, under a majority of it
    prepares = sends(effects, m.Prepare)
    assert sorted(s.dst for s in prepares) == [2, 3, 4] and prepares[0].msg.from_slot == 2
    assert sends(effects, m.Accept) == []
    ballot = prepares[0].msg.ballot
    effects = leader.handle(Receive(2, m.Promise(ballot, 2, 0)))
    assert sends(effects, m.Accept) == []  # 2 of 4 is no majority
    effects = leader.handle(Receive(4, m.Promise(ballot, 2, 0)))
    assert [v for s in sends(effects, m.Accept) if s.dst == 4 for v in s.msg.values] == [m.Value(2, write(1, "x"))]


def test_3_phase_1_applies_p2c_up_to_the_first_change_it_finds_and_no_further():
    leader = make(1)
    campaign(leader)
    ballot = leader.proposer.ballot
    found = m.Promise(ballot, 1, 0, accepted=(
        m.Proposal(1, (0, 2), write(1, "a")),
        m.Proposal(3, (0, 2), admin(1, AddServer(4))),
        m.Proposal(5, (0, 2), write(2, "c")),  # proposed under the next configuration
    ))
    effects = leader.handle(Receive(2, found))
    assert leader.proposer.role == LEADER
    values = [v for s in sends(effects, m.Accept) if s.dst == 2 for v in s.msg.values]
    assert values == [m.Value(1, write(1, "a")), m.Value(2, NOOP), m.Value(3, admin(1, AddServer(4)))]
    assert leader.leadership.next_slot == 4 and leader.leadership.change_slot == 3
    # nothing above the change until it is executed
    assert sends(leader.handle(Submit(write(1, "z", client=8))), m.Accept) == []


def test_3_one_change_at_a_time_and_no_learners():
    leader = make(1)
    elect(leader)
    leader.handle(Submit(admin(1, AddServer(4))))
    (reply,) = replies(leader.handle(Submit(admin(2, RemoveServer(3)))))
    assert isinstance(reply.result, Unavailable) and reply.result.definite
    (reply,) = replies(leader.handle(Submit(admin(3, AddServer(5, learner=True)))))
    assert isinstance(reply.result, BadRequest)
    (reply,) = replies(leader.handle(Submit(admin(4, AddServer(2)))))
    assert reply.result == Ok(None)  # already a member: nothing to do


def test_3_a_leader_that_removed_itself_steps_down_once_the_change_executes():
    leader = make(1)
    elect(leader)
    effects = leader.handle(Submit(admin(1, RemoveServer(1))))
    assert leader.proposer.role == LEADER
    effects = accept_all(leader, effects)
    assert leader.members == (2, 3)
    assert leader.proposer.role == FOLLOWER
    # and, outside its configuration, it never campaigns again
    leader.proposer.deadline = 0.0
    assert sends(leader.handle(Tick(leader.proposer.now + 1000)), m.Prepare) == []


def test_3_a_member_answers_a_removed_node_s_prepare_with_the_chosen_values_not_a_promise():
    node = make(2, members=(2, 3))  # node 1 was removed
    node.handle(Receive(3, m.Learn((m.Value(1, admin(1, RemoveServer(1))),))))
    effects = node.handle(Receive(1, m.Prepare((9, 1), 1)))
    assert sends(effects, m.Promise) == [] and node.acceptor.promised == (0, 0)
    assert [s.msg for s in sends(effects, m.Learn)] == [m.Learn((m.Value(1, admin(1, RemoveServer(1))),))]
