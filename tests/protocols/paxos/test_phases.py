"""Tier-1 step tests of the two Synod phases (Paxos Made Simple §2.2), P2c and no-op
holes (§3): one replica, inputs in, effects checked in order."""

from __future__ import annotations

import pytest

from replikv.core import Commit, Get, Persist, Persisted, Receive, Request, Submit
from replikv.core.errors import Ok
from replikv.protocols.paxos import messages as m
from replikv.protocols.paxos.constants import LEADER, NOOP
from replikv.protocols.paxos.records import AcceptRecord, PromiseRecord

from .steps import campaign, elect, make, persists, position, records, replies, sends, write


@pytest.mark.parametrize("mode", ["multipaxos", "paxos"])
def test_2_2_proposer_persists_its_ballot_before_the_prepare_leaves(mode):
    replica = make(1, mode=mode)
    effects = campaign(replica)
    ballot = replica.proposer.ballot
    assert ballot == (1, 1)
    assert records(effects) == [PromiseRecord(ballot, False)]
    barrier = position(effects, lambda e: isinstance(e, Persist))
    prepares = sends(effects, m.Prepare)
    assert sorted(s.dst for s in prepares) == [2, 3]
    assert all(effects.index(s) > barrier for s in prepares), effects


def test_2_2_acceptor_persists_the_promise_before_the_promise_leaves():
    replica = make(2)
    effects = replica.handle(Receive(1, m.Prepare((4, 1), 1)))
    assert records(effects) == [PromiseRecord((4, 1), False)]
    promise = sends(effects, m.Promise)
    assert [(s.dst, s.msg.ballot) for s in promise] == [(1, (4, 1))]
    assert effects.index(persists(effects)[0]) < effects.index(promise[0])
    assert replica.acceptor.promised == (4, 1)


def test_2_2_a_lower_ballot_is_refused_with_a_nack_and_nothing_persisted():
    replica = make(2)
    replica.handle(Receive(1, m.Prepare((4, 1), 1)))
    effects = replica.handle(Receive(3, m.Prepare((3, 3), 1)))
    assert persists(effects) == []
    assert [(s.dst, s.msg) for s in sends(effects)] == [(3, m.Nack((3, 3), (4, 1)))]
    effects = replica.handle(Receive(3, m.Accept((3, 3), (m.Value(1, write(1, "x")),))))
    assert persists(effects) == []
    assert [(s.dst, s.msg) for s in sends(effects)] == [(3, m.Nack((3, 3), (4, 1)))]
    assert replica.acceptor.accepted == {}


def test_2_2_promise_reports_the_values_accepted_at_the_slots_asked_for():
    replica = make(2)
    replica.handle(Receive(1, m.Accept((1, 1), (m.Value(1, write(1, "a")), m.Value(2, write(2, "b"))))))
    effects = replica.handle(Receive(3, m.Prepare((2, 3), 2)))
    (promise,) = sends(effects, m.Promise)
    assert promise.msg.accepted == (m.Proposal(2, (1, 1), write(2, "b")),)


def test_2_2_acceptor_persists_the_accepted_value_before_accepted_leaves():
    replica = make(2)
    value = m.Value(1, write(1, "x"))
    effects = replica.handle(Receive(1, m.Accept((1, 1), (value,))))
    assert records(effects) == [PromiseRecord((1, 1), False), AcceptRecord((m.Proposal(1, (1, 1), value.request),))]
    (accepted,) = sends(effects, m.Accepted)
    assert accepted.dst == 1 and accepted.msg == m.Accepted((1, 1), (1,))
    assert effects.index(persists(effects)[-1]) < effects.index(accepted)


def test_2_2_leader_sends_accepts_and_counts_itself_only_once_durable():
    replica = make(1)
    elect(replica)
    assert replica.proposer.role == LEADER
    effects = replica.handle(Submit(write(1, "x")))
    accepts = sends(effects, m.Accept)
    assert sorted(s.dst for s in accepts) == [2, 3]
    assert all(s.msg.values == (m.Value(1, write(1, "x")),) for s in accepts)
    (persist,) = persists(effects)
    assert persist.records == (AcceptRecord((m.Proposal(1, replica.proposer.ballot, write(1, "x")),)),)
    # one peer's Accepted is not a majority of three until our own accept is durable
    effects = replica.handle(Receive(2, m.Accepted(replica.proposer.ballot, (1,))))
    assert 1 not in replica.chosen and replies(effects) == []
    effects = replica.handle(Persisted(persist.seq))
    assert 1 in replica.chosen and replica.chosen.executed == 1
    assert [(r.request, r.result) for r in replies(effects)] == [(write(1, "x"), Ok(True))]
    assert replica.state_machine().read(Request(9, 2, Get("k"))) == Ok("x")


def _promise(ballot, node_accepted=(), base=0):
    return m.Promise(ballot, 1, base, tuple(node_accepted))


def test_2_2_p2c_the_value_with_the_highest_accepted_ballot_is_proposed_again():
    """Five acceptors; the promises of 2 and 3 report slot 1 accepted under ballots (1, 4)
    and (2, 5) with different values: the new leader proposes (2, 5)'s value (P2c)."""
    replica = make(1, members=(1, 2, 3, 4, 5))
    effects = campaign(replica)
    ballot = replica.proposer.ballot
    older, newer = write(1, "old"), write(2, "new")
    replica.handle(Receive(2, _promise(ballot, (m.Proposal(1, (1, 4), older),))))
    effects = replica.handle(Receive(3, _promise(ballot, (m.Proposal(1, (2, 5), newer),))))
    assert replica.proposer.role == LEADER
    accepts = sends(effects, m.Accept)
    assert sorted(s.dst for s in accepts) == [2, 3, 4, 5]
    assert {s.msg.values for s in accepts} == {(m.Value(1, newer),)}
    assert all(s.msg.ballot == ballot for s in accepts)
    assert records(effects) == [AcceptRecord((m.Proposal(1, ballot, newer),))]


def test_3_holes_below_the_highest_reported_slot_are_filled_with_noops():
    """A promise reports slot 3 accepted; nobody reports slots 1 and 2: they are holes,
    proposed as no-ops, and slot 3 keeps its value."""
    replica = make(1)
    campaign(replica)
    ballot = replica.proposer.ballot
    value = write(3, "third")
    effects = replica.handle(Receive(2, _promise(ballot, (m.Proposal(3, (1, 2), value),))))
    (accept, *_) = sends(effects, m.Accept)
    assert accept.msg.values == (m.Value(1, NOOP), m.Value(2, NOOP), m.Value(3, value))
    assert replica.leadership.next_slot == 4


def test_3_no_slot_runs_before_every_slot_below_it_is_chosen():
    replica = make(2)
    later = write(2, "second")
    replica.handle(Receive(1, m.Accept((1, 1), (m.Value(2, later),))))
    # the leader says slots 1..2 are chosen under ballot (1, 1): we hold slot 2's value,
    # not slot 1's, so nothing runs and we ask for slot 1
    effects = replica.handle(Receive(1, m.Heartbeat((1, 1), 1, 2, (1, 1), 2, 1)))
    assert 2 in replica.chosen and replica.chosen.executed == 0
    assert [s.msg for s in sends(effects, m.CatchUp)] == [m.CatchUp(1)]
    effects = replica.handle(Receive(1, m.Learn((m.Value(1, write(1, "first")),))))
    assert replica.chosen.executed == 2
    assert [c.index for c in effects if isinstance(c, Commit)] == [1, 2]
    assert replica.state_machine().read(Request(9, 3, Get("k"))) == Ok("second")
