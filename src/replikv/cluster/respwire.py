"""A minimal RESP2 client: enough for operator verbs, status queries and load.

The tooling talks to nodes exactly as any Redis client would (commands as arrays of
bulk strings, replies parsed incrementally), so it needs neither redis-py at run time
nor the server's own parser. ``ReplyReader`` is sans-I/O (feed bytes, pop replies);
``RespConnection`` (blocking) and ``AsyncRespConnection`` (asyncio) put sockets around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

_MAX_BULK = 512 * 1024 * 1024
_MAX_LINE = 64 * 1024


class RespError(Exception):
    """The server answered an error reply (``-PREFIX message``)."""

    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.prefix = line.split(" ", 1)[0]
        self.message = line


class RespProtocolError(Exception):
    """The peer sent something that is not RESP2."""


def encode_command(*args: str | bytes | int) -> bytes:
    """One command as a RESP array of bulk strings (``str`` is sent as latin-1,
    so any byte value round-trips, the convention of the replikv front end)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, int):
            data = str(arg).encode()
        elif isinstance(arg, str):
            data = arg.encode("latin-1")
        else:
            data = bytes(arg)
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


_INCOMPLETE = object()


class ReplyReader:
    """Incremental RESP2 reply parser: ``feed(data)``, then ``pop()`` until it returns
    ``None``. Simple strings and bulk strings come back as ``bytes``, integers as ``int``,
    nil as ``None``, arrays as ``list``, errors as ``RespError`` *instances* (returned,
    not raised, so the caller decides)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def pop(self) -> tuple[Any] | None:
        """The next complete reply wrapped in a 1-tuple (nil is a valid reply), or None."""
        value, end = self._parse(0)
        if value is _INCOMPLETE:
            return None
        del self._buffer[:end]
        return (value,)

    def _line(self, start: int) -> tuple[bytes | None, int]:
        end = self._buffer.find(b"\r\n", start)
        if end < 0:
            if len(self._buffer) - start > _MAX_LINE:
                raise RespProtocolError("reply line too long")
            return None, start
        return bytes(self._buffer[start:end]), end + 2

    def _parse(self, start: int) -> tuple[Any, int]:
        if start >= len(self._buffer):
            return _INCOMPLETE, start
        kind = self._buffer[start : start + 1]
        line, after = self._line(start + 1)
        if line is None:
            return _INCOMPLETE, start
        if kind == b"+":
            return line, after
        if kind == b"-":
            return RespError(line.decode("latin-1")), after
        if kind == b":":
            return int(line), after
        if kind == b"$":
            length = int(line)
            if length < 0:
                return None, after
            if length > _MAX_BULK:
                raise RespProtocolError(f"bulk of {length} bytes")
            if len(self._buffer) < after + length + 2:
                return _INCOMPLETE, start
            return bytes(self._buffer[after : after + length]), after + length + 2
        if kind == b"*":
            count = int(line)
            if count < 0:
                return None, after
            items = []
            position = after
            for _ in range(count):
                item, position = self._parse(position)
                if item is _INCOMPLETE:
                    return _INCOMPLETE, start
                items.append(item)
            return items, position
        raise RespProtocolError(f"unexpected reply type byte {kind!r}")


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

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(self._writer.wait_closed(), 1.0)
