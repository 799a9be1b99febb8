"""The sans-I/O RESP2/RESP3 parsers and serializer: byte-at-a-time feeding, limits, round
trips, and garbage that may only ever raise the protocol's own error."""

from __future__ import annotations

import functools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replikv.resp import protocol as p
from replikv.resp.protocol import (
    INCOMPLETE,
    NULL_ARRAY,
    BigNumber,
    Error,
    Map,
    ReplyParser,
    RespLimits,
    RespParser,
    RespProtocolError,
    RespSet,
    Simple,
    Verbatim,
)


def commands_of(
    data: bytes, *, chunk: int | None = None, limits: RespLimits | None = None
) -> list[list[bytes]]:
    """Feed ``data`` whole or ``chunk`` bytes at a time; collect every command."""
    parser = RespParser(limits)
    out: list[list[bytes]] = []
    step = chunk or max(1, len(data))
    for i in range(0, len(data), step):
        parser.feed(data[i : i + step])
        while (command := parser.next_command()) is not None:
            out.append(command)
    return out


def replies_of(data: bytes, *, chunk: int | None = None) -> list:
    parser = ReplyParser()
    out = []
    step = chunk or max(1, len(data))
    for i in range(0, len(data), step):
        parser.feed(data[i : i + step])
        while (reply := parser.next_reply()) is not INCOMPLETE:
            out.append(reply)
    return out


PIPELINE = (
    b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\nv\r\nx\r\n"  # a value holding CR LF
    b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
    b"*0\r\n"  # ignored, as Redis does
    b"PING\r\n"
    b"\r\n"  # empty inline: ignored
    b"set \"a b\" 'c d'\n"  # inline, LF only, quotes
    b"*1\r\n$0\r\n\r\n"  # one empty argument
)
EXPECTED = [[b"SET", b"k", b"v\r\nx"], [b"GET", b"k"], [b"PING"], [b"set", b"a b", b"c d"], [b""]]


@pytest.mark.parametrize("chunk", [None, 1, 2, 3, 7])
def test_pipeline_of_multibulk_and_inline_commands_in_any_chunking(chunk: int | None) -> None:
    assert commands_of(PIPELINE, chunk=chunk) == EXPECTED


def test_incomplete_command_waits_for_more_bytes() -> None:
    parser = RespParser()
    parser.feed(b"*2\r\n$3\r\nGET\r\n$5\r\nab")
    assert parser.next_command() is None
    parser.feed(b"cde\r\n")
    assert parser.next_command() == [b"GET", b"abcde"]
    assert parser.next_command() is None


@pytest.mark.parametrize(
    ("line", "args"),
    [
        (b'SET k "a\\nb\\x41\\"" ', [b"SET", b"k", b'a\nbA"']),
        (b"SET k 'it\\'s'", [b"SET", b"k", b"it's"]),
        (b"  GET   k  ", [b"GET", b"k"]),
        (b'ECHO ""', [b"ECHO", b""]),
    ],
)
def test_inline_quoting_follows_redis(line: bytes, args: list[bytes]) -> None:
    assert commands_of(line + b"\r\n") == [args]
    assert commands_of(line + b"\r\n", chunk=1) == [args]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'SET k "open\r\n', "unbalanced quotes in request"),
        (b'SET k "a"b\r\n', "unbalanced quotes in request"),
        (b"*x\r\n", "invalid multibulk length"),
        (b"*2\r\n:3\r\n", "expected '$', got ':'"),
        (b"*1\r\n$-5\r\n", "invalid bulk length"),
        (b"*1\r\n$3\r\nabcde\r\n", "expected CRLF after bulk string"),
        (b"*1\r\n$01\r\na\r\n", "invalid bulk length"),
        (b"*1\rx", "expected LF after CR"),
    ],
)
def test_malformed_frames_raise_the_redis_message(data: bytes, message: str) -> None:
    with pytest.raises(RespProtocolError, match=re.escape(message)):
        commands_of(data)


def test_limits_bound_every_length() -> None:
    limits = RespLimits(max_bulk=10, max_array=3, max_inline=20)
    assert commands_of(b"*3\r\n$10\r\n0123456789\r\n$0\r\n\r\n$0\r\n\r\n", limits=limits)
    with pytest.raises(RespProtocolError, match="invalid bulk length"):
        commands_of(b"*1\r\n$11\r\n", limits=limits)
    with pytest.raises(RespProtocolError, match="invalid multibulk length"):
        commands_of(b"*4\r\n", limits=limits)
    with pytest.raises(RespProtocolError, match="too big inline request"):
        commands_of(b"x" * 21, chunk=1, limits=limits)
    with pytest.raises(RespProtocolError, match="too big mbulk count string"):
        commands_of(b"*" + b"1" * 30, chunk=1, limits=limits)
    with pytest.raises(RespProtocolError, match="too big bulk count string"):
        commands_of(b"*1\r\n$" + b"1" * 30, chunk=1, limits=limits)


def test_a_protocol_error_is_sticky_and_later_bytes_are_ignored() -> None:
    parser = RespParser()
    parser.feed(b"*1\r\n$3\r\nGET\r\n*z\r\n")
    assert parser.next_command() == [b"GET"]
    with pytest.raises(RespProtocolError):
        parser.next_command()
    parser.feed(b"*1\r\n$4\r\nPING\r\n")
    with pytest.raises(RespProtocolError):
        parser.next_command()


def test_buffer_holds_only_the_incomplete_command() -> None:
    parser = RespParser()
    parser.feed(b"*1\r\n$4\r\nPING\r\n" * 1000 + b"*2\r\n$3\r\nGET\r\n$4\r\nab")
    while parser.next_command() is not None:
        pass
    assert parser.buffered == len(b"GET") + len(b"ab")  # the header of "ab" is consumed


# -- hypothesis: garbage, round trips ---------------------------------------------------

args_strategy = st.lists(st.binary(max_size=40), min_size=1, max_size=6)


def outcome(parse, data: bytes, chunk: int | None) -> tuple[list, str | None]:
    """What a stream means: the items before any error, and the error's message. Any
    exception other than ``RespProtocolError`` escapes and fails the test."""
    items: list = []
    try:
        parse(data, chunk=chunk, sink=items)
    except RespProtocolError as exc:
        return items, str(exc)
    return items, None


def _commands_into(data: bytes, *, chunk: int | None, sink: list, parser_class: type[RespParser] = RespParser) -> None:
    parser = parser_class(RespLimits(max_bulk=64, max_array=8, max_inline=32))
    step = chunk or max(1, len(data))
    for i in range(0, len(data), step):
        parser.feed(data[i : i + step])
        while (command := parser.next_command()) is not None:
            sink.append(command)


def _replies_into(data: bytes, *, chunk: int | None, sink: list) -> None:
    parser = ReplyParser(RespLimits(max_bulk=64, max_array=8, max_inline=32))
    step = chunk or max(1, len(data))
    for i in range(0, len(data), step):
        parser.feed(data[i : i + step])
        while (reply := parser.next_reply()) is not INCOMPLETE:
            sink.append(reply)


garbage = st.one_of(
    st.binary(max_size=200),
    # garbage near the grammar: fragments of valid frames glued at random
    st.lists(
        st.sampled_from(
            [
                b"*",
                b"$",
                b"+",
                b"-",
                b":",
                b"\r\n",
                b"\r",
                b"\n",
                b"1",
                b"3",
                b"-1",
                b"0",
                b"99",
                b"x",
                b'"',
                b"'",
                b"\\",
                b" ",
                b"\x00",
                # RESP3 reply types and their payload fragments
                b"_",
                b"%",
                b"~",
                b",",
                b"#",
                b"(",
                b"=",
                b"!",
                b">",
                b"|",
                b"t",
                b"f",
                b"inf",
                b".5",
                b"e3",
                b"txt:",
            ]
        ),
        max_size=60,
    ).map(b"".join),
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(garbage, st.integers(min_value=1, max_value=9))
def test_garbage_requests_raise_only_the_protocol_error_whatever_the_chunking(
    data: bytes, chunk: int
) -> None:
    assert outcome(_commands_into, data, chunk) == outcome(_commands_into, data, None)


class _GeneralReaderOnly(RespParser):
    """The request parser without its fast path for whole multibulks."""

    def _whole_multibulk(self) -> None:
        return None


_commands_general_into = functools.partial(_commands_into, parser_class=_GeneralReaderOnly)


multibulk_fragments = st.lists(
    st.sampled_from([b"*", b"$", b"\r\n", b"\r", b"1", b"2", b"3", b"0", b"01", b"-1", b"9", b"70",
                     b"SET", b"k", b"v", b"x", b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"]),
    max_size=40,
).map(b"".join)


@settings(max_examples=600, deadline=None, derandomize=True)
@given(st.one_of(garbage, multibulk_fragments), st.sampled_from([None, 1, 5]))
def test_the_fast_path_answers_exactly_as_the_general_reader(data: bytes, chunk: int | None) -> None:
    """Issue 14's fast path (``RespParser._whole_multibulk``) reads whole, well-formed
    multibulks only; on anything else the general reader answers, so the commands and
    the error of every stream are the same with and without it (limits included)."""
    assert outcome(_commands_into, data, chunk) == outcome(_commands_general_into, data, chunk)


def test_the_fast_path_leaves_limits_and_odd_headers_to_the_general_reader() -> None:
    limits = RespLimits(max_bulk=4, max_array=2)
    for data, message in [
        (b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", "invalid multibulk length"),
        (b"*1\r\n$5\r\nabcde\r\n", "invalid bulk length"),
        (b"*01\r\n$1\r\na\r\n", "invalid multibulk length"),
        (b"*1\r\n$01\r\na\r\n", "invalid bulk length"),
        (b"*1\r\n$1\r\nab\r\n", "expected CRLF after bulk string"),
    ]:
        with pytest.raises(RespProtocolError, match=message):
            commands_of(data, limits=limits)
    assert commands_of(b"*2\r\n$4\r\nabcd\r\n$0\r\n\r\n", limits=limits) == [[b"abcd", b""]]


@settings(max_examples=400, deadline=None, derandomize=True)
@given(garbage, st.integers(min_value=1, max_value=9))
def test_garbage_replies_raise_only_the_protocol_error_whatever_the_chunking(
    data: bytes, chunk: int
) -> None:
    assert outcome(_replies_into, data, chunk) == outcome(_replies_into, data, None)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(args_strategy, max_size=5), st.integers(min_value=1, max_value=13))
def test_commands_round_trip(commands: list[list[bytes]], chunk: int) -> None:
    data = b"".join(p.encode_command(c) for c in commands)
    assert commands_of(data, chunk=chunk) == commands


_line_text = st.text(
    st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=20
)
scalar = st.one_of(
    _line_text.map(Simple),
    _line_text.map(lambda t: Error("ERR " + t)),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.binary(max_size=30),
    st.none(),
    st.just(NULL_ARRAY),
)
reply_strategy = st.recursive(scalar, lambda inner: st.lists(inner, max_size=4), max_leaves=12)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(reply_strategy, max_size=4), st.integers(min_value=1, max_value=11))
def test_replies_round_trip(values: list, chunk: int) -> None:
    data = b"".join(p.encode_reply(v) for v in values)
    assert replies_of(data, chunk=chunk) == values


scalar3 = st.one_of(
    _line_text.map(Simple),
    _line_text.map(lambda t: Error("ERR " + t)),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.binary(max_size=30),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False),
    st.integers(min_value=-(10**40), max_value=10**40).map(BigNumber),
    st.tuples(st.sampled_from(["txt", "mkd"]), st.binary(max_size=20)).map(lambda t: Verbatim(*t)),
)
reply3_strategy = st.recursive(
    scalar3,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(RespSet),
        st.lists(st.tuples(inner, inner), max_size=3).map(Map),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(reply3_strategy, max_size=4), st.integers(min_value=1, max_value=11))
def test_resp3_replies_round_trip(values: list, chunk: int) -> None:
    data = b"".join(p.encode_reply(v, resp3=True) for v in values)
    assert replies_of(data, chunk=chunk) == values


def _as_resp2(value: object) -> object:
    """What a RESP3 value looks like once sent to a RESP2 client (as Redis sends it)."""
    match value:
        case bool():
            return int(value)
        case float():
            return p._double_text(value).encode()
        case BigNumber(value=number):
            return str(number).encode()
        case Verbatim(data=data):
            return data
        case RespSet(items=items) | list(items):
            return [_as_resp2(v) for v in items]
        case Map(pairs=pairs):
            return [_as_resp2(x) for pair in pairs for x in pair]
    return value


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(reply3_strategy, max_size=4), st.integers(min_value=1, max_value=11))
def test_resp3_values_sent_to_a_resp2_client_take_redis_resp2_shapes(
    values: list, chunk: int
) -> None:
    data = b"".join(p.encode_reply(v) for v in values)
    assert replies_of(data, chunk=chunk) == [_as_resp2(v) for v in values]


RESP3_SAMPLE = (
    b"_\r\n"
    b"#t\r\n#f\r\n"
    b",1.5\r\n,-inf\r\n,3e10\r\n"
    b"(123456789012345678901234567890\r\n"
    b"=8\r\ntxt:ab\r\n\r\n"
    b"!10\r\nERR x\r\ny z\r\n"
    b"%2\r\n+a\r\n:1\r\n$1\r\nb\r\n%1\r\n_\r\n*0\r\n"
    b"~3\r\n:1\r\n:1\r\n~0\r\n"
    b"%0\r\n"
    b"*2\r\n_\r\n$-1\r\n"
)
RESP3_EXPECTED = [
    None,
    True,
    False,
    1.5,
    float("-inf"),
    3e10,
    BigNumber(123456789012345678901234567890),
    Verbatim("txt", b"ab\r\n"),
    Error("ERR x\r\ny z"),
    Map([(Simple("a"), 1), (b"b", Map([(None, [])]))]),
    RespSet([1, 1, RespSet([])]),
    Map([]),
    [None, None],
]


@pytest.mark.parametrize("chunk", [None, 1, 2, 5])
def test_resp3_reply_types_in_any_chunking(chunk: int | None) -> None:
    assert replies_of(RESP3_SAMPLE, chunk=chunk) == RESP3_EXPECTED


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b">2\r\n+message\r\n+x\r\n", "RESP3 push replies are not supported"),
        (b"|1\r\n+a\r\n+b\r\n+OK\r\n", "RESP3 attributes are not supported"),
        (b"#x\r\n", "invalid boolean reply"),
        (b"#\r\n", "invalid boolean reply"),
        (b",1.2.3\r\n", "invalid double reply"),
        (b", 1\r\n", "invalid double reply"),
        (b",1_0\r\n", "invalid double reply"),
        (b"(12a\r\n", "invalid big number reply"),
        (b"_x\r\n", "invalid null reply"),
        (b"%-1\r\n", "invalid map length"),
        (b"~-1\r\n", "invalid set length"),
        (b"=-1\r\n", "invalid bulk length"),
        (b"!-1\r\n", "invalid bulk length"),
        (b"=3\r\ntxt\r\n", "invalid verbatim string"),
        (b"=5\r\ntxtx1\r\n", "invalid verbatim string"),
        (b"%1\r\n+k\r\n", None),  # incomplete, not an error
    ],
)
def test_malformed_resp3_replies_raise_the_protocol_error(data: bytes, message: str | None) -> None:
    if message is None:
        assert replies_of(data, chunk=1) == []
        return
    for chunk in (None, 1):
        with pytest.raises(RespProtocolError, match=re.escape(message)):
            replies_of(data, chunk=chunk)


def test_resp3_aggregates_are_bounded_like_arrays() -> None:
    parser = ReplyParser(RespLimits(max_depth=2, max_array=4))
    parser.feed(b"%1\r\n~1\r\n*1\r\n:1\r\n")
    with pytest.raises(RespProtocolError, match="nested"):
        parser.next_reply()
    parser = ReplyParser(RespLimits(max_array=4))
    parser.feed(b"~5\r\n")
    with pytest.raises(RespProtocolError, match="invalid multibulk length"):
        parser.next_reply()


@pytest.mark.parametrize(
    ("value", "resp2", "resp3"),
    [
        (None, b"$-1\r\n", b"_\r\n"),
        (NULL_ARRAY, b"*-1\r\n", b"_\r\n"),
        (True, b":1\r\n", b"#t\r\n"),
        (2.5, b"$3\r\n2.5\r\n", b",2.5\r\n"),
        (float("inf"), b"$3\r\ninf\r\n", b",inf\r\n"),
        (float("nan"), b"$3\r\nnan\r\n", b",nan\r\n"),
        (
            BigNumber(-(10**20)),
            b"$22\r\n-100000000000000000000\r\n",
            b"(-100000000000000000000\r\n",
        ),
        (Verbatim("txt", b"a"), b"$1\r\na\r\n", b"=5\r\ntxt:a\r\n"),
        (Map([(b"k", None)]), b"*2\r\n$1\r\nk\r\n$-1\r\n", b"%1\r\n$1\r\nk\r\n_\r\n"),
        (RespSet([Simple("a")]), b"*1\r\n+a\r\n", b"~1\r\n+a\r\n"),
        ([b"x", None], b"*2\r\n$1\r\nx\r\n$-1\r\n", b"*2\r\n$1\r\nx\r\n_\r\n"),
        (Simple("OK"), b"+OK\r\n", b"+OK\r\n"),
        (Error("ERR no"), b"-ERR no\r\n", b"-ERR no\r\n"),
        (7, b":7\r\n", b":7\r\n"),
    ],
)
def test_encodings_per_protocol_version(value: object, resp2: bytes, resp3: bytes) -> None:
    assert p.encode_reply(value) == resp2
    assert p.encode_reply(value, resp3=True) == resp3


def test_verbatim_format_must_be_three_characters() -> None:
    with pytest.raises(ValueError, match="verbatim format"):
        p.encode_reply(Verbatim("text", b""), resp3=True)


def test_reply_parser_keeps_null_bulk_and_null_array_apart() -> None:
    assert replies_of(b"$-1\r\n*-1\r\n*0\r\n$0\r\n\r\n", chunk=1) == [None, NULL_ARRAY, [], b""]


def test_reply_parser_bounds_nesting() -> None:
    parser = ReplyParser(RespLimits(max_depth=2))
    parser.feed(b"*1\r\n*1\r\n*1\r\n:1\r\n")
    with pytest.raises(RespProtocolError, match="nested"):
        parser.next_reply()


def test_simple_strings_and_errors_cannot_break_framing() -> None:
    assert p.error("ERR bad\r\nthing") == b"-ERR bad  thing\r\n"
    assert p.simple("a\nb") == b"+a b\r\n"
