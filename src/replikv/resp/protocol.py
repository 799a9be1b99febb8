"""Sans-I/O RESP2 and RESP3: a request parser, a reply parser and a serializer (h11-style).

What may live here: byte-level framing of the Redis serialization protocol, versions 2
and 3 (https://redis.io/docs/reference/protocol-spec/), and nothing that knows what a
command means. No sockets, no asyncio: bytes in, values out.

Server side: ``RespParser.feed(data)`` then ``next_command()`` until it returns ``None``.
Both multibulk arrays (``*2\\r\\n$3\\r\\nGET\\r\\n$1\\r\\nk\\r\\n``) and inline commands
(``GET k\\r\\n``, with Redis's quoting rules) are accepted, as Redis accepts them. Every
length is bounded by ``RespLimits``; a frame that breaks a bound or the grammar raises
``RespProtocolError`` whose message is what Redis answers after ``-ERR Protocol error: ``.
Requests are the same in both protocol versions.

Client side: ``ReplyParser.feed(data)`` then ``next_reply()`` gives reply values:

    Simple("OK")    +OK          Error("ERR x")  -ERR x / !5 ERR x   int        :12
    bytes           $3 abc       None            $-1 / _             list       *2 ...
    NULL_ARRAY      *-1          Map([(k, v)])   %1 ...              RespSet    ~2 ...
    float           ,1.5         bool            #t / #f             BigNumber  (123
    Verbatim("txt", b"...")      =7 txt:...

Push replies (``>``) and attributes (``|``) are refused with ``RespProtocolError``: the
front end never sends them (no pub/sub, no client tracking).

``encode_reply(value, resp3=False)`` is the inverse. In RESP2 the RESP3-only types take
the shapes Redis gives them for a RESP2 client: a map is a flat array of key, value, key,
value; a set an array; a double or big number a bulk string; a boolean ``:1``/``:0``; a
verbatim string a bulk string; both nulls keep their RESP2 forms. In RESP3 both nulls are
``_``. So every value but ``NULL_ARRAY`` round-trips through RESP3 (it comes back as
``None``: RESP3 has one null), and every RESP2 value through RESP2.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import msgspec

from replikv.resp.inline import split_inline

CRLF = b"\r\n"
_COUNT = re.compile(rb"\*([1-9][0-9]{0,7})\r\n")
"""A multibulk header in the form ``parse_int`` accepts, positive (the fast path)."""
_BULK = re.compile(rb"\$(0|[1-9][0-9]{0,9})\r\n")
"""A bulk header in the form ``parse_int`` accepts, not negative (the fast path)."""
_T = TypeVar("_T")


class RespProtocolError(Exception):
    """The peer broke the protocol; the connection cannot continue."""


class Simple(msgspec.Struct, frozen=True):
    """A simple string reply (``+OK``)."""

    text: str


class Error(msgspec.Struct, frozen=True):
    """An error reply; ``text`` includes the prefix word (``ERR ...``, ``NOTLEADER ...``)."""

    text: str

    @property
    def prefix(self) -> str:
        return self.text.split(" ", 1)[0]

    @property
    def message(self) -> str:
        parts = self.text.split(" ", 1)
        return parts[1] if len(parts) > 1 else ""


class _NullArray:
    """The null array (``*-1``), distinct from the null bulk string (``None``)."""

    _instance: _NullArray | None = None

    def __new__(cls) -> _NullArray:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NULL_ARRAY"


NULL_ARRAY = _NullArray()


class Map(msgspec.Struct, frozen=True):
    """A RESP3 map (``%``), kept as ordered pairs: keys may be unhashable (arrays).
    Encoded for RESP2 as the flat array Redis sends a RESP2 client."""

    pairs: list[tuple[ReplyValue, ReplyValue]]

    def to_dict(self) -> dict:
        """The pairs as a dict (keys must be hashable)."""
        return dict(self.pairs)


class RespSet(msgspec.Struct, frozen=True):
    """A RESP3 set (``~``), kept as a list in reply order (elements may be unhashable)."""

    items: list[ReplyValue]


class BigNumber(msgspec.Struct, frozen=True):
    """A RESP3 big number (``(``): an integer beyond 64 bits."""

    value: int


class Verbatim(msgspec.Struct, frozen=True):
    """A RESP3 verbatim string (``=``): ``format`` is three characters (``txt``, ``mkd``)."""

    format: str
    data: bytes


ReplyValue = (
    Simple | Error | int | bytes | None | list | _NullArray
    | Map | RespSet | float | bool | BigNumber | Verbatim
)  # fmt: skip


@dataclass(frozen=True)
class RespLimits:
    """Bounds on what one peer may make us buffer (Redis defaults in brackets)."""

    max_bulk: int = 8 * 1024 * 1024
    """Longest bulk string [proto-max-bulk-len 512 MiB]."""
    max_array: int = 1024 * 1024
    """Most elements in one multibulk request [1024*1024]."""
    max_inline: int = 64 * 1024
    """Longest inline command or length line [PROTO_INLINE_MAX_SIZE 64 KiB]."""
    max_depth: int = 8
    """Deepest nesting of arrays in a reply (reply parser only)."""

    def __post_init__(self) -> None:
        for name in ("max_bulk", "max_array", "max_inline", "max_depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"RespLimits.{name} must be >= 1")


# -- serializer ---------------------------------------------------------------------


def simple(text: str) -> bytes:
    if text == "OK":
        return _OK  # the reply to nearly every write
    return b"+" + _line(text) + CRLF


_OK = b"+OK\r\n"


def error(text: str) -> bytes:
    """An error reply; ``text`` starts with its prefix word (``ERR``, ``NOTLEADER``...)."""
    return b"-" + _line(text) + CRLF


def integer(number: int) -> bytes:
    return b":%d\r\n" % number


def bulk(data: bytes | None) -> bytes:
    if data is None:
        return b"$-1\r\n"
    return b"$%d\r\n%b\r\n" % (len(data), data)


def array(items: list[bytes] | None) -> bytes:
    """An array of already-encoded replies (``None``: the null array)."""
    if items is None:
        return b"*-1\r\n"
    return b"*%d\r\n" % len(items) + b"".join(items)


def encode_reply(value: ReplyValue, resp3: bool = False) -> bytes:
    """Encode a reply value for a RESP2 (default) or RESP3 connection (see the module
    docstring for the mapping)."""
    match value:
        case bytes():
            return b"$%d\r\n%b\r\n" % (len(value), value)
        case None:
            return b"_\r\n" if resp3 else b"$-1\r\n"
        case Simple(text=text):
            return simple(text)
        case Error(text=text):
            return error(text)
        case bool():
            return (b"#t\r\n" if value else b"#f\r\n") if resp3 else integer(int(value))
        case int():
            return integer(value)
        case list() | tuple():
            return b"*%d\r\n" % len(value) + b"".join(encode_reply(v, resp3) for v in value)
        case _NullArray():
            return b"_\r\n" if resp3 else b"*-1\r\n"
        case Map(pairs=pairs):
            head = b"%%%d\r\n" % len(pairs) if resp3 else b"*%d\r\n" % (2 * len(pairs))
            return head + b"".join(
                encode_reply(k, resp3) + encode_reply(v, resp3) for k, v in pairs
            )
        case RespSet(items=items):
            head = b"~%d\r\n" if resp3 else b"*%d\r\n"
            return head % len(items) + b"".join(encode_reply(v, resp3) for v in items)
        case float():
            text = _double_text(value).encode()
            return b",%b\r\n" % text if resp3 else bulk(text)
        case BigNumber(value=number):
            return b"(%d\r\n" % number if resp3 else bulk(b"%d" % number)
        case Verbatim(format=fmt, data=data):
            if len(fmt) != 3 or not fmt.isascii() or ":" in fmt:
                raise ValueError(f"verbatim format must be 3 ASCII characters, not {fmt!r}")
            if not resp3:
                return bulk(data)
            return b"=%d\r\n%b:%b\r\n" % (len(data) + 4, fmt.encode(), data)
    raise TypeError(f"cannot encode {type(value).__name__} as a RESP reply")


def _double_text(number: float) -> str:
    if math.isnan(number):
        return "nan"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    return repr(number)


def encode_command(args: list[bytes]) -> bytes:
    """A request as a multibulk array of bulk strings (what clients send)."""
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)


def _line(text: str) -> bytes:
    """Simple strings and errors cannot hold CR or LF (Redis maps them to spaces)."""
    return text.replace("\r", " ").replace("\n", " ").encode("utf-8", "replace")


def parse_int(raw: bytes) -> int | None:
    """Strict decimal integer as Redis's string2ll accepts it, else ``None``."""
    if not raw or len(raw) > 20:
        return None
    digits = raw[1:] if raw[:1] == b"-" else raw
    if not digits.isdigit() or (len(digits) > 1 and digits[:1] == b"0"):
        return None
    return int(raw)


# -- shared by both parsers ---------------------------------------------------------


class _BufferedParser:
    """The buffer both parsers read from: bytes fed in, a read position, and a protocol
    error that is sticky (once the framing is lost, every later call raises it again and
    fed bytes are dropped)."""

    def __init__(self, limits: RespLimits) -> None:
        self.limits = limits
        self._buf = bytearray()
        self._pos = 0
        self._failed: RespProtocolError | None = None

    def feed(self, data: bytes) -> None:
        if self._failed is None:
            self._buf += data

    def _guarded(self, parse: Callable[[], _T]) -> _T:
        """Run one ``parse`` step: remember a protocol error for good, and drop the
        consumed bytes once they are most of the buffer (so a long pipeline does not
        keep them all)."""
        if self._failed is not None:
            raise self._failed
        try:
            value = parse()
        except RespProtocolError as exc:
            self._failed = exc
            raise
        if self._pos > 65536 and self._pos * 2 > len(self._buf):
            del self._buf[: self._pos]
            self._pos = 0
        return value


# -- request parser -----------------------------------------------------------------


class RespParser(_BufferedParser):
    """Incremental parser of client requests (multibulk and inline).

    Keeps at most one incomplete command: the arguments completed so far plus the bytes
    of the one being read, each bounded by the limits.
    """

    def __init__(self, limits: RespLimits | None = None) -> None:
        super().__init__(limits or RespLimits())
        self._args: list[bytes] = []
        self._remaining = 0  # arguments still to read of the current multibulk
        self._bulk_len = -1  # length of the bulk being read, -1 before its header

    @property
    def buffered(self) -> int:
        """Bytes held for the incomplete command (for the server's bound)."""
        held = len(self._buf) - self._pos
        return held + sum(map(len, self._args)) if self._args else held

    def next_command(self) -> list[bytes] | None:
        """The next complete command, or ``None`` when more bytes are needed.

        Raises ``RespProtocolError`` on a malformed frame, and again on every later call.
        """
        return self._guarded(self._next)

    def _next(self) -> list[bytes] | None:
        while True:
            if self._remaining == 0:
                if self._pos >= len(self._buf):
                    return None
                if self._buf[self._pos] == 0x2A:  # '*'
                    whole = self._whole_multibulk()
                    if whole is not None:
                        return whole
                    count = self._read_count()
                    if count is None:
                        return None
                    if count <= 0:
                        continue  # Redis ignores empty multibulks
                    self._remaining = count
                    self._args = []
                else:
                    inline = self._read_inline()
                    if inline is None:
                        return None
                    if inline:
                        return inline
                    continue  # empty line: ignored
            if not self._read_bulks():
                return None
            args, self._args = self._args, []
            return args

    def _whole_multibulk(self) -> list[bytes] | None:
        """The fast path (issue 14): a complete, well-formed multibulk at the read
        position, read with two compiled patterns and no per-line calls; ``None`` (nothing
        consumed) whenever it is incomplete, malformed or past a limit, and the general
        reader below takes over and answers exactly as before."""
        buf, limits = self._buf, self.limits
        head = _COUNT.match(buf, self._pos)
        if head is None:
            return None
        count = int(head.group(1))
        if count > limits.max_array:
            return None
        args = []
        pos = head.end()
        for _ in range(count):
            bulk = _BULK.match(buf, pos)
            if bulk is None:
                return None
            length = int(bulk.group(1))
            start = bulk.end()
            end = start + length
            if length > limits.max_bulk or buf[end : end + 2] != CRLF:
                return None
            args.append(bytes(buf[start:end]))
            pos = end + 2
        self._pos = pos
        return args

    def _read_line(self, too_big: str) -> bytes | None:
        end = self._buf.find(b"\r", self._pos)
        if end < 0 or end + 1 >= len(self._buf):
            if len(self._buf) - self._pos > self.limits.max_inline:
                raise RespProtocolError(too_big)
            return None
        if end - self._pos > self.limits.max_inline:
            raise RespProtocolError(too_big)
        if self._buf[end + 1] != 0x0A:
            raise RespProtocolError("expected LF after CR")
        line = bytes(self._buf[self._pos : end])
        self._pos = end + 2
        return line

    def _read_count(self) -> int | None:
        line = self._read_line("too big mbulk count string")
        if line is None:
            return None
        count = parse_int(line[1:])
        if count is None or count > self.limits.max_array:
            raise RespProtocolError("invalid multibulk length")
        return count

    def _read_bulks(self) -> bool:
        """Read arguments of the current multibulk; ``True`` once all are in."""
        while self._remaining > 0:
            if self._bulk_len < 0:
                if self._pos >= len(self._buf):
                    return False
                first = self._buf[self._pos]
                if first != 0x24:  # '$'
                    raise RespProtocolError(f"expected '$', got '{chr(first)}'")
                line = self._read_line("too big bulk count string")
                if line is None:
                    return False
                length = parse_int(line[1:])
                if length is None or length < 0 or length > self.limits.max_bulk:
                    raise RespProtocolError("invalid bulk length")
                self._bulk_len = length
            end = self._pos + self._bulk_len
            if len(self._buf) < end + 2:
                return False
            if self._buf[end : end + 2] != CRLF:
                raise RespProtocolError("expected CRLF after bulk string")
            self._args.append(bytes(self._buf[self._pos : end]))
            self._pos = end + 2
            self._bulk_len = -1
            self._remaining -= 1
        return True

    def _read_inline(self) -> list[bytes] | None:
        end = self._buf.find(b"\n", self._pos)
        if end < 0:
            if len(self._buf) - self._pos > self.limits.max_inline:
                raise RespProtocolError("too big inline request")
            return None
        if end - self._pos > self.limits.max_inline:
            raise RespProtocolError("too big inline request")
        line = bytes(self._buf[self._pos : end])
        self._pos = end + 1
        if line.endswith(b"\r"):
            line = line[:-1]
        args = split_inline(line)
        if args is None:
            raise RespProtocolError("unbalanced quotes in request")
        return args


# -- reply parser -------------------------------------------------------------------


_DOUBLE = re.compile(rb"-?(?:inf|nan|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)")
_BIG = re.compile(rb"-?\d+")
_AGGREGATES = (b"*", b"~", b"%")


class ReplyParser(_BufferedParser):
    """Incremental parser of server replies, RESP2 and RESP3 (what a client reads)."""

    def __init__(self, limits: RespLimits | None = None) -> None:
        super().__init__(limits or RespLimits(max_bulk=512 * 1024 * 1024))
        # open aggregates: (kind, elements expected, elements so far)
        self._stack: list[tuple[bytes, int, list]] = []

    def next_reply(self) -> ReplyValue | _Incomplete:
        """The next complete reply, or ``INCOMPLETE`` when more bytes are needed
        (``None`` is a valid reply: the null). Raises ``RespProtocolError`` when the
        reply stream is malformed, and again on every later call."""
        return self._guarded(self._next)

    def _next(self) -> ReplyValue | _Incomplete:
        while True:
            item = self._read_item()
            if item is INCOMPLETE:
                return INCOMPLETE
            while True:
                if not self._stack:
                    return item
                kind, expected, items = self._stack[-1]
                items.append(item)
                if len(items) < expected:
                    break
                self._stack.pop()
                item = _aggregate(kind, items)

    def _read_item(self) -> ReplyValue | _Incomplete:
        """One scalar, or an empty/null aggregate, or push a non-empty aggregate header."""
        while True:
            line = self._read_line()
            if line is None:
                return INCOMPLETE
            kind, rest = line[:1], line[1:]
            if kind in _AGGREGATES:
                count = parse_int(rest)
                if count is None or count < -1 or count > self.limits.max_array:
                    raise RespProtocolError("invalid multibulk length")
                if count == -1 and kind == b"*":
                    return NULL_ARRAY
                if count == -1:
                    raise RespProtocolError(f"invalid {_NAMES[kind]} length")
                if count == 0:
                    return _aggregate(kind, [])
                if len(self._stack) >= self.limits.max_depth:
                    raise RespProtocolError("arrays nested too deeply")
                self._stack.append((kind, 2 * count if kind == b"%" else count, []))
                continue
            return self._scalar(kind, rest, line)

    def _scalar(self, kind: bytes, rest: bytes, line: bytes) -> ReplyValue | _Incomplete:
        if kind == b"+":
            return Simple(rest.decode("utf-8", "replace"))
        if kind == b"-":
            return Error(rest.decode("utf-8", "replace"))
        if kind == b":":
            number = parse_int(rest)
            if number is None:
                raise RespProtocolError("invalid integer reply")
            return number
        if kind in (b"$", b"!", b"="):
            body = self._read_bulk_body(line)
            if body is INCOMPLETE or body is None:
                return body
            if kind == b"!":
                return Error(body.decode("utf-8", "replace"))
            if kind == b"=":
                if len(body) < 4 or body[3:4] != b":" or not body[:3].isascii():
                    raise RespProtocolError("invalid verbatim string")
                return Verbatim(body[:3].decode("ascii"), body[4:])
            return body
        if kind == b"_":
            if rest:
                raise RespProtocolError("invalid null reply")
            return None
        if kind == b"#":
            if rest not in (b"t", b"f"):
                raise RespProtocolError("invalid boolean reply")
            return rest == b"t"
        if kind == b",":
            if _DOUBLE.fullmatch(rest) is None:
                raise RespProtocolError("invalid double reply")
            return float(rest)
        if kind == b"(":
            if _BIG.fullmatch(rest) is None:
                raise RespProtocolError("invalid big number reply")
            return BigNumber(int(rest))
        if kind in (b">", b"|"):
            what = "push replies" if kind == b">" else "attributes"
            raise RespProtocolError(f"RESP3 {what} are not supported by this client")
        raise RespProtocolError(f"unknown reply type {kind!r}")

    def _read_bulk_body(self, line: bytes) -> bytes | None | _Incomplete:
        """The body of ``$``, ``!`` or ``=`` (only ``$`` may be null: ``$-1``)."""
        length = parse_int(line[1:])
        if length is None or length < -1 or length > self.limits.max_bulk:
            raise RespProtocolError("invalid bulk length")
        if length == -1:
            if line[:1] != b"$":
                raise RespProtocolError("invalid bulk length")
            return None
        end = self._pos + length
        if len(self._buf) < end + 2:
            self._pos -= len(line) + 2  # re-read the header when the body is in
            return INCOMPLETE
        if self._buf[end : end + 2] != CRLF:
            raise RespProtocolError("expected CRLF after bulk string")
        data = bytes(self._buf[self._pos : end])
        self._pos = end + 2
        return data

    def _read_line(self) -> bytes | None:
        end = self._buf.find(CRLF, self._pos)
        if end < 0:
            if len(self._buf) - self._pos > self.limits.max_inline:
                raise RespProtocolError("reply line too long")
            return None
        if end - self._pos > self.limits.max_inline:
            raise RespProtocolError("reply line too long")
        line = bytes(self._buf[self._pos : end])
        self._pos = end + 2
        return line


_NAMES = {b"*": "array", b"~": "set", b"%": "map"}


def _aggregate(kind: bytes, items: list) -> ReplyValue:
    if kind == b"%":
        return Map(list(zip(items[::2], items[1::2], strict=True)))
    if kind == b"~":
        return RespSet(items)
    return items


class _Incomplete:
    def __repr__(self) -> str:
        return "INCOMPLETE"


INCOMPLETE = _Incomplete()
