"""Definite refusal of a write that waited too long in the leader's queue (``fences.py``):
the fence takes the request's session slot in the chosen sequence, so the refusal stays
true whatever copy of the request turns up later (Raft thesis §6.3 sessions; Paxos Made
Simple §2.2 for how the fence is chosen)."""

from __future__ import annotations

from replikv.core import Get, Receive, Submit, Tick
from replikv.core.commands import Noop
from replikv.core.errors import BadRequest, Ok, Unavailable
from replikv.core.requests import Request
from replikv.kv import KVStateMachine
from replikv.protocols.paxos import messages as m

from .steps import elect, make, replies, sends, write


def choose(leader, effects) -> list:
    """Every peer accepts what ``effects`` proposed; the effects of their answers."""
    slots = tuple(v.slot for s in sends(effects, m.Accept) if s.dst == 2 for v in s.msg.values)
    out: list = []
    for peer in (2, 3):
        out += leader.handle(Receive(peer, m.Accepted(leader.proposer.ballot, slots)))
    return out


def next_ballot(leader, effects) -> list:
    """Every peer promises the Prepare in ``effects``; the effects of the promises."""
    (prepare, *_) = sends(effects, m.Prepare)
    out: list = []
    for peer in (2, 3):
        out += leader.handle(Receive(peer, m.Promise(prepare.msg.ballot, prepare.msg.from_slot, 0)))
    return out


def paxos_leader_with_a_queued_write(first: Request, second: Request):
    leader = make(1, mode="paxos", queue_timeout_ms=50.0)  # within the election timeout (100)
    elect(leader)
    now = leader.proposer.now
    proposed = leader.handle(Submit(first))
    assert sends(proposed, m.Accept)
    assert sends(leader.handle(Submit(second)), m.Accept) == []  # one write per ballot: it queues
    leader.handle(Tick(now + leader.config.queue_timeout_ms))
    assert leader.leadership.queue == [] and leader.leadership.fencing == [second]
    return leader, proposed


def test_a_write_that_waited_queue_timeout_is_refused_definitely_once_its_fence_is_chosen():
    first, second = write(1, "a", client=5), write(1, "b", client=6)
    leader, proposed = paxos_leader_with_a_queued_write(first, second)
    effects = choose(leader, proposed)
    assert [(r.request, r.result) for r in replies(effects)] == [(first, Ok(True))]
    effects = next_ballot(leader, effects)
    (accept, *_) = sends(effects, m.Accept)
    assert accept.msg.values == (m.Value(2, Request(6, 1, Noop())),)
    assert replies(effects) == []  # not before the fence is chosen and executed
    effects = choose(leader, effects)
    (reply,) = replies(effects)
    assert reply.request == second and isinstance(reply.result, Unavailable) and reply.result.definite
    # a late copy of the refused write is never applied: its session slot is taken
    effects = next_ballot(leader, leader.handle(Submit(second)))
    assert [v.request for s in sends(effects, m.Accept) if s.dst == 2 for v in s.msg.values] == [second]
    effects = choose(leader, effects)
    (late,) = replies(effects)
    assert late.request == second and isinstance(late.result, BadRequest) and late.result.definite
    assert leader.state_machine().read(Request(7, 1, Get("k"))) == Ok("a")


def test_a_fence_after_an_applied_copy_answers_with_that_copy_s_result():
    first, second = write(1, "a", client=5), write(1, "b", client=6)
    leader, proposed = paxos_leader_with_a_queued_write(first, second)
    # a copy of the queued write was chosen first (say, by a leader before us): slot 2
    leader.handle(Receive(2, m.Learn((m.Value(2, second),))))
    effects = choose(leader, proposed)
    effects = next_ballot(leader, effects)
    effects = choose(leader, effects)
    assert [(r.request, r.result) for r in replies(effects)] == [(second, Ok(True))]


def test_the_state_machine_answers_a_noop_under_a_session_with_a_definite_error():
    """What ``fences.py`` relies on: the fence's own result is a definite error, and a
    later copy of the request gets that cached answer instead of being applied."""
    sm = KVStateMachine()
    result = sm.apply(Request(6, 1, Noop()))
    assert isinstance(result, BadRequest) and result.definite
    assert sm.apply(write(1, "b", client=6)) == result
    assert sm.read(Request(7, 1, Get("k"))) == Ok(None)
