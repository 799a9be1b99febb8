"""One connection to one node: send a command, read its reply (asyncio, RESP2).

What may live here: socket handling for a single node. Any failure closes the connection
(after a timeout the reply stream can no longer be matched to requests) and is raised as
``NodeUnreachable`` (nothing was sent) or ``ReplyLost`` (the command may have arrived).
"""

from __future__ import annotations

import asyncio
import contextlib

from replikv.resp.protocol import (
    INCOMPLETE,
    ReplyParser,
    ReplyValue,
    RespProtocolError,
    encode_command,
)

READ_CHUNK = 64 * 1024


class NodeUnreachable(Exception):
    """Could not connect: the command was not sent."""


class ReplyLost(Exception):
    """The command was (maybe) sent but no reply came back: it may have taken effect."""


def split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"address must be host:port, not {address!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


class NodeConnection:
    def __init__(self, address: str) -> None:
        self.address = address
        self.host, self.port = split_address(address)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._parser = ReplyParser()

    @property
    def connected(self) -> bool:
        return self._writer is not None

    async def connect(self, timeout_s: float) -> None:
        if self._writer is not None:
            return
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), timeout_s
            )
        except (OSError, TimeoutError) as exc:
            raise NodeUnreachable(f"{self.address}: {exc or type(exc).__name__}") from None
        self._parser = ReplyParser()

    async def call(self, args: list[bytes], timeout_s: float) -> ReplyValue:
        """Send one command and return its reply (an ``Error`` reply is returned, not raised).

        A connection the node closed since the last reply (it was killed or restarted: the
        transport closed, or the stream at its end) is replaced before anything is sent:
        writing to it sends nothing, and uvloop raises ``RuntimeError`` for a closed one (a
        ``replikv test`` worker died of that after a kill -9)."""
        if self._writer is not None and (self._writer.transport.is_closing()
                                         or (self._reader is not None and self._reader.at_eof())):
            await self.close()
        await self.connect(timeout_s)
        assert self._reader is not None and self._writer is not None
        try:
            try:
                self._writer.write(encode_command(args))
            except RuntimeError as exc:  # uvloop: closed under us; nothing was sent
                await self.close()
                raise NodeUnreachable(f"{self.address}: {exc}") from None
            return await asyncio.wait_for(self._read_reply(self._reader), timeout_s)
        except (OSError, TimeoutError, RespProtocolError, EOFError) as exc:
            await self.close()
            raise ReplyLost(f"{self.address}: {exc or type(exc).__name__}") from None
        except NodeUnreachable:
            raise
        except BaseException:
            await self.close()  # cancelled mid-call: the stream is out of step
            raise

    async def _read_reply(self, reader: asyncio.StreamReader) -> ReplyValue:
        while True:
            reply = self._parser.next_reply()
            if reply is not INCOMPLETE:
                return reply
            data = await reader.read(READ_CHUNK)
            if not data:
                raise EOFError("connection closed by the server")
            self._parser.feed(data)

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
