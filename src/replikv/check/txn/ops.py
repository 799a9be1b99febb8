"""The micro-ops of a ``txn`` history event (docs/history.md, "Transactions").

What may live here: the shape of a transaction's ``value`` and its validation. No
checking of semantics, and nothing that imports ``check.history`` (it imports this).

A transaction's ``value`` is a list of micro-ops, Elle's list-append form (Kingsbury &
Alvaro, "Elle", VLDB 2020, §3):

* ``["append", key, element]``: append ``element`` (an int or a string) to the list
  held by ``key``;
* ``["r", key, value]``: read the list ``key`` holds. ``value`` is ``null`` on the
  invoke (not read yet) and, on the ``ok`` completion, the list read: a JSON list of
  elements, or ``null`` for an absent key (the same as ``[]``).

Elements compare as the store holds them, as text: ``5`` and ``"5"`` are one element
(``element``).
"""

from __future__ import annotations

from typing import Any

APPEND, READ = "append", "r"
Element = int | str
"""An element in canonical form (:func:`element`)."""
MicroOp = tuple[str, str, Any]
"""``(APPEND, key, element)`` or ``(READ, key, tuple of elements | None)``."""


def _is_element(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def element(value: Any, ints: bool) -> int | str:
    """An element's canonical form. ``ints``: every element appended in the history is
    an int, so the canonical form is the int (the text ``"5"`` becomes ``5``; other
    text stays as it is and matches no append); otherwise it is the text (``5`` becomes
    ``"5"``)."""
    assert _is_element(value), value
    if not ints:
        return value if isinstance(value, str) else str(value)
    if isinstance(value, str) and value.lstrip("-").isdigit() and str(int(value)) == value:
        return int(value)
    return value


def elements(values: tuple, ints: bool) -> tuple:
    """:func:`element` of each value of a read, fast for the common all-int read."""
    if ints:
        try:
            sum(values)  # validated elements are ints or strings: it fails on a string
            return values
        except TypeError:
            return tuple(element(v, True) for v in values)
    return tuple(map(str, values))


def _shape(mop: Any, at: int) -> str | None:
    if not isinstance(mop, list | tuple) or len(mop) != 3:
        return f"micro-op {at} is {mop!r}, not [\"append\", key, element] or [\"r\", key, list]"
    kind, key, _ = mop
    if kind not in (APPEND, READ):
        return f"micro-op {at} has kind {kind!r}; a txn knows \"append\" and \"r\""
    if not isinstance(key, str):
        return f"micro-op {at} names key {key!r}; keys are strings"
    return None


def invoke_problem(value: Any) -> str | None:
    """Why a txn invoke's ``value`` is malformed (``None`` when it is well formed)."""
    if not isinstance(value, list | tuple) or not value:
        return f"a txn invoke carries a non-empty list of micro-ops, not {value!r}"
    for at, mop in enumerate(value):
        problem = _shape(mop, at)
        if problem:
            return problem
        kind, _, arg = mop
        if kind == APPEND and not _is_element(arg):
            return f"micro-op {at} appends {arg!r}; elements are ints or strings"
        if kind == READ and arg is not None:
            return f"micro-op {at} is a read, whose value is null on the invoke, not {arg!r}"
    return None


def completion_problem(invoked: Any, value: Any, outcome: str) -> str | None:
    """Why a txn completion's ``value`` does not fit its invoke's micro-ops.

    ``ok``: the same micro-ops in the same order, reads filled in (a list of elements,
    or null). ``fail``/``info``: ``null``, or the micro-ops again (reads ignored).
    """
    if value is None and outcome != "ok":
        return None
    if not isinstance(value, list | tuple) or len(value) != len(invoked):
        return (f"a txn {outcome} carries its {len(invoked)} micro-ops again (reads filled in), "
                f"not {value!r}")
    for at, (mop, asked) in enumerate(zip(value, invoked, strict=True)):
        problem = _shape(mop, at)
        if problem:
            return problem
        if mop[0] != asked[0] or mop[1] != asked[1]:
            return f"micro-op {at} is {list(mop)!r} but the invoke had {list(asked)!r}"
        if mop[0] == APPEND and (not _is_element(mop[2]) or element(mop[2], False) != element(asked[2], False)):
            return f"micro-op {at} appends {mop[2]!r} but the invoke appended {asked[2]!r}"
        if mop[0] == READ and outcome == "ok":
            read = mop[2]
            if read is not None and (not isinstance(read, list | tuple)
                                     or not set(map(type, read)) <= {int, str}):
                return (f"micro-op {at} read {read!r}; a read returns a list of elements "
                        "(ints or strings) or null")
    return None


def micro_ops(value: Any, *, filled: bool = False) -> tuple[MicroOp, ...]:
    """A validated ``value`` as tuples: reads become tuples of elements as written, so
    an operation is hashable and frozen. ``filled`` (an ``ok`` completion): a read of
    null (absent key) becomes ``()``; otherwise an unread read is ``None``."""
    if value is None:
        return ()
    out: list[MicroOp] = []
    for kind, key, arg in value:
        if kind == READ:
            arg = tuple(arg) if arg is not None else (() if filled else None)
        out.append((kind, key, arg))
    return tuple(out)
