"""Sloppy quorums and hinted handoff (Dynamo §4.6): with nodes of a key's preference
list cut off, fallback nodes take the write for them and hand it over after the heal."""

from __future__ import annotations

from replikv.core import Receive
from replikv.core.errors import Ok, Unavailable
from replikv.protocols.quorum import messages as m
from replikv.protocols.quorum import versions as v
from replikv.protocols.quorum.records import HintDone, Hinted

from .steps import Cluster, get, put


def _cut_off(cluster: Cluster, key: str = "k") -> tuple[int, list[int], list[int]]:
    preference = cluster.nodes[1].ring.preference(key)
    extended = cluster.nodes[1].ring.extended(key)
    return preference[0], list(preference[1:]), [n for n in extended if n not in preference]


def test_without_a_sloppy_quorum_a_write_needs_its_own_replicas():
    cluster = Cluster(5, replicas=3, request_timeout_ms=300.0)
    coordinator, away, _ = _cut_off(cluster)
    write = put(1, "a")
    cluster.submit(coordinator, write)
    for _ in range(4):
        cluster.tick(100.0)
        cluster.deliver(drop=lambda src, send: send.dst in away or src in away)
    assert isinstance(cluster.result(write), Unavailable)


def test_fallbacks_take_the_write_and_hand_it_over_after_the_heal():
    cluster = Cluster(5, replicas=3, sloppy_quorum=True, hint_after_ms=100.0, request_timeout_ms=1000.0)
    coordinator, away, spare = _cut_off(cluster)
    write = put(1, "a")
    cluster.submit(coordinator, write)
    for _ in range(3):
        cluster.tick(100.0)
        cluster.deliver(drop=lambda src, send: send.dst in away or src in away)
    assert cluster.result(write) == Ok(True)
    assert all(cluster.value(n) is None for n in away)
    held = [n for n in spare if cluster.nodes[n].hints.states]
    assert held and all(isinstance(r, Hinted) for n in held for r in cluster.records[n])
    # the reads of the real replicas miss it until the handoff (not promised)
    for _ in range(3):  # heal: hints reach the nodes they were meant for
        cluster.tick(200.0)
        cluster.deliver()
    assert {cluster.value(n) for n in (coordinator, *away)} == {"a"}
    assert not any(cluster.nodes[n].hints.states for n in spare)
    assert any(isinstance(r, HintDone) for n in held for r in cluster.records[n])
    read = get(2, client=8)
    cluster.submit(away[0], read)
    cluster.deliver()
    assert cluster.result(read) == Ok("a")


def test_a_hinted_put_is_acked_behind_its_persist_and_answers_reads_as_a_fallback():
    cluster = Cluster(5, replicas=3, sloppy_quorum=True)
    coordinator, away, spare = _cut_off(cluster)
    fallback = cluster.nodes[spare[0]]
    version = v.write(v.EMPTY_CONTEXT, v.Sibling((coordinator, 1), "z", 0.0, 5, 1))
    effects = fallback.handle(Receive(coordinator, m.Put(3, "k", version, (coordinator, 1), hint=away[0])))
    assert [type(e).__name__ for e in effects] == ["Persist", "Send"]
    assert effects[1].msg == m.PutAck(3, "k", (coordinator, 1))
    (answer,) = [e.msg for e in fallback.handle(Receive(coordinator, m.Read(4, "k"))) if hasattr(e, "msg")]
    assert answer.state == version and fallback.state_machine().get("k") is None  # held, not its own
