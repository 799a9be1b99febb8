"""Keys packed into byte strings once the state is large (``kv.packed``): the state
machine answers exactly as with a plain dict, snapshots keep the packed form, and a
million keys cost a fraction of a dict's memory (issue 14, the RSS line)."""

from __future__ import annotations

import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from replikv.core import Ok, Request
from replikv.core.commands import Append, Cas, Delete, Get, Guard, Incr, MGet, Set, Txn
from replikv.kv import KVStateMachine
from replikv.kv.packed import BUCKETS, PackedPairs, digest

# keys and values as RESP decodes them (latin-1: every byte a character), with the
# characters whose code is a packing marker (U+00FF, U+00FE), the empty string, NUL and
# text beyond latin-1 (a client library may send any str)
KEYS = st.sampled_from(["a", "b", "", "ключ", "\xff", "a\xfe", "ab", "\x00", "bb"])
TEXT = st.text(alphabet=st.sampled_from("xy\xff\xfe\x00é1"), max_size=4)
ops = st.one_of(
    st.builds(Set, KEYS, TEXT),
    st.builds(Set, KEYS, TEXT, only_if=st.sampled_from([None, "nx", "xx"]), return_old=st.booleans()),
    st.builds(Delete, KEYS),
    st.builds(Append, KEYS, TEXT),
    st.builds(Incr, KEYS, st.integers(-3, 3)),
    st.builds(Cas, KEYS, st.none() | TEXT, TEXT),
    st.builds(Txn, st.lists(st.builds(Set, KEYS, TEXT) | st.builds(Delete, KEYS) | st.builds(Incr, KEYS, st.integers(0, 2))
                            | st.builds(Get, KEYS), min_size=1, max_size=3).map(tuple),
              st.lists(st.builds(Guard, KEYS, st.none() | TEXT), max_size=1).map(tuple)),
)


def _run(sm: KVStateMachine, commands, start: int = 0) -> list:
    out = []
    for i, command in enumerate(commands):
        out.append(sm.apply(Request(1, start + i + 1, command)))
        out.append(sm.read(Request(2, 1, MGet(("a", "b", "", "\xff", "ab")))))
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(ops, max_size=40), st.integers(1, 4), st.integers(0, 40))
def test_packed_state_answers_exactly_as_a_dict(commands, hot_limit, cut) -> None:
    """Every result, every read, the digest and the items agree with a state that never
    packs (``hot_limit`` 1-4 packs after nearly every write), also across a snapshot
    taken at ``cut`` and restored into a machine that packs at another limit."""
    plain, packed = KVStateMachine(), KVStateMachine(hot_limit=hot_limit)
    assert _run(plain, commands) == _run(packed, commands[:cut]) + _run(
        _restored(packed, hot_limit + 1), commands[cut:], start=min(cut, len(commands)))
    straight = KVStateMachine(hot_limit=hot_limit)
    _run(straight, commands)
    assert straight.items() == plain.items() and straight.digest() == plain.digest()
    assert len(straight) == len(plain)
    for key in ("a", "b", "", "ключ", "\xff", "a\xfe", "ab", "\x00", "bb", "zz"):
        assert straight.get(key) == plain.get(key)
        assert straight.read(Request(3, 1, Get(key))) == plain.read(Request(3, 1, Get(key)))


def _restored(sm: KVStateMachine, hot_limit: int) -> KVStateMachine:
    copy = KVStateMachine(hot_limit=hot_limit)
    copy.restore(sm.snapshot())
    # swap in place: the caller goes on with the copy
    sm.restore(copy.snapshot())
    return sm


def test_a_state_under_the_limit_snapshots_exactly_as_before() -> None:
    """No ``packed`` field until keys were packed: a small state's snapshot bytes (the
    simulator's, the tests') are those of the earlier layout."""
    import msgspec

    sm = KVStateMachine()
    sm.apply(Request(1, 1, Set("k", "v")))
    assert msgspec.msgpack.decode(sm.snapshot()).keys() == {"data", "sessions", "applied"}


def test_packing_moves_keys_at_the_limit_and_snapshots_keep_them_packed() -> None:
    sm = KVStateMachine(hot_limit=100)
    for i in range(250):
        assert sm.apply(Request(1, i + 1, Set(f"key:{i}", f"{i:016d}"))) == Ok(True)
    assert len(sm) == 250 and len(sm._data) == 50 and len(sm._packed) == 200
    assert sm.apply(Request(1, 251, Set("key:7", "new"))) == Ok(True)  # a packed key overwritten
    assert sm.apply(Request(1, 252, Delete("key:8"))) == Ok(1)
    assert len(sm) == 249 and sm.get("key:7") == "new" and sm.get("key:8") is None
    copy = KVStateMachine(hot_limit=100)
    copy.restore(sm.snapshot())
    assert copy.items() == sm.items() and copy.digest() == sm.digest() and copy.snapshot() == sm.snapshot()
    assert len(copy._packed.buckets()) == BUCKETS


def test_an_older_snapshot_of_a_large_state_is_packed_on_restore() -> None:
    big = KVStateMachine(hot_limit=10**9)
    for i in range(300):
        big.apply(Request(1, i + 1, Set(f"k{i}", "v")))
    small = KVStateMachine(hot_limit=100)
    small.restore(big.snapshot())
    assert len(small._data) == 0 and len(small._packed) == 300 and small.items() == big.items()


def test_packed_pairs_find_only_whole_keys() -> None:
    pairs = PackedPairs()
    pairs.add_all([("ab", "1"), ("b", "2"), ("", "3"), ("a", "")])
    pairs.add_all([("\udcff", "lone surrogate"), ("\xfe\xff", "\xff")])
    assert [pairs.get(k) for k in ("ab", "b", "", "a", "x", "a\xfe", "\udcff", "\xfe\xff")] == [
        "1", "2", "3", "", None, None, "lone surrogate", "\xff"]
    assert pairs.pop("\udcff") == "lone surrogate" and pairs.pop("\xfe\xff") == "\xff"
    assert pairs.pop("b") == "2" and pairs.pop("b") is None and len(pairs) == 3
    assert dict(pairs.items()) == {"ab": "1", "": "3", "a": ""}
    assert PackedPairs(pairs.buckets()).get("ab") == "1" and len(PackedPairs(pairs.buckets())) == 3


def _traced_bytes(sm: KVStateMachine, keys: int) -> int:
    tracemalloc.start()
    try:
        for i in range(keys):
            sm.apply(Request(7, i + 1, Set(f"key:{i % 32}:{i}", f"{i:016d}")))
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(sm) == keys and sm.get("key:5:5") == f"{5:016d}"
    return current


def test_packed_keys_cost_a_fraction_of_a_dict() -> None:
    """The RSS line of issue 14 (1,000,000 keys of 16-byte values; a dict of them is
    167.5 MB in a bare interpreter, docs/bench.md). 100,000 keys, 90,000 of them packed:
    under 40% of the same keys in the dict (measured: 32%; the remaining dict of
    recent keys and the session table are the rest)."""
    plain = _traced_bytes(KVStateMachine(hot_limit=10**9, session_limit=10), 100_000)
    packed = _traced_bytes(KVStateMachine(hot_limit=10_000, session_limit=10), 100_000)
    assert packed < 0.4 * plain, (packed, plain)


def test_the_digest_is_remembered_until_the_state_changes() -> None:
    """``cluster wait`` asks every node for its digest on every poll; a large state's
    digest hashes every pair, so it is computed once per state."""
    sm = KVStateMachine(hot_limit=4)
    for i in range(10):
        sm.apply(Request(1, i + 1, Set(f"k{i}", "v")))
    first = sm.digest()
    assert sm._digested == (sm.applied, first) and sm.digest() == first
    sm.apply(Request(1, 11, Set("k3", "changed")))
    changed = sm.digest()
    assert changed != first
    other = KVStateMachine(hot_limit=4)
    for i in range(10):
        other.apply(Request(1, i + 1, Set(f"k{i}", "v")))
    other.apply(Request(1, 11, Set("k3", "w")))  # the same count of applied requests
    assert other.digest() != changed
    other.restore(sm.snapshot())  # same ``applied``, different data: recomputed
    assert other.digest() == changed


def test_a_restore_lets_go_of_the_replaced_state_before_it_decodes_the_new_one(monkeypatch) -> None:
    """An installed snapshot replaces the state: holding both while the new one is built
    would double a large state's memory (1,000,000 keys in one process: high-water 156
    MB with both held, 132 MB, the level before the restore, without)."""
    import replikv.kv.state_machine as state_machine

    sm = KVStateMachine(hot_limit=4)
    for i in range(10):
        sm.apply(Request(1, i + 1, Set(f"k{i}", "v")))
    incoming = KVStateMachine(hot_limit=4)
    incoming.apply(Request(2, 1, Set("new", "x")))
    snapshot = incoming.snapshot()
    real, held = state_machine._DECODER, []

    class Probe:
        def decode(self, data: bytes):
            held.append((sm._packed, dict(sm._data), sm._view))
            return real.decode(data)

    monkeypatch.setattr(state_machine, "_DECODER", Probe())
    sm.restore(snapshot)
    assert held == [(None, {}, {})]
    assert sm.items() == {"new": "x"} and len(sm) == 1


PAIRS = st.dictionaries(st.text(alphabet=st.sampled_from("ab\xff\xfe\x00é"), max_size=3), TEXT, max_size=12)


@settings(max_examples=300, deadline=None)
@given(PAIRS, PAIRS, st.randoms(use_true_random=False))
def test_the_digest_depends_on_the_pairs_only(pairs, other, rnd) -> None:
    """Whichever layer holds a key and in whatever order the pairs came, the digest is
    the same; different pairs give a different digest (replicas compare it)."""
    keys = list(pairs)
    rnd.shuffle(keys)
    cut = rnd.randint(0, len(keys))
    packed = PackedPairs()
    packed.add_all((key, pairs[key]) for key in keys[:cut])
    recent = {key: pairs[key] for key in keys[cut:]}
    assert digest(recent, packed.buckets()) == digest(pairs)
    assert (digest(other) == digest(pairs)) == (other == pairs)


def test_a_digest_job_hashes_the_state_as_it_was_when_asked() -> None:
    """``digest_job`` copies the state when it is called (a node's status hashes off the
    event loop while requests go on applying) and remembers its result only while the
    state is the one it hashed."""
    sm = KVStateMachine(hot_limit=4)
    for i in range(10):
        sm.apply(Request(1, i + 1, Set(f"k{i}", "v")))
    job = sm.digest_job()
    assert callable(job)
    twin = KVStateMachine(hot_limit=64)
    twin.restore(sm.snapshot())
    sm.apply(Request(1, 11, Set("k1", "changed")))
    sm.apply(Request(1, 12, Delete("k8")))
    assert job() == twin.digest()
    assert sm._digested is None  # not remembered: the state has changed since
    assert callable(sm.digest_job()) and sm.digest() != twin.digest()
    assert sm.digest_job() == sm.digest()  # now remembered: no job
    sm.apply(Request(1, 13, Set("k2", "again")))
    fresh = sm.digest_job()
    assert callable(fresh) and fresh() == sm.digest() and sm._digested == (sm.applied, sm.digest())
