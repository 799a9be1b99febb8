"""Dotted version vectors with siblings (Preguiça et al. 2010; Almeida et al. 2018 §4.2):
the merge every replica runs is a join, so order and duplication do not matter."""

from __future__ import annotations

import random

from replikv.protocols.quorum import versions as v


def sib(node: int, counter: int, value: str | None = "x", ts: float = 0.0) -> v.Sibling:
    return v.Sibling((node, counter), value, ts, 9, counter)


def test_context_normalises_contiguous_cloud_into_the_vector():
    ctx = v.context_of({}, {(1, 1), (1, 2), (2, 2), (1, 4)})
    assert ctx.vv == ((1, 2),)
    assert ctx.cloud == ((1, 4), (2, 2))
    assert ctx.covers((1, 1)) and ctx.covers((1, 4)) and not ctx.covers((1, 3)) and not ctx.covers((2, 1))
    assert v.add(ctx, (1, 3)).vv == ((1, 4),)


def test_concurrent_writes_stay_siblings_dynamo_4_4():
    a = v.write(v.EMPTY_CONTEXT, sib(1, 1, "a"))
    b = v.write(v.EMPTY_CONTEXT, sib(2, 1, "b"))
    merged = v.merge(a, b)
    assert [s.value for s in merged.siblings] == ["a", "b"]
    assert merged == v.merge(b, a)


def test_a_write_overwrites_exactly_the_dots_it_read():
    a = v.write(v.EMPTY_CONTEXT, sib(1, 1, "a"))
    b = v.write(v.EMPTY_CONTEXT, sib(2, 1, "b"))
    both = v.merge(a, b)
    c = v.write(a.context, sib(3, 1, "c"))  # read only a
    after = v.merge(both, c)
    assert [s.value for s in after.siblings] == ["b", "c"]
    d = v.write(after.context, sib(1, 2, "d"))  # read everything
    assert [s.value for s in v.merge(after, d).siblings] == ["d"]


def test_same_node_concurrent_dots_are_not_confused_dvv_4():
    """Two writes coordinated by one node, each with an empty read context: the second
    dot (1, 2) must not overwrite the first, though a plain version vector {1: 2} would."""
    first = v.write(v.EMPTY_CONTEXT, sib(1, 1, "a"))
    second = v.write(v.EMPTY_CONTEXT, sib(1, 2, "b"))
    assert [s.value for s in v.merge(first, second).siblings] == ["a", "b"]
    # a replica that saw only the second still keeps the first when it arrives
    assert v.merge(second, first) == v.merge(first, second)


def test_resolve_picks_highest_timestamp_then_dot_and_tombstones_read_absent():
    state = v.merge(v.write(v.EMPTY_CONTEXT, sib(1, 1, "a", ts=5)), v.write(v.EMPTY_CONTEXT, sib(2, 1, "b", ts=3)))
    assert v.resolve(state) == "a"
    gone = v.write(state.context, sib(3, 1, None, ts=9))
    assert v.resolve(v.merge(state, gone)) is None
    assert v.resolve(v.EMPTY) is None


def _random_states(rng: random.Random, count: int) -> list[v.KeyState]:
    """States reachable by writes with random read contexts from a shared history."""
    history: list[v.KeyState] = [v.EMPTY]
    counters = {1: 0, 2: 0, 3: 0}
    for _ in range(count):
        base = rng.choice(history)
        for other in rng.sample(history, k=min(2, len(history))):
            if rng.random() < 0.5:
                base = v.merge(base, other)
        node = rng.choice((1, 2, 3))
        counters[node] += 1
        new = v.merge(base, v.write(base.context, sib(node, counters[node], str(rng.random()))))
        history.append(new)
    return history


def test_merge_is_a_join_commutative_associative_idempotent():
    rng = random.Random(15)
    states = _random_states(rng, 40)
    for _ in range(300):
        a, b, c = (rng.choice(states) for _ in range(3))
        assert v.merge(a, b) == v.merge(b, a)
        assert v.merge(v.merge(a, b), c) == v.merge(a, v.merge(b, c))
        assert v.merge(a, a) == a
        assert v.dominated(a, v.merge(a, b))


def test_lww_keeps_only_the_winner():
    state = v.merge(v.write(v.EMPTY_CONTEXT, sib(1, 1, "a", ts=5)), v.write(v.EMPTY_CONTEXT, sib(2, 1, "b", ts=3)))
    kept = v.last_writer_wins(state)
    assert [s.value for s in kept.siblings] == ["a"]
    assert kept.context == state.context
