"""The key-value state machine: semantics, exactly-once sessions, snapshots."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from replikv.core import Aborted, BadRequest, Ok, Request, Timeout
from replikv.core.commands import (
    GUARD_FAILED,
    Append,
    Cas,
    Delete,
    Get,
    Guard,
    Incr,
    MGet,
    Set,
    Txn,
    keys_of,
)
from replikv.kv import KVStateMachine


def test_basic_commands() -> None:
    sm = KVStateMachine()
    assert sm.apply(Request(1, 1, Set("a", "x"))) == Ok(True)
    assert sm.apply(Request(1, 2, Set("a", "y", only_if="nx"))) == Ok(False)
    assert sm.apply(Request(1, 3, Set("a", "z", only_if="xx", return_old=True))) == Ok("x")
    assert sm.read(Request(2, 1, Get("a"))) == Ok("z")
    assert sm.apply(Request(1, 4, Cas("a", "nope", "w"))) == Ok(False)
    assert sm.apply(Request(1, 5, Cas("a", "z", "w"))) == Ok(True)
    assert sm.apply(Request(1, 6, Cas("b", None, "new"))) == Ok(True)
    assert sm.apply(Request(1, 7, Delete("a"))) == Ok(1)
    assert sm.apply(Request(1, 8, Delete("a"))) == Ok(0)
    assert sm.apply(Request(1, 9, Incr("n", 5))) == Ok(5)
    assert sm.read(Request(2, 2, MGet(("n", "a", "b")))) == Ok(["5", None, "new"])
    assert isinstance(sm.apply(Request(1, 10, Incr("b"))), BadRequest)
    assert isinstance(sm.read(Request(2, 3, Set("a", "x"))), BadRequest)


def test_a_retried_request_is_applied_once() -> None:
    sm = KVStateMachine()
    assert sm.apply(Request(7, 1, Incr("n"))) == Ok(1)
    assert sm.apply(Request(7, 1, Incr("n"))) == Ok(1)
    assert sm.get("n") == "1"
    assert sm.apply(Request(7, 2, Incr("n"))) == Ok(2)
    assert sm.apply(Request(7, 1, Incr("n"))) == Timeout()  # stale: outcome unknown to us
    assert sm.get("n") == "2"


def test_a_failing_transaction_changes_nothing() -> None:
    sm = KVStateMachine()
    sm.apply(Request(1, 1, Set("s", "text")))
    result = sm.apply(Request(1, 2, Txn((Set("a", "1"), Incr("s"), Set("b", "2")))))
    assert isinstance(result, Aborted)
    assert sm.items() == {"s": "text"}
    assert sm.apply(Request(1, 3, Txn((Set("a", "1"), Incr("a"), Get("a"), Delete("s"))))) == Ok([True, 2, "2", 1])
    assert sm.items() == {"a": "2"}


def test_session_table_is_bounded() -> None:
    sm = KVStateMachine(session_limit=2)
    for client in range(1, 4):
        sm.apply(Request(client, 1, Incr("n")))
    # client 1 was evicted: its retry is applied again (the bound's documented cost)
    assert sm.apply(Request(1, 1, Incr("n"))) == Ok(4)
    assert sm.apply(Request(3, 1, Incr("n"))) == Ok(3)


ops = st.one_of(
    st.builds(Set, st.sampled_from("abc"), st.text(max_size=3)),
    st.builds(Delete, st.sampled_from("abc")),
    st.builds(Incr, st.sampled_from("abc"), st.integers(-3, 3)),
    st.builds(Cas, st.sampled_from("abc"), st.none() | st.text(max_size=2), st.text(max_size=2)),
)


@given(st.lists(ops, max_size=30), st.integers(0, 30))
def test_snapshot_restore_then_continue_equals_straight_run(commands, cut) -> None:
    straight, first = KVStateMachine(), KVStateMachine()
    results_a = [straight.apply(Request(1, i + 1, c)) for i, c in enumerate(commands)]
    results_b = [first.apply(Request(1, i + 1, c)) for i, c in enumerate(commands[:cut])]
    second = KVStateMachine()
    second.restore(first.snapshot())
    results_b += [second.apply(Request(1, i + 1, c)) for i, c in enumerate(commands) if i >= cut]
    assert results_a == results_b
    assert straight.digest() == second.digest()
    assert straight.items() == second.items()


def test_append_creates_and_extends_and_returns_the_length():
    sm = KVStateMachine()
    assert sm.apply(Request(1, 1, Append("l", "1 "))) == Ok(2)
    assert sm.apply(Request(1, 2, Append("l", "2 "))) == Ok(4)
    assert sm.get("l") == "1 2 "


def test_txn_with_a_guard_that_holds_applies_every_op():
    sm = KVStateMachine()
    sm.apply(Request(1, 1, Set("w", "a")))
    txn = Txn(ops=(Append("l", "x "), Set("w", "b")), guards=(Guard("w", "a"), Guard("absent", None)))
    assert sm.apply(Request(1, 2, txn)) == Ok([2, True])
    assert sm.get("l") == "x " and sm.get("w") == "b"


def test_txn_whose_guard_fails_applies_nothing_and_is_a_definite_abort():
    sm = KVStateMachine()
    sm.apply(Request(1, 1, Set("w", "changed")))
    txn = Txn(ops=(Append("l", "x "), Set("w", "b")), guards=(Guard("w", "a"),))
    result = sm.apply(Request(1, 2, txn))
    assert result == Aborted(GUARD_FAILED) and result.definite
    assert sm.get("l") is None and sm.get("w") == "changed"
    # A retry of the same request gets the same answer (exactly-once), even if the guard holds now.
    sm.apply(Request(2, 1, Set("w", "a")))
    assert sm.apply(Request(1, 2, txn)) == Aborted(GUARD_FAILED)


def test_keys_of_a_txn_include_its_guards():
    assert keys_of(Txn(ops=(Append("b", "1"),), guards=(Guard("a", None),))) == ("a", "b")


def test_commands_found_by_type_keep_their_results_and_errors() -> None:
    """Data commands are executed by a function found by their exact type (issue 14);
    a subclass of a command type still runs as that command, and a command with no
    function is refused with the same message as before."""
    from replikv.core.commands import SAdd, Sync

    class MySet(Set, frozen=True):
        pass

    sm = KVStateMachine()
    assert sm.apply(Request(1, 1, MySet("k", "v"))) == Ok(True)
    assert sm.get("k") == "v"
    assert sm.apply(Request(1, 2, Append("k", "w"))) == Ok(2)
    assert sm.apply(Request(1, 3, Sync())) == BadRequest("unsupported command Sync")
    assert sm.apply(Request(1, 4, SAdd("s", ("m",)))) == BadRequest("unsupported command SAdd")
    assert sm.apply(Request(1, 5, Txn((Set("a", "1"), SAdd("s", ("m",)))))) == Aborted(
        "transaction aborted: unsupported command SAdd"
    )
    assert sm.items() == {"k": "vw"}
