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


def test_catch_up_adopts_a_peers_state_and_its_open_transactions_in_doubt():
    from replikv.core.replica import Recovery
    from replikv.kv import KVStateMachine
    from replikv.protocols.twophase.records import Snapshot

    peer_state = KVStateMachine()
    peer_state.apply(write(1, "old", key="a"))
    replica = create(3, records=[Boot(1)], recovery=Recovery(lost=True))
    replica.handle(Tick(0.0))
    state = m.CatchUpState(peer_state.snapshot(), (m.OpenTxnState((1, 4, 2), write(2, "v"), UNCERTAIN),),
                           (((1, 4, 1), COMMITTED),), epoch=6)
    effects = replica.handle(Receive(1, state))
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
