"""The register model every checker uses: one key's value, and how each op moves it.

What may live here: the canonical form of values, the sequential specification of
read/write/cas/delete/incr on one key, and words for operations. No search.

Values: the store holds text (``KVStateMachine``), a history holds ints or strings. An
int and its decimal text are the same value here (``5`` == ``"5"``), so a history that
writes ``5`` and reads back ``"5"`` is consistent, exactly as the store behaves.

The model is a function ``step(state, op) -> (legal, next_state)`` (Herlihy & Wing 1990,
§2: a sequential specification). ``UNKNOWN`` is a state that stands for "any value":
it lets a window of a history be checked without knowing the value before it (an
over-approximation: a window rejected from ``UNKNOWN`` is rejected from every start).
"""

from __future__ import annotations

from typing import Any, Final

from replikv.check.history import Operation, observed_mismatch, timing


class _Unknown:
    """The state "some value we do not know"; a singleton."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()


class _Unobserved:
    """The state "a value that no operation of the key compares with"; a singleton.

    ``prune.prepare`` writes it in place of every value that no read returned and no
    cas expects (on a key without increments): ``step`` only ever compares the state
    with such observed values, so these values are all alike to the search, and
    writes of them become look-alikes (``search.py``)."""

    _instance: _Unobserved | None = None

    def __new__(cls) -> _Unobserved:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNOBSERVED"


UNOBSERVED: Final = _Unobserved()
State = str | None | _Unknown | _Unobserved

# compiled operation kinds (small ints: the search loop compares them a lot)
READ, WRITE, DELETE, CAS_OK, CAS_INFO, INCR_OK, INCR_INFO, CAS_MISMATCHED = range(8)

Compiled = tuple[int, Any, Any]


def canon(value: Any) -> str | None:
    """The canonical form of a value: text, or ``None`` for "absent"."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"register values are ints or strings, not {value!r}")


def as_int(state: str | None) -> int | None:
    """The integer an ``incr`` sees (absent counts as 0), or ``None`` when the value is
    not an integer (mirrors ``KVStateMachine``: the store refuses the increment)."""
    if state is None:
        return 0
    try:
        return int(state)
    except ValueError:
        return None


def is_certain(op: Operation) -> bool:
    """Did the operation certainly take effect inside its interval? ``ok`` ones, and a
    cas whose comparison failed (it was applied, and changed nothing)."""
    return op.type == "ok" or observed_mismatch(op)


def compile_op(op: Operation) -> Compiled:
    """``(kind, a, b)`` for :func:`step`; ``fail`` ops (but a compare-failed cas) and
    ``info`` reads are dropped before this (they change nothing)."""
    if observed_mismatch(op):
        return (CAS_MISMATCHED, canon(op.value[0]), None)
    assert op.type != "fail"
    certain = op.type == "ok"
    match op.f:
        case "read":
            assert certain, "info reads are dropped before compiling"
            return (READ, canon(op.output), None)
        case "write":
            return (WRITE, canon(op.value), None)
        case "delete":
            return (DELETE, None, None)
        case "cas":
            expected, new = op.value
            return (CAS_OK if certain else CAS_INFO, canon(expected), canon(new))
        case "incr":
            output = op.output if certain else None
            return (INCR_OK if certain else INCR_INFO, int(op.value), output)
    raise AssertionError(f"unknown op {op.f}")


def step(state: State, op: Compiled) -> tuple[bool, State]:
    """Apply one op to the register: is it legal here, and what is the state after.

    ``info`` ops (outcome unknown) are always legal: a cas whose expectation fails and an
    incr on a non-integer change nothing (the store answered an error we never saw).
    A cas that failed its comparison (``CAS_MISMATCHED``) is a read of "anything but
    ``expected``": legal only when the key holds another value, and it changes nothing
    (a compare-and-set is an atomic read-compare-write, Herlihy & Wing 1990, §2: the
    failed comparison happened at its linearization point).
    """
    kind, a, b = op
    if kind == READ:
        if state is UNKNOWN:
            return True, a
        return state == a, state
    if kind == CAS_MISMATCHED:
        return (state is UNKNOWN or state != a), state
    if kind == WRITE:
        return True, a
    if kind == DELETE:
        return True, None
    if kind == CAS_OK:
        if state is UNKNOWN or state == a:
            return True, b
        return False, state
    if kind == CAS_INFO:
        if state is UNKNOWN:
            return True, UNKNOWN
        return True, (b if state == a else state)
    if kind == INCR_OK:
        if state is UNKNOWN:
            return True, str(b)
        number = as_int(state)  # type: ignore[arg-type]
        if number is None or number + a != b:
            return False, state
        return True, str(b)
    if kind == INCR_INFO:
        if state is UNKNOWN:
            return True, UNKNOWN
        number = as_int(state)  # type: ignore[arg-type]
        return True, (state if number is None else str(number + a))
    raise AssertionError(f"unknown compiled kind {kind}")


def is_mutation(op: Operation) -> bool:
    """May the operation change the key? (A compare-failed cas did not.)"""
    return op.f != "read" and not observed_mismatch(op)


def show_value(value: Any) -> str:
    """A value as a reader expects it: ``null``, ``5`` (also for the text "5", the
    same value here), ``'abc'``."""
    if value is None:
        return "null"
    if value is UNOBSERVED:
        return "a value that no read returned and no cas expected"
    if isinstance(value, str) and value.lstrip("-").isdigit() and str(int(value)) == value:
        return value
    return repr(value) if isinstance(value, str) else str(value)


def describe(op: Operation) -> str:
    """One line in words: who did what, what came back, and when."""
    match op.f:
        case "read":
            what = "read" if op.type != "ok" else f"read -> {show_value(op.output)}"
        case "write":
            what = f"write {show_value(op.value)}"
        case "delete":
            what = "delete"
        case "cas":
            expected, new = op.value
            swapped = {"ok": " (swapped)", "fail": " (not swapped)"}.get(op.type, "")
            if observed_mismatch(op):
                swapped = f" (not swapped: the key did not hold {show_value(expected)})"
            what = f"cas {show_value(expected)} -> {show_value(new)}{swapped}"
        case "incr":
            what = f"incr by {op.value}"
            if op.type == "ok":
                what += f" -> {show_value(op.output)}"
        case _:
            what = op.f
    return f"process {op.process}: {what}  [{timing(op)}]"


def result_of(op: Operation) -> tuple[bool, str | None]:
    """The value an op leaves behind, when that is known from the op alone:
    ``(True, value)`` for write, cas (its new value), delete (absent) and an ok incr;
    ``(False, None)`` for an info incr (its result is unknown), reads and a
    compare-failed cas (it left the value it found)."""
    if observed_mismatch(op):
        return False, None
    match op.f:
        case "write":
            return True, canon(op.value)
        case "delete":
            return True, None
        case "cas":
            return True, canon(op.value[1])
        case "incr" if op.type == "ok":
            return True, canon(op.output)
    return False, None
