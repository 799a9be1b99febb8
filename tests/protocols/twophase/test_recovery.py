"""Recovery (Bernstein et al. §7.3, Gray & Lamport §2): a participant restarting in
PREPARED re-takes its locks and asks; a coordinator with a durable decision sends it
again; without one it aborts (presumed abort); epochs keep transaction ids unique."""

from __future__ import annotations

from replikv.core import Persisted, Receive, Submit, Tick
from replikv.protocols.twophase import messages as m
from replikv.protocols.twophase.constants import ABORTED, COMMITTED, UNCERTAIN
from replikv.protocols.twophase.records import Boot, Decided, Forgotten, Prepared, decisions

from .steps import create, make, persists, records, sends, write

TXID = (1, 1, 1)


def test_a_new_epoch_is_persisted_at_start_and_names_every_transaction():
    replica = make(1, records=[Boot(4)])
    assert replica.epoch == 5
    effects = replica.handle(Submit(write(1, "v")))
    assert {s.msg.txid for s in sends(effects)} == {(1, 5, 1)}


def test_participant_restarting_prepared_retakes_its_locks_and_asks():
    replica = make(2, records=[Boot(1), Prepared(TXID, write(1, "v"))], query_ms=100.0)
    assert replica.in_doubt[TXID].state == UNCERTAIN
    assert replica.locks.keys == {"k": TXID}
    replica.handle(Tick(10.0))
    effects = replica.handle(Tick(120.0))
    assert sorted(s.dst for s in sends(effects, m.StateQuery)) == [1, 3]
    replica.handle(Receive(1, m.StateReport(TXID, COMMITTED)))
    assert replica.state_machine().get("k") == "v" and replica.locks.keys == {}


def test_committed_transactions_are_applied_again_in_record_order():
    replica = make(2, records=[Boot(1), Prepared(TXID, write(1, "a")), Decided(TXID, COMMITTED),
                               Prepared((3, 1, 1), write(2, "b")), Decided((3, 1, 1), COMMITTED)])
    assert replica.state_machine().get("k") == "b" and replica.in_doubt == {}


def test_coordinator_with_a_durable_commit_sends_it_again_behind_its_new_epoch():
    replica = create(1, records=[Boot(1), Decided(TXID, COMMITTED, write(1, "v"))])
    assert replica.state_machine().get("k") == "v"
    effects = replica.handle(Tick(0.0))
    assert records(effects) == [Boot(2)]
    assert [(s.dst, s.msg) for s in sends(effects)] == [(2, m.Commit(TXID)), (3, m.Commit(TXID))]
    assert effects.index(persists(effects)[0]) < effects.index(sends(effects)[0])


def test_coordinator_forgets_what_every_participant_acknowledged():
    replica = make(1, records=[Boot(1), Decided(TXID, COMMITTED, write(1, "v")), Forgotten((TXID,))])
    assert sends(replica.handle(Tick(10.0))) == []


def test_coordinator_without_a_decision_aborts_presumed():
    replica = make(1, records=[Boot(1)])
    effects = replica.handle(Receive(2, m.StateQuery(TXID)))
    assert records(effects) == []
    assert [s.msg for s in sends(effects)] == [m.StateReport(TXID, ABORTED, presumed=True)]


def test_decisions_fold_reads_what_each_node_decided():
    found = decisions([Boot(1), Prepared(TXID, write(1, "v")), Decided(TXID, COMMITTED),
                       Decided((2, 1, 1), ABORTED)])
    assert found == {"1/1/1": COMMITTED, "2/1/1": ABORTED}


def test_a_node_with_a_damaged_disk_votes_no_and_answers_unknown_until_it_caught_up():
    from replikv.core import Request
    from replikv.core.errors import Unavailable
    from replikv.core.replica import Recovery
    from replikv.protocols.twophase.constants import UNKNOWN

    replica = create(3, records=[Boot(1)], recovery=Recovery(torn_records=1), query_ms=100.0)
    boot = replica.handle(Tick(0.0))
    assert records(boot) == [Boot(2, rejoining=True)] and replica.status().role == "rejoining"
    assert sorted(s.dst for s in sends(boot, m.CatchUp)) == [1, 2]
    (vote,) = sends(replica.handle(Receive(1, m.Prepare(TXID, write(1, "v")))))
    assert isinstance(vote.msg, m.VoteNo) and vote.msg.reason.startswith("rejoining")
    assert [s.msg for s in sends(replica.handle(Receive(2, m.StateQuery(TXID))))] == [m.StateReport(TXID, UNKNOWN)]
    (reply,) = [e for e in replica.handle(Submit(Request(5, 1, write(1, "v").command))) if hasattr(e, "result")]
    assert isinstance(reply.result, Unavailable)


def test_catch_up_waits_for_every_peer_and_adopts_the_lowest_ones_state_and_every_open_transaction():
    from replikv.core.replica import Recovery
    from replikv.kv import KVStateMachine
    from replikv.protocols.twophase.records import Snapshot

    peer_state = KVStateMachine()
    peer_state.apply(write(1, "old", key="a"))
    replica = create(3, records=[Boot(1)], recovery=Recovery(lost=True))
    replica.handle(Tick(0.0))
    state = m.CatchUpState(peer_state.snapshot(), (m.OpenTxnState((1, 4, 2), write(2, "v"), UNCERTAIN),),
                           (((1, 4, 1), COMMITTED),), epoch=6)
    assert replica.handle(Receive(1, state)) == [] and replica.rejoining  # node 2 has not answered
    other = KVStateMachine()
    other.apply(write(1, "newer", key="a"))
    effects = replica.handle(Receive(2, m.CatchUpState(other.snapshot(), (), (), epoch=3)))
    (snapshot, boot) = records(effects)
    assert isinstance(snapshot, Snapshot) and boot == Boot(7) and persists(effects)[0].replace
    assert replica.state_machine().get("a") == "old" and replica.locks.keys == {"k": (1, 4, 2)}
    assert replica.in_doubt[(1, 4, 2)].state == UNCERTAIN and replica.finished[(1, 4, 1)] == COMMITTED
    effects = replica.handle(Receive(1, m.Prepare((1, 4, 3), write(1, "w", key="b", client=4))))
    assert [type(s.msg) for s in sends(effects)] == [m.VoteYes]


def test_a_rejoining_node_never_compacts_so_its_flag_stays_on_disk():
    """A ``Snapshot`` carries no ``rejoining`` flag: restating while rejoining would clear
    the one on disk before the catch-up is, and the node would vote after a restart with
    what it lost. With a snapshot due after every record it still only boots (its tick
    is the rejoin tick, and ``_maybe_compact`` refuses a rejoining node besides)."""
    from replikv.core.replica import Recovery
    from replikv.protocols.twophase.records import fold

    replica = create(3, records=[Boot(1)], recovery=Recovery(torn_records=1),
                     snapshot_threshold=1, snapshot_growth=0.0)
    emitted = []
    for now in (0.0, 10.0, 20.0):
        emitted += persists(replica.handle(Tick(now)))
    assert emitted and not any(p.replace for p in emitted)
    assert fold([r for p in emitted for r in p.records], 3).rejoining


def test_a_snapshot_taken_with_no_decision_pending_is_a_compaction():
    """The restatement holds what earlier records hold (``core.io.Persist``): a host may
    write it beside the live log."""
    replica = create(1, snapshot_threshold=1, snapshot_growth=0.0)
    emitted = []
    for now in (0.0, 10.0, 20.0):
        emitted += persists(replica.handle(Tick(now)))
    for p in emitted:
        emitted += persists(replica.handle(Persisted(p.seq)))
    replaces = [p for p in emitted if p.replace]
    assert replaces and all(p.compaction for p in replaces)


def test_a_rejoining_node_learns_a_transaction_only_its_coordinator_holds_open():
    """Swarm seed 991884 (2pc): node 2 voted YES on 3/1/39 and lost that record in a torn
    tail; it rejoined from node 1, which had been down when the PREPARE went out and knew
    nothing of the transaction. Node 3 then got node 1's YES and committed, and node 2
    never applied 3/1/39: its copy of k1 diverged. A rejoining node now waits for every
    peer's answer and adopts what any of them holds open; here the coordinator's."""
    from replikv.core.replica import Recovery
    from replikv.kv import KVStateMachine

    txid = (3, 1, 39)
    replica = create(2, records=[Boot(1)], recovery=Recovery(torn_records=1))
    replica.handle(Tick(0.0))
    empty = KVStateMachine().snapshot()
    assert replica.handle(Receive(1, m.CatchUpState(empty, (), (), epoch=0))) == []
    assert replica.rejoining, "node 1 never saw the transaction: its answer alone is not enough"
    replica.handle(Receive(3, m.CatchUpState(empty, (m.OpenTxnState(txid, write(7, "23", key="k1"), UNCERTAIN),),
                                             (), epoch=0)))
    assert not replica.rejoining and txid in replica.in_doubt
    effects = replica.handle(Receive(3, m.Commit(txid)))
    for persist in persists(effects):
        effects += replica.handle(Persisted(persist.seq))
    assert replica.state_machine().get("k1") == "23"


def test_a_rejoining_node_asks_again_when_the_open_transactions_it_would_adopt_conflict():
    """Swarm seed 995594 (3pc): node 1, back from a crash, was still in doubt on a SET of
    k2 that coordinator 3 had committed, and 3 was collecting votes on a later SET of k2.
    Node 2 adopted both, heard the later one's COMMIT first and applied the two in the
    wrong order. It now asks every peer again until the open transactions fit together."""
    from replikv.core.replica import Recovery
    from replikv.kv import KVStateMachine

    first, later = (3, 1, 68), (3, 1, 101)
    replica = create(2, records=[Boot(1)], recovery=Recovery(torn_records=1), query_ms=100.0)
    replica.handle(Tick(0.0))
    behind, ahead = KVStateMachine(), KVStateMachine()
    ahead.apply(write(1, "13", key="k2"))
    replica.handle(Receive(1, m.CatchUpState(behind.snapshot(),
                                             (m.OpenTxnState(first, write(1, "13", key="k2"), UNCERTAIN),), (), 0)))
    replica.handle(Receive(3, m.CatchUpState(ahead.snapshot(),
                                             (m.OpenTxnState(later, write(2, "27", key="k2"), UNCERTAIN),),
                                             ((first, COMMITTED),), 0)))
    assert replica.rejoining and replica.in_doubt == {}
    again = replica.handle(Tick(150.0))
    assert sorted(s.dst for s in sends(again, m.CatchUp)) == [1, 3]
    behind.apply(write(1, "13", key="k2"))  # node 1 learned the first one's outcome
    replica.handle(Receive(1, m.CatchUpState(behind.snapshot(),
                                             (m.OpenTxnState(later, write(2, "27", key="k2"), UNCERTAIN),),
                                             ((first, COMMITTED),), 0)))
    replica.handle(Receive(3, m.CatchUpState(ahead.snapshot(),
                                             (m.OpenTxnState(later, write(2, "27", key="k2"), UNCERTAIN),),
                                             ((first, COMMITTED),), 0)))
    assert not replica.rejoining and list(replica.in_doubt) == [later]
    assert replica.state_machine().get("k2") == "13"


def test_a_transaction_the_lowest_peer_finished_is_not_adopted_again():
    """The lowest peer's state machine already holds what it committed: a transaction
    another peer still holds in doubt is not adopted a second time (it would be applied
    twice when its COMMIT came)."""
    from replikv.kv import KVStateMachine
    from replikv.protocols.twophase.rejoin import merged

    done, pending = (1, 2, 7), (1, 2, 8)
    source = KVStateMachine()
    source.apply(write(1, "v"))
    answers = {
        1: m.CatchUpState(source.snapshot(), (), ((done, COMMITTED),), epoch=2),
        3: m.CatchUpState(KVStateMachine().snapshot(), (m.OpenTxnState(done, write(1, "v"), UNCERTAIN),
                                                         m.OpenTxnState(pending, write(2, "w"), UNCERTAIN)), (), epoch=5),
    }
    state = merged(answers)
    assert state.data == source.snapshot() and state.finished == ((done, COMMITTED),) and state.epoch == 5
    assert [tuple(t.txid) for t in state.open] == [pending]


def test_a_copy_of_a_request_refused_while_rejoining_is_refused_again_after_it():
    """Swarm seed 991921 (2pc): node 2 answered a client's write ``Unavailable`` while it
    was rejoining, a definite answer; the network delivered a copy of the same request
    12 ms later, after node 2 had rejoined, and it ran and committed: the client's
    definite failure took effect. The refusal is remembered like any definite answer."""
    from replikv.core import Request
    from replikv.core.errors import Unavailable
    from replikv.core.replica import Recovery
    from replikv.kv import KVStateMachine

    replica = create(2, records=[Boot(1)], recovery=Recovery(torn_records=1))
    replica.handle(Tick(0.0))
    request = Request(14, 42, write(1, "10", key="k27").command)
    (first,) = [e for e in replica.handle(Submit(request)) if hasattr(e, "result")]
    assert isinstance(first.result, Unavailable)
    empty = KVStateMachine().snapshot()
    for peer in (1, 3):
        replica.handle(Receive(peer, m.CatchUpState(empty, (), (), epoch=0)))
    assert not replica.rejoining
    effects = replica.handle(Submit(request))  # the network's copy
    assert [e.result for e in effects if hasattr(e, "result")] == [first.result]
    assert sends(effects, m.Prepare) == []
