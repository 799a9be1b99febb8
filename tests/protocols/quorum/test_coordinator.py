"""The coordinator's rules (Dynamo, SOSP 2007, §4.5): any node coordinates, W durable
acks, R answers, read repair; save before send for a new dot and for every ack."""

from __future__ import annotations

from replikv.core import Persist, Persisted, Receive, Request, Send, Submit, Tick
from replikv.core.commands import Cas
from replikv.core.errors import BadRequest, NotLeader, Ok, Timeout, Unavailable
from replikv.protocols.quorum import messages as m
from replikv.protocols.quorum import versions as v

from .steps import Cluster, delete, get, incr, make, persists, put, replies, sends


def test_write_reads_its_context_then_persists_its_dot_before_sending_it():
    replica = make(1)
    effects = replica.handle(Submit(put(1, "a")))
    assert [type(s.msg) for s in sends(effects)] == [m.Read, m.Read]  # read phase first
    assert not persists(effects)
    effects = replica.handle(Receive(2, m.ReadReply(1, "k", v.EMPTY)))
    kinds = [type(e).__name__ if not isinstance(e, Send) else type(e.msg).__name__ for e in effects]
    assert kinds == ["Persist", "Put", "Put"], kinds  # the dot is durable before it leaves
    (put_msg,) = {s.msg for s in sends(effects, m.Put)}
    assert put_msg.state.siblings[0].dot == (1, 1)
    assert not replies(effects)


def test_write_answers_after_w_durable_acks_own_included():
    replica = make(1)
    replica.handle(Submit(put(1, "a")))
    effects = replica.handle(Receive(2, m.ReadReply(1, "k", v.EMPTY)))
    seq = persists(effects)[0].seq
    assert not replies(replica.handle(Receive(2, m.PutAck(1, "k", (1, 1)))))  # 1 of W=2: own copy not durable
    (reply,) = replies(replica.handle(Persisted(seq)))
    assert reply.result == Ok(True)


def test_storage_node_acks_a_put_only_behind_its_persist():
    replica = make(2)
    state = v.write(v.EMPTY_CONTEXT, v.Sibling((1, 1), "a", 0.0, 9, 1))
    effects = replica.handle(Receive(1, m.Put(7, "k", state, (1, 1))))
    assert isinstance(effects[0], Persist) and isinstance(effects[1], Send)
    assert effects[1].msg == m.PutAck(7, "k", (1, 1))
    assert replica.state_machine().get("k") == "a"


def test_read_quorum_meets_write_quorum_r_plus_w_above_n():
    """R + W > N: a read started after a write completed sees it, even at the node the
    write never reached (§4.5)."""
    cluster = Cluster(3)
    write = put(1, "a")
    cluster.submit(1, write)
    cluster.deliver(drop=lambda src, send: send.dst == 3)  # node 3 never hears of it
    assert cluster.result(write) == Ok(True)
    assert cluster.value(3) is None
    read = get(2, client=8)
    cluster.submit(3, read)
    cluster.deliver()
    assert cluster.result(read) == Ok("a")
    assert cluster.value(3) == "a"  # read repair brought node 3 up to date


def test_r_plus_w_at_most_n_can_read_stale():
    cluster = Cluster(3, read_level="one", write_level="one")
    write = put(1, "a")
    cluster.submit(1, write)
    assert cluster.result(write) == Ok(True)  # W=1: its own durable copy
    read = get(2, client=8)
    cluster.submit(3, read)  # R=1: node 3's own state, before any Put arrived
    assert cluster.result(read) == Ok(None)


def test_request_level_overrides_the_default():
    cluster = Cluster(3)
    write = put(1, "a", level="one")
    cluster.submit(1, write)
    cluster.deliver(only=lambda src, send: isinstance(send.msg, m.Read | m.ReadReply))
    assert cluster.result(write) == Ok(True)
    read_all = get(2, client=8, level="all")
    cluster.submit(2, read_all)
    cluster.deliver(only=lambda src, send: isinstance(send.msg, m.Read | m.ReadReply))
    assert cluster.result(read_all) == Ok("a")


def test_concurrent_writes_become_siblings_and_every_node_resolves_alike():
    cluster = Cluster(3)
    a, b = put(1, "a", client=7), put(1, "b", client=8)
    cluster.submit(1, a)
    cluster.submit(2, b)
    # both read phases finish before either Put is delivered: neither saw the other
    cluster.deliver(only=lambda src, send: isinstance(send.msg, m.Read | m.ReadReply))
    cluster.deliver()
    assert cluster.result(a) == Ok(True) and cluster.result(b) == Ok(True)
    states = {n: cluster.nodes[n].store.get("k") for n in cluster.members}
    assert {len(s.siblings) for s in states.values()} == {2}
    assert len({cluster.value(n) for n in cluster.members}) == 1
    # a later write read both and overwrites both
    c = put(2, "c", client=7)
    cluster.submit(3, c)
    cluster.deliver()
    assert [s.value for s in cluster.nodes[1].store.get("k").siblings] == ["c"]


def test_lww_option_drops_the_concurrent_sibling():
    cluster = Cluster(3, resolution="lww")
    cluster.submit(1, put(1, "a", client=7))
    cluster.submit(2, put(1, "b", client=8))
    cluster.deliver(only=lambda src, send: isinstance(send.msg, m.Read | m.ReadReply))
    cluster.deliver()
    assert {len(cluster.nodes[n].store.get("k").siblings) for n in cluster.members} == {1}
    assert sum(cluster.nodes[n].store.discarded for n in cluster.members) > 0


def test_incr_reads_the_value_then_writes_the_sum():
    cluster = Cluster(3)
    for seq in (1, 2, 3):
        request = incr(seq, by=5)
        cluster.submit(1 + seq % 3, request)
        cluster.deliver()
        assert cluster.result(request) == Ok(5 * seq)
    assert {cluster.value(n) for n in cluster.members} == {"15"}
    gone = delete(4)
    cluster.submit(1, gone)
    cluster.deliver()
    assert cluster.result(gone) == Ok(1)
    assert {cluster.value(n) for n in cluster.members} == {None}


def test_timeouts_say_whether_the_write_may_have_happened():
    replica = make(1, request_timeout_ms=100.0)
    replica.handle(Tick(0.0))
    read, write = get(1), put(2, "a")
    replica.handle(Submit(read))
    replica.handle(Submit(write))
    results = {r.request: r.result for r in replies(replica.handle(Tick(150.0)))}
    assert isinstance(results[read], Unavailable) and results[read].definite  # nothing written
    assert isinstance(results[write], Unavailable)  # its read phase never finished: no dot issued
    late = put(3, "b")
    replica.handle(Submit(late))
    replica.handle(Receive(2, m.ReadReply(3, "k", v.EMPTY)))  # read phase done, Put sent
    (reply,) = replies(replica.handle(Tick(300.0)))
    assert reply.result == Timeout() and not reply.result.definite


def test_compare_and_set_and_transactions_are_refused_definitely():
    (reply,) = replies(make(1).handle(Submit(Request(9, 1, Cas("k", None, "a")))))
    assert isinstance(reply.result, BadRequest) and "consensus" in reply.result.reason


def test_preference_list_of_k_replicas_sends_others_to_its_first_node():
    members = (1, 2, 3, 4, 5)
    replicas = {n: make(n, members, replicas=3) for n in members}
    preference = replicas[1].ring.preference("k")
    assert len(preference) == 3 and preference == replicas[4].ring.preference("k")
    outside = next(n for n in members if n not in preference)
    (reply,) = replies(replicas[outside].handle(Submit(put(1, "a"))))
    assert reply.result == NotLeader(preference[0])
    effects = replicas[preference[0]].handle(Submit(put(1, "a")))
    assert sorted(s.dst for s in sends(effects, m.Read)) == sorted(n for n in preference if n != preference[0])


def test_a_duplicate_request_never_gets_a_definite_refusal_while_its_copy_runs():
    """dup-requests (issue 8.10): a copy of a write that arrives while the queue is full
    must not be refused definitely while the first copy commits; it is left to the first
    copy, and a copy after the answer gets the same answer."""
    replica = make(1, max_pending=1)
    write = put(1, "a")
    replica.handle(Submit(write))
    assert not replies(replica.handle(Submit(write)))  # the queue is full, but it is a copy
    effects = replica.handle(Receive(2, m.ReadReply(1, "k", v.EMPTY)))
    effects += replica.handle(Persisted(persists(effects)[0].seq))
    effects += replica.handle(Receive(2, m.PutAck(1, "k", (1, 1))))
    assert [r.result for r in replies(effects)] == [Ok(True)]
    assert [r.result for r in replies(replica.handle(Submit(write)))] == [Ok(True)]
    assert replica.store.get("k").siblings[0].dot == (1, 1) and len(replica.store.get("k").siblings) == 1


def test_a_copy_of_a_write_that_ran_elsewhere_never_runs_again():
    """Real-cluster seed 4 (before this rule): a write sent to a paused node was retried
    by its client at another node and completed; when the paused node woke it ran its
    queued copy after later writes, overwriting them with the old value (4 acknowledged
    writes lost). The copy's read phase meets a node the first copy reached (R + W > N)
    and answers indefinitely instead of writing again."""
    cluster = Cluster(3)
    first = put(1, "old", client=7)
    cluster.submit(2, first)  # the client's retry at node 2 completes first
    cluster.deliver()
    assert cluster.result(first) == Ok(True)
    later = put(1, "new", client=8)
    cluster.submit(3, later)
    cluster.deliver()
    cluster.replies.clear()
    cluster.submit(1, first)  # the paused node wakes with the original copy
    cluster.deliver()
    (reply,) = [r.result for r in cluster.replies if r.request == first]
    assert not reply.definite
    assert {cluster.value(n) for n in cluster.members} == {"new"}
