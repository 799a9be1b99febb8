"""Commands of one connection against a fake node, without sockets: the requests they
become, the exact replies (Redis's texts), request identity and the extensions."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from replikv.core.commands import Cas, Delete, Get, Incr, MGet, Set, Txn
from replikv.core.errors import (
    Aborted,
    BadRequest,
    ConnectionLost,
    NotLeader,
    Timeout,
    Unavailable,
    WrongType,
)
from replikv.resp.commands import client_error_from_reply, render_error
from replikv.resp.protocol import INCOMPLETE, Map, ReplyParser, RespSet, Simple, Verbatim
from replikv.resp.session import ServerContext, Session, is_loopback
from replikv.resp.testing import FakeCluster


def make(size: int = 1, peer: str = "127.0.0.1", **ctx: object) -> tuple[FakeCluster, Session]:
    cluster = FakeCluster(size)
    ids = itertools.count(100)
    context = ServerContext(
        service=cluster.nodes[1], next_client_id=lambda: next(ids), scheme="fake", **ctx
    )
    return cluster, Session(context, peer)


def run(session: Session, *words: str | bytes) -> bytes:
    argv = [w if isinstance(w, bytes) else w.encode() for w in words]
    return asyncio.run(asyncio.wait_for(session.execute(argv), 5))


def decoded(reply: bytes) -> object:
    parser = ReplyParser()
    parser.feed(reply)
    value = parser.next_reply()
    assert value is not INCOMPLETE and parser.next_reply() is INCOMPLETE
    return value


def test_strings_round_trip_every_byte_through_latin1() -> None:
    cluster, s = make()
    value = bytes(range(256))
    assert run(s, "SET", b"k\xff", value) == b"+OK\r\n"
    assert run(s, "GET", b"k\xff") == b"$256\r\n" + value + b"\r\n"
    assert cluster.state_machine.get("k\xff") == value.decode("latin-1")
    assert run(s, "get", "missing") == b"$-1\r\n"


def test_set_options_as_redis() -> None:
    _, s = make()
    assert run(s, "SET", "k", "1", "NX") == b"+OK\r\n"
    assert run(s, "SET", "k", "2", "nx") == b"$-1\r\n"
    assert run(s, "SET", "k", "3", "XX", "GET") == b"$1\r\n1\r\n"
    assert run(s, "SET", "j", "3", "XX") == b"$-1\r\n"
    assert run(s, "SET", "k", "4", "NX", "XX") == b"-ERR syntax error\r\n"
    assert run(s, "SET", "k", "4", "EX", "10").startswith(b"-ERR expiry is not supported")
    assert run(s, "SET", "k", "4", "KEEPTTL").startswith(b"-ERR expiry is not supported")
    assert run(s, "GET", "k") == b"$1\r\n3\r\n"
    assert run(s, "SETNX", "k", "5") == b":0\r\n"


def test_multi_key_commands_are_atomic_transactions() -> None:
    cluster, s = make()
    assert run(s, "MSET", "a", "1", "b", "2") == b"+OK\r\n"
    assert cluster.nodes[1].requests[-1].command == Txn((Set("a", "1"), Set("b", "2")))
    assert run(s, "MGET", "a", "x", "b") == b"*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n"
    assert run(s, "EXISTS", "a", "a", "x") == b":2\r\n"
    assert cluster.nodes[1].requests[-1].command == MGet(("a", "a", "x"))
    assert run(s, "DEL", "a", "a", "x") == b":1\r\n"
    assert cluster.nodes[1].requests[-1].command == Txn((Delete("a"), Delete("a"), Delete("x")))
    assert run(s, "DEL", "b") == b":1\r\n"
    assert cluster.nodes[1].requests[-1].command == Delete("b")
    assert run(s, "MSET", "a", "1", "b") == b"-ERR wrong number of arguments for 'mset' command\r\n"


def test_counters() -> None:
    cluster, s = make()
    assert run(s, "INCR", "n") == b":1\r\n"
    assert run(s, "INCRBY", "n", "10") == b":11\r\n"
    assert run(s, "DECR", "n") == b":10\r\n"
    assert run(s, "DECRBY", "n", "-5") == b":15\r\n"
    assert cluster.nodes[1].requests[-1].command == Incr("n", 5)
    assert run(s, "INCRBY", "n", "x") == b"-ERR value is not an integer or out of range\r\n"
    assert run(s, "DECRBY", "n", str(-(2**63))) == b"-ERR decrement would overflow\r\n"
    run(s, "SET", "s", "abc")
    assert run(s, "INCR", "s") == b"-ERR value is not an integer or out of range\r\n"
    run(s, "SET", "big", str(2**63 - 1))
    assert run(s, "INCR", "big") == b"-ERR increment or decrement would overflow\r\n"


def test_cas_and_casnx() -> None:
    cluster, s = make()
    assert run(s, "CASNX", "k", "a") == b":1\r\n"
    assert cluster.nodes[1].requests[-1].command == Cas("k", None, "a")
    assert run(s, "CASNX", "k", "b") == b":0\r\n"
    assert run(s, "CAS", "k", "b", "c") == b":0\r\n"
    assert run(s, "CAS", "k", "a", "c") == b":1\r\n"
    assert run(s, "GET", "k") == b"$1\r\nc\r\n"


def test_txn_applies_all_or_nothing() -> None:
    cluster, s = make()
    reply = run(
        s, "TXN", "3", "SET", "a", "1", "2", "INCR", "a", "2", "GET", "a", "4", "CAS", "a", "2", "x"
    )
    assert decoded(reply) == [decoded(b"+OK\r\n"), 2, b"2", 1]
    assert cluster.nodes[1].requests[-1].command == Txn(
        (Set("a", "1"), Incr("a", 1), Get("a"), Cas("a", "2", "x"))
    )
    reply = run(s, "TXN", "3", "SET", "b", "1", "2", "INCR", "a")
    assert reply.startswith(b"-ABORTED transaction aborted: value is not an integer")
    assert cluster.state_machine.get("b") is None
    assert run(s, "TXN", "2", "PING", "x").startswith(b"-ERR 'ping' is not allowed inside TXN")
    assert run(s, "TXN", "5", "GET", "a").startswith(b"-ERR syntax error")


def test_unknown_commands_and_arity_errors_match_redis_text() -> None:
    _, s = make()
    assert run(s, "FOO", "a", "b\r\nc") == (
        b"-ERR unknown command 'FOO', with args beginning with: 'a' 'b  c' \r\n"
    )
    assert run(s, "foo") == b"-ERR unknown command 'foo', with args beginning with: \r\n"
    assert run(s, "GET") == b"-ERR wrong number of arguments for 'get' command\r\n"
    assert run(s, "Ping", "a", "b") == b"-ERR wrong number of arguments for 'ping' command\r\n"
    assert (
        run(s, "CLIENT", "SETNAME")
        == b"-ERR wrong number of arguments for 'client|setname' command\r\n"
    )


@pytest.mark.parametrize(
    ("error", "reply"),
    [
        (NotLeader(2), b"-NOTLEADER not the leader; leader is node 2\r\n"),
        (NotLeader(None), b"-NOTLEADER not the leader; leader unknown\r\n"),
        (Unavailable("no quorum"), b"-UNAVAILABLE no quorum\r\n"),
        (Aborted("conflict"), b"-ABORTED conflict\r\n"),
        (BadRequest("too big"), b"-ERR too big\r\n"),
        (WrongType(), b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        (Timeout(), b"-TIMEOUT timed out; the operation may or may not have taken effect\r\n"),
        (
            ConnectionLost(),
            b"-TIMEOUT connection lost; the operation may or may not have taken effect\r\n",
        ),
    ],
)
def test_cluster_errors_become_typed_replies_and_back(error, reply: bytes) -> None:
    cluster, s = make()
    cluster.nodes[1].script.steps.append(error)
    assert run(s, "SET", "k", "v") == reply
    assert cluster.state_machine.get("k") is None
    assert client_error_from_reply(decoded(render_error(error))) == error


def test_a_failing_service_answers_an_indefinite_error() -> None:
    cluster, s = make()

    async def broken(request):
        raise RuntimeError("bug")

    cluster.nodes[1].execute = broken
    assert run(s, "SET", "k", "v").startswith(b"-TIMEOUT ")


def test_plain_connection_identity_and_read_level() -> None:
    cluster, s = make()
    run(s, "SET", "a", "1")
    run(s, "GET", "a")
    assert run(s, "READLEVEL", "local") == b"+OK\r\n"
    assert run(s, "READLEVEL") == b"$5\r\nlocal\r\n"
    assert run(s, "READLEVEL", "eventual").startswith(b"-ERR read level must be")
    run(s, "GET", "a")
    requests = cluster.nodes[1].requests
    assert [(r.client_id, r.seq, r.read_level) for r in requests] == [
        (100, 1, "linearizable"),
        (100, 2, "linearizable"),
        (100, 3, "local"),
    ]
    assert run(s, "CLIENT", "ID") == b":100\r\n"


def test_rkv_retry_of_a_write_whose_reply_was_lost_applies_once() -> None:
    cluster, s = make()
    cluster.nodes[1].script.steps.append("apply-lose-reply")
    assert run(s, "RKV", "7", "1", "-", "INCR", "n").startswith(b"-TIMEOUT")
    assert run(s, "RKV", "7", "1", "-", "INCR", "n") == b":1\r\n"  # the remembered result
    assert cluster.state_machine.get("n") == "1"
    assert [(r.client_id, r.seq) for r in cluster.applied] == [(7, 1), (7, 1)]
    assert run(s, "RKV", "7", "2", "local", "GET", "n") == b"$1\r\n1\r\n"
    assert cluster.nodes[1].requests[-1].read_level == "local"
    assert run(s, "RKV", "0", "1", "-", "GET", "n").startswith(b"-ERR RKV client_id must be")
    assert run(s, "RKV", "7", "3", "-", "PING").startswith(b"-ERR RKV wraps only data commands")
    assert run(s, "RKV", "7", "3", "fast", "GET", "n").startswith(b"-ERR read level")


def test_wait_asks_for_the_index_of_this_clients_last_write() -> None:
    cluster, s = make(size=3)
    run(s, "SET", "a", "1")
    run(s, "RKV", "9", "1", "-", "SET", "b", "1")
    run(s, "SET", "c", "1")
    assert run(s, "WAIT", "2", "100") == b":2\r\n"
    assert cluster.nodes[1].wait_calls == [(3, 2, 100)]
    run(s, "RKV", "9", "2", "-", "SET", "d", "1")
    run(s, "WAIT", "1", "0")
    assert cluster.nodes[1].wait_calls[-1] == (4, 1, 0)
    assert run(s, "WAIT", "1", "-1") == b"-ERR timeout is negative\r\n"


def test_rkvadmin_from_loopback_only_unless_allowed() -> None:
    cluster, s = make()
    assert run(s, "RKVADMIN", "echo", "hi", "there") == b"+hi there\r\n"
    assert run(s, "RKVADMIN", "nope") == b"-ERR unknown admin verb 'nope'\r\n"
    _, remote = make(peer="10.1.2.3")
    assert run(remote, "RKVADMIN", "echo", "x").startswith(
        b"-ERR RKVADMIN is accepted only from a loopback"
    )
    _, allowed = make(peer="10.1.2.3", admin_from="any")
    assert run(allowed, "RKVADMIN", "echo", "x") == b"+x\r\n"
    assert is_loopback("::1") and is_loopback("::ffff:127.0.0.1") and not is_loopback("192.168.0.1")


def test_handshake_and_introspection_commands() -> None:
    _, s = make(size=3)
    hello = decoded(run(s, "HELLO", "2", "SETNAME", "me"))
    assert dict(zip(hello[::2], hello[1::2], strict=True))[b"proto"] == 2
    assert run(s, "CLIENT", "GETNAME") == b"$2\r\nme\r\n"
    assert run(s, "HELLO", "4") == b"-NOPROTO sorry, this protocol version is not supported.\r\n"
    assert run(s, "HELLO", "x").startswith(b"-ERR Protocol version is not an integer")
    assert run(s, "SELECT", "0") == b"+OK\r\n"
    assert run(s, "SELECT", "1") == b"-ERR DB index is out of range\r\n"
    assert run(s, "CLIENT", "SETNAME", "a b").startswith(b"-ERR Client names cannot contain spaces")
    assert run(s, "CLIENT", "SETINFO", "LIB-NAME", "redis-py") == b"+OK\r\n"
    assert run(s, "CONFIG", "GET", "save") == b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n"
    assert decoded(run(s, "CONFIG", "GET", "appendonly")) == [b"appendonly", b"no"]
    assert run(s, "CONFIG", "SET", "save", "").startswith(b"-ERR CONFIG SET is not supported")
    assert decoded(run(s, "COMMAND", "COUNT")) == len(decoded(run(s, "COMMAND")))
    docs = decoded(run(s, "COMMAND", "DOCS", "get"))
    assert docs[0] == b"get" and b"summary" in docs[1]
    assert decoded(run(s, "COMMAND", "INFO", "get", "nope"))[1] is None
    assert decoded(run(s, "ROLE"))[:2] == [b"master", 0]
    info = run(s, "INFO", "replication").decode()
    assert (
        "role:master" in info
        and "peer0:node=2,match_index=0,lag=0" in info
        and "# Server" not in info
    )
    assert "replication_scheme:fake" in run(s, "INFO").decode()
    assert run(s, "QUIT") == b"+OK\r\n" and s.closing


# -- RESP3 (HELLO 3) --------------------------------------------------------------------


def test_hello_switches_the_protocol_and_answers_in_the_new_one() -> None:
    _, s = make(size=3)
    reply = run(s, "HELLO", "3", "AUTH", "default", "pw", "SETNAME", "me")
    assert reply == (
        b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.0.0\r\n"
        b"$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:100\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n"
        b"$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
    )
    assert s.protocol == 3 and run(s, "CLIENT", "GETNAME") == b"$2\r\nme\r\n"
    # no version: the current protocol, in the current protocol
    assert decoded(run(s, "HELLO")).to_dict()[b"proto"] == 3
    # refused versions and bad options switch nothing
    assert run(s, "HELLO", "2", "AUTH", "alice", "pw").startswith(b"-WRONGPASS")
    assert run(s, "HELLO", "2", "FOO").startswith(b"-ERR Syntax error in HELLO option 'FOO'")
    assert run(s, "HELLO", "1").startswith(b"-NOPROTO")
    assert s.protocol == 3 and run(s, "GET", "none") == b"_\r\n"
    hello = run(s, "HELLO", "2")
    assert hello.startswith(b"*14\r\n") and decoded(hello)[5] == 2
    assert s.protocol == 2 and run(s, "GET", "none") == b"$-1\r\n"
    assert decoded(run(s, "HELLO"))[5] == 2


def resp3(size: int = 1) -> tuple[FakeCluster, Session]:
    cluster, s = make(size)
    assert run(s, "HELLO", "3").startswith(b"%7\r\n")
    return cluster, s


def test_resp3_data_commands_use_the_resp3_null() -> None:
    _, s = resp3()
    assert run(s, "GET", "k") == b"_\r\n"
    assert run(s, "SET", "k", "1") == b"+OK\r\n"
    assert run(s, "SET", "k", "2", "NX") == b"_\r\n"  # not set: null, as Redis 7
    assert run(s, "SET", "j", "2", "XX", "GET") == b"_\r\n"
    assert run(s, "SET", "k", "2", "GET") == b"$1\r\n1\r\n"
    assert run(s, "MGET", "k", "x") == b"*2\r\n$1\r\n2\r\n_\r\n"
    assert run(s, "EXISTS", "k", "x") == b":1\r\n"
    assert run(s, "INCR", "n") == b":1\r\n"
    assert run(s, "CAS", "n", "1", "5") == b":1\r\n"
    assert run(s, "CASNX", "n", "5") == b":0\r\n"
    assert run(s, "DEL", "k", "x") == b":1\r\n"
    assert run(s, "TXN", "2", "GET", "k", "2", "INCR", "n") == b"*2\r\n_\r\n:6\r\n"
    assert run(s, "RKV", "5", "1", "-", "GET", "k") == b"_\r\n"
    assert run(s, "MSET", "a", "1") == b"+OK\r\n"
    assert run(s, "INCR", "a", "b").startswith(b"-ERR wrong number of arguments")


def test_resp3_errors_are_unchanged() -> None:
    cluster, s = resp3()
    cluster.nodes[1].script.steps.append(NotLeader(2))
    assert run(s, "SET", "k", "v") == b"-NOTLEADER not the leader; leader is node 2\r\n"
    assert run(s, "NOPE") == b"-ERR unknown command 'NOPE', with args beginning with: \r\n"


def test_resp3_introspection_uses_maps_sets_and_verbatim_text() -> None:
    _, s = resp3(size=3)
    assert run(s, "CONFIG", "GET", "save") == b"%1\r\n$4\r\nsave\r\n$0\r\n\r\n"
    assert decoded(run(s, "CONFIG", "GET", "nothing*")) == Map([])
    docs = decoded(run(s, "COMMAND", "DOCS", "get", "nope"))
    assert isinstance(docs, Map) and [k for k, _ in docs.pairs] == [b"get"]
    assert docs.to_dict()[b"get"].to_dict()[b"summary"] == b"Get the value of a key"
    get_info, missing = decoded(run(s, "COMMAND", "INFO", "get", "nope"))
    assert missing is None and get_info[:2] == [b"get", 2]
    assert get_info[2] == RespSet([Simple("readonly"), Simple("fast")])
    assert get_info[6] == RespSet([]) and get_info[8] == []
    info = decoded(run(s, "INFO"))
    assert isinstance(info, Verbatim) and info.format == "txt"
    assert b"resp_protocol:3\r\n" in info.data and b"role:master\r\n" in info.data
    client = decoded(run(s, "CLIENT", "INFO"))
    assert isinstance(client, Verbatim) and client.data.startswith(b"id=100 ")
    assert run(s, "CLIENT", "GETNAME") == b"_\r\n"
    assert run(s, "CLIENT", "ID") == b":100\r\n"
    assert decoded(run(s, "ROLE")) == [b"master", 0, [[b"2", b"0", b"0"], [b"3", b"0", b"0"]]]
    assert run(s, "WAIT", "1", "0") == b":2\r\n"
    assert run(s, "PING") == b"+PONG\r\n" and run(s, "ECHO", "x") == b"$1\r\nx\r\n"
    assert run(s, "READLEVEL") == b"$12\r\nlinearizable\r\n"
    assert run(s, "COMMAND", "COUNT").startswith(b":")


def test_exec_and_discard_without_multi_answer_as_redis() -> None:
    cluster, s = make()
    assert run(s, "EXEC") == b"-ERR EXEC without MULTI\r\n"
    assert run(s, "DISCARD") == b"-ERR DISCARD without MULTI\r\n"
    assert run(s, "MULTI", "x") == b"-ERR wrong number of arguments for 'multi' command\r\n"
    assert cluster.nodes[1].requests == []


def test_quit_inside_multi_still_closes() -> None:
    _, s = make()
    run(s, "MULTI")
    assert run(s, "QUIT") == b"+OK\r\n" and s.closing
