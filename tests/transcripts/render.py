"""One-line, deterministic text for effects, messages, records, requests and results.

What may live here: formatting, for every scheme alike. Nothing here knows a scheme's
message types: any msgspec struct prints as ``Name(field=value, ...)``, leaving out the
fields still at their declared default (``stale=False``, ``transfer=False``). Three core
types get a shorter form because they appear in almost every line:

- a client command prints as it is typed in a transcript: ``set k v``, ``get k``,
  ``cas k nil v1``, ``promote`` (the class name in lower case, the required fields
  in order, optional ones as ``name=value`` when not at their default);
- a ``Request`` as ``client/seq command`` (``7/1 set k v``), plus ``@level`` for a
  read level other than ``linearizable``;
- a log ``Entry`` as ``index@term request`` (``2@1 7/1 set k v``).

Byte strings print as their length (snapshots would fill the screen), floats without a
trailing ``.0``, dicts with sorted keys.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from replikv.core.commands import Command
from replikv.core.log import Entry
from replikv.core.requests import Request

_BARE = re.compile(r"[^\s'\"=#\[\](),]+")
DEFAULT_READ_LEVEL = "linearizable"


def value(item: Any) -> str:
    """Any value a message, record, status or result may hold."""
    if isinstance(item, Request):
        return request(item)
    if isinstance(item, Entry):
        return f"{item.index}@{item.term} {request(item.request)}"
    if isinstance(item, Command):
        return command(item)
    if isinstance(item, msgspec.Struct):
        return struct(item)
    if isinstance(item, bool) or item is None:
        return repr(item)
    if isinstance(item, float):
        return str(int(item)) if item.is_integer() else repr(item)
    if isinstance(item, bytes | bytearray):
        return "b''" if not item else f"<{len(item)} bytes>"
    if isinstance(item, tuple | list):
        return "[" + ", ".join(value(x) for x in item) + "]"
    if isinstance(item, set | frozenset):
        return "{" + ", ".join(value(x) for x in sorted(item)) + "}"
    if isinstance(item, dict):
        return "{" + ", ".join(f"{value(k)}: {value(v)}" for k, v in sorted(item.items())) + "}"
    return repr(item)


def non_default_fields(item: msgspec.Struct) -> list[tuple[str, Any, bool]]:
    """(name, value, required) of each field that is required or not at its default."""
    out = []
    for info in msgspec.structs.fields(item):
        current = getattr(item, info.name)
        required = info.required
        if not required:
            default = info.default_factory() if info.default is msgspec.NODEFAULT else info.default
            if current == default:
                continue
        out.append((info.name, current, required))
    return out


def struct(item: msgspec.Struct) -> str:
    inner = ", ".join(f"{name}={value(v)}" for name, v, _ in non_default_fields(item))
    return f"{type(item).__name__}({inner})"


def command(item: Command) -> str:
    """A command as a transcript types it (``commands.parse_command`` reads it back)."""
    words = [type(item).__name__.lower()]
    for name, current, required in non_default_fields(item):
        text = word(current)
        words.append(text if required else f"{name}={text}")
    return " ".join(words)


def word(item: Any) -> str:
    """A value as one word: text bare when it needs no quotes, ``nil`` for None."""
    if item is None:
        return "nil"
    if isinstance(item, str):
        return item if _BARE.fullmatch(item) and item != "nil" else repr(item)
    return value(item)


def request(item: Request) -> str:
    level = "" if item.read_level == DEFAULT_READ_LEVEL else f" @{item.read_level}"
    return f"{item.client_id}/{item.seq} {command(item.command)}{level}"
