"""Snapshots (docs/protocols/paxos.md, "Snapshots"): a node's own snapshot is a
compaction (``core.io.Persist``: it restates what earlier records hold, plus what the
node learned), a snapshot installed from a peer is a barrier."""

from __future__ import annotations

from replikv.core import Get, Persisted, Receive, Request, Set, Submit
from replikv.core.errors import Ok
from replikv.kv import KVStateMachine
from replikv.protocols.paxos import messages as m
from replikv.protocols.paxos.records import SnapshotRecord

from .steps import elect, make, persists


def test_the_leaders_own_snapshot_is_a_compaction() -> None:
    replica = make(1, snapshot_threshold=3, snapshot_growth=0.0)
    elect(replica)
    replaces = []
    for seq in range(1, 5):
        effects = replica.handle(Submit(Request(9, seq, Set(f"k{seq}", "v"))))
        (persist,) = persists(effects)
        effects = replica.handle(Receive(2, m.Accepted(replica.proposer.ballot, (seq,))))
        effects += replica.handle(Persisted(persist.seq))
        replaces += [p for p in persists(effects) if p.replace]
    assert len(replaces) == 1 and replaces[0].compaction
    snapshot = next(r for r in replaces[0].records if isinstance(r, SnapshotRecord))
    assert snapshot.last_slot == 3


def test_a_snapshot_installed_from_a_peer_is_a_barrier() -> None:
    source = KVStateMachine()
    source.apply(Request(9, 1, Set("k", "v")))
    replica = make(2)
    effects = replica.handle(Receive(1, m.SnapshotTransfer(5, source.snapshot())))
    (persist,) = [p for p in persists(effects) if p.replace]
    assert not persist.compaction, "an installed snapshot is news to the disk"
    assert replica.chosen.executed == 5
    assert replica.state_machine().read(Request(9, 2, Get("k"))) == Ok("v")
