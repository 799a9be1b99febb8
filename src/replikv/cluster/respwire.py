"""The tooling's RESP client: operator verbs, status queries and load.

The tooling talks to nodes exactly as any Redis client would. Framing and parsing are
``replikv.resp.protocol``'s (``encode_command``, ``ReplyParser``, its limits); this module
only adapts them to the tooling's conventions: ``str`` and ``int`` arguments, and replies
in RESP2 shapes (simple and bulk strings as ``bytes``, both nulls as ``None``, error
replies as ``RespError``). ``ReplyReader`` is that adapter, sans-I/O (feed bytes, pop
replies); ``RespConnection`` (blocking) and ``AsyncRespConnection`` (asyncio) put
sockets around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from replikv.resp import protocol
from replikv.resp.protocol import RespProtocolError

__all__ = [
    "AsyncRespConnection",
    "ReplyReader",
    "RespConnection",
    "RespError",
    "RespProtocolError",
    "encode_command",
]


class RespError(Exception):
    """The server answered an error reply (``-PREFIX message``)."""

    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.prefix = line.split(" ", 1)[0]
        self.message = line


def encode_command(*args: str | bytes | int) -> bytes:
    """One command as a RESP array of bulk strings (``str`` is sent as latin-1,
    so any byte value round-trips, the convention of the replikv front end)."""
    return protocol.encode_command([_arg_bytes(arg) for arg in args])


def _arg_bytes(arg: str | bytes | int) -> bytes:
    if isinstance(arg, int):
        return str(arg).encode()
    if isinstance(arg, str):
        return arg.encode("latin-1")
    return bytes(arg)


def _tooling_value(value: protocol.ReplyValue) -> Any:
    """A parsed reply in the tooling's RESP2 shapes (see the module docstring)."""
    if isinstance(value, protocol.Simple):
        return value.text.encode("utf-8")
    if isinstance(value, protocol.Error):
        return RespError(value.text)
    if value is protocol.NULL_ARRAY:
        return None
    if isinstance(value, list):
        return [_tooling_value(item) for item in value]
    return value


class ReplyReader:
    """Incremental reply reader: ``feed(data)``, then ``pop()`` until it returns ``None``.
    Parsing is ``protocol.ReplyParser``'s; values come in the tooling's shapes, errors as
    ``RespError`` *instances* (returned, not raised, so the caller decides). Raises
    ``RespProtocolError`` when the peer breaks the protocol."""

    def __init__(self) -> None:
        self._parser = protocol.ReplyParser()

    def feed(self, data: bytes) -> None:
        self._parser.feed(data)

    def pop(self) -> tuple[Any] | None:
        """The next complete reply wrapped in a 1-tuple (nil is a valid reply), or None."""
        value = self._parser.next_reply()
        if value is protocol.INCOMPLETE:
            return None
        return (_tooling_value(value),)


def _unwrap(value: Any, raise_errors: bool) -> Any:
    if raise_errors and isinstance(value, RespError):
        raise value
    return value


class RespConnection:
    """A blocking connection (operator commands). Raises ``OSError`` on network trouble,
    ``socket.timeout`` past ``timeout_s``, ``RespError`` on an error reply."""

    def __init__(self, host: str, port: int, timeout_s: float = 2.0) -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout_s)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader = ReplyReader()

    def call(self, *args: str | bytes | int, raise_errors: bool = True) -> Any:
        self._sock.sendall(encode_command(*args))
        while True:
            reply = self._reader.pop()
            if reply is not None:
                return _unwrap(reply[0], raise_errors)
            data = self._sock.recv(65536)
            if not data:
                raise ConnectionError("connection closed by the node")
            self._reader.feed(data)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> RespConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncRespConnection:
    """An asyncio connection: one command at a time (the benchmark's closed loop)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._stream = reader
        self._writer = writer
        self._reader = ReplyReader()

    @classmethod
    async def open(cls, host: str, port: int) -> AsyncRespConnection:
        reader, writer = await asyncio.open_connection(host, port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def call(self, *args: str | bytes | int, raise_errors: bool = True) -> Any:
        self._writer.write(encode_command(*args))
        while True:
            reply = self._reader.pop()
            if reply is not None:
                return _unwrap(reply[0], raise_errors)
            data = await self._stream.read(65536)
            if not data:
                raise ConnectionError("connection closed by the node")
            self._reader.feed(data)

    async def pipeline(self, *commands: tuple[str | bytes | int, ...]) -> list[Any]:
        """Send ``commands`` in one write and return their replies in order; error replies
        come back as ``RespError`` instances, not raised (the caller decides)."""
        self._writer.write(b"".join(encode_command(*command) for command in commands))
        replies: list[Any] = []
        while len(replies) < len(commands):
            reply = self._reader.pop()
            if reply is not None:
                replies.append(reply[0])
                continue
            data = await self._stream.read(65536)
            if not data:
                raise ConnectionError("connection closed by the node")
            self._reader.feed(data)
        return replies

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(self._writer.wait_closed(), 1.0)
