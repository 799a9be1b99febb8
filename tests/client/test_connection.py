"""``replikv.client.connection.NodeConnection`` against a server that closes connections."""

from __future__ import annotations

import asyncio

import pytest

from replikv.client.connection import NodeConnection
from replikv.resp.protocol import Simple

LIMIT_S = 10


def _loops():
    loops = [pytest.param(asyncio.run, id="asyncio")]
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        return loops
    return [*loops, pytest.param(uvloop.run, id="uvloop")]


@pytest.mark.parametrize("run", _loops())
def test_a_connection_the_node_closed_is_replaced_before_the_next_command(run) -> None:
    """A node killed (or restarted) after answering leaves the client a closed connection.
    The next command must go out on a new one: writing to the old one sends nothing, and
    under uvloop it raised RuntimeError, which killed a ``replikv test`` worker."""

    async def main() -> None:
        accepted = 0

        async def answer_once_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal accepted
            accepted += 1
            await reader.readuntil(b"PING\r\n")
            writer.write(b"+PONG\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer_once_then_close, "127.0.0.1", 0)
        address = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
        connection = NodeConnection(address)
        try:
            assert await connection.call([b"PING"], LIMIT_S) == Simple("PONG")
            reader = connection._reader
            assert reader is not None
            while not reader.at_eof():  # the client's loop reads the server's close
                await asyncio.sleep(0)
            assert await connection.call([b"PING"], LIMIT_S) == Simple("PONG")
            assert accepted == 2
        finally:
            await connection.close()
            server.close()
            await server.wait_closed()

    run(asyncio.wait_for(main(), LIMIT_S))
