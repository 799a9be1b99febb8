"""Tier-1 step tests of two-phase commit (Gray & Lamport 2006 §2; Bernstein et al. ch. 7;
presumed abort, Mohan et al. 1986): one replica, inputs in, effects checked in order."""

from __future__ import annotations

from replikv.core import Get, Receive, Request, Submit, Tick
from replikv.core.commands import GUARD_FAILED, Guard, Set, Txn
from replikv.core.errors import Aborted, Ok, Timeout, Unavailable
from replikv.protocols.twophase import messages as m
from replikv.protocols.twophase.constants import ABORTED, COMMITTED, LOCK_CONFLICT
from replikv.protocols.twophase.records import Decided, Prepared

from .steps import durable, make, persists, prepared, records, replies, sends, write

TXID = (1, 1, 1)


def test_coordinator_prepares_everyone_else_and_its_own_vote_needs_no_record():
    replica = make(1)
    effects = replica.handle(Submit(write(1, "v")))
    assert persists(effects) == []
    assert [(s.dst, s.msg) for s in sends(effects)] == [(2, m.Prepare(TXID, write(1, "v"))),
                                                        (3, m.Prepare(TXID, write(1, "v")))]
    assert replica.locks.keys == {"k": TXID}


def test_participant_persists_prepared_before_its_yes_vote():
    replica = make(2)
    effects = replica.handle(Receive(1, m.Prepare(TXID, write(1, "v"))))
    assert records(effects) == [Prepared(TXID, write(1, "v"))]
    (vote,) = sends(effects, m.VoteYes)
    assert effects.index(persists(effects)[0]) < effects.index(vote)
    assert replica.locks.keys == {"k": TXID}


def test_no_wait_a_prepare_that_finds_a_lock_votes_no_and_persists_nothing():
    replica = make(2)
    prepared(replica, TXID, write(1, "a"))
    effects = replica.handle(Receive(3, m.Prepare((3, 1, 1), write(1, "b", client=8))))
    assert persists(effects) == []
    assert [(s.dst, s.msg) for s in sends(effects)] == [(3, m.VoteNo((3, 1, 1), f"{LOCK_CONFLICT} on key 'k'"))]
    # the same PREPARE again gets the same answer, even once the lock is free
    replica.handle(Receive(1, m.Commit(TXID)))
    again = replica.handle(Receive(3, m.Prepare((3, 1, 1), write(1, "b", client=8))))
    assert [s.msg for s in sends(again)] == [m.VoteNo((3, 1, 1), "aborted")]


def test_one_transaction_per_client_in_doubt_so_every_node_applies_a_client_in_order():
    replica = make(2)
    prepared(replica, TXID, write(1, "a", key="x"))
    effects = replica.handle(Receive(3, m.Prepare((3, 1, 1), write(2, "b", key="y"))))
    assert [type(s.msg) for s in sends(effects)] == [m.VoteNo]


def test_all_yes_the_decision_is_durable_before_any_commit_leaves_then_apply_and_reply():
    replica = make(1)
    replica.handle(Submit(write(1, "v")))
    replica.handle(Receive(2, m.VoteYes(TXID)))
    effects = replica.handle(Receive(3, m.VoteYes(TXID)))
    assert records(effects) == [Decided(TXID, COMMITTED, write(1, "v"))]
    commits = sends(effects, m.Commit)
    assert sorted(s.dst for s in commits) == [2, 3]
    assert all(effects.index(persists(effects)[0]) < effects.index(c) for c in commits)
    assert replies(effects) == []  # nothing applied until the decision is durable
    after = durable(replica, effects)
    assert [r.result for r in replies(after)] == [Ok(True)]
    assert replica.state_machine().get("k") == "v" and replica.locks.keys == {}


def test_coordinator_forgets_after_every_ack_and_resends_commit_until_then():
    replica = make(1, retransmit_ms=50)
    replica.handle(Submit(write(1, "v")))
    replica.handle(Receive(2, m.VoteYes(TXID)))
    durable(replica, replica.handle(Receive(3, m.VoteYes(TXID))))
    replica.handle(Receive(2, m.Ack(TXID)))
    effects = replica.handle(Tick(60.0))
    assert [(s.dst, s.msg) for s in sends(effects)] == [(3, m.Commit(TXID))]
    replica.handle(Receive(3, m.Ack(TXID)))
    assert TXID not in replica.coordinating


def test_a_no_vote_aborts_with_nothing_persisted_and_tells_the_others():
    replica = make(1, request_timeout_ms=5.0)
    replica.handle(Submit(write(1, "v")))
    replica.handle(Receive(2, m.VoteYes(TXID)))
    effects = replica.handle(Receive(3, m.VoteNo(TXID, GUARD_FAILED)))
    assert persists(effects) == []
    assert [(s.dst, s.msg) for s in sends(effects)] == [(2, m.Abort(TXID))]
    assert [r.result for r in replies(effects)] == [Aborted(GUARD_FAILED)]
    assert replica.locks.keys == {} and replica.finished[TXID] == ABORTED


def test_a_lock_conflict_is_retried_under_a_new_transaction_id():
    replica = make(1, retry_ms=4.0)
    replica.handle(Submit(write(1, "v")))
    effects = replica.handle(Receive(2, m.VoteNo(TXID, f"{LOCK_CONFLICT} on key 'k'")))
    assert replies(effects) == []
    retry = replica.handle(Tick(100.0))
    assert {s.msg.txid for s in sends(retry, m.Prepare)} == {(1, 1, 2)}


def test_a_missing_vote_aborts_after_the_vote_timeout_n_of_n_and_a_participant_confirms_it():
    """The refusal is definite only once a participant made the abort durable: every
    node may have voted YES (node 3's vote only late), and a coordinator that lost its
    memory before any ABORT arrived would find them all in doubt and commit (rejoin.py;
    swarm seed 2pc 52162)."""
    replica = make(1, vote_timeout_ms=200.0, retransmit_ms=50.0)
    replica.handle(Submit(write(1, "v")))
    replica.handle(Receive(2, m.VoteYes(TXID)))
    resent = replica.handle(Tick(60.0))
    assert [(s.dst, s.msg) for s in sends(resent)] == [(3, m.Prepare(TXID, write(1, "v")))]
    effects = replica.handle(Tick(250.0))
    assert replies(effects) == [] and replica.locks.keys == {}
    assert [(s.dst, s.msg) for s in sends(effects)] == [(2, m.Abort(TXID, confirm=True)),
                                                        (3, m.Abort(TXID, confirm=True))]
    again = replica.handle(Tick(310.0))  # no Ack yet: asked again
    assert [(s.dst, s.msg) for s in sends(again)] == [(2, m.Abort(TXID, confirm=True)),
                                                      (3, m.Abort(TXID, confirm=True))]
    (reply,) = replies(replica.handle(Receive(2, m.AbortAck(TXID))))
    assert isinstance(reply.result, Unavailable) and "[3] did not vote" in reply.result.reason
    assert replies(replica.handle(Receive(3, m.AbortAck(TXID)))) == []  # answered once


def test_an_abort_nobody_confirms_by_the_deadline_is_answered_timeout():
    replica = make(1, vote_timeout_ms=200.0, retransmit_ms=50.0, request_timeout_ms=1000.0)
    replica.handle(Submit(write(1, "v")))
    assert replies(replica.handle(Tick(250.0))) == []
    assert replies(replica.handle(Tick(990.0))) == []
    assert [r.result for r in replies(replica.handle(Tick(1010.0)))] == [Timeout()]
    assert replica.unconfirmed == {} and replica.unconfirmed_requests == {}


def test_a_3pc_missing_vote_is_refused_at_once():
    """3PC's termination aborts when every node is uncertain: its refusal needs no wait."""
    replica = make(1, mode="3pc", vote_timeout_ms=200.0)
    replica.handle(Submit(write(1, "v")))
    effects = replica.handle(Tick(250.0))
    (reply,) = replies(effects)
    assert isinstance(reply.result, Unavailable)
    assert {s.msg for s in sends(effects)} == {m.Abort(TXID)}


def test_a_participant_persists_a_confirmed_abort_before_its_ack_voted_or_not():
    for voted in (True, False):
        replica = make(2)
        if voted:
            prepared(replica, TXID, write(1, "v"))
        effects = replica.handle(Receive(1, m.Abort(TXID, confirm=True)))
        assert Decided(TXID, ABORTED) in records(effects), voted
        (ack,) = sends(effects, m.AbortAck)
        assert effects.index(persists(effects)[-1]) < effects.index(ack)
        assert replica.locks.keys == {} and replica.finished[TXID] == ABORTED
        late = replica.handle(Receive(1, m.Prepare(TXID, write(1, "v"))))
        assert sends(late, m.VoteNo) and not sends(late, m.VoteYes)


def test_a_plain_abort_is_not_acknowledged():
    replica = make(2)
    prepared(replica, TXID, write(1, "v"))
    assert sends(replica.handle(Receive(1, m.Abort(TXID))), m.AbortAck) == []


def test_a_definite_refusal_sticks_a_later_copy_gets_the_same_answer():
    replica = make(1, vote_timeout_ms=200.0)
    replica.handle(Submit(write(1, "v")))
    assert replies(replica.handle(Tick(250.0))) == []
    during = replica.handle(Submit(write(1, "v")))  # waits with the first for the confirmation
    assert sends(during) == [] and replies(during) == []
    answered = replies(replica.handle(Receive(2, m.AbortAck(TXID))))
    first = answered[0].result
    assert [r.result for r in answered] == [first, first] and isinstance(first, Unavailable)
    effects = replica.handle(Submit(write(1, "v")))
    assert sends(effects) == [] and [r.result for r in replies(effects)] == [first]


def test_a_duplicate_copy_waits_for_the_same_transaction():
    replica = make(1)
    replica.handle(Submit(write(1, "v")))
    assert sends(replica.handle(Submit(write(1, "v")))) == []
    replica.handle(Receive(2, m.VoteYes(TXID)))
    effects = replica.handle(Receive(3, m.VoteYes(TXID)))
    assert len(replies(durable(replica, effects))) == 2


def test_a_guard_that_does_not_hold_aborts_at_the_coordinator_with_no_message():
    replica = make(1)
    txn = Txn((Set("k", "v"),), guards=(Guard("k", "old"),))
    effects = replica.handle(Submit(Request(9, 1, txn)))
    assert sends(effects) == [] and [r.result for r in replies(effects)] == [Aborted(GUARD_FAILED)]


def test_duplicated_and_late_messages_change_no_decision():
    replica = make(2)
    prepared(replica, TXID, write(1, "v"))
    effects = replica.handle(Receive(1, m.Commit(TXID)))
    assert records(effects) == [Decided(TXID, COMMITTED)]
    durable(replica, effects)
    again = replica.handle(Receive(1, m.Commit(TXID)))
    assert [s.msg for s in sends(again)] == [m.Ack(TXID)] and persists(again) == []
    assert sends(replica.handle(Receive(1, m.Prepare(TXID, write(1, "v"))))) == [
        sends(again)[0]]  # a late PREPARE: the ack again, no new vote
    replica.handle(Receive(1, m.Abort(TXID)))
    assert replica.finished[TXID] == COMMITTED and replica.decision_conflicts == 1
    assert replica.state_machine().get("k") == "v" and replica.applied == 1


def test_presumed_abort_a_coordinator_with_no_record_answers_aborted():
    replica = make(1)
    effects = replica.handle(Receive(2, m.StateQuery((1, 0, 7))))
    assert persists(effects) == []
    assert [s.msg for s in sends(effects)] == [m.StateReport((1, 0, 7), ABORTED, presumed=True)]


def test_cooperative_termination_a_node_that_never_voted_aborts_durably_before_saying_so():
    replica = make(3)
    effects = replica.handle(Receive(2, m.StateQuery((1, 1, 5))))
    assert records(effects) == [Decided((1, 1, 5), ABORTED)]
    (report,) = sends(effects)
    assert report.msg == m.StateReport((1, 1, 5), ABORTED)
    assert effects.index(persists(effects)[0]) < effects.index(report)
    # its PREPARE, arriving late, is refused
    assert [type(s.msg) for s in sends(replica.handle(Receive(1, m.Prepare((1, 1, 5), write(1, "v")))))] == [
        m.VoteNo]


def test_2pc_a_participant_in_doubt_asks_and_blocks_while_everyone_is_uncertain():
    replica = make(2, query_ms=100.0)
    prepared(replica, TXID, write(1, "v"))
    effects = replica.handle(Tick(150.0))
    assert sorted((s.dst, s.msg) for s in sends(effects)) == [(1, m.StateQuery(TXID)), (3, m.StateQuery(TXID))]
    replica.handle(Receive(3, m.StateReport(TXID, "uncertain")))
    assert TXID in replica.in_doubt and replica.locks.keys == {"k": TXID}
    replica.handle(Tick(1000.0))
    assert TXID in replica.in_doubt  # 2PC never decides alone
    replica.handle(Receive(1, m.StateReport(TXID, ABORTED, presumed=True)))
    assert TXID not in replica.in_doubt and replica.locks.keys == {}


def test_linearizable_reads_wait_for_the_locks_local_reads_do_not():
    replica = make(2)
    prepared(replica, TXID, write(1, "v"))
    assert replies(replica.handle(Submit(Request(5, 1, Get("k"))))) == []
    local = replica.handle(Submit(Request(6, 1, Get("k"), read_level="local")))
    assert [r.result for r in replies(local)] == [Ok(None)]
    # a waiting read makes new prepares of its key wait their turn (NO), so it is not starved
    assert [type(s.msg) for s in sends(replica.handle(Receive(3, m.Prepare((3, 1, 1), write(1, "w", client=4)))))] \
        == [m.VoteNo]
    effects = replica.handle(Receive(1, m.Commit(TXID)))
    assert [r.result for r in replies(effects)] == [Ok("v")]


def test_a_read_still_blocked_after_the_request_timeout_is_refused_definitely():
    replica = make(2, request_timeout_ms=300.0)
    prepared(replica, TXID, write(1, "v"))
    replica.handle(Tick(10.0))
    replica.handle(Submit(Request(5, 1, Get("k"))))
    (reply,) = replies(replica.handle(Tick(400.0)))
    assert isinstance(reply.result, Unavailable) and reply.result.definite


def test_a_copy_arriving_after_its_request_committed_gets_the_same_answer_not_a_new_transaction():
    """Regression (2pc dup-reorder-crash seeds 86 and 191, 3pc seed 163): a duplicated
    client request arrived after its first copy committed; the coordinator ran it again as
    a new transaction, which aborted on the first copy's locks, and the definite
    ``Aborted`` overtook the delayed ``Ok`` on the way to the client: a committed write
    reported as definitely not applied."""
    replica = make(1)
    replica.handle(Submit(write(1, "v")))
    replica.handle(Receive(2, m.VoteYes(TXID)))
    committed = durable(replica, replica.handle(Receive(3, m.VoteYes(TXID))))
    assert [r.result for r in replies(committed)] == [Ok(True)]
    effects = replica.handle(Submit(write(1, "v")))
    assert sends(effects) == [] and [r.result for r in replies(effects)] == [Ok(True)]
