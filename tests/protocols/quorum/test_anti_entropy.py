"""Anti-entropy with Merkle trees (Dynamo §4.7) and refilling a node that lost its disk."""

from __future__ import annotations

from replikv.core import Receive, Submit, Tick
from replikv.core.errors import Ok, Unavailable
from replikv.core.replica import Recovery
from replikv.protocols.quorum import messages as m
from replikv.protocols.quorum import versions as v
from replikv.protocols.quorum.compaction import restatement
from replikv.protocols.quorum.durable import QuorumDurableView
from replikv.protocols.quorum.records import Refilling, Restated, Stored

from .steps import Cluster, get, make, persists, put, replies, sends


def _partitioned_writes(cluster: Cluster) -> None:
    """W=one writes at nodes 1 and 3 of different keys, every Put lost."""
    for node, key in ((1, "a"), (3, "b"), (1, "c")):
        request = put(1, key.upper(), key=key, client=10 + ord(key), level="one")
        cluster.submit(node, request)
        cluster.deliver(only=lambda src, send: isinstance(send.msg, m.Read | m.ReadReply))
        assert cluster.result(request) == Ok(True)
    cluster.deliver(drop=lambda src, send: True)


def test_equal_roots_end_the_round_with_one_small_answer():
    cluster = Cluster(3)
    cluster.tick(200.0)
    roots = [s for _, s in cluster.inflight if isinstance(s.msg, m.TreeRoot)]
    assert len(roots) == 3
    cluster.deliver()
    assert all(n.anti_entropy.synced for n in cluster.nodes.values())
    assert not any(isinstance(s.msg, m.Exchange) for _, s in cluster.inflight)


def test_merkle_exchange_converges_replicas_after_lost_messages():
    cluster = Cluster(3)
    _partitioned_writes(cluster)
    assert cluster.value(2, "a") is None
    for _ in range(4):  # every node talks to each peer in turn
        cluster.tick(200.0)
        cluster.deliver()
    for key, value in (("a", "A"), ("b", "B"), ("c", "C")):
        assert {cluster.value(n, key) for n in cluster.members} == {value}
    sent = sum(n.anti_entropy.bytes_sent for n in cluster.nodes.values())
    assert 0 < sent < 20_000


def test_exchange_ships_only_the_leaves_that_differ():
    cluster = Cluster(2, merkle_leaves=64)
    for i in range(40):
        request = put(i + 1, "x", key=f"k{i}")
        cluster.submit(1, request)
        cluster.deliver()
    lone = put(99, "y", key="lonely", level="one")
    cluster.submit(1, lone)
    cluster.deliver(only=lambda src, send: isinstance(send.msg, m.Read | m.ReadReply))
    cluster.deliver(drop=lambda src, send: True)
    cluster.feed(1, Tick(200.0))  # node 1 starts a round with node 2
    cluster.deliver(only=lambda src, send: isinstance(send.msg, m.TreeRoot | m.TreeLeaves))
    (exchange,) = [s.msg for _, s in cluster.inflight if isinstance(s.msg, m.Exchange)]
    assert len(exchange.leaves) == 1 and [k for k, _ in exchange.items if k == "lonely"] == ["lonely"]
    assert len(exchange.items) < 40
    cluster.deliver()
    assert cluster.value(2, "lonely") == "y"


def test_a_node_that_lost_its_disk_does_not_count_until_refilled():
    replica = make(3, recovery=Recovery(lost=True))
    assert replica.status().role == "refilling"
    (reply,) = replies(replica.handle(Submit(put(1, "a"))))
    assert isinstance(reply.result, Unavailable)
    (answer,) = sends(replica.handle(Receive(1, m.Read(4, "k"))), m.ReadReply)
    assert answer.msg.ready is False
    # anti-entropy with N - W + 1 = 2 peers (every other node here) refills it
    written = v.write(v.EMPTY_CONTEXT, v.Sibling((1, 1), "a", 0.0, 9, 1))
    replica.handle(Receive(1, m.TreeLeaves((b"\0" * 8,) * 64)))
    replica.handle(Receive(1, m.Exchange((0,), (("k", written),), reply=False)))
    replica.handle(Receive(2, m.TreeLeaves(())))
    replica.handle(Tick(10.0))
    assert replica.status().role == "replica"
    assert replica.state_machine().get("k") == "a"


def test_a_reader_ignores_answers_of_a_refilling_node():
    replica = make(1)
    replica.handle(Submit(get(1)))
    assert not replies(replica.handle(Receive(3, m.ReadReply(1, "k", v.EMPTY, ready=False))))
    (reply,) = replies(replica.handle(Receive(2, m.ReadReply(1, "k", v.EMPTY))))
    assert reply.result == Ok(None)


def test_restart_replays_its_records_and_never_reuses_a_dot():
    cluster = Cluster(3)
    first = put(1, "a")
    cluster.submit(1, first)
    cluster.deliver()
    restarted = make(1, records=cluster.records[1])
    assert restarted.state_machine().get("k") == "a"
    restarted.handle(Submit(put(2, "b")))
    effects = restarted.handle(Receive(2, m.ReadReply(1, "k", v.EMPTY)))
    (dot,) = {s.msg.state.siblings[0].dot for s in sends(effects, m.Put)}
    assert dot == (1, 2)


def test_durable_view_holds_a_put_ack_only_once_its_dot_is_stored():
    view = QuorumDurableView()
    ack = m.PutAck(1, "k", (2, 1))
    assert not view.holds(1, ack)
    newer = v.write(v.add(v.EMPTY_CONTEXT, (2, 1)), v.Sibling((3, 1), "b", 0.0, 9, 2))
    view.apply([Stored("k", newer)], replace=False)
    assert view.holds(1, ack)  # overwritten by a version that saw it: still durable history


def _refill(replica) -> list:
    """Anti-entropy rounds with both peers, as in the test above; the effects."""
    written = v.write(v.EMPTY_CONTEXT, v.Sibling((1, 1), "a", 0.0, 9, 1))
    effects = replica.handle(Receive(1, m.TreeLeaves((b"\0" * 8,) * 64)))
    effects += replica.handle(Receive(1, m.Exchange((0,), (("k", written),), reply=False)))
    effects += replica.handle(Receive(2, m.TreeLeaves(())))
    return effects + replica.handle(Tick(10.0))


def test_a_crash_in_the_middle_of_a_refill_starts_it_again():
    """The host tells a damaged start only until the replica has written (docs/storage.md,
    "Torn tail"), so the refill is on record from the first write: a node that crashes
    before the refill is done, and restarts with an intact-looking log, refills again."""
    damaged = make(3, recovery=Recovery(torn_records=1))
    first = damaged.handle(Tick(1.0))
    records = [r for p in persists(first) for r in p.records]
    assert records[0] == Refilling(True)
    restarted = make(3, records=records, recovery=Recovery())
    assert restarted.status().role == "refilling"
    done = _refill(restarted)
    assert restarted.status().role == "replica"
    records += [r for p in persists(done) for r in p.records]
    assert records[-1] == Refilling(False)
    assert make(3, records=records, recovery=Recovery()).status().role == "replica"


def test_a_restatement_keeps_a_refill_in_progress():
    damaged = make(3, recovery=Recovery(lost=True))
    restated = restatement(damaged.store, damaged.hints, damaged.refilling)
    assert isinstance(restated, Restated) and restated.refilling
    assert make(3, records=[restated], recovery=Recovery()).status().role == "refilling"


def test_a_torn_tail_refills_like_a_lost_disk():
    """A torn record may have been an acknowledged version (one of its W copies): until
    anti-entropy refilled the node, its reads must not count toward R."""
    assert make(2, recovery=Recovery(torn_records=1)).status().role == "refilling"
    assert make(2, recovery=Recovery()).status().role == "replica"


def test_the_trees_kept_up_to_date_equal_trees_rebuilt_from_every_key():
    """The leaf hashes follow every change and every reload of the store (issue 14: they
    were rebuilt from all keys on each message): after each step they equal a rebuild
    from scratch, per peer, over the keys both nodes hold."""
    from replikv.kv.state_machine import KVStateMachine
    from replikv.protocols.quorum.antientropy import AntiEntropy
    from replikv.protocols.quorum.ring import Ring, point
    from replikv.protocols.quorum.store import Store

    ring = Ring((1, 2, 3, 4), virtual_nodes=8, replicas=2)
    store = Store(KVStateMachine(), "siblings")
    tree = AntiEntropy(1, ring, store, leaves=8, send=lambda dst, msg: None)

    def rebuilt(peer: int) -> tuple[tuple[bytes, ...], list[set[str]]]:
        hashes, keys = [0] * 8, [set() for _ in range(8)]
        for key in store.states:
            if 1 in ring.preference(key) and peer in ring.preference(key):
                leaf = point(key) % 8
                hashes[leaf] ^= int.from_bytes(store.key_hash(key), "big")
                keys[leaf].add(key)
        return tuple(h.to_bytes(8, "big") for h in hashes), keys

    def state(value: str, counter: int) -> v.KeyState:
        return v.write(v.EMPTY_CONTEXT, v.Sibling((2, counter), value, float(counter), 7, counter))

    def check() -> None:
        for peer in (2, 3, 4, 9):
            assert tree.tree(peer) == rebuilt(peer), peer

    check()
    for i in range(40):
        store.absorb(f"k{i}", state(f"v{i}", i + 1))
        if i % 7 == 0:
            check()
    check()
    shared = [k for k in store.states if 2 in ring.preference(k)]
    assert shared and any(tree.tree(2)[0])
    for i in range(0, 40, 3):  # new versions of some keys
        store.absorb(f"k{i}", state(f"w{i}", 100 + i))
    check()
    store.load(tuple(sorted(store.states.items()))[:10], (), store._sm.snapshot(), 0, 0)  # a restatement
    check()
    store.absorb("fresh", state("x", 500))
    check()
