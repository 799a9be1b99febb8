"""Three-phase commit (Skeen 1981; Bernstein et al. §7.5): PRECOMMIT between the votes and
the commit, and the termination protocol run by the lowest surviving node."""

from __future__ import annotations

from replikv.core import Receive, Submit, Tick
from replikv.protocols.twophase import messages as m
from replikv.protocols.twophase.constants import (
    ABORTED,
    COMMITTED,
    PENDING,
    PRECOMMITTED,
    UNCERTAIN,
    UNKNOWN,
)
from replikv.protocols.twophase.records import Boot, Decided

from .steps import create, durable, make, persists, prepared, records, sends, write

TXID = (1, 1, 1)


def test_all_yes_the_coordinator_persists_precommitted_then_sends_precommit():
    replica = make(1, mode="3pc")
    replica.handle(Submit(write(1, "v")))
    replica.handle(Receive(2, m.VoteYes(TXID)))
    effects = replica.handle(Receive(3, m.VoteYes(TXID)))
    assert records(effects) == [Decided(TXID, PRECOMMITTED, write(1, "v"))]
    assert [s.dst for s in sends(effects, m.PreCommit)] == [2, 3]
    assert sends(effects, m.Commit) == []
    durable(replica, effects)
    replica.handle(Receive(2, m.PreCommitAck(TXID)))
    commit = replica.handle(Receive(3, m.PreCommitAck(TXID)))
    assert records(commit) == [Decided(TXID, COMMITTED, write(1, "v"))]
    assert [s.dst for s in sends(commit, m.Commit)] == [2, 3]


def test_participant_persists_precommitted_before_acknowledging():
    replica = make(2, mode="3pc")
    prepared(replica, TXID, write(1, "v"))
    effects = replica.handle(Receive(1, m.PreCommit(TXID)))
    assert records(effects) == [Decided(TXID, PRECOMMITTED)]
    (ack,) = sends(effects, m.PreCommitAck)
    assert effects.index(persists(effects)[0]) < effects.index(ack)


def test_a_missing_precommit_ack_is_resent_never_taken_as_a_failure():
    """Regression (swarm 3pc seed 25: a slow node, a pause): Skeen's coordinator commits
    when a PRECOMMIT ack times out, but the silent node may be alive and may have aborted
    with the others' termination protocol; the coordinator resends instead."""
    replica = make(1, mode="3pc", vote_timeout_ms=200.0, retransmit_ms=50.0)
    replica.handle(Submit(write(1, "v")))
    replica.handle(Receive(2, m.VoteYes(TXID)))
    durable(replica, replica.handle(Receive(3, m.VoteYes(TXID))))
    replica.handle(Receive(2, m.PreCommitAck(TXID)))
    effects = replica.handle(Tick(250.0))
    assert records(effects) == []
    assert [(s.dst, s.msg) for s in sends(effects)] == [(3, m.PreCommit(TXID))]


def test_a_node_that_aborted_answers_a_late_precommit_with_abort_and_the_coordinator_follows():
    participant = make(3, mode="3pc", query_ms=100.0, termination_ms=40.0)
    prepared(participant, TXID, write(1, "v"))
    _round(participant, {2: UNCERTAIN})  # node 3 is not the lowest: nothing yet
    participant.handle(Receive(2, m.Abort(TXID)))
    answer = participant.handle(Receive(1, m.PreCommit(TXID)))
    assert [(s.dst, s.msg) for s in sends(answer)] == [(1, m.Abort(TXID))]
    coordinator = make(1, mode="3pc")
    coordinator.handle(Submit(write(1, "v")))
    coordinator.handle(Receive(2, m.VoteYes(TXID)))
    durable(coordinator, coordinator.handle(Receive(3, m.VoteYes(TXID))))
    effects = coordinator.handle(Receive(3, m.Abort(TXID)))
    assert records(effects) == [Decided(TXID, ABORTED)]
    assert coordinator.finished[TXID] == ABORTED and coordinator.locks.keys == {}


def _round(replica, reports: dict[int, str], query_ms=100.0, termination_ms=40.0):
    replica.handle(Tick(10.0))
    replica.handle(Tick(10.0 + query_ms + 5))
    for src, state in reports.items():
        replica.handle(Receive(src, m.StateReport(TXID, state)))
    return replica.handle(Tick(10.0 + query_ms + 5 + termination_ms + 5))


def test_termination_all_uncertain_survivors_abort():
    replica = make(2, mode="3pc", query_ms=100.0, termination_ms=40.0)
    prepared(replica, TXID, write(1, "v"))
    effects = _round(replica, {3: UNCERTAIN})
    assert records(effects) == [Decided(TXID, ABORTED)]
    assert [(s.dst, s.msg) for s in sends(effects)] == [(1, m.Abort(TXID)), (3, m.Abort(TXID))]
    assert effects.index(persists(effects)[0]) < effects.index(sends(effects)[0])


def test_termination_someone_precommitted_precommit_the_uncertain_then_commit():
    replica = make(2, mode="3pc", query_ms=100.0, termination_ms=40.0)
    prepared(replica, TXID, write(1, "v"))
    replica.handle(Receive(1, m.PreCommit(TXID)))
    effects = _round(replica, {3: UNCERTAIN})
    assert [(s.dst, s.msg) for s in sends(effects)] == [(3, m.PreCommit(TXID))]
    done = replica.handle(Receive(3, m.PreCommitAck(TXID)))
    assert records(done) == [Decided(TXID, COMMITTED)]
    assert [(s.dst, s.msg) for s in sends(done)] == [(1, m.Commit(TXID)), (3, m.Commit(TXID))]


def test_a_terminator_resends_precommit_to_the_uncertain_and_never_commits_without_its_ack():
    """Regression (swarm 3pc seed 5193, N=3, no partition): the terminator's PRECOMMIT to
    the uncertain node was lost; it committed after ``termination_ms`` without the ack and
    crashed, and the uncertain node, alone, aborted. It resends instead, as the
    coordinator does."""
    replica = make(2, mode="3pc", query_ms=100.0, termination_ms=40.0, retransmit_ms=20.0)
    prepared(replica, TXID, write(1, "v"))
    replica.handle(Receive(1, m.PreCommit(TXID)))
    effects = _round(replica, {3: UNCERTAIN})  # the round ends at t=160
    assert [(s.dst, s.msg) for s in sends(effects)] == [(3, m.PreCommit(TXID))]
    later = replica.handle(Tick(205.0))  # past termination_ms since the PRECOMMIT left
    assert records(later) == [] and sends(later, m.Commit) == []
    assert [(s.dst, s.msg) for s in sends(later)] == [(3, m.PreCommit(TXID))]
    assert TXID in replica.in_doubt
    done = replica.handle(Receive(3, m.PreCommitAck(TXID)))
    assert records(done) == [Decided(TXID, COMMITTED)]


def test_a_prepare_resent_by_the_coordinator_in_a_round_counts_as_its_pending_report():
    """Regression (swarm 3pc seed 930021, N=3, 14% loss and a long tail, no cut-off window
    around the transaction): node 1's report and PRECOMMITs to a node in its round were
    all lost or late, but the coordinator's resent PREPARE reached it; the node took the
    coordinator for failed and aborted while another node, which had heard it
    precommitted, committed. The PREPARE shows the coordinator up and collecting votes,
    as a report saying "pending" would: the node waits."""
    replica = make(2, mode="3pc", query_ms=100.0, termination_ms=40.0)
    request = write(1, "v")
    prepared(replica, TXID, request)
    replica.handle(Tick(10.0))
    replica.handle(Tick(115.0))  # the round opens
    again = replica.handle(Receive(1, m.Prepare(TXID, request)))
    assert [(s.dst, s.msg) for s in sends(again)] == [(1, m.VoteYes(TXID))]
    replica.handle(Receive(3, m.StateReport(TXID, UNCERTAIN)))
    effects = replica.handle(Tick(160.0))  # the round ends: all uncertain, but node 1 is up
    assert persists(effects) == [] and sends(effects, m.Abort) == []
    assert TXID in replica.in_doubt


def test_a_late_pending_does_not_undo_a_precommitted_heard_from_the_coordinator():
    replica = make(2, mode="3pc", query_ms=100.0, termination_ms=40.0)
    request = write(1, "v")
    prepared(replica, TXID, request)
    replica.handle(Tick(10.0))
    replica.handle(Tick(115.0))
    replica.handle(Receive(1, m.StateReport(TXID, PRECOMMITTED)))
    replica.handle(Receive(1, m.Prepare(TXID, request)))  # an old copy, late
    replica.handle(Receive(3, m.StateReport(TXID, UNCERTAIN)))
    effects = replica.handle(Tick(160.0))
    assert records(effects) == [Decided(TXID, PRECOMMITTED)]
    assert [(s.dst, s.msg) for s in sends(effects)] == [(3, m.PreCommit(TXID))]


def test_termination_only_the_lowest_survivor_decides():
    replica = make(3, mode="3pc", query_ms=100.0, termination_ms=40.0)
    prepared(replica, TXID, write(1, "v"))
    effects = _round(replica, {2: UNCERTAIN})
    assert persists(effects) == [] and sends(effects, m.Abort) == []
    assert TXID in replica.in_doubt


def test_termination_waits_while_the_coordinator_answers_pending():
    replica = make(2, mode="3pc", query_ms=100.0, termination_ms=40.0)
    prepared(replica, TXID, write(1, "v"))
    effects = _round(replica, {1: PENDING, 3: UNCERTAIN})
    assert persists(effects) == [] and TXID in replica.in_doubt


def test_halfway_through_a_round_the_peers_not_heard_are_asked_once_more():
    """Swarm seed 930334 (N=3): node 2's query to node 1, node 1's query to it and node
    3's report to it were all lost within one round, and node 2 took two live nodes for
    failed and aborted alone while node 1 committed. A node not heard within the round is
    failed to Skeen's protocol, so one lost message must not decide it: halfway through,
    the peers not heard yet are asked again, once."""
    replica = make(2, mode="3pc", query_ms=100.0, termination_ms=40.0)
    prepared(replica, TXID, write(1, "v"))
    replica.handle(Tick(10.0))
    opened = sends(replica.handle(Tick(115.0)), m.StateQuery)
    assert [s.dst for s in opened] == [1, 3]
    replica.handle(Receive(3, m.StateReport(TXID, UNCERTAIN)))
    assert sends(replica.handle(Tick(130.0)), m.StateQuery) == []  # not halfway yet
    again = sends(replica.handle(Tick(136.0)), m.StateQuery)
    assert [(s.dst, s.msg) for s in again] == [(1, m.StateQuery(TXID, UNCERTAIN))]
    assert sends(replica.handle(Tick(150.0)), m.StateQuery) == []  # once per round
    replica.handle(Receive(1, m.StateReport(TXID, PRECOMMITTED)))
    effects = replica.handle(Tick(160.0))
    assert [(s.dst, s.msg) for s in sends(effects)] == [(3, m.PreCommit(TXID))], "node 1 was heard"


def test_a_2pc_round_asks_nobody_again_within_it():
    replica = make(1, mode="2pc", query_ms=100.0)
    replica.handle(Submit(write(1, "v")))
    replica.handle(Receive(2, m.VoteYes(TXID)))
    replica.handle(Receive(3, m.VoteYes(TXID)))
    replica.handle(Tick(10.0))
    replica.handle(Tick(115.0))
    assert sends(replica.handle(Tick(150.0)), m.StateQuery) == []


FIVE = (1, 2, 3, 4, 5)


def _in_doubt_of_five(node: int, precommitted: bool = False):
    replica = make(node, members=FIVE, mode="3pc", query_ms=100.0, termination_ms=40.0)
    prepared(replica, TXID, write(1, "v"))
    if precommitted:
        replica.handle(Receive(1, m.PreCommit(TXID)))
    return replica


def _round_open_of_five(node: int, precommitted: bool = False):
    """A node of five in doubt long enough to have opened its termination round."""
    replica = _in_doubt_of_five(node, precommitted)
    replica.handle(Tick(10.0))
    replica.handle(Tick(115.0))
    return replica


def test_a_3pc_query_says_the_askers_own_state():
    replica = _in_doubt_of_five(3)
    replica.handle(Tick(10.0))
    queries = sends(replica.handle(Tick(115.0)), m.StateQuery)
    assert [s.dst for s in queries] == [1, 2, 4, 5]
    assert {s.msg for s in queries} == {m.StateQuery(TXID, UNCERTAIN)}


def test_a_query_heard_during_the_round_stands_for_the_askers_report():
    """Swarm seed 940115 (N=5), node 4: node 3's report to it was lost, node 3's own query
    for the transaction arrived 4 ms into node 4's round; node 4 took node 3 for failed,
    elected itself (node 5 had said precommitted) and committed, while node 3, the lowest
    survivor, aborted. A query shows its asker alive, in doubt, in the state it says."""
    replica = _round_open_of_five(4)
    replica.handle(Receive(3, m.StateQuery(TXID, UNCERTAIN)))
    replica.handle(Receive(5, m.StateReport(TXID, PRECOMMITTED)))
    effects = replica.handle(Tick(160.0))
    assert persists(effects) == [] and sends(effects, m.PreCommit) == [] and sends(effects, m.Commit) == []
    assert TXID in replica.in_doubt


def test_a_precommitted_state_heard_in_a_query_is_terminated_by_commit():
    """Swarm seed 940115 (N=5), node 3: node 5's report was lost, its query (saying
    precommitted) arrived in node 3's round; node 3 heard only uncertain reports and
    aborted. Now it precommits the uncertain and commits, as Skeen's rule says."""
    replica = _round_open_of_five(3)
    replica.handle(Receive(4, m.StateReport(TXID, UNCERTAIN)))
    replica.handle(Receive(5, m.StateQuery(TXID, PRECOMMITTED)))
    effects = replica.handle(Tick(160.0))
    assert records(effects) == [Decided(TXID, PRECOMMITTED)]
    assert [(s.dst, s.msg) for s in sends(effects)] == [(4, m.PreCommit(TXID))]


def test_a_query_from_a_node_back_in_doubt_makes_it_no_candidate():
    replica = _round_open_of_five(3)
    replica.handle(Receive(2, m.StateQuery(TXID, UNCERTAIN, recovered=True)))
    replica.handle(Receive(4, m.StateReport(TXID, UNCERTAIN)))
    replica.handle(Receive(5, m.StateReport(TXID, UNCERTAIN)))
    effects = replica.handle(Tick(160.0))
    assert records(effects) == [Decided(TXID, ABORTED)]


def test_a_late_uncertain_does_not_undo_a_precommitted_heard_from_the_same_node():
    """A node in doubt only moves from uncertain to precommitted: an older report that
    arrives after its newer query says less than the round already knows."""
    replica = _round_open_of_five(2)
    replica.handle(Receive(3, m.StateQuery(TXID, PRECOMMITTED)))
    replica.handle(Receive(3, m.StateReport(TXID, UNCERTAIN)))
    effects = replica.handle(Tick(160.0))
    assert records(effects) == [Decided(TXID, PRECOMMITTED), Decided(TXID, COMMITTED)]


def test_under_a_partition_each_side_decides_alone_and_differently():
    """The chapter's point, in two replicas: node 2 precommitted hears nobody and commits;
    node 3 uncertain hears nobody and aborts."""
    precommitted = make(2, mode="3pc", query_ms=100.0, termination_ms=40.0)
    prepared(precommitted, TXID, write(1, "v"))
    precommitted.handle(Receive(1, m.PreCommit(TXID)))
    uncertain = make(3, mode="3pc", query_ms=100.0, termination_ms=40.0)
    prepared(uncertain, TXID, write(1, "v"))
    assert Decided(TXID, COMMITTED) in records(_round(precommitted, {}))
    assert Decided(TXID, ABORTED) in records(_round(uncertain, {}))
    assert precommitted.finished[TXID] == COMMITTED and uncertain.finished[TXID] == ABORTED


def test_a_restarted_coordinator_that_learns_the_outcome_acks_nobody_not_even_itself():
    """Regression: the 3pc coordinator, PRECOMMITTED on disk after a restart, learned the
    commit from a report and sent ``Ack`` to itself."""
    from replikv.protocols.twophase.records import Boot

    replica = make(1, mode="3pc", records=[Boot(1), Decided(TXID, PRECOMMITTED, write(1, "v"))])
    effects = replica.handle(Receive(2, m.StateReport(TXID, COMMITTED)))
    effects += durable(replica, effects)
    assert [s.dst for s in sends(effects)] == []
    assert replica.state_machine().get("k") == "v"


def test_a_termination_abort_is_recorded_once_forced():
    """Regression: the termination coordinator wrote ABORTED twice (lazily and forced)."""
    replica = make(2, mode="3pc", query_ms=100.0, termination_ms=40.0)
    prepared(replica, TXID, write(1, "v"))
    effects = _round(replica, {3: UNCERTAIN})
    effects += replica.handle(Tick(400.0))
    assert records(effects) == [Decided(TXID, ABORTED)]


def test_compaction_keeps_a_coordinators_precommitted_transaction():
    """Regression (3pc participant-crash-after-yes seed 4, snapshot_threshold=30): the
    snapshot left out a transaction the coordinator had PRECOMMITTED, so its durable
    records no longer said so (its state report tripped the durability check) and a crash
    would have turned it into a presumed abort while the others could commit it."""
    from replikv.protocols.twophase.records import OpenTxn, Snapshot

    replica = make(1, mode="3pc", snapshot_threshold=2)
    replica.handle(Submit(write(1, "v")))
    replica.handle(Receive(2, m.VoteYes(TXID)))
    durable(replica, replica.handle(Receive(3, m.VoteYes(TXID))))
    effects = replica.handle(Tick(10.0))
    (snapshot,) = [r for r in records(effects) if isinstance(r, Snapshot)]
    assert snapshot.open == (OpenTxn(TXID, write(1, "v"), PRECOMMITTED),)


def _recovered_in_doubt(node: int, txid=TXID):
    """A node that voted YES on ``txid``, crashed, and came back from its records."""
    before = make(node, mode="3pc", query_ms=100.0, termination_ms=40.0)
    voted = prepared(before, txid, write(1, "v"), src=txid[0])
    return make(node, records=(Boot(1), *records(voted)), mode="3pc", query_ms=100.0, termination_ms=40.0)


def test_a_node_back_from_a_crash_in_doubt_never_decides_alone():
    """``replikv test --protocol 3pc --nemesis crash-after-votes --seed 12``: node 3 voted YES,
    crashed; the survivors, taking its silence for a crash, terminated with COMMIT; node 3
    came back, heard nobody within its round and decided ABORT alone. Skeen's recovery rule:
    it asks until someone tells it the outcome."""
    replica = _recovered_in_doubt(3)
    effects = _round(replica, {})
    assert persists(effects) == [] and sends(effects, m.Abort) == []
    assert TXID in replica.in_doubt and TXID not in replica.finished
    learned = replica.handle(Receive(2, m.StateReport(TXID, COMMITTED)))
    assert records(learned) == [Decided(TXID, COMMITTED)]
    assert replica.finished[TXID] == COMMITTED


def test_a_node_back_from_a_crash_is_no_candidate_for_the_survivors():
    """Node 3 coordinated and is gone; node 1 (the lowest survivor id) is in doubt since a
    crash and will not decide, so node 2 must terminate instead of waiting for it for ever."""
    txid = (3, 1, 1)
    recovered = _recovered_in_doubt(1, txid)
    recovered.handle(Tick(10.0))
    report = sends(recovered.handle(Receive(2, m.StateQuery(txid))), m.StateReport)
    assert [s.msg for s in report] == [m.StateReport(txid, UNCERTAIN, recovered=True)]
    survivor = make(2, mode="3pc", query_ms=100.0, termination_ms=40.0)
    prepared(survivor, txid, write(1, "v"), src=3)
    survivor.handle(Tick(10.0))
    survivor.handle(Tick(115.0))
    survivor.handle(Receive(1, report[0].msg))
    effects = survivor.handle(Tick(160.0))
    assert records(effects) == [Decided(txid, ABORTED)]
    assert [(s.dst, s.msg) for s in sends(effects)] == [(1, m.Abort(txid)), (3, m.Abort(txid))]


def _full_round(replica, reports: dict[int, tuple[str, bool]], start_ms=10.0, query_ms=100.0, termination_ms=40.0):
    """One termination round in which each of ``reports`` answers ``(state, recovered)``."""
    replica.handle(Tick(start_ms))
    replica.handle(Tick(start_ms + query_ms + 5))
    for src, (state, recovered) in reports.items():
        replica.handle(Receive(src, m.StateReport(TXID, state, recovered=recovered)))
    return replica.handle(Tick(start_ms + query_ms + 5 + termination_ms + 5))


def _recovered_coordinator():
    """Node 1 PRECOMMITTED its own transaction, crashed, came back from its records."""
    return make(1, records=[Boot(1), Decided(TXID, PRECOMMITTED, write(1, "v"))], mode="3pc",
                query_ms=100.0, termination_ms=40.0)


def test_after_a_total_failure_with_everyone_answering_the_lowest_node_terminates():
    """Every node came back from a crash in doubt (``restart-all``): no survivor is left to
    elect, and every node answered undecided, so nobody decided (Skeen 1981, recovery from
    total failure). Node 1 decides by the same rule: someone precommitted, so PRECOMMIT to
    the uncertain, then COMMIT. Before, every node asked for ever, locks held."""
    replica = _recovered_coordinator()
    assert replica.in_doubt[TXID].recovered
    effects = _full_round(replica, {2: (PRECOMMITTED, True), 3: (UNCERTAIN, True)})
    assert [(s.dst, s.msg) for s in sends(effects, m.PreCommit)] == [(3, m.PreCommit(TXID))]
    done = replica.handle(Receive(3, m.PreCommitAck(TXID)))
    assert records(done) == [Decided(TXID, COMMITTED)]
    assert [(s.dst, s.msg) for s in sends(done)] == [(2, m.Commit(TXID)), (3, m.Commit(TXID))]
    assert done.index(persists(done)[0]) < done.index(sends(done)[0])


def test_after_a_total_failure_all_uncertain_the_lowest_node_aborts():
    replica = _recovered_in_doubt(1, (3, 1, 1))
    replica.handle(Tick(10.0))
    replica.handle(Tick(115.0))
    for src in (2, 3):
        replica.handle(Receive(src, m.StateReport((3, 1, 1), UNCERTAIN, recovered=True)))
    effects = replica.handle(Tick(160.0))
    assert records(effects) == [Decided((3, 1, 1), ABORTED)]
    assert [(s.dst, s.msg) for s in sends(effects)] == [(2, m.Abort((3, 1, 1))), (3, m.Abort((3, 1, 1)))]


def test_after_a_total_failure_only_the_lowest_node_decides():
    replica = _recovered_in_doubt(2)
    effects = _full_round(replica, {1: (PRECOMMITTED, True), 3: (UNCERTAIN, True)})
    assert persists(effects) == [] and sends(effects, m.PreCommit) == [] and TXID in replica.in_doubt


def test_a_recovered_node_still_never_decides_while_a_node_is_missing_or_rejoining():
    """The total-failure rule needs every node's answer: a node that did not answer, or
    answers "unknown" (rejoining after a lost disk), may have decided while the others
    were down."""
    for reports in ({2: (PRECOMMITTED, True)}, {2: (PRECOMMITTED, True), 3: (UNKNOWN, False)}):
        replica = _recovered_coordinator()
        effects = _full_round(replica, reports)
        assert persists(effects) == [] and sends(effects, m.PreCommit) == [] and TXID in replica.in_doubt


def test_a_coordinator_that_lost_its_disk_after_committing_commits_again_once_everyone_answers():
    """``replikv sim --protocol 3pc --scenario lost-disk --seed 3``: node 1 committed and
    answered its client OK, then every node crashed before the others' COMMITTED records
    were durable, and node 1 lost its disk. It adopted node 3's state (the transaction
    PRECOMMITTED); nodes 2 and 3 came back in doubt and would not decide, node 1 was the
    coordinator and no survivor: the write stayed in doubt for ever, lost to every read.
    Now node 1, the lowest node, hears everyone undecided and commits."""
    from replikv.core.replica import Recovery
    from replikv.kv import KVStateMachine

    replica = create(1, records=[], recovery=Recovery(lost=True), mode="3pc", query_ms=100.0, termination_ms=40.0)
    replica.handle(Tick(0.0))
    state = m.CatchUpState(KVStateMachine().snapshot(), (m.OpenTxnState(TXID, write(1, "v"), PRECOMMITTED),), (), 1)
    assert replica.handle(Receive(3, state)) == [] and replica.rejoining  # and node 2?
    durable(replica, replica.handle(Receive(2, state)))
    assert not replica.rejoining and replica.in_doubt[TXID].state == PRECOMMITTED
    effects = _full_round(replica, {2: (PRECOMMITTED, True), 3: (PRECOMMITTED, True)})
    assert records(effects) == [Decided(TXID, COMMITTED)]
    assert [(s.dst, s.msg) for s in sends(effects)] == [(2, m.Commit(TXID)), (3, m.Commit(TXID))]
    durable(replica, effects)
    assert replica.state_machine().get("k") == "v"


def test_a_node_that_rejoined_holds_the_doubt_it_adopted_as_recovered_and_never_terminates_it():
    """Swarm seed 983605 (N=3): node 3 had acked node 1's PRECOMMIT of 1/1/36 and, as
    the termination coordinator, committed it (node 2 was down); node 1 committed. Node
    3's disk then lost its last record, and it rejoined from node 2, back from a crash in
    doubt about 1/1/36: it adopted that doubt as its own, took itself for a survivor,
    and aborted with node 1 down, while node 1 had committed. A doubt adopted from a
    peer came back through a crash like one read from disk: the node asks until someone
    knows the outcome, and never terminates it itself (Skeen 1981's recovery rule).
    (A rejoining node now also waits for every peer's answer, so in that run node 3
    rejoins only once node 1 is back; here both peers answer in doubt, and node 1 goes
    silent again before node 3's round.)"""
    from replikv.core.replica import Recovery
    from replikv.kv import KVStateMachine

    txid = (1, 1, 36)
    replica = create(3, records=[Boot(1)], mode="3pc", recovery=Recovery(torn_records=1),
                     query_ms=100.0, termination_ms=40.0)
    replica.handle(Tick(0.0))
    for peer in (2, 1):
        replica.handle(Receive(peer, m.CatchUpState(KVStateMachine().snapshot(),
                                                    (m.OpenTxnState(txid, write(1, "v"), UNCERTAIN),), (), epoch=0)))
    assert replica.in_doubt[txid].recovered
    replica.handle(Tick(10.0))
    queries = sends(replica.handle(Tick(115.0)), m.StateQuery)
    assert {s.msg for s in queries} == {m.StateQuery(txid, UNCERTAIN, recovered=True)}
    replica.handle(Receive(2, m.StateReport(txid, UNCERTAIN, recovered=True)))  # node 1 is down
    effects = replica.handle(Tick(160.0))
    assert persists(effects) == [] and sends(effects, m.Abort) == [] and txid in replica.in_doubt
    replica.handle(Receive(1, m.StateReport(txid, COMMITTED)))  # node 1 is back: it committed
    assert txid not in replica.in_doubt and replica.finished[txid] == COMMITTED


def test_a_round_leaves_out_the_time_the_node_was_stalled():
    """Regression (swarm 3pc seed 1003632, N=4): paused two ms into its round, node 1
    resumed past the round's end and aborted at once, hearing nobody, before it read the
    precommitted reports waiting in its queue; the others committed. The host marks the
    tick it feeds before such queued inputs (``Tick.stalled``), and the round is pushed
    back by the stall, so the reports are read before it ends."""

    def paused_through_its_round(stalled: bool):
        replica = make(2, mode="3pc", query_ms=100.0, termination_ms=40.0)
        prepared(replica, TXID, write(1, "v"))
        replica.handle(Tick(10.0))
        assert sends(replica.handle(Tick(115.0)), m.StateQuery)  # the round opens
        return replica, replica.handle(Tick(200.0, stalled=stalled))  # 85 ms later

    _, unaware = paused_through_its_round(stalled=False)
    assert records(unaware) == [Decided(TXID, ABORTED)]  # what a plain late tick does
    replica, resumed = paused_through_its_round(stalled=True)
    assert records(resumed) == [] and sends(resumed, m.Abort) == []
    replica.handle(Receive(1, m.StateReport(TXID, PRECOMMITTED)))  # waiting in the queue
    replica.handle(Receive(3, m.StateReport(TXID, PRECOMMITTED)))
    # 115 + 75 ms stalled + 40 ms listened; past query_ms too, and the round still
    # open is not replaced by a new one (that would drop the reports it heard)
    ended = replica.handle(Tick(240.0))
    assert records(ended) == [Decided(TXID, PRECOMMITTED), Decided(TXID, COMMITTED)]
    assert replica.finished[TXID] == COMMITTED
