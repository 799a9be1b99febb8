"""MULTI/EXEC/DISCARD and WATCH/UNWATCH of one connection against a fake node, without
sockets: the one ``Txn`` EXEC sends, the exact replies, and what reaches the cluster."""

from __future__ import annotations

import itertools

from test_resp_session import decoded, run

from replikv.core.commands import Append, Delete, Get, Guard, Incr, MGet, Set, Txn
from replikv.resp.protocol import NULL_ARRAY, Simple
from replikv.resp.session import ServerContext, Session
from replikv.resp.testing import FakeCluster


def sessions(count: int = 2, **ctx: object) -> tuple[FakeCluster, list[Session]]:
    """``count`` connections to node 1 of a one-node fake cluster."""
    cluster = FakeCluster(1)
    ids = itertools.count(100)
    context = ServerContext(service=cluster.nodes[1], next_client_id=lambda: next(ids),
                            scheme="fake", **ctx)  # type: ignore[arg-type]
    return cluster, [Session(context, "127.0.0.1") for _ in range(count)]


def test_append_is_a_plain_command_too() -> None:
    cluster, [s] = sessions(1)
    assert run(s, "APPEND", "k", "ab") == b":2\r\n"
    assert run(s, "APPEND", "k", " c") == b":4\r\n"
    assert run(s, "GET", "k") == b"$4\r\nab c\r\n"
    assert cluster.nodes[1].requests[0].command == Append("k", "ab")
    assert run(s, "TXN", "3", "APPEND", "k", "!", "2", "GET", "k") == b"*2\r\n:5\r\n$5\r\nab c!\r\n"


def test_exec_sends_the_queued_commands_as_one_txn_and_answers_each_reply() -> None:
    cluster, [s] = sessions(1)
    run(s, "SET", "s", "x")
    node = cluster.nodes[1]
    before = len(node.requests)
    assert run(s, "MULTI") == b"+OK\r\n"
    for words in (("SET", "a", "1"), ("INCR", "n"), ("APPEND", "a", "2"), ("GET", "a"),
                  ("MGET", "a", "none"), ("EXISTS", "a", "none"), ("MSET", "b", "1", "c", "2"),
                  ("DEL", "b", "c", "none"), ("SET", "s", "y", "GET")):
        assert run(s, *words) == b"+QUEUED\r\n", words
    assert len(node.requests) == before  # nothing reached the cluster before EXEC
    assert decoded(run(s, "EXEC")) == [
        Simple("OK"), 1, 2, b"12", [b"12", None], 1, Simple("OK"), 2, b"x"]
    [request] = node.requests[before:]
    assert request.command == Txn((
        Set("a", "1"), Incr("n", 1), Append("a", "2"), Get("a"), Get("a"), Get("none"),
        Get("a"), Get("none"), Set("b", "1"), Set("c", "2"),
        Delete("b"), Delete("c"), Delete("none"), Set("s", "y", return_old=True)))
    assert cluster.state_machine.items() == {"s": "y", "a": "12", "n": "1"}
    assert run(s, "EXEC") == b"-ERR EXEC without MULTI\r\n"


def test_exec_of_an_empty_transaction_answers_an_empty_array() -> None:
    cluster, [s] = sessions(1)
    assert run(s, "MULTI") == b"+OK\r\n"
    assert run(s, "EXEC") == b"*0\r\n"
    assert cluster.nodes[1].requests == []


def test_an_error_while_queuing_makes_exec_abort_and_nothing_is_applied() -> None:
    """As Redis: unknown commands and wrong arity inside MULTI mark the transaction; so
    do, in replikv, a malformed command and one that cannot go in a transaction."""
    for bad, error in (
        (("NOSUCH", "x"), b"-ERR unknown command 'NOSUCH', with args beginning with: 'x' \r\n"),
        (("GET",), b"-ERR wrong number of arguments for 'get' command\r\n"),
        (("SET", "k", "v", "BOGUS"), b"-ERR syntax error\r\n"),
        (("INCRBY", "k", "x"), b"-ERR value is not an integer or out of range\r\n"),
        (("PING",), None),
        (("WAIT", "1", "0"), None),
        (("RKV", "1", "1", "-", "SET", "k", "v"), None),
    ):
        cluster, [s] = sessions(1)
        assert run(s, "MULTI") == b"+OK\r\n"
        assert run(s, "SET", "a", "1") == b"+QUEUED\r\n"
        reply = run(s, *bad)
        if error is None:
            assert reply.startswith(b"-ERR '") and b"cannot be used inside MULTI" in reply, reply
        else:
            assert reply == error
        assert run(s, "INCR", "n") == b"+QUEUED\r\n"
        assert run(s, "EXEC") == b"-EXECABORT Transaction discarded because of previous errors.\r\n"
        assert cluster.nodes[1].requests == [] and len(cluster.state_machine) == 0, bad
        assert run(s, "GET", "a") == b"$-1\r\n"  # out of the transaction again


def test_a_failing_op_aborts_the_whole_transaction() -> None:
    """Unlike Redis (which applies the other commands): one ``Txn``, all or nothing."""
    cluster, [s] = sessions(1)
    run(s, "SET", "text", "abc")
    run(s, "MULTI")
    run(s, "SET", "a", "1")
    run(s, "INCR", "text")
    reply = run(s, "EXEC")
    assert reply.startswith(b"-ABORTED transaction aborted: value is not an integer")
    assert cluster.state_machine.items() == {"text": "abc"}


def test_discard_drops_the_queue_and_the_watches() -> None:
    cluster, [s, other] = sessions(2)
    assert run(s, "WATCH", "w") == b"+OK\r\n"
    run(s, "MULTI")
    run(s, "SET", "a", "1")
    assert run(s, "DISCARD") == b"+OK\r\n"
    assert run(s, "DISCARD") == b"-ERR DISCARD without MULTI\r\n"
    run(other, "SET", "w", "changed")
    run(s, "MULTI")
    run(s, "SET", "b", "1")
    assert decoded(run(s, "EXEC")) == [Simple("OK")]  # the watch went with DISCARD
    assert cluster.state_machine.get("a") is None and cluster.state_machine.get("b") == "1"


def test_multi_errors_as_redis() -> None:
    cluster, [s] = sessions(1)
    assert run(s, "EXEC") == b"-ERR EXEC without MULTI\r\n"
    assert run(s, "MULTI", "x") == b"-ERR wrong number of arguments for 'multi' command\r\n"
    run(s, "MULTI")
    assert run(s, "MULTI") == b"-ERR MULTI calls can not be nested\r\n"
    assert run(s, "WATCH", "k") == b"-ERR WATCH inside MULTI is not allowed\r\n"
    assert run(s, "SET", "k", "v") == b"+QUEUED\r\n"
    assert decoded(run(s, "EXEC")) == [Simple("OK")]  # neither error marks the transaction
    run(s, "MULTI")
    assert run(s, "QUIT") == b"+OK\r\n" and s.closing
    assert cluster.state_machine.items() == {"k": "v"}


def test_watch_sends_guards_and_a_changed_key_makes_exec_answer_nil() -> None:
    cluster, [s, other] = sessions(2)
    run(other, "SET", "k", "v1")
    assert run(s, "WATCH", "k", "absent", "k") == b"+OK\r\n"
    watch_read = cluster.nodes[1].requests[-1]
    assert watch_read.command == MGet(("k", "absent")) and watch_read.read_level == "linearizable"
    run(other, "SET", "k", "v2")
    run(s, "MULTI")
    run(s, "SET", "k", "mine")
    run(s, "SET", "absent", "mine")
    assert run(s, "EXEC") == b"*-1\r\n"
    assert cluster.nodes[1].requests[-1].command == Txn(
        (Set("k", "mine"), Set("absent", "mine")), (Guard("absent", None), Guard("k", "v1")))
    assert cluster.state_machine.items() == {"k": "v2"}
    # EXEC forgot the watches: the same transaction now applies.
    run(s, "MULTI")
    run(s, "SET", "k", "mine")
    assert decoded(run(s, "EXEC")) == [Simple("OK")]
    assert cluster.state_machine.get("k") == "mine"


def test_nil_exec_is_the_resp3_null_too() -> None:
    _, [s, other] = sessions(2)
    run(s, "HELLO", "3")
    run(s, "WATCH", "k")
    run(other, "SET", "k", "x")
    run(s, "MULTI")
    run(s, "SET", "k", "y")
    assert run(s, "EXEC") == b"_\r\n"
    assert decoded(b"*-1\r\n") is NULL_ARRAY


def test_unchanged_watched_keys_let_exec_apply_and_unwatch_forgets_them() -> None:
    cluster, [s, other] = sessions(2)
    run(s, "WATCH", "k")
    run(other, "SET", "unrelated", "1")
    run(s, "MULTI")
    run(s, "INCR", "k")
    assert run(s, "EXEC") == b"*1\r\n:1\r\n"
    run(s, "WATCH", "k")
    run(other, "SET", "k", "5")
    assert run(s, "UNWATCH") == b"+OK\r\n"
    run(s, "MULTI")
    run(s, "INCR", "k")
    assert run(s, "EXEC") == b"*1\r\n:6\r\n"
    # UNWATCH inside MULTI is queued, answers OK in EXEC's array, and changes nothing.
    run(s, "WATCH", "k")
    run(s, "MULTI")
    assert run(s, "UNWATCH") == b"+QUEUED\r\n"
    run(s, "INCR", "k")
    assert run(s, "EXEC") == b"*2\r\n+OK\r\n:7\r\n"
    assert cluster.state_machine.get("k") == "7"


def test_a_key_changed_and_changed_back_does_not_abort() -> None:
    """The documented difference from Redis: guards compare values, not versions."""
    cluster, [s, other] = sessions(2)
    run(other, "SET", "k", "a")
    run(s, "WATCH", "k")
    run(other, "SET", "k", "b")
    run(other, "SET", "k", "a")
    run(s, "MULTI")
    run(s, "SET", "k", "mine")
    assert run(s, "EXEC") == b"*1\r\n+OK\r\n"
    assert cluster.state_machine.get("k") == "mine"


def test_a_watched_read_only_transaction_checks_its_guards() -> None:
    """A read-only ``Txn`` takes the read path, which ignores guards; EXEC reads the
    watched and the read keys at one linearizable instant instead."""
    cluster, [s, other] = sessions(2)
    run(other, "SET", "k", "1")
    run(s, "WATCH", "k")
    run(s, "MULTI")
    run(s, "GET", "k")
    run(s, "MGET", "k", "j")
    assert decoded(run(s, "EXEC")) == [b"1", [b"1", None]]
    last = cluster.nodes[1].requests[-1]
    assert last.command == MGet(("k", "k", "k", "j")) and last.read_level == "linearizable"
    run(s, "WATCH", "k")
    run(other, "SET", "k", "2")
    run(s, "MULTI")
    run(s, "GET", "k")
    assert run(s, "EXEC") == b"*-1\r\n"
    run(s, "WATCH", "k")
    run(s, "MULTI")
    assert run(s, "EXEC") == b"*0\r\n"  # nothing queued, watch held
    run(s, "WATCH", "k")
    run(other, "SET", "k", "3")
    run(s, "MULTI")
    assert run(s, "EXEC") == b"*-1\r\n"  # nothing queued, watched key changed


def test_a_watch_whose_read_fails_answers_the_error_and_watches_nothing() -> None:
    from replikv.core.errors import Unavailable

    cluster, [s, other] = sessions(2)
    cluster.nodes[1].script.steps.append(Unavailable("no quorum"))
    assert run(s, "WATCH", "k") == b"-UNAVAILABLE no quorum\r\n"
    run(other, "SET", "k", "x")
    run(s, "MULTI")
    run(s, "SET", "k", "y")
    assert run(s, "EXEC") == b"*1\r\n+OK\r\n"


def test_a_scheme_without_transactions_refuses_exec_and_applies_nothing() -> None:
    cluster, [s] = sessions(1, transactions=False)
    run(s, "MULTI")
    assert run(s, "SET", "a", "1") == b"+QUEUED\r\n"
    reply = run(s, "EXEC")
    assert reply == b"-ERR the fake scheme does not offer multi-key transactions; nothing was applied\r\n"
    assert run(s, "TXN", "3", "SET", "a", "1").startswith(b"-ERR the fake scheme does not offer")
    assert run(s, "MSET", "a", "1", "b", "2").startswith(b"-ERR the fake scheme does not offer")
    assert cluster.nodes[1].requests == [] and len(cluster.state_machine) == 0
    assert run(s, "SET", "a", "1") == b"+OK\r\n"  # single-key commands go on
