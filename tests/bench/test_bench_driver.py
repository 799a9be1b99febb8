"""The closed-loop driver (bench/load) against a scripted RESP server in this process: the
load shape is the first driver's draw for draw, errors are counted by kind, a dropped
connection is reopened, a broken reply fails the run, replies split anywhere are whole."""

from __future__ import annotations

import contextlib
import random
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from replikv.bench import connectors
from replikv.bench.load import LoadShape, WireError, run_load
from replikv.bench.memory import _Counter, _counting_connector
from replikv.resp.protocol import RespParser

Respond = Callable[[int, list[bytes]], bytes | None]
"""(commands this connection received so far, the command) -> reply bytes, or None: close."""


class _Server:
    """A RESP server on loopback, one thread per connection, that records every command
    of every connection and answers what ``respond`` says."""

    def __init__(self, respond: Respond, byte_by_byte: bool = False) -> None:
        self.respond = respond
        self.byte_by_byte = byte_by_byte
        self.connections: list[list[list[bytes]]] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self._listener.getsockname()[1]
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                commands: list[list[bytes]] = []
                self.connections.append(commands)
            thread = threading.Thread(target=self._serve, args=(conn, commands), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket, commands: list[list[bytes]]) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        parser = RespParser()
        with conn, contextlib.suppress(OSError):
            while data := conn.recv(65536):
                parser.feed(data)
                while (command := parser.next_command()) is not None:
                    commands.append(command)
                    reply = self.respond(len(commands), command)
                    if reply is None:
                        return
                    if self.byte_by_byte:
                        for i in range(len(reply)):
                            conn.sendall(reply[i:i + 1])
                    else:
                        conn.sendall(reply)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._listener.close()
        for thread in self._threads:
            thread.join(5.0)


@contextlib.contextmanager
def _serving(respond: Respond, byte_by_byte: bool = False) -> Iterator[_Server]:
    server = _Server(respond, byte_by_byte)
    try:
        yield server
    finally:
        server.close()


def _redis(count: int, command: list[bytes]) -> bytes:
    return b"+OK\r\n" if command[0] == b"SET" else b"$16\r\nabcdefghijklmnop\r\n"


def _first_drivers_commands(shape: LoadShape, index: int, count: int) -> list[list[bytes]]:
    """What the first driver's ``_one_client(index)`` sent, in order (its code, verbatim)."""
    rng = random.Random(shape.seed * 1_000_003 + index)
    value = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(shape.value_size))
    fresh = 0
    out = []
    for _ in range(count):
        is_read = rng.random() < shape.read_ratio
        if shape.keys:
            key = f"key:{rng.randrange(shape.keys)}"
        else:
            fresh += 1
            key = f"key:{index}:{fresh}"
        out.append([b"GET", key.encode()] if is_read else [b"SET", key.encode(), value.encode()])
    return out


def _shape(**fields) -> LoadShape:
    return LoadShape(**{"clients": 3, "duration_s": 0.3, "warmup_s": 0.0, **fields})


@pytest.mark.parametrize(("read_ratio", "keys"), [(0.5, 10), (0.0, 0), (0.9, 1000)])
def test_every_client_sends_the_first_drivers_commands_in_its_order(read_ratio: float, keys: int) -> None:
    shape = _shape(read_ratio=read_ratio, keys=keys, seed=7, value_size=5)
    with _serving(_redis) as server:
        result = run_load(connectors.resp, "127.0.0.1", [server.port], shape, "shape", None)
    assert len(server.connections) == shape.clients and result.errors == {}
    matched = set()
    for commands in server.connections:
        assert len(commands) > 10
        index = next(i for i in range(shape.clients)
                     if commands == _first_drivers_commands(shape, i, len(commands)))
        matched.add(index)
    assert matched == set(range(shape.clients))
    sent = sum(len(commands) for commands in server.connections)
    counted = result.histogram.get_total_count()
    assert counted == result.reads + result.writes == sum(result.per_second)
    assert sent - shape.clients <= counted <= sent  # a reply after the end is not counted
    if read_ratio == 0.0:
        assert result.reads == 0
    else:
        assert result.reads > 0 and result.writes > 0


def test_error_replies_are_counted_by_their_first_word_and_the_loop_goes_on() -> None:
    def respond(count: int, command: list[bytes]) -> bytes:
        return b"-NOTLEADER leader is 2\r\n" if count % 2 else b"+OK\r\n"

    with _serving(respond) as server:
        result = run_load(connectors.resp, "127.0.0.1", [server.port], _shape(read_ratio=0.0), "errors", None)
    assert len(server.connections) == 3  # an error reply does not drop the connection
    assert set(result.errors) == {"NOTLEADER"}
    sent = sum(len(commands) for commands in server.connections)
    assert sent - 3 <= result.errors["NOTLEADER"] + result.writes <= sent
    assert abs(result.errors["NOTLEADER"] - result.writes) <= 3


def test_a_connection_the_server_drops_is_counted_and_reopened() -> None:
    def respond(count: int, command: list[bytes]) -> bytes | None:
        return None if count == 20 else b"+OK\r\n"  # the 20th command: closed, no reply

    with _serving(respond) as server:
        result = run_load(connectors.resp, "127.0.0.1", [server.port], _shape(clients=2), "drops", None)
    # the drops are the connections the server closed (those that reached their 20th
    # command), read from what it recorded rather than from how many connections its
    # accept thread had taken when the run ended, which lags under load; each client may
    # see its last drop after the end, uncounted
    drops = sum(1 for commands in server.connections if len(commands) == 20)
    assert drops >= 2 and set(result.errors) == {"connection"}
    assert drops - 2 <= result.errors["connection"] <= drops
    assert result.writes + result.reads >= 19 * drops


def test_replies_sent_one_byte_at_a_time_are_framed_whole() -> None:
    with _serving(_redis, byte_by_byte=True) as server:
        result = run_load(connectors.resp, "127.0.0.1", [server.port], _shape(clients=2), "split", None)
    assert result.errors == {} and result.histogram.get_total_count() > 10


def test_wait_replies_split_anywhere_count_only_acknowledged_writes() -> None:
    def respond(count: int, command: list[bytes]) -> bytes:
        if command[0] == b"WAIT":
            return b":2\r\n" if count % 4 == 2 else b":1\r\n"  # every other write short
        return _redis(count, command)

    with _serving(respond, byte_by_byte=True) as server:
        result = run_load(connectors.resp_wait(2), "127.0.0.1", [server.port], _shape(clients=2, read_ratio=0.0),
                          "wait", None)
    assert set(result.errors) == {"wait-short"} and result.writes > 5
    assert abs(result.errors["wait-short"] - result.writes) <= 2


def test_a_reply_that_breaks_the_protocol_fails_the_run() -> None:
    with _serving(lambda count, command: b"?what\r\n") as server, pytest.raises(WireError, match="unknown reply"):
        run_load(connectors.resp, "127.0.0.1", [server.port], _shape(), "broken", None)


def test_nothing_listening_is_a_connect_error_retried_after_a_back_off() -> None:
    with socket.socket() as unused:  # bound, not listening: connections are refused
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        result = run_load(connectors.resp, "127.0.0.1", [port], _shape(clients=2), "refused", None)
    assert result.histogram.get_total_count() == 0
    assert set(result.errors) == {"connect"}
    assert 2 <= result.errors["connect"] <= 2 * (0.3 / 0.05 + 2)  # a pause of 50 ms between attempts


def test_the_window_meter_is_started_then_stopped_once() -> None:
    calls: list[str] = []

    class Meter:
        def start(self) -> None:
            calls.append("start")

        def stop(self) -> None:
            calls.append("stop")

    with _serving(_redis) as server:
        run_load(connectors.resp, "127.0.0.1", [server.port], _shape(warmup_s=0.1, duration_s=0.2), "meter", None,
                 Meter())
    assert calls == ["start", "stop"]


def test_the_memory_runs_wire_counts_acknowledged_writes_under_its_prefix() -> None:
    counter = _Counter()
    wire = _counting_connector(counter, "3:")("127.0.0.1", 1)
    assert wire.write(b"key:0:1", b"v") == connectors.resp("h", 1).write(b"3:key:0:1", b"v")
    assert wire.reply(b"+OK\r") is None and counter.writes == 0
    assert wire.reply(b"+OK\r\n") == (5, None) and counter.writes == 1
    wire.write(b"key:0:2", b"v")
    assert wire.reply(b"-NOTLEADER x\r\n") == (14, "NOTLEADER") and counter.writes == 1
    assert wire.read(b"key:5") == connectors.resp("h", 1).read(b"3:key:5")
    assert wire.reply(b"$-1\r\n") == (5, None) and counter.writes == 1  # a read is not a write
