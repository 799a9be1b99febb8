"""Redis commands as replikv requests, and results as Redis replies (pure, no I/O).

What may live here: the command table (name, arity, key positions: what ``COMMAND``
reports and what arity errors use), the mapping from a data command's arguments to a
core ``Command`` plus the function that renders its ``Ok`` value as Redis would, the
rendering of typed errors, and the reverse mapping from an error reply to a
``ClientError`` (for the client).

Keys and values are decoded as latin-1, so every byte string round-trips exactly
(core/commands.py). Connection-level commands (PING, INFO, WAIT, ...) are listed in the
table but executed by ``resp.session``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from replikv.core.commands import (
    Append,
    Cas,
    Command,
    Delete,
    Get,
    Incr,
    MGet,
    SAdd,
    Set,
    Siblings,
    SMembers,
    SRem,
    Sync,
    Txn,
)
from replikv.core.errors import (
    Aborted,
    BadRequest,
    ClientError,
    ConnectionLost,
    NotLeader,
    Ok,
    Result,
    Timeout,
    Unavailable,
    WrongType,
)
from replikv.resp import protocol as p

Render = Callable[[Any], p.ReplyValue]
"""Turns the ``value`` of an ``Ok`` into the reply value (encoded by the session)."""

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class CommandError(Exception):
    """A request the front end rejects before it reaches the cluster; ``text`` is the
    whole error reply (``ERR syntax error``). Definite: nothing was executed."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@dataclass(frozen=True)
class CommandInfo:
    """One row of the command table (``COMMAND`` / ``COMMAND INFO``), Redis conventions:
    ``arity`` counts the name; negative means "at least -arity"."""

    name: str
    arity: int
    flags: tuple[str, ...]
    first_key: int
    last_key: int
    step: int
    summary: str


@dataclass(frozen=True)
class DataCommand:
    """A command that becomes one replicated request."""

    command: Command
    render: Render


def _info(
    name: str, arity: int, flags: str, keys: tuple[int, int, int], summary: str
) -> CommandInfo:
    return CommandInfo(name, arity, tuple(flags.split()), *keys, summary)


_NOKEYS = (0, 0, 0)
COMMAND_TABLE: dict[str, CommandInfo] = {
    info.name: info
    for info in (
        _info("get", 2, "readonly fast", (1, 1, 1), "Get the value of a key"),
        _info("set", -3, "write denyoom", (1, 1, 1), "Set a key [NX|XX] [GET]"),
        _info("setnx", 3, "write denyoom fast", (1, 1, 1), "Set a key only if it is absent"),
        _info("del", -2, "write", (1, -1, 1), "Delete keys (atomically); count removed"),
        _info("exists", -2, "readonly fast", (1, -1, 1), "Count the keys that exist"),
        _info("incr", 2, "write denyoom fast", (1, 1, 1), "Increment an integer by one"),
        _info("decr", 2, "write denyoom fast", (1, 1, 1), "Decrement an integer by one"),
        _info("incrby", 3, "write denyoom fast", (1, 1, 1), "Increment an integer"),
        _info("decrby", 3, "write denyoom fast", (1, 1, 1), "Decrement an integer"),
        _info("mget", -2, "readonly fast", (1, -1, 1), "Get several keys"),
        _info("mset", -3, "write denyoom", (1, -1, 2), "Set several keys atomically"),
        _info("append", 3, "write denyoom fast", (1, 1, 1), "Append to a key's value; new length"),
        _info("strlen", 2, "readonly fast", (1, 1, 1), "Length of a key's value (0 when absent)"),
        _info("getrange", 4, "readonly", (1, 1, 1), "GETRANGE key start end: a substring (inclusive, negative from the end)"),
        _info("getset", 3, "write denyoom fast", (1, 1, 1), "Set a key and return its old value"),
        _info("getdel", 2, "write fast", (1, 1, 1), "Get a key's value and delete it, atomically"),
        _info("unlink", -2, "write fast", (1, -1, 1), "Delete keys, as DEL (atomically); count removed"),
        _info("ttl", 2, "readonly fast", (1, 1, 1), "-1 for a key (replikv keys never expire), -2 when absent"),
        _info("pttl", 2, "readonly fast", (1, 1, 1), "-1 for a key (replikv keys never expire), -2 when absent"),
        _info("sadd", -3, "write denyoom fast", (1, 1, 1), "Add members to a set; count added (quorum)"),
        _info("srem", -3, "write fast", (1, 1, 1), "Remove members from a set; count removed (quorum)"),
        _info("smembers", 2, "readonly", (1, 1, 1), "The members of a set (quorum)"),
        _info("siblings", 2, "readonly", (1, 1, 1), "Every concurrent value of a register (quorum)"),
        _info("cas", 4, "write denyoom", (1, 1, 1), "CAS key expected new: 1 swapped, 0 not"),
        _info("casnx", 3, "write denyoom", (1, 1, 1), "CASNX key new: CAS expecting absent"),
        _info("txn", -3, "write denyoom", _NOKEYS, "TXN n cmd args... [n cmd args...]: atomic"),
        _info("ping", -1, "fast stale", _NOKEYS, "Ping the server"),
        _info("echo", 2, "fast stale", _NOKEYS, "Echo the message"),
        _info("quit", -1, "fast stale", _NOKEYS, "Close the connection"),
        _info("wait", 3, "", _NOKEYS, "Wait for replicas to hold this client's writes"),
        _info("role", 1, "fast stale", _NOKEYS, "Replication role"),
        _info("info", -1, "stale", _NOKEYS, "Server information (server, clients, replication)"),
        _info("sync", 1, "readonly fast", _NOKEYS,
              "Wait until this node holds every write acknowledged before (ZooKeeper's sync)"),
        _info("readlevel", -1, "fast stale", _NOKEYS,
              "READLEVEL linearizable|lease|local|sequential|one|quorum|all"),
        _info("writelevel", -1, "fast stale", _NOKEYS, "WRITELEVEL one|quorum|all|default (leaderless W)"),
        _info("session", -1, "fast stale", _NOKEYS,
              "SESSION [ryw|mr|mw|wfr|all on|off] | TOKEN [hex] | RESET: session guarantees"),
        _info("command", -1, "stale", _NOKEYS, "Command table (COUNT, INFO, DOCS, LIST)"),
        _info("config", -2, "stale", _NOKEYS, "CONFIG GET pattern (read-only)"),
        _info("client", -2, "stale", _NOKEYS, "CLIENT ID|SETNAME|GETNAME|SETINFO"),
        _info("hello", -1, "fast stale", _NOKEYS, "Handshake: HELLO [2|3] [AUTH u p] [SETNAME n]"),
        _info("select", 2, "fast stale", _NOKEYS, "Select database 0 (the only one)"),
        _info(
            "rkv", -5, "write", _NOKEYS, "RKV client_id seq read_level CMD args...: exactly-once"
        ),
        _info("multi", 1, "fast", _NOKEYS, "Queue the next commands for EXEC"),
        _info("exec", 1, "", _NOKEYS, "Run the queued commands as one atomic Txn"),
        _info("discard", 1, "fast", _NOKEYS, "Drop the queued commands and the watches"),
        _info("watch", -2, "fast", (1, -1, 1), "EXEC aborts (nil) unless the keys keep these values"),
        _info("unwatch", 1, "fast", _NOKEYS, "Forget the watched keys"),
        _info("rkvadmin", -2, "admin", _NOKEYS, "Operator commands (loopback only by default)"),
    )
}


def arity_ok(info: CommandInfo, argc: int) -> bool:
    return argc == info.arity if info.arity >= 0 else argc >= -info.arity


def wrong_arity(name: str) -> str:
    return f"ERR wrong number of arguments for '{name}' command"


def unknown_command(argv: list[bytes]) -> str:
    """Redis's exact text: each argument quoted and followed by a space, up to 128 chars."""
    args = ""
    for arg in argv[1:]:
        if len(args) >= 128:
            break
        args += "'" + _text(arg)[: 128 - len(args)] + "' "
    return f"ERR unknown command '{_text(argv[0])[:128]}', with args beginning with: {args}"


def _text(raw: bytes) -> str:
    return raw.decode("latin-1")


# -- rendering ---------------------------------------------------------------------
# Renders return reply values (resp.protocol); the session encodes them for the
# connection's protocol version, so one render serves RESP2 and RESP3.

OK = p.Simple("OK")


def _enc(value: str | None) -> bytes | None:
    return None if value is None else value.encode("latin-1")


def render_bulk(value: Any) -> p.ReplyValue:
    return _enc(value)


def render_ok(value: Any) -> p.ReplyValue:
    return OK


def render_ok_or_nil(value: Any) -> p.ReplyValue:
    return OK if value else None


def render_int(value: Any) -> p.ReplyValue:
    return int(value)


def render_sum(value: Any) -> p.ReplyValue:
    return sum(value)


def render_count_present(value: Any) -> p.ReplyValue:
    return sum(1 for v in value if v is not None)


def render_length(value: Any) -> p.ReplyValue:
    """STRLEN: values are latin-1 text, one character per byte (core/commands.py)."""
    return 0 if value is None else len(value)


def render_first(value: Any) -> p.ReplyValue:
    """The first op's value of a Txn (GETDEL: the Get before the Delete)."""
    return _enc(value[0])


def render_no_expiry(value: Any) -> p.ReplyValue:
    """TTL/PTTL as Redis answers them for a key without expiry (-1) or no key (-2):
    replikv keys never expire (SET's EX/PX options are refused)."""
    return -2 if value is None else -1


def render_bulk_array(value: Any) -> p.ReplyValue:
    return [_enc(v) for v in value]


def error_reply(error: ClientError) -> p.Error:
    """``NOTLEADER not the leader; leader is node 2`` etc. (core/errors.py)."""
    return p.Error(f"{error.redis_prefix} {error.describe()}")


def render_error(error: ClientError) -> bytes:
    """``error_reply`` encoded (errors are the same in RESP2 and RESP3)."""
    return p.encode_reply(error_reply(error))


def render_result(result: Result, render: Render) -> p.ReplyValue:
    if isinstance(result, Ok):
        return render(result.value)
    return error_reply(result)


def client_error_from_reply(reply: p.Error) -> ClientError:
    """The reverse of ``render_error``, for clients: the typed error a reply stands for."""
    prefix, message = reply.prefix, reply.message
    if prefix == "NOTLEADER":
        _, found, tail = message.partition("leader is node ")
        words = tail.split()
        leader = int(words[0]) if found and words and words[0].isdigit() else None
        return NotLeader(leader)
    if prefix == "UNAVAILABLE":
        return Unavailable(message)
    if prefix == "ABORTED":
        return Aborted(message)
    if prefix == "TIMEOUT":
        return ConnectionLost() if message.startswith("connection lost") else Timeout()
    if prefix == "WRONGTYPE":
        return WrongType()
    return BadRequest(reply.text if prefix != "ERR" else message)


# -- data commands ------------------------------------------------------------------


def _int_arg(raw: bytes) -> int:
    number = p.parse_int(raw)
    if number is None or not INT64_MIN <= number <= INT64_MAX:
        raise CommandError("ERR value is not an integer or out of range")
    return number


def _set(args: list[bytes]) -> DataCommand:
    key, value = _text(args[0]), _text(args[1])
    only_if: str | None = None
    return_old = False
    for raw in args[2:]:
        option = raw.upper()
        if option in (b"NX", b"XX") and only_if is None:
            only_if = option.decode().lower()
        elif option == b"GET" and not return_old:
            return_old = True
        elif option in (b"EX", b"PX", b"EXAT", b"PXAT", b"KEEPTTL"):
            raise CommandError("ERR expiry is not supported by replikv (EX/PX/EXAT/PXAT/KEEPTTL)")
        else:
            raise CommandError("ERR syntax error")
    command = Set(key, value, only_if=only_if, return_old=return_old)
    return DataCommand(command, render_bulk if return_old else render_ok_or_nil)


def _incr_by(sign: int) -> Callable[[list[bytes]], DataCommand]:
    def build(args: list[bytes]) -> DataCommand:
        by = _int_arg(args[1])
        if sign < 0 and by == INT64_MIN:
            raise CommandError("ERR decrement would overflow")
        return DataCommand(Incr(_text(args[0]), sign * by), render_int)

    return build


def _del(args: list[bytes]) -> DataCommand:
    if len(args) == 1:
        return DataCommand(Delete(_text(args[0])), render_int)
    return DataCommand(Txn(tuple(Delete(_text(k)) for k in args)), render_sum)


def _getrange(args: list[bytes]) -> DataCommand:
    """GETRANGE key start end, as Redis: both ends inclusive, negative ones count from
    the end, clamped to the value; an empty string when the range is empty."""
    start, end = _int_arg(args[1]), _int_arg(args[2])

    def render(value: Any) -> p.ReplyValue:
        text = value or ""
        size = len(text)
        if start < 0 and end < 0 and start > end:  # Redis's own rule: both would clamp to 0
            return b""
        first = max(start + size if start < 0 else start, 0)
        last = min(max(end + size if end < 0 else end, 0), size - 1)
        return _enc(text[first:last + 1])  # empty when first > last (last >= -1)

    return DataCommand(Get(_text(args[0])), render)


def _no_expiry(args: list[bytes]) -> DataCommand:
    """TTL and PTTL: a read of the key (replikv keys never expire)."""
    return DataCommand(Get(_text(args[0])), render_no_expiry)


def _mset(args: list[bytes]) -> DataCommand:
    if len(args) % 2:
        raise CommandError(wrong_arity("mset"))
    sets = tuple(Set(_text(args[i]), _text(args[i + 1])) for i in range(0, len(args), 2))
    return DataCommand(Txn(sets), render_ok)


_BUILDERS: dict[str, Callable[[list[bytes]], DataCommand]] = {
    "get": lambda a: DataCommand(Get(_text(a[0])), render_bulk),
    "set": _set,
    "setnx": lambda a: DataCommand(Set(_text(a[0]), _text(a[1]), only_if="nx"), render_int),
    "del": _del,
    "exists": lambda a: DataCommand(MGet(tuple(_text(k) for k in a)), render_count_present),
    "incr": lambda a: DataCommand(Incr(_text(a[0]), 1), render_int),
    "decr": lambda a: DataCommand(Incr(_text(a[0]), -1), render_int),
    "incrby": _incr_by(1),
    "decrby": _incr_by(-1),
    "mget": lambda a: DataCommand(MGet(tuple(_text(k) for k in a)), render_bulk_array),
    "sync": lambda a: DataCommand(Sync(), render_ok),
    "mset": _mset,
    "append": lambda a: DataCommand(Append(_text(a[0]), _text(a[1])), render_int),
    "strlen": lambda a: DataCommand(Get(_text(a[0])), render_length),
    "getrange": _getrange,
    "getset": lambda a: DataCommand(Set(_text(a[0]), _text(a[1]), return_old=True), render_bulk),
    "getdel": lambda a: DataCommand(Txn((Get(_text(a[0])), Delete(_text(a[0])))), render_first),
    "unlink": _del,
    "ttl": _no_expiry,
    "pttl": _no_expiry,
    "sadd": lambda a: DataCommand(SAdd(_text(a[0]), tuple(_text(m) for m in a[1:])), render_int),
    "srem": lambda a: DataCommand(SRem(_text(a[0]), tuple(_text(m) for m in a[1:])), render_int),
    "smembers": lambda a: DataCommand(SMembers(_text(a[0])), render_bulk_array),
    "siblings": lambda a: DataCommand(Siblings(_text(a[0])), render_bulk_array),
    "cas": lambda a: DataCommand(Cas(_text(a[0]), _text(a[1]), _text(a[2])), render_int),
    "casnx": lambda a: DataCommand(Cas(_text(a[0]), None, _text(a[1])), render_int),
}

# Commands allowed inside TXN (one key each, so the transaction's keys are explicit).
_TXN_OPS = (
    "get", "set", "setnx", "del", "incr", "decr", "incrby", "decrby", "cas", "casnx", "append",
)


def _txn(args: list[bytes]) -> DataCommand:
    """``TXN n1 op args... n2 op args...``: each op preceded by its word count (op name
    included), applied atomically; the reply is the array of each op's reply."""
    ops: list[Command] = []
    renders: list[Render] = []
    i = 0
    while i < len(args):
        count = p.parse_int(args[i])
        if count is None or count < 1 or i + 1 + count > len(args):
            raise CommandError("ERR syntax error: TXN expects <word count> <command> <args>...")
        name = args[i + 1].decode("latin-1").lower()
        words = args[i + 1 : i + 1 + count]
        if name not in _TXN_OPS or (name == "del" and len(words) != 2):
            raise CommandError(f"ERR '{name}' is not allowed inside TXN")
        data = build_data_command(words)
        ops.append(data.command)
        renders.append(data.render)
        i += 1 + count
    if not ops:
        raise CommandError(wrong_arity("txn"))
    render_all = tuple(renders)
    return DataCommand(
        Txn(tuple(ops)),
        lambda values: [r(v) for r, v in zip(render_all, values, strict=True)],
    )


_BUILDERS["txn"] = _txn


def is_data_command(name: str) -> bool:
    return name in _BUILDERS


def build_data_command(argv: list[bytes]) -> DataCommand:
    """``argv`` (name first) as a replicated command. Raises ``CommandError`` for wrong
    arity or syntax; the name must satisfy ``is_data_command``."""
    name = argv[0].decode("latin-1").lower()
    info = COMMAND_TABLE[name]
    if not arity_ok(info, len(argv)):
        raise CommandError(wrong_arity(name))
    return _BUILDERS[name](argv[1:])
