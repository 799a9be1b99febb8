"""``Client``: one asyncio client for every scheme, over RESP.

What may live here: routing (find the node that orders writes), retries, and turning
replies into Python values and typed exceptions.

Exactly once: every operation gets the next ``seq`` of this client's ``client_id`` and is
sent as ``RKV client_id seq read_level CMD ...``; a retry after a timeout or a lost
connection reuses the same pair, so the state machine's session table applies the write
at most once (Raft thesis §6.3). Hence one operation at a time per client (the session
table remembers only a client's latest request): use several clients for concurrency.

Errors: a failure that leaves the outcome unknown is never reported as definite. Once an
attempt may have reached the cluster (a timeout, a lost reply), every later definite
error (``Unavailable``, ``BadRequest``, ``Aborted``, ``NotLeader``) speaks only for the
retry, so the operation ends with an ``IndefiniteError``; else with the last definite
error. (redis-py's own retries lack the identity and this rule: docs/redis.md.)
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from replikv.client.connection import NodeConnection, NodeUnreachable, ReplyLost
from replikv.client.errors import ReplikvError, error_for
from replikv.core.commands import Append, Cas, Command, Delete, Get, Incr, Set
from replikv.core.errors import ClientError, ConnectionLost, NotLeader, Timeout, Unavailable
from replikv.core.requests import READ_LEVELS
from replikv.resp.commands import client_error_from_reply
from replikv.resp.protocol import Error, ReplyValue, Simple

Word = str | bytes | int
MAX_BACKOFF_S = 1.0


class Client:
    """``Client(["127.0.0.1:7001", ...])`` or ``Client({1: "127.0.0.1:7001", ...})``.

    ``timeout_s`` bounds each attempt; ``retries`` is how many more attempts an operation
    gets after the first. ``client_id``/``seq`` resume an identity (the next operation
    uses ``seq + 1``); by default a random 62-bit id and ``seq`` 0. ``read_level`` is
    ``linearizable``, ``lease``, ``local`` or ``None`` (the server's default).
    Keys and values: ``str`` (sent as ``encoding``, UTF-8 by default) or ``bytes``;
    values read are ``str`` decoded with ``surrogateescape`` so any bytes round-trip.
    """

    def __init__(
        self,
        addresses: Sequence[str] | Mapping[int, str],
        client_id: int | None = None,
        *,
        seq: int = 0,
        timeout_s: float = 2.0,
        retries: int = 8,
        backoff_s: float = 0.02,
        read_level: str | None = None,
        encoding: str = "utf-8",
        rng: random.Random | None = None,
    ) -> None:
        if not addresses:
            raise ValueError("Client needs at least one address")
        if read_level is not None and read_level not in READ_LEVELS:
            raise ValueError(f"read_level must be one of {READ_LEVELS} or None, not {read_level!r}")
        if timeout_s <= 0 or retries < 0 or backoff_s < 0:
            raise ValueError("timeout_s must be > 0, retries and backoff_s >= 0")
        self._rng = rng or random.Random()
        self.client_id = (
            client_id if client_id is not None else random.SystemRandom().randrange(1, 2**62)
        )
        if not 0 < self.client_id < 2**63:
            raise ValueError("client_id must be a positive 63-bit integer")
        self.seq = seq
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s
        self.read_level = read_level
        self.encoding = encoding
        if isinstance(addresses, Mapping):
            self._node_ids = {int(n): a for n, a in addresses.items()}
            self._addresses = [self._node_ids[n] for n in sorted(self._node_ids)]
        else:
            self._addresses = list(addresses)
            self._node_ids = {}
        self._connections = {a: NodeConnection(a) for a in self._addresses}
        self._current = 0
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for connection in self._connections.values():
            await connection.close()

    @property
    def address(self) -> str:
        """The node this client currently sends to (its guess of the leader/primary)."""
        return self._addresses[self._current]

    # -- operations ------------------------------------------------------------------

    async def get(self, key: str | bytes) -> str | None:
        return self._text(await self._request(["GET", key]))

    async def set(
        self, key: str | bytes, value: str | bytes, *, nx: bool = False, xx: bool = False
    ) -> bool:
        """``True`` when written (``nx``: only if absent; ``xx``: only if present)."""
        options = ["NX"] if nx else ["XX"] if xx else []
        return await self._request(["SET", key, value, *options]) == Simple("OK")

    async def delete(self, *keys: str | bytes) -> int:
        """Delete keys atomically; how many existed."""
        return int(await self._request(["DEL", *keys]))

    async def cas(self, key: str | bytes, expected: str | bytes | None, new: str | bytes) -> bool:
        """Write ``new`` if the value is ``expected`` (``None``: absent); ``True`` if swapped."""
        words = ["CASNX", key, new] if expected is None else ["CAS", key, expected, new]
        return await self._request(words) == 1

    async def incr(self, key: str | bytes, by: int = 1) -> int:
        return int(await self._request(["INCRBY", key, by]))

    async def append(self, key: str | bytes, value: str | bytes) -> int:
        """Redis ``APPEND``: add ``value`` to the end of the key's value; the new length."""
        return int(await self._request(["APPEND", key, value]))

    async def mget(self, *keys: str | bytes) -> list[str | None]:
        return [self._text(v) for v in await self._request(["MGET", *keys])]

    async def mset(self, items: Mapping[str, str | bytes]) -> None:
        """Set several keys atomically."""
        await self._request(["MSET", *(w for pair in items.items() for w in pair)])

    async def txn(self, ops: Sequence[Command]) -> list[Any]:
        """Apply ``Get``/``Set``/``Delete``/``Cas``/``Incr``/``Append`` ops atomically (all
        or none); one result per op: value read, ``True``/``False`` written, count
        deleted, swapped, new integer, new length. A transaction that fails raises
        ``AbortedError``. Sent as ``TXN`` under the client's session identity, so a retry
        is applied at most once."""
        words: list[Word] = ["TXN"]
        decoders: list[Callable[[ReplyValue], Any]] = []
        for op in ops:
            op_words, decoder = self._txn_op(op)
            words += [len(op_words), *op_words]
            decoders.append(decoder)
        replies = await self._request(words)
        return [decode(reply) for decode, reply in zip(decoders, replies, strict=True)]

    async def wait(self, replicas: int, timeout_ms: int) -> int:
        """Redis ``WAIT`` for this client's last write, on the node it was sent to."""
        return int(await self._plain(["WAIT", replicas, timeout_ms]))

    async def info(self, section: str | None = None) -> dict[str, str]:
        """``INFO [section]`` of the current node, as ``{field: text}``."""
        reply = await self._plain(["INFO"] + ([section] if section else []))
        return parse_info(reply.decode("utf-8", "replace") if isinstance(reply, bytes) else "")

    async def status(self) -> dict[str, str]:
        """The replication section (role, term, leader, commit/last index, peer lag)."""
        return await self.info("replication")

    # -- routing and retries ---------------------------------------------------------

    async def _request(self, words: list[Word]) -> Any:
        """Run one operation under the next ``seq``, retrying with the same identity."""
        async with self._lock:
            self.seq += 1
            level = self.read_level or "-"
            return await self._with_retries(["RKV", self.client_id, self.seq, level, *words])

    async def _plain(self, words: list[Word]) -> Any:
        async with self._lock:
            return await self._with_retries(words)

    async def _with_retries(self, words: list[Word]) -> Any:
        args = [self._bytes(w) for w in words]
        may_have_happened = False
        last: ClientError = Unavailable("no node answered")
        for attempt in range(self.retries + 1):
            connection = self._connections[self.address]
            try:
                reply = await connection.call(args, self.timeout_s)
            except NodeUnreachable:
                last = Unavailable(f"cannot reach {connection.address}")
                self._next_node()
            except ReplyLost:
                may_have_happened, last = True, ConnectionLost()
                self._next_node()
            else:
                if not isinstance(reply, Error):
                    return reply
                last = client_error_from_reply(reply)
                if isinstance(last, NotLeader):
                    if await self._follow(last.leader):
                        continue  # a fresh hint: go there at once
                elif not last.definite:
                    may_have_happened = True
                    self._next_node()
                elif not isinstance(last, Unavailable):
                    # BadRequest, Aborted: retrying cannot help. After an attempt that may
                    # have been applied, this refusal speaks only for the retry (the first
                    # copy may be in the log, or its session forgotten): indefinite.
                    raise error_for(Timeout() if may_have_happened else last)
            if attempt < self.retries:
                await asyncio.sleep(self._backoff(attempt))
        raise error_for(Timeout() if may_have_happened and last.definite else last)

    async def _follow(self, leader: int | None) -> bool:
        """Point at the hinted leader; ``True`` if that changed the target."""
        if leader is not None:
            address = self._node_ids.get(leader) or await self._learn(leader)
            if address is not None and address != self.address:
                self._current = self._addresses.index(address)
                return True
        self._next_node()
        return False

    async def _learn(self, leader: int) -> str | None:
        """Find which address is node ``leader`` by asking each unknown one (INFO server)."""
        known = set(self._node_ids.values())
        for address in self._addresses:
            if address in known:
                continue
            try:
                reply = await self._connections[address].call([b"INFO", b"server"], self.timeout_s)
            except (NodeUnreachable, ReplyLost):
                continue
            node = parse_info(reply.decode() if isinstance(reply, bytes) else "").get("node_id", "")
            if node.isdigit():
                self._node_ids[int(node)] = address
                if int(node) == leader:
                    return address
        return None

    def _next_node(self) -> None:
        self._current = (self._current + 1) % len(self._addresses)

    def _backoff(self, attempt: int) -> float:
        return min(MAX_BACKOFF_S, self.backoff_s * (2**attempt)) * (0.5 + self._rng.random() / 2)

    # -- encoding --------------------------------------------------------------------

    def _bytes(self, word: Word) -> bytes:
        if isinstance(word, bytes):
            return word
        if isinstance(word, int):
            return str(word).encode()
        return word.encode(self.encoding, "surrogateescape")

    def _text(self, value: ReplyValue) -> str | None:
        return None if value is None else bytes(value).decode(self.encoding, "surrogateescape")

    def _txn_op(self, op: Command) -> tuple[list[Word], Callable[[ReplyValue], Any]]:
        match op:
            case Get(key=k):
                return ["GET", k], self._text
            case Set(key=k, value=v, only_if=only_if, return_old=return_old):
                words: list[Word] = ["SET", k, v]
                words += [only_if.upper()] if only_if else []
                if return_old:
                    return [*words, "GET"], self._text
                return words, lambda r: r == Simple("OK")
            case Delete(key=k):
                return ["DEL", k], int
            case Cas(key=k, expected=None, new=new):
                return ["CASNX", k, new], lambda r: r == 1
            case Cas(key=k, expected=expected, new=new):
                return ["CAS", k, expected, new], lambda r: r == 1
            case Incr(key=k, by=by):
                return ["INCRBY", k, by], int
            case Append(key=k, value=v):
                return ["APPEND", k, v], int
        raise ValueError(f"{type(op).__name__} cannot be part of a transaction")


def parse_info(text: str) -> dict[str, str]:
    """``INFO`` text as ``{field: value}`` (section headers and blank lines skipped)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and ":" in line:
            name, value = line.split(":", 1)
            fields[name] = value
    return fields


__all__ = ["Client", "ReplikvError", "parse_info"]
