"""Snapshots (docs/protocols/paxos.md, "Snapshots"): a node's own snapshot is a
compaction (``core.io.Persist``: it restates what earlier records hold, plus what the
node learned), a snapshot installed from a peer is a barrier."""

from __future__ import annotations

from replikv.core import Get, Persisted, Receive, Request, Set, Submit, Tick
from replikv.core.errors import Ok
from replikv.kv import KVStateMachine
from replikv.protocols.paxos import messages as m
from replikv.protocols.paxos.records import SnapshotRecord

from .steps import campaign, elect, make, persists, sends


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


def test_a_new_leader_asks_again_for_the_slots_a_peer_folded_into_its_snapshot() -> None:
    """Phase 1 showed that node 2 folded slots 1-5 into its snapshot: they are chosen, and
    the new leader proposes nothing above them until it has executed them, so it must get
    them. Its one ``CatchUp`` used to be the only one: lost (or its answer lost), the
    leader waited for ever, no write committed again and an acknowledged write stayed in
    a snapshot only one node held (multipaxos, ``holes-after-crash`` seed 8102 with
    ``snapshot_threshold=7``; swarm seed 12225 with ``snapshot_threshold=10``). It asks
    every ``retransmit_ms`` until it has executed them."""
    replica = make(1)
    campaign(replica)
    ballot = replica.proposer.ballot
    effects = replica.handle(Receive(2, m.Promise(ballot, 1, 5)))
    assert replica.proposer.role == "leader"
    assert [(s.dst, s.msg.from_slot) for s in sends(effects, m.CatchUp)] == [(2, 1)]
    now = 10 * replica.config.election_timeout_ms
    asked = []
    for step in range(1, 8):  # the CatchUp and its answer are lost; heartbeats are not
        effects = replica.handle(Tick(now + step * replica.config.retransmit_ms / 2))
        asked += [(s.dst, s.msg.from_slot) for s in sends(effects, m.CatchUp)]
        for heartbeat in sends(effects, m.Heartbeat):
            replica.handle(Receive(heartbeat.dst, m.HeartbeatReply(ballot, heartbeat.msg.round, 0)))
    assert replica.proposer.role == "leader"
    assert len([a for a in asked if a == (2, 1)]) >= 3  # node 2, every retransmit_ms
    source = KVStateMachine()
    for seq in range(1, 6):
        source.apply(Request(9, seq, Set(f"k{seq}", "v")))
    replica.handle(Receive(2, m.SnapshotTransfer(5, source.snapshot())))
    assert replica.chosen.executed == 5
    effects = replica.handle(Tick(now + 10 * replica.config.retransmit_ms))
    assert not sends(effects, m.CatchUp) and replica.leadership.catch_up is None


def test_a_new_leader_whose_catch_up_source_stays_silent_asks_the_other_peers_too() -> None:
    """The node whose promise showed the folded slots may lose its disk right after: it
    then answers a ``CatchUp`` with nothing, and a leader that asked only it would wait for
    ever. From its third ask on, the leader asks one other peer too, in turn; any peer
    that executed those slots answers (here node 3, with its snapshot)."""
    replica = make(1)
    campaign(replica)
    ballot = replica.proposer.ballot
    replica.handle(Receive(2, m.Promise(ballot, 1, 5)))
    now = 10 * replica.config.election_timeout_ms
    asked = []
    for step in range(1, 8):
        effects = replica.handle(Tick(now + step * replica.config.retransmit_ms / 2))
        asked += [s.dst for s in sends(effects, m.CatchUp)]
        for heartbeat in sends(effects, m.Heartbeat):
            replica.handle(Receive(heartbeat.dst, m.HeartbeatReply(ballot, heartbeat.msg.round, 0)))
    assert asked[:1] == [2] and 3 in asked and all(dst in (2, 3) for dst in asked)
    peer = KVStateMachine()
    for seq in range(1, 6):
        peer.apply(Request(9, seq, Set(f"k{seq}", "v")))
    replica.handle(Receive(3, m.SnapshotTransfer(5, peer.snapshot())))
    assert replica.chosen.executed == 5
    replica.handle(Tick(now + 10 * replica.config.retransmit_ms))
    assert replica.leadership.catch_up is None

