"""How the load driver's commands travel to each system: one sans-I/O :class:`~replikv.bench.load.Wire`
per connection, which encodes a command into bytes and frames its reply out of the bytes
received (``bench/load`` does the I/O, the same way for every system).

- :func:`resp`: ``SET key value`` / ``GET key`` over RESP: replikv, plain Redis and the
  PySyncObj harness.
- :func:`resp_wait`: Redis with ``WAIT n 0`` after every ``SET`` (pipelined with it in one
  write): the write is acknowledged once ``n`` replicas have it, Redis's closest
  analogue of a replicated, acknowledged write. A ``WAIT`` that returns fewer than ``n``
  (or anything but an integer) counts as a ``wait-short`` error, not a success.
- :func:`etcd`: etcd v3's JSON gateway over HTTP/1.1 keep-alive (``POST /v3/kv/put``,
  ``POST /v3/kv/range``; reads are linearizable, etcd's default). A minimal HTTP client:
  the status line, ``Content-Length``, and chunked bodies (etcd 3.4's gateway answers with
  a ``Content-Length`` up to about 4 KiB of JSON, chunked above: a range of a large value).

Why hand-written framing: the driver shares the machine's two cores with the system it
measures, so a reply must cost as little as possible to recognise. The driver never needs
a reply's value, only whether it is complete, how long it is, and whether it is an error
(and ``WAIT``'s integer). :func:`resp_reply` walks one RESP2/RESP3 reply without building
it (integers and lengths go through ``resp.protocol.parse_int``, Redis's strict rule).
"""

from __future__ import annotations

import base64

from replikv.bench.load import Connector, WireError, WireReply
from replikv.resp.protocol import CRLF, parse_int

MAX_LINE = 64 * 1024
"""A reply line (or HTTP header block) longer than this breaks the protocol."""
MAX_BULK = 512 * 1024 * 1024
MAX_DEPTH = 32

def _line_end(buf: bytes | bytearray, pos: int) -> int:
    """Where the CRLF ending the line at ``pos`` is, or -1 while it is not in yet."""
    eol = buf.find(CRLF, pos)
    if (eol < 0 and len(buf) - pos > MAX_LINE) or eol - pos > MAX_LINE:
        raise WireError("reply line too long")
    return eol


def _number(buf: bytes | bytearray, start: int, stop: int, what: str) -> int:
    number = parse_int(bytes(buf[start:stop]))
    if number is None:
        raise WireError(f"invalid {what}: {bytes(buf[start:stop])[:40]!r}")
    return number


def _error_kind(text: bytes) -> str:
    """An error reply's first word, the figures' name for it (``NOTLEADER``, ``ERR``)."""
    return text.split(b" ", 1)[0].decode("utf-8", "replace")


def resp_reply(buf: bytes | bytearray, pos: int = 0, depth: int = 0) -> tuple[int, int | str | None] | None:
    """The RESP reply starting at ``buf[pos]``: ``None`` while incomplete, else ``(end,
    outcome)`` with ``end`` just past it and ``outcome`` the error kind (``str``) of an
    error reply (``-``, ``!``), the number of an integer reply (``:``), ``None`` for any
    other reply (simple and bulk strings, nulls, aggregates, RESP3 scalars). Raises
    :class:`WireError` when the bytes cannot be a reply."""
    if pos >= len(buf):
        return None
    kind = buf[pos]
    eol = _line_end(buf, pos)
    if eol < 0:
        return None
    if kind == 0x24:  # $ bulk string: $-1 is the RESP2 null
        length = _number(buf, pos + 1, eol, "bulk length")
        if length == -1:
            return eol + 2, None
        return _blob(buf, eol, length)
    if kind == 0x2B:  # + simple string
        return eol + 2, None
    if kind == 0x2D:  # - error
        return eol + 2, _error_kind(bytes(buf[pos + 1:eol]))
    if kind == 0x3A:  # : integer
        return eol + 2, _number(buf, pos + 1, eol, "integer reply")
    if kind in (0x2A, 0x25, 0x7E):  # * array, % map, ~ set
        return _aggregate(buf, pos, eol, kind, depth)
    if kind == 0x5F:  # _ RESP3 null
        if eol != pos + 1:
            raise WireError("invalid null reply")
        return eol + 2, None
    if kind in (0x23, 0x2C, 0x28):  # # boolean, , double, ( big number
        return eol + 2, None
    if kind in (0x21, 0x3D):  # ! blob error, = verbatim string
        got = _blob(buf, eol, _number(buf, pos + 1, eol, "bulk length"))
        if got is None or kind == 0x3D:
            return got
        return got[0], _error_kind(bytes(buf[eol + 2:got[0] - 2]))
    raise WireError(f"unknown reply type {bytes(buf[pos:pos + 1])!r}")


def _blob(buf: bytes | bytearray, eol: int, length: int) -> tuple[int, None] | None:
    if not 0 <= length <= MAX_BULK:
        raise WireError(f"invalid bulk length {length}")
    end = eol + 2 + length
    if len(buf) < end + 2:
        return None
    if buf[end:end + 2] != CRLF:
        raise WireError("expected CRLF after bulk string")
    return end + 2, None


def _aggregate(buf: bytes | bytearray, pos: int, eol: int, kind: int,
               depth: int) -> tuple[int, None] | None:
    count = _number(buf, pos + 1, eol, "multibulk length")
    if count == -1 and kind == 0x2A:
        return eol + 2, None  # the RESP2 null array
    if count < 0:
        raise WireError("invalid multibulk length")
    if depth >= MAX_DEPTH:
        raise WireError("arrays nested too deeply")
    end = eol + 2
    for _ in range(2 * count if kind == 0x25 else count):
        got = resp_reply(buf, end, depth + 1)
        if got is None:
            return None
        end = got[0]
    return end, None


class RespWire:
    """``SET key value`` / ``GET key``; a reply is a success unless it is an error reply
    (whose first word is the error's kind, e.g. ``NOTLEADER``)."""

    __slots__ = ("_value", "_value_tail")

    def __init__(self) -> None:
        self._value = b""
        self._value_tail = b"$0\r\n\r\n"

    def write(self, key: bytes, value: bytes) -> bytes:
        if value is not self._value:  # one value per client: its encoding is kept
            self._value, self._value_tail = value, b"$%d\r\n%b\r\n" % (len(value), value)
        return b"*3\r\n$3\r\nSET\r\n$%d\r\n%b\r\n%b" % (len(key), key, self._value_tail)

    def read(self, key: bytes) -> bytes:
        return b"*2\r\n$3\r\nGET\r\n$%d\r\n%b\r\n" % (len(key), key)

    def reply(self, buf: bytes | bytearray) -> WireReply:
        if buf == b"+OK\r\n":  # the common write reply
            return 5, None
        got = resp_reply(buf)
        if got is None:
            return None
        end, outcome = got
        return end, outcome if isinstance(outcome, str) else None


def resp(host: str, port: int) -> RespWire:
    """RESP ``SET``/``GET`` (a :data:`~replikv.bench.load.Connector`)."""
    return RespWire()


class RespWaitWire(RespWire):
    """A write is ``SET`` and ``WAIT replicas 0`` in one write; it succeeds only when the
    ``SET`` did and ``WAIT`` answers an integer of at least ``replicas``."""

    __slots__ = ("_replicas", "_wait", "_writing")

    def __init__(self, replicas: int) -> None:
        super().__init__()
        self._replicas = replicas
        self._wait = b"*3\r\n$4\r\nWAIT\r\n$%d\r\n%d\r\n$1\r\n0\r\n" % (len(str(replicas)), replicas)
        self._writing = False

    def write(self, key: bytes, value: bytes) -> bytes:
        self._writing = True
        return super().write(key, value) + self._wait

    def read(self, key: bytes) -> bytes:
        self._writing = False
        return super().read(key)

    def reply(self, buf: bytes | bytearray) -> WireReply:
        if not self._writing:
            return super().reply(buf)
        first = resp_reply(buf)
        if first is None:
            return None
        second = resp_reply(buf, first[0])
        if second is None:
            return None
        end, acked = second
        if isinstance(first[1], str):
            return end, first[1]
        if not isinstance(acked, int) or acked < self._replicas:
            return end, "wait-short"
        return end, None


def resp_wait(replicas: int) -> Connector:
    """RESP with ``WAIT replicas 0`` after every write."""

    def connect(host: str, port: int) -> RespWaitWire:
        return RespWaitWire(replicas)

    return connect


class EtcdWire:
    """etcd's v3 JSON gateway: a write is ``POST /v3/kv/put``, a read ``POST /v3/kv/range``,
    both with base64 key and value (the request bytes are those of the first driver:
    ``json.dumps`` of the body); a reply is a success when its status is 200, else
    ``http-<status>``."""

    __slots__ = ("_head", "_value", "_value_json")

    def __init__(self, host: str) -> None:
        self._head = b"\r\nHost: %b\r\nContent-Type: application/json\r\nContent-Length: " % host.encode()
        self._value = b""
        self._value_json = b""

    def write(self, key: bytes, value: bytes) -> bytes:
        if value is not self._value:
            self._value, self._value_json = value, base64.b64encode(value)
        body = b'{"key": "%b", "value": "%b"}' % (base64.b64encode(key), self._value_json)
        return b"POST /v3/kv/put HTTP/1.1%b%d\r\n\r\n%b" % (self._head, len(body), body)

    def read(self, key: bytes) -> bytes:
        body = b'{"key": "%b"}' % base64.b64encode(key)
        return b"POST /v3/kv/range HTTP/1.1%b%d\r\n\r\n%b" % (self._head, len(body), body)

    def reply(self, buf: bytes | bytearray) -> WireReply:
        return http_reply(buf)


def http_reply(buf: bytes | bytearray) -> WireReply:
    """One HTTP/1.1 response at the start of ``buf``: ``None`` while incomplete, else
    ``(end, None)`` for status 200 or ``(end, "http-<status>")``. The body is delimited by
    ``Content-Length`` or chunked transfer coding; a response delimited by the close of
    the connection is refused (etcd never sends one on a keep-alive connection)."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        if len(buf) > MAX_LINE:
            raise WireError("HTTP header block too long")
        return None
    head = bytes(buf[:head_end + 2]).lower()
    parts = head[:head.find(CRLF)].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"http/1.") or not parts[1].isdigit():
        raise WireError(f"not an HTTP/1.x status line: {head[:60]!r}")
    status = int(parts[1])
    body = head_end + 4
    at = head.find(b"\r\ncontent-length:")
    if at >= 0:
        text = head[at + 17:head.find(CRLF, at + 2)].strip()
        length = parse_int(text)
        if length is None or length < 0:
            raise WireError(f"invalid Content-Length {text[:20]!r}")
        end = body + length
        if len(buf) < end:
            return None
    elif head.find(b"\r\ntransfer-encoding:") >= 0 and b"chunked" in head:
        got = _chunked_end(buf, body)
        if got is None:
            return None
        end = got
    elif status in (204, 304) or 100 <= status < 200:
        end = body
    else:
        raise WireError("an HTTP response with neither Content-Length nor chunked coding")
    return end, None if status == 200 else f"http-{status}"


def _chunked_end(buf: bytes | bytearray, pos: int) -> int | None:
    """Where a chunked body starting at ``pos`` ends (past its trailer), or None."""
    while True:
        eol = _line_end(buf, pos)
        if eol < 0:
            return None
        size_text = bytes(buf[pos:eol]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise WireError(f"invalid chunk size {size_text[:20]!r}") from None
        if size < 0:
            raise WireError("negative chunk size")
        if size == 0:
            pos = eol + 2
            while True:  # trailer fields, then an empty line
                eol = _line_end(buf, pos)
                if eol < 0:
                    return None
                if eol == pos:
                    return eol + 2
                pos = eol + 2
        end = eol + 2 + size
        if len(buf) < end + 2:
            return None
        if buf[end:end + 2] != CRLF:
            raise WireError("expected CRLF after a chunk")
        pos = end + 2


def etcd(host: str, port: int) -> EtcdWire:
    """etcd's JSON gateway (a :data:`~replikv.bench.load.Connector`)."""
    return EtcdWire(f"{host}:{port}")
