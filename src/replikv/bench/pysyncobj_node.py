"""One member of a PySyncObj cluster behind a Redis-protocol port: the ``pysyncobj`` peer of
``replikv bench --compare`` (``bench/peers.py``).

    python -m replikv.bench.pysyncobj_node --self 127.0.0.1:P --partner 127.0.0.1:Q ... \\
        --port C --dir D

PySyncObj (https://github.com/bakwc/PySyncObj) is the Raft library Python developers
reach for; it has no server of its own, so this is the smallest one that lets the
benchmark's RESP driver talk to it: a replicated dict whose ``SET`` is a ``@replicated``
call answered from PySyncObj's commit callback (the write is in a majority's log), and
``GET`` a read of the local copy (PySyncObj offers no linearizable read). ``ISLEADER``
answers ``:1`` on the member that leads, so the benchmark can put its clients there.

What an acknowledged write means here, as PySyncObj 0.3 does it: appended to a
majority's journal file, which is memory-mapped and never fsynced by the library (the
operating system writes it back when it likes). That is closer to replikv with
``--fsync never`` than to ``--fsync always``, and the benchmark says so.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import pathlib
from typing import Any

from replikv.resp.protocol import RespParser, RespProtocolError, bulk, error, integer, simple

_OK = simple("OK")
TICK_S = 0.002


def _make_store(self_address: str, partners: list[str], directory: pathlib.Path) -> Any:
    from pysyncobj import SyncObj, SyncObjConf, replicated  # optional: pip install pysyncobj

    class ReplicatedDict(SyncObj):
        def __init__(self) -> None:
            conf = SyncObjConf(journalFile=str(directory / "journal"), fullDumpFile=str(directory / "dump"),
                               dynamicMembershipChange=False, autoTickPeriod=TICK_S, appendEntriesPeriod=TICK_S)
            super().__init__(self_address, partners, conf)
            self.data: dict[bytes, bytes] = {}

        @replicated
        def put(self, key: bytes, value: bytes) -> None:
            self.data[key] = value

    return ReplicatedDict()


class _Connection(asyncio.Protocol):
    """RESP requests in, replies out; a SET's reply waits for PySyncObj's commit callback
    (called on PySyncObj's thread), and replies leave in request order."""

    def __init__(self, store: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._store = store
        self._loop = loop
        self._parser = RespParser()
        self._transport: asyncio.Transport | None = None
        self._replies: collections.deque[asyncio.Future | bytes] = collections.deque()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._parser.feed(data)
        try:
            while (command := self._parser.next_command()) is not None:
                self._replies.append(self._execute(command))
        except RespProtocolError as exc:
            self._replies.append(error(f"ERR Protocol error: {exc}"))
        self._flush()

    def _execute(self, command: list[bytes]) -> asyncio.Future | bytes:
        name = command[0].upper() if command else b""
        if name == b"SET" and len(command) == 3:
            future = self._loop.create_future()

            def committed(_result: object, failure: object) -> None:
                reply = _OK if failure == 0 else error(f"ERR pysyncobj failure code {failure}")
                self._loop.call_soon_threadsafe(self._settle, future, reply)

            self._store.put(command[1], command[2], callback=committed)
            return future
        if name == b"GET" and len(command) == 2:
            return bulk(self._store.data.get(command[1]))
        if name == b"PING":
            return simple("PONG")
        if name == b"ISLEADER":
            status = self._store.getStatus()
            return integer(int(status.get("leader") is not None and status["leader"] == status["self"]))
        return error(f"ERR unknown command {command[0][:32]!r} (this harness knows SET, GET, PING, ISLEADER)")

    def _settle(self, future: asyncio.Future, reply: bytes) -> None:
        if not future.done():
            future.set_result(reply)
        self._flush()

    def _flush(self) -> None:
        ready = []
        while self._replies:
            head = self._replies[0]
            if isinstance(head, asyncio.Future):
                if not head.done():
                    break
                head = head.result()
            ready.append(head)
            self._replies.popleft()
        if ready and self._transport is not None and not self._transport.is_closing():
            self._transport.write(b"".join(ready))


async def _serve(args: argparse.Namespace) -> None:
    directory = pathlib.Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    store = _make_store(args.self_address, args.partner, directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(store, loop), "127.0.0.1", args.port)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description="A PySyncObj member behind a Redis-protocol port (benchmarks).")
    parser.add_argument("--self", dest="self_address", required=True, help="host:port of this member's Raft link")
    parser.add_argument("--partner", action="append", default=[], help="host:port of another member (repeat)")
    parser.add_argument("--port", type=int, required=True, help="Redis-protocol port for clients")
    parser.add_argument("--dir", required=True, help="directory for the journal and dump")
    asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
