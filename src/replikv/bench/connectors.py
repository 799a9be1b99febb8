"""How the load driver's commands travel to each system (``bench/load.Connector``).

- :func:`resp`: ``SET key value`` / ``GET key`` over RESP: replikv and plain Redis.
- :func:`resp_wait`: Redis with ``WAIT n 0`` after every ``SET`` (pipelined with it in one
  round trip): the write is acknowledged once ``n`` replicas have it, Redis's closest
  analogue of a replicated, acknowledged write. A ``WAIT`` that returns fewer than ``n``
  counts as a ``wait-short`` error, not a success.
- :func:`etcd`: etcd v3's JSON gateway over HTTP/1.1 keep-alive (``POST /v3/kv/put``,
  ``POST /v3/kv/range``; reads are linearizable, etcd's default). A minimal HTTP client:
  the benchmark needs no more, and adding an HTTP library for it would be heavier than
  these forty lines.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket

from replikv.bench.load import CommandError, Connector, Session
from replikv.cluster.respwire import AsyncRespConnection, RespError


def _nodelay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _RespSession:
    def __init__(self, connection: AsyncRespConnection) -> None:
        self._connection = connection

    async def write(self, key: str, value: str) -> None:
        await self._call("SET", key, value)

    async def read(self, key: str) -> None:
        await self._call("GET", key)

    async def _call(self, *args: str) -> object:
        try:
            return await self._connection.call(*args)
        except RespError as exc:
            raise CommandError(exc.prefix) from exc

    async def close(self) -> None:
        await self._connection.close()


async def resp(host: str, port: int) -> Session:
    return _RespSession(await AsyncRespConnection.open(host, port))


class _RespWaitSession(_RespSession):
    def __init__(self, connection: AsyncRespConnection, replicas: int) -> None:
        super().__init__(connection)
        self._replicas = replicas

    async def write(self, key: str, value: str) -> None:
        acked = await self._connection.pipeline(("SET", key, value), ("WAIT", str(self._replicas), "0"))
        if isinstance(acked[0], RespError):
            raise CommandError(acked[0].prefix)
        if not isinstance(acked[1], int) or acked[1] < self._replicas:
            raise CommandError("wait-short")


def resp_wait(replicas: int) -> Connector:
    """RESP with ``WAIT replicas 0`` after every write."""

    async def connect(host: str, port: int) -> Session:
        return _RespWaitSession(await AsyncRespConnection.open(host, port), replicas)

    return connect


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class _EtcdSession:
    def __init__(self, host: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._host = host
        self._reader = reader
        self._writer = writer

    async def write(self, key: str, value: str) -> None:
        await self._post("/v3/kv/put", {"key": _b64(key), "value": _b64(value)})

    async def read(self, key: str) -> None:
        await self._post("/v3/kv/range", {"key": _b64(key)})

    async def _post(self, path: str, body: dict) -> bytes:
        payload = json.dumps(body).encode()
        self._writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self._host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
        status_line = await self._reader.readline()
        if not status_line:
            raise ConnectionError("etcd closed the connection")
        status = int(status_line.split()[1])
        length, chunked = 0, False
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
            elif name.strip().lower() == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        data = await self._read_chunked() if chunked else await self._reader.readexactly(length)
        if status != 200:
            raise CommandError(f"http-{status}")
        return data

    async def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int((await self._reader.readline()).split(b";")[0], 16)
            if size == 0:
                await self._reader.readline()
                return b"".join(parts)
            parts.append(await self._reader.readexactly(size))
            await self._reader.readline()

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(self._writer.wait_closed(), 1.0)


async def etcd(host: str, port: int) -> Session:
    reader, writer = await asyncio.open_connection(host, port)
    _nodelay(writer)
    return _EtcdSession(f"{host}:{port}", reader, writer)
