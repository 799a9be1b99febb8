"""Client commands as a transcript types them: ``set k v``, ``cas k nil v2``, ``promote``.

What may live here: turning words into a core ``Command`` (the inverse of
``render.command``). The commands known are the core's and the scheme's own admin
commands (``ProtocolSpec.admin_commands``), so a new scheme's commands need no change.
"""

from __future__ import annotations

from typing import Any, get_args, get_origin

import msgspec

from replikv.core.commands import AnyCommand, Command
from replikv.core.replica import ProtocolSpec


class CommandError(ValueError):
    """The words do not make a command; the message says why."""


def command_types(spec: ProtocolSpec) -> dict[str, type[Command]]:
    """Every command a transcript may submit to ``spec``: the core's, plus the scheme's
    own admin commands (a new scheme's commands need no harness change)."""
    types = [*get_args(AnyCommand), *spec.admin_commands]
    return {cls.__name__.lower(): cls for cls in types}


def parse_command(words: list[str], spec: ProtocolSpec) -> Command:
    """``set k v``, ``cas k nil v2``, ``get k``, ``promote``, ``transfer-leader 2``:
    the command's name (case, ``-`` and ``_`` ignored), then its fields in declared
    order; ``name=value`` for any field; ``nil`` is None. The inverse of
    ``render.command``."""
    if not words:
        raise CommandError("submit needs a command, e.g. `submit node=1 set k v`")
    types = command_types(spec)
    name = words[0].lower().replace("-", "").replace("_", "")
    cls = types.get(name)
    if cls is None:
        raise CommandError(f"unknown command {words[0]!r}; one of: {', '.join(sorted(types))}")
    fields = msgspec.structs.fields(cls)
    values: dict[str, Any] = {}
    positional = [w for w in words[1:] if "=" not in w]
    for word in words[1:]:
        key, eq, text = word.partition("=")
        if eq:
            values[key] = None if text == "nil" else text
    for info in fields:
        if not positional:
            break
        if get_origin(info.type) is tuple:
            values[info.name], positional = positional, []
        else:
            word = positional.pop(0)
            values[info.name] = None if word == "nil" else word
    if positional:
        raise CommandError(f"{name} takes at most {len(fields)} values: {' '.join(words)}")
    try:
        return msgspec.convert(values, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise CommandError(f"bad {name} command {' '.join(words)!r}: {exc}") from None
