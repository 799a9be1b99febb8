"""The asyncio RESP server over real loopback sockets (port 0, every wait bounded), and
redis-py (asyncio) against it."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable

import pytest
import redis as redis_sync
import redis.asyncio as redis

from replikv.core.commands import Txn
from replikv.core.errors import Ok
from replikv.resp.server import buffer_budget, close_resp, serve_resp
from replikv.resp.testing import FakeCluster

LIMIT_S = 10


def with_server(
    body: Callable[..., Awaitable[None]], size: int = 1, **options: object
) -> FakeCluster:
    """Start a server on the leader of a fake cluster, run ``body(cluster, port)``, stop."""
    cluster = FakeCluster(size)
    _serving(cluster.nodes[1], lambda port, _server: body(cluster, port), **options)
    return cluster


def _serving(service, body: Callable[[int, asyncio.Server], Awaitable[None]], **options: object) -> None:
    """Serve ``service`` on a free port, run ``body(port, server)`` (bounded), stop."""
    async def main() -> None:
        ids = itertools.count(1)
        server = await serve_resp(service, port=0, client_ids=lambda: next(ids), **options)
        port = server.sockets[0].getsockname()[1]
        try:
            await asyncio.wait_for(body(port, server), LIMIT_S)
        finally:
            await asyncio.wait_for(close_resp(server), LIMIT_S)

    asyncio.run(main())


async def read_until_eof(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(-1), LIMIT_S)


async def read_exactly(reader: asyncio.StreamReader, expected: bytes) -> None:
    assert await asyncio.wait_for(reader.readexactly(len(expected)), LIMIT_S) == expected


async def until_connected_clients(port: int, count: int) -> None:
    """Poll INFO on a connection of its own until the server counts ``count`` clients."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            writer.write(b"INFO clients\r\n")
            header = await reader.readline()
            body = await reader.readexactly(int(header[1:]) + 2)
            if f"connected_clients:{count}\r\n".encode() in body:
                return
            await asyncio.sleep(0.02)
    finally:
        writer.close()


def test_pipelined_commands_are_answered_in_order_even_sent_byte_by_byte() -> None:
    async def body(cluster: FakeCluster, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n1\r\nINCR k\r\nGET k\r\nPING\r\n"
        for i in range(len(request)):
            writer.write(request[i : i + 1])
            await writer.drain()
        await read_exactly(reader, b"+OK\r\n:2\r\n$1\r\n2\r\n+PONG\r\n")
        writer.write(b"*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n" * 100 + b"QUIT\r\nGET k\r\n")
        expected = b"".join(b":%d\r\n" % n for n in range(3, 103)) + b"+OK\r\n"
        assert await read_until_eof(reader) == expected  # nothing after QUIT is run
        writer.close()

    cluster = with_server(body)
    assert cluster.state_machine.get("k") == "102"


def test_malformed_frame_gets_an_error_then_close_and_the_server_lives_on() -> None:
    async def body(cluster: FakeCluster, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"PING\r\n*1\r\n$x\r\nPING\r\n")
        assert (
            await read_until_eof(reader) == b"+PONG\r\n-ERR Protocol error: invalid bulk length\r\n"
        )
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"*1\r\n$99999999999\r\n")
        assert await read_until_eof(reader) == b"-ERR Protocol error: invalid bulk length\r\n"
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"PING\r\n")
        await read_exactly(reader, b"+PONG\r\n")
        writer.close()

    with_server(body, max_bulk=1024)


def test_query_buffer_and_inline_limits_close_the_connection() -> None:
    async def body(cluster: FakeCluster, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000\r\n" + b"x" * 600)
        assert (
            await read_until_eof(reader) == b"-ERR Protocol error: query buffer limit exceeded\r\n"
        )
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"x" * 300)
        assert await read_until_eof(reader) == b"-ERR Protocol error: too big inline request\r\n"
        writer.close()

    cluster = with_server(body, max_query_buffer=512, max_inline=256)
    assert cluster.state_machine.get("k") is None


def test_max_clients_and_idle_timeout() -> None:
    async def body(cluster: FakeCluster, port: int) -> None:
        r1, w1 = await asyncio.open_connection("127.0.0.1", port)
        w1.write(b"PING\r\n")
        await read_exactly(r1, b"+PONG\r\n")
        r2, w2 = await asyncio.open_connection("127.0.0.1", port)
        assert await read_until_eof(r2) == b"-ERR max number of clients reached\r\n"
        w2.close()
        assert await read_until_eof(r1) == b""  # idle: closed silently
        w1.close()

    with_server(body, max_clients=1, idle_timeout=0.2)


def test_a_client_that_stops_reading_is_dropped_not_buffered_forever() -> None:
    value = b"v" * 100_000
    requests = 400

    async def body(cluster: FakeCluster, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1024)
        writer.transport.pause_reading()
        writer.write(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n%b\r\n" % (len(value), value))
        writer.write(b"GET k\r\n" * requests)
        await asyncio.wait_for(writer.drain(), LIMIT_S)
        # The server is now blocked writing replies nobody reads; it must give up.
        await asyncio.wait_for(until_connected_clients(port, 1), LIMIT_S)  # only the poller left
        writer.transport.resume_reading()
        received = len(await read_until_eof(reader))
        assert received < requests * len(value)
        writer.close()

    with_server(body, max_output_buffer=64 * 1024, write_timeout=0.1, max_bulk=1 << 20)


class _Caller:
    """Runs the same redis-py scenario with the asyncio client (await the call) or the
    sync one (run the call in a worker thread so the server's event loop keeps going)."""

    def __init__(self, mode: str, port: int, protocol: int | None) -> None:
        options: dict = {"host": "127.0.0.1", "port": port, "socket_timeout": LIMIT_S}
        if protocol is not None:
            options["protocol"] = protocol
        self.sync = mode == "sync"
        self.r = (redis_sync.Redis if self.sync else redis.Redis)(**options)

    async def __call__(self, method: str, *args: object, **kwargs: object) -> object:
        return await self.call(getattr(self.r, method), *args, **kwargs)

    async def call(self, fn: Callable[..., object], *args: object, **kwargs: object) -> object:
        if self.sync:
            return await asyncio.to_thread(fn, *args, **kwargs)
        return await fn(*args, **kwargs)  # type: ignore[misc]

    async def close(self) -> None:
        await self.call(self.r.close if self.sync else self.r.aclose)


@pytest.mark.parametrize("mode", ["async", "sync"])
@pytest.mark.parametrize("protocol", [None, 2, 3], ids=["default", "resp2", "resp3"])
def test_redis_py_against_the_server(mode: str, protocol: int | None) -> None:
    """redis-py as users run it: the default (RESP3 since redis-py 8, ``HELLO 3`` on
    connect), explicit ``protocol=2`` and ``protocol=3``; asyncio and sync clients."""

    async def body(cluster: FakeCluster, port: int) -> None:
        r = _Caller(mode, port, protocol)
        try:
            await scenario(r, cluster)
        finally:
            await r.close()

    async def scenario(r: _Caller, cluster: FakeCluster) -> None:
        assert await r("ping") is True
        assert await r("set", "a", "1") is True
        assert await r("get", "a") == b"1"
        assert await r("get", "missing") is None
        assert await r("set", "a", "2", nx=True) is None
        assert await r("set", "a", "2", get=True) == b"1"
        assert await r("set", "fresh", "2", xx=True, get=True) is None
        assert await r("incr", "n") == 1 and await r("incrby", "n", 9) == 10
        assert await r("decr", "n") == 9
        assert await r("mset", {"x": "1", "y": b"\x00\xff"}) is True
        assert await r("mget", "x", "y", "z") == [b"1", b"\x00\xff", None]
        assert await r("exists", "x", "y", "z") == 2
        assert await r("delete", "x", "y", "z") == 2
        pipe = r.r.pipeline(transaction=False)
        pipe.set("p", "0")
        for _ in range(10):
            pipe.incr("p")
        pipe.get("p")
        pipe.get("nothing")
        pipe.set("p", "x", nx=True)
        assert await r.call(pipe.execute) == [True, *range(1, 11), b"10", None, None]
        assert await r("wait", 2, 100) == 2
        info = await r("info")
        assert info["role"] == "master" and info["connected_slaves"] == 2 and info["node_id"] == 1
        assert info["peer0"] == {"node": 2, "match_index": cluster.index, "lag": 0}
        assert info["resp_protocol"] == (protocol or 3)
        assert (await r("info", "server"))["redis_version"] == "7.0.0"
        assert await r("execute_command", "CAS", "a", "2", "3") == 1
        assert await r("execute_command", "CASNX", "a", "9") == 0
        txn = await r(
            "execute_command", "TXN", "2", "GET", "a", "2", "GET", "none", "2", "INCR", "t"
        )
        assert txn == [b"3", None, 1]
        config = await r("config_get", "save")
        assert config == {"save": ""}
        assert await r("client_setname", "tester") is True
        # redis-py's explicit-RESP3 callbacks leave CLIENT GETNAME as bytes (so with Redis)
        assert await r("client_getname") == (b"tester" if protocol == 3 else "tester")
        assert (await r("client_info"))["name"] == "tester"
        assert isinstance(await r("client_id"), int)
        assert (await r("role"))[0] == b"master"
        assert "get" in await r("command")
        assert await r("set", "s", "hello") is True
        assert await r("strlen", "s") == 5 and await r("strlen", "nope") == 0
        assert await r("getrange", "s", 1, 3) == b"ell" and await r("getrange", "s", -3, -1) == b"llo"
        assert await r("execute_command", "GETSET", "s", "world") == b"hello"
        assert await r("ttl", "s") == -1 and await r("pttl", "nope") == -2
        assert await r("getdel", "s") == b"world" and await r("get", "s") is None
        assert await r("getdel", "s") is None and await r("unlink", "s", "nope") == 0
        try:
            await r("execute_command", "EXPIRE", "a", "10")
            raise AssertionError("EXPIRE must be refused")
        except redis.ResponseError as exc:
            assert str(exc).startswith("unknown command 'EXPIRE'")

    cluster = with_server(body, size=3, scheme="fake")
    assert cluster.state_machine.get("a") == "3"


@pytest.mark.parametrize("mode", ["async", "sync"])
@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_transactions_and_optimistic_locking(mode: str, protocol: int) -> None:
    """``pipeline()`` (transaction=True) is one atomic ``Txn``; ``watch()`` + ``multi()``
    raises ``WatchError`` when a conflicting writer changed the key, and applies nothing;
    the retry loop then succeeds. A refused command makes ``execute`` raise EXECABORT."""

    async def body(cluster: FakeCluster, port: int) -> None:
        r = _Caller(mode, port, protocol)
        writer = _Caller(mode, port, protocol)
        try:
            await scenario(r, writer, cluster)
        finally:
            await r.close()
            await writer.close()

    async def scenario(r: _Caller, writer: _Caller, cluster: FakeCluster) -> None:
        pipe = r.r.pipeline()
        pipe.set("t1", "x").incr("t2").append("t1", "y").get("t1").mget("t1", "t2")
        assert await r.call(pipe.execute) == [True, 1, 2, b"xy", [b"xy", b"1"]]
        assert sum(isinstance(q.command, Txn) for q in cluster.nodes[1].requests) == 1

        attempts = 0
        while True:  # the optimistic-locking loop of redis-py's docs
            attempts += 1
            pipe = r.r.pipeline()
            try:
                await r.call(pipe.watch, "counter")
                current = int(await r.call(pipe.get, "counter") or 0)
                if attempts == 1:
                    assert await writer("set", "counter", "10") is True  # the conflict
                pipe.multi()
                pipe.set("counter", str(current + 1))
                pipe.set("side", f"attempt {attempts}")
                result = await r.call(pipe.execute)
                break
            except redis.WatchError:
                assert cluster.state_machine.get("side") is None  # nothing of it applied
            finally:
                await r.call(pipe.reset)
        assert attempts == 2 and result == [True, True]
        assert await r("get", "counter") == b"11" and await r("get", "side") == b"attempt 2"

        pipe = r.r.pipeline()
        pipe.set("t3", "x").execute_command("PING")
        with pytest.raises(redis.ResponseError, match="'ping' cannot be used inside MULTI"):
            await r.call(pipe.execute)  # redis-py raises the queuing error; EXEC aborted
        assert await r("get", "t3") is None
        assert await r("append", "t3", "ab") == 2

    with_server(body)


def test_a_transaction_sent_byte_by_byte_gets_redis_replies() -> None:
    async def body(cluster: FakeCluster, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        other_reader, other = await asyncio.open_connection("127.0.0.1", port)
        request = (b"WATCH w\r\n*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n1\r\n"
                   b"APPEND k 23\r\nGET k\r\nEXEC\r\n")
        for i in range(len(request)):
            writer.write(request[i : i + 1])
            await writer.drain()
        await read_exactly(reader, b"+OK\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n"
                                   b"*3\r\n+OK\r\n:3\r\n$3\r\n123\r\n")
        writer.write(b"WATCH k\r\n")
        await read_exactly(reader, b"+OK\r\n")
        other.write(b"SET k changed\r\n")
        await read_exactly(other_reader, b"+OK\r\n")
        request = b"MULTI\r\nDEL k\r\nEXEC\r\nMULTI\r\nGET\r\nDEL k\r\nEXEC\r\nMULTI\r\nDISCARD\r\n"
        for i in range(len(request)):
            writer.write(request[i : i + 1])
            await writer.drain()
        await read_exactly(reader, b"+OK\r\n+QUEUED\r\n*-1\r\n+OK\r\n"
                                   b"-ERR wrong number of arguments for 'get' command\r\n+QUEUED\r\n"
                                   b"-EXECABORT Transaction discarded because of previous errors.\r\n"
                                   b"+OK\r\n+OK\r\n")
        writer.close()
        other.close()

    cluster = with_server(body)
    assert cluster.state_machine.items() == {"k": "changed"}


def test_redis_py_with_retries_off_sends_a_timed_out_write_once() -> None:
    """docs/redis.md's advice (issue 8.6): redis-py 8 retries a timed-out command up to 10
    times by default (``retry_on_timeout=False`` does not change that), each retry a
    fresh, identity-less copy of the write; ``retry=Retry(NoBackoff(), 0)`` sends it once
    and reports the timeout, which the application must read as "may have happened"."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    with pytest.warns(DeprecationWarning, match="retry_on_timeout"):
        assert redis_sync.Redis(retry_on_timeout=False).get_retry().get_retries() == 10

    async def body(cluster: FakeCluster, port: int) -> None:
        cluster.nodes[1].script.steps.append("hang")
        r = redis.Redis(port=port, socket_timeout=0.3, retry=Retry(NoBackoff(), 0))
        try:
            with pytest.raises(redis.TimeoutError):
                await r.set("k", "v")
        finally:
            await r.aclose()
        assert len(cluster.nodes[1].requests) == 1

    with_server(body)



class _Gated:
    """A service whose commands wait for the test to open a gate, recording the task each
    runs in; it answers every request ``Ok(True)``."""

    node_id = 1

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.tasks: list[object] = []
        self.started = 0

    async def execute(self, request):
        self.started += 1
        self.tasks.append(asyncio.current_task())
        await self.gate.wait()
        return Ok(True)


def _with_service(service, body, **options) -> None:
    _serving(service, body, transactions=True, **options)


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.005)


def test_commands_run_without_a_task_each_and_a_pipeline_behind_one_waits_in_order() -> None:
    """Issue 14: a command that waits on the node is resumed by a callback on its future,
    not run by a task per command (or per connection); commands pipelined behind it run
    only after it, one at a time, and are answered in order."""
    service = _Gated()

    async def body(port: int, server) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"SET a 1\r\nSET b 2\r\nPING\r\nSET c 3\r\n")
        await _until(lambda: service.started >= 1)
        await asyncio.sleep(0.05)
        assert service.started == 1  # the others wait behind the one running
        service.gate.set()
        await read_exactly(reader, b"+OK\r\n+OK\r\n+PONG\r\n+OK\r\n")
        writer.close()

    _with_service(service, body)
    assert service.started == 3
    assert service.tasks == [None, None, None]


def test_input_behind_a_waiting_command_is_bounded_then_read_again() -> None:
    """Reading stops once more than 64 KiB wait behind a running command (the rest stays
    in the kernel's buffers), and goes on once the command is done: nothing is lost."""
    service = _Gated()
    value = b"v" * 1000
    count = 1000  # ~1 MB of pipelined writes behind the first

    async def body(port: int, server) -> None:
        budget = buffer_budget(server)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        command = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n%b\r\n" % (len(value), value)
        writer.write(command * count)
        await _until(lambda: service.started >= 1)
        await asyncio.sleep(0.1)
        # At most the 64 KiB bound plus the one read that crossed it (uvloop reads up
        # to 256 KiB at a time): well under the 300 KB sent.
        assert budget.peak <= 64 * 1024 + 256 * 1024 < len(command) * count
        assert service.started == 1
        service.gate.set()
        await read_exactly(reader, b"+OK\r\n" * count)
        writer.close()

    _with_service(service, body)
    assert service.started == count
