"""CRDT values on the dot store (Shapiro et al., SSS 2011): PN-counter, OR-set, and the
register's type rules, through whole write paths and through raw merges."""

from __future__ import annotations

import random

from replikv.core import Request
from replikv.core.commands import Get, Incr, SAdd, Set, SMembers, SRem
from replikv.core.errors import BadRequest, Ok, WrongType
from replikv.protocols.quorum import crdt
from replikv.protocols.quorum import messages as m
from replikv.protocols.quorum import versions as v

from .steps import Cluster


def req(seq: int, command, client: int = 9) -> Request:
    return Request(client, seq, command)


def test_concurrent_increments_at_different_nodes_are_all_kept_pn_counter():
    cluster = Cluster(3, counters="crdt")
    a, b = req(1, Incr("n", 5), client=7), req(1, Incr("n", -2), client=8)
    cluster.submit(1, a)
    cluster.submit(2, b)
    cluster.deliver(only=lambda src, send: isinstance(send.msg, m.Read | m.ReadReply))
    cluster.deliver()
    # each coordinator answered from what it saw: the other increment was concurrent
    assert cluster.result(a) == Ok(5) and cluster.result(b) == Ok(-2)
    assert {cluster.value(n, "n") for n in cluster.members} == {"3"}  # a register would keep one
    c = req(2, Incr("n", 10), client=7)
    cluster.submit(1, c)
    cluster.deliver()
    assert cluster.result(c) == Ok(13)
    entries = cluster.nodes[3].store.get("n").siblings
    assert sorted((s.dot[0], s.value) for s in entries) == [(1, "15:0"), (2, "0:2")]  # one entry per node


def test_by_default_incrby_is_a_register_read_modify_write_and_concurrent_ones_collide():
    cluster = Cluster(3)
    a, b = req(1, Incr("n", 5), client=7), req(1, Incr("n", -2), client=8)
    cluster.submit(1, a)
    cluster.submit(2, b)
    cluster.deliver(only=lambda src, send: isinstance(send.msg, m.Read | m.ReadReply))
    cluster.deliver()
    assert {cluster.value(n, "n") for n in cluster.members} in ({"5"}, {"-2"})  # one increment is hidden
    assert len(cluster.nodes[1].store.get("n").siblings) == 2  # both kept as siblings


def test_or_set_add_wins_over_a_concurrent_remove():
    cluster = Cluster(3, counters="crdt")
    first = req(1, SAdd("s", ("x", "y")))
    cluster.submit(1, first)
    cluster.deliver()
    assert cluster.result(first) == Ok(2)
    remove, readd = req(1, SRem("s", ("x",)), client=7), req(1, SAdd("s", ("x",)), client=8)
    cluster.submit(2, remove)
    cluster.submit(3, readd)
    cluster.deliver(only=lambda src, send: isinstance(send.msg, m.Read | m.ReadReply))
    cluster.deliver()
    assert cluster.result(remove) == Ok(1) and cluster.result(readd) == Ok(0)
    read = req(2, SMembers("s"))
    cluster.submit(1, read)
    cluster.deliver()
    assert cluster.result(read) == Ok(["x", "y"])  # the concurrent add survives the remove
    gone = req(3, SRem("s", ("x", "y")))
    cluster.submit(3, gone)
    cluster.deliver()
    assert cluster.result(gone) == Ok(2)
    assert {cluster.value(n, "s") for n in cluster.members} == {None}  # an empty set is no key (Redis)


def test_wrong_type_is_refused_and_set_overwrites_any_type():
    cluster = Cluster(3, counters="crdt")
    for seq, command in enumerate((SAdd("s", ("x",)), Incr("s", 1), Get("s"), Set("s", "v"), SMembers("s")), 1):
        cluster.submit(1, req(seq, command))
        cluster.deliver()
    results = [cluster.result(req(i, c)) for i, c in enumerate(
        (SAdd("s", ("x",)), Incr("s", 1), Get("s"), Set("s", "v"), SMembers("s")), 1)]
    assert results[0] == Ok(1)
    assert isinstance(results[1], WrongType)
    assert isinstance(results[2], BadRequest)
    assert results[3] == Ok(True)
    assert isinstance(results[4], BadRequest)
    incr_register = req(9, Incr("s", 1))
    cluster.submit(2, incr_register)
    cluster.deliver()
    assert isinstance(cluster.result(incr_register), BadRequest)  # "v" is not an integer


def _random_ops(rng: random.Random, node: int, local: v.KeyState, count: int) -> v.KeyState:
    state = local
    for seq in range(count):
        command = rng.choice((Incr("k", rng.randint(-5, 5)), SAdd("k", (rng.choice("abc"),)),
                              SRem("k", (rng.choice("abc"),))))
        if isinstance(command, Incr):
            command = Incr("n", command.by)
        planned = crdt.plan(Request(node, seq, command), v.EMPTY, state, node, float(seq))
        if planned.delta is not None:
            state = v.merge(state, planned.delta)
    return state


def test_counter_and_set_states_converge_under_any_merge_order_and_duplication():
    """Each node runs its own updates; replicas then receive the states in random order,
    some twice: every replica ends equal, and the counter is the sum of every increment."""
    rng = random.Random(15)
    for _ in range(20):
        states = {node: {"n": v.EMPTY, "k": v.EMPTY} for node in (1, 2, 3)}
        expected = 0
        for node in (1, 2, 3):
            for key in ("n", "k"):
                local = states[node][key]
                before = crdt.counter_total(local) if key == "n" else 0
                states[node][key] = _random_ops(random.Random(rng.random()), node, local, 6)
                if key == "n":
                    expected += crdt.counter_total(states[node][key]) - before
        for key in ("n", "k"):
            deliveries = [states[n][key] for n in (1, 2, 3)] * 2
            finals = []
            for _replica in range(3):
                rng.shuffle(deliveries)
                merged = v.EMPTY
                for state in deliveries:
                    merged = v.merge(merged, state)
                finals.append(merged)
            assert finals[0] == finals[1] == finals[2]
            if key == "n":
                assert crdt.counter_total(finals[0]) == expected


def test_siblings_shows_every_concurrent_value_of_a_multi_value_register():
    from replikv.core.commands import Siblings

    cluster = Cluster(3)
    a, b = req(1, Set("k", "a"), client=7), req(1, Set("k", "b"), client=8)
    cluster.submit(1, a)
    cluster.submit(2, b)
    cluster.deliver(only=lambda src, send: isinstance(send.msg, m.Read | m.ReadReply))
    cluster.deliver()
    both = req(2, Siblings("k"))
    cluster.submit(3, both)
    cluster.deliver()
    assert sorted(cluster.result(both).value) == ["a", "b"]
    one = req(3, Get("k"))
    cluster.submit(3, one)
    cluster.deliver()
    assert cluster.result(one).value == cluster.result(both).value[0]  # GET: the newest
    cluster.submit(1, req(4, SAdd("s", ("x",))))
    cluster.deliver()
    wrong = req(5, Siblings("s"))
    cluster.submit(1, wrong)
    cluster.deliver()
    assert isinstance(cluster.result(wrong), BadRequest)
