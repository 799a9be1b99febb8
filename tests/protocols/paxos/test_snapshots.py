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



def test_a_leader_that_prepares_again_in_its_reign_proposes_its_open_slots_again_under_the_new_ballot() -> None:
    """Phase 1 under ballot b1 found node 2's snapshot (slots 1-5) and its accepted value
    at slot 6: the leader proposed slot 6 under b1 and, once it had caught up, ran phase
    1 again under b2 (``reprepare``) with node 2 down. Its accept of slot 6 under b1
    became durable only after b2 began. It used to keep the b1 proposal: re-sent under b2
    to its peers only, never accepted again by itself, so node 3's accept was the only
    one of b2 and slot 6 (and everything above it) was never chosen (multipaxos swarm
    seed 980548: no write committed after the heal). Now phase 1 settles slot 6 like any
    other slot (P2c: our own b1 accept is the highest it finds) and proposes it again
    under b2, our own accept included."""
    replica = make(1)
    campaign(replica)
    b1 = replica.proposer.ballot
    earlier = Request(7, 1, Set("k6", "from node 2's leader"))
    effects = replica.handle(Receive(2, m.Promise(b1, 1, 5, (m.Proposal(6, (1, 2), earlier),))))
    assert replica.proposer.role == "leader"
    (b1_accept,) = [p for p in persists(effects) if not p.replace]
    assert [v.slot for s in sends(effects, m.Accept) for v in s.msg.values] == [6, 6]
    source = KVStateMachine()
    for seq in range(1, 6):
        source.apply(Request(9, seq, Set(f"k{seq}", "v")))
    effects = replica.handle(Receive(3, m.SnapshotTransfer(5, source.snapshot())))
    now = 10 * replica.config.election_timeout_ms
    effects += replica.handle(Tick(now + replica.config.tick_ms))  # the change point is passed: phase 1 again
    b2 = replica.proposer.ballot
    assert b2 > b1 and [s.dst for s in sends(effects, m.Prepare)] == [2, 3]
    effects = replica.handle(Persisted(b1_accept.seq))  # durable only now, under b1
    effects = replica.handle(Receive(3, m.Promise(b2, 6, 5, (m.Proposal(6, b1, earlier),))))
    again = [v for s in sends(effects, m.Accept) if tuple(s.msg.ballot) == b2 for v in s.msg.values]
    assert [(v.slot, v.request) for v in again] == [(6, earlier), (6, earlier)], "P2c: the value found, under b2"
    (b2_accept,) = [p for p in persists(effects) if not p.replace]
    replica.handle(Receive(3, m.Accepted(b2, (6,))))
    assert replica.chosen.executed == 5, "node 3 alone is no majority of b2"
    replica.handle(Persisted(b2_accept.seq))
    assert replica.chosen.executed == 6
    assert replica.state_machine().read(Request(9, 9, Get("k6"))) == Ok("from node 2's leader")
