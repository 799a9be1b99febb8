"""The client history format (docs/history.md): one JSON event a line.

What may live here: the event struct, reading and writing JSONL, the incremental
recorder the simulator and the real-cluster tester use, and pairing invocations with
their completions into operations. No checking of *semantics* (that is
``linearizability``/``models``/``invariants``); only the rules of the format.

The rules enforced (each violation is a :class:`HistoryError` naming the line):

* a process has at most one outstanding operation;
* a completion (``ok``/``fail``/``info``) follows an ``invoke`` of the same process and
  repeats its ``f`` (and its ``key``, when it gives one);
* after ``info`` a process issues nothing more (the client goes on as a new process);
* an invoke with no completion counts as ``info`` (outcome unknown);
* a ``txn`` (a multi-key transaction) carries its micro-ops in ``value`` and no key
  (``check.txn.ops`` says what a micro-op is).
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Iterable
from typing import Any, Literal

import msgspec

from replikv.check.txn import ops as txn_ops

EventType = Literal["invoke", "ok", "fail", "info"]
OpName = Literal["read", "write", "cas", "delete", "incr", "txn"]
Scalar = int | str | None

INF = math.inf

CAS_MISMATCH = "cas: value differed"
"""The ``error`` of a ``fail`` cas whose comparison did not hold: it was ordered and
applied, and saw a value other than ``expected`` (docs/history.md). The workloads of the
simulator and of ``replikv test`` write exactly these words."""


class HistoryEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a history. Unknown fields in the file are ignored."""

    process: int
    type: EventType
    f: OpName
    key: str | None = None
    value: int | str | list[Any] | None = None
    time: float
    node: int | None = None
    error: str | None = None


class Operation(msgspec.Struct, frozen=True, kw_only=True):
    """An invocation paired with its completion.

    ``type`` is the outcome (``ok``/``fail``/``info``; a missing completion is
    ``info``). ``complete_time`` is ``inf`` when the outcome is unknown: the operation
    may take effect at any time after ``invoke_time``, or never. ``reported_time`` keeps
    the time the ``info`` was recorded (``None`` when there was no completion).

    A ``txn`` has ``key`` ``None``, ``value`` its micro-ops as invoked and, when ``ok``,
    ``output`` the micro-ops with reads filled in (tuples, ``check.txn.ops``).
    """

    index: int
    process: int
    f: OpName
    key: str | None
    value: Any
    type: Literal["ok", "fail", "info"]
    output: Any
    invoke_time: float
    complete_time: float
    reported_time: float | None = None
    error: str | None = None
    node: int | None = None


class HistoryError(ValueError):
    """A malformed history: the message names the line (or event) at fault."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)


_DECODER = msgspec.json.Decoder(HistoryEvent)


def _where(line: int | None) -> str:
    return f"line {line}" if line is not None else "the history"


def _check_invoke_value(event: HistoryEvent) -> str | None:
    """Why an invoke's value does not fit its ``f`` (``None`` when it fits)."""
    value = event.value
    match event.f:
        case "read" | "delete":
            if value is not None:
                return f"a {event.f} invoke carries value null, not {value!r}"
        case "write":
            if value is None or isinstance(value, list):
                return f"a write invoke carries an int or string value, not {value!r}"
        case "cas":
            if not isinstance(value, list) or len(value) != 2 or value[1] is None:
                return f"a cas invoke carries [expected, new] with new not null, not {value!r}"
        case "incr":
            if not isinstance(value, int):
                return f"an incr invoke carries an integer delta, not {value!r}"
        case "txn":
            return txn_ops.invoke_problem(value)
    return None


def _check_ok_value(invoke: HistoryEvent, event: HistoryEvent) -> str | None:
    if invoke.f == "read" and isinstance(event.value, list):
        return f"a read completes with an int, a string or null, not {event.value!r}"
    if invoke.f == "incr" and not isinstance(event.value, int):
        return f"an ok incr carries the new integer value, not {event.value!r}"
    return None


class _Pairing:
    """The format's state machine, shared by :func:`pair_operations` and the recorder."""

    def __init__(self) -> None:
        self.outstanding: dict[int, tuple[int, HistoryEvent]] = {}
        self.retired: set[int] = set()
        self.operations: list[tuple[int, Operation]] = []  # (invoke position, op)

    def feed(self, position: int, event: HistoryEvent, line: int | None) -> None:
        if not math.isfinite(event.time):
            raise HistoryError(f"time must be a finite number of ms, not {event.time}", line)
        if event.f != "txn" and not _plain_value(event.value) and not (
                isinstance(event.value, list) and all(_plain_value(v) for v in event.value)):
            raise HistoryError(f"values are ints, strings or null, not {event.value!r}", line)
        if event.type == "invoke":
            self._invoke(position, event, line)
        else:
            self._complete(event, line)

    def _invoke(self, position: int, event: HistoryEvent, line: int | None) -> None:
        p = event.process
        if p in self.outstanding:
            first = self.outstanding[p][1]
            raise HistoryError(
                f"process {p} invokes {event.f} while its {first.f} (invoked at "
                f"{first.time} ms) is still outstanding: one operation at a time", line)
        if p in self.retired:
            raise HistoryError(
                f"process {p} invokes {event.f} after an info completion; a client "
                "continues under a fresh process id", line)
        if event.key is None and event.f != "txn":
            raise HistoryError(f"an invoke needs a key (process {p}, {event.f})", line)
        problem = _check_invoke_value(event)
        if problem:
            raise HistoryError(problem, line)
        self.outstanding[p] = (position, event)

    def _complete(self, event: HistoryEvent, line: int | None) -> None:
        p = event.process
        if p not in self.outstanding:
            raise HistoryError(
                f"process {p} reports {event.type} for {event.f} with no outstanding invoke", line)
        position, invoke = self.outstanding.pop(p)
        if event.f != invoke.f:
            raise HistoryError(
                f"process {p} completes {event.f} but invoked {invoke.f}", line)
        if event.key is not None and event.key != invoke.key and invoke.f != "txn":
            raise HistoryError(
                f"process {p} completes key {event.key!r} but invoked key {invoke.key!r}", line)
        if event.time < invoke.time:
            raise HistoryError(
                f"process {p} completes at {event.time} ms, before its invoke at {invoke.time} ms",
                line)
        if invoke.f == "txn":
            problem = txn_ops.completion_problem(invoke.value, event.value, event.type)
            if problem:
                raise HistoryError(f"process {p}: {problem}", line)
        elif event.type == "ok":
            problem = _check_ok_value(invoke, event)
            if problem:
                raise HistoryError(problem, line)
        if event.type == "info":
            self.retired.add(p)
        self.operations.append((position, _operation(invoke, event)))

    def finish(self) -> list[Operation]:
        """The operations in invoke order; unfinished invokes become ``info``."""
        pairs = list(self.operations)
        pairs.extend((pos, _operation(inv, None)) for pos, inv in self.outstanding.values())
        pairs.sort(key=lambda pair: pair[0])
        return [msgspec.structs.replace(op, index=i) for i, (_, op) in enumerate(pairs)]


def timing(op: Operation) -> str:
    """When an operation ran, in words, for explanations: ``invoked 10 ms, ok at 12 ms``,
    ``... failed at ...``, or ``... outcome unknown (why) reported at ...``."""
    invoked = f"invoked {op.invoke_time:g} ms"
    if op.type == "ok":
        return f"{invoked}, ok at {op.complete_time:g} ms"
    if op.type == "fail":
        return f"{invoked}, failed at {op.complete_time:g} ms"
    reason = f" ({op.error})" if op.error else ""
    at = f" reported at {op.reported_time:g} ms" if op.reported_time is not None else ""
    return f"{invoked}, outcome unknown{reason}{at}"


def observed_mismatch(op: Operation) -> bool:
    """A cas that failed *because its comparison did not hold* (``error`` is
    :data:`CAS_MISMATCH`): a read that saw something other than ``expected``. A cas
    refused for another reason (not leader, unavailable) or of unknown outcome
    (``info``) observed nothing."""
    return op.f == "cas" and op.type == "fail" and op.error == CAS_MISMATCH


def _plain_value(value: Any) -> bool:
    return value is None or isinstance(value, str) or (
        isinstance(value, int) and not isinstance(value, bool))


def _operation(invoke: HistoryEvent, done: HistoryEvent | None) -> Operation:
    value = invoke.value
    outcome = "info" if done is None else done.type
    assert outcome in ("ok", "fail", "info")
    output = done.value if done is not None and outcome == "ok" else None
    key = invoke.key
    if invoke.f == "cas":
        value = tuple(value)  # type: ignore[arg-type]
    elif invoke.f == "txn":
        key = None
        value = txn_ops.micro_ops(value)
        output = txn_ops.micro_ops(output, filled=True) if outcome == "ok" else None
    else:
        assert key is not None
    return Operation(
        index=0,
        process=invoke.process,
        f=invoke.f,
        key=key,
        value=value,
        type=outcome,  # type: ignore[arg-type]
        output=output,
        invoke_time=invoke.time,
        complete_time=INF if outcome == "info" else done.time,  # type: ignore[union-attr]
        reported_time=done.time if done is not None else None,
        error=done.error if done is not None else None,
        node=done.node if done is not None and done.node is not None else invoke.node,
    )


def _decode_lines(lines: Iterable[str | bytes]) -> tuple[list[HistoryEvent], list[int]]:
    events: list[HistoryEvent] = []
    numbers: list[int] = []
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text:
            continue
        try:
            events.append(_DECODER.decode(text))
        except msgspec.ValidationError as exc:
            raise HistoryError(f"bad event: {exc}", number) from None
        except msgspec.DecodeError as exc:
            raise HistoryError(f"not a JSON object: {exc}", number) from None
        numbers.append(number)
    return events, numbers


def read_history(source: str | pathlib.Path | Iterable[str | bytes]) -> list[HistoryEvent]:
    """Read a JSONL history from a path or from an iterable of lines.

    Blank lines are skipped. Raises :class:`HistoryError` naming the first bad line:
    malformed JSON, a missing or mistyped field, or a broken pairing rule.
    """
    if isinstance(source, str | pathlib.Path):
        with open(source, "rb") as handle:
            events, numbers = _decode_lines(handle)
    else:
        events, numbers = _decode_lines(source)
    pairing = _Pairing()
    for position, (event, number) in enumerate(zip(events, numbers, strict=True)):
        pairing.feed(position, event, number)
    return events


def pair_operations(events: Iterable[HistoryEvent]) -> list[Operation]:
    """Pair each invoke with its completion; operations come in invoke order.

    An invoke with no completion becomes an ``info`` operation. Raises
    :class:`HistoryError` (naming the event's position, counted from 1) when the
    events break the format's rules.
    """
    pairing = _Pairing()
    for position, event in enumerate(events):
        try:
            pairing.feed(position, event, None)
        except HistoryError as exc:
            raise HistoryError(f"event {position + 1}: {exc}") from None
    return pairing.finish()


def encode_event(event: HistoryEvent) -> bytes:
    """One JSON line (without newline); ``node``/``error`` are left out when null."""
    fields: dict[str, Any] = {
        "process": event.process,
        "type": event.type,
        "f": event.f,
        "key": event.key,
        "value": event.value,
        "time": event.time,
    }
    if event.node is not None:
        fields["node"] = event.node
    if event.error is not None:
        fields["error"] = event.error
    return msgspec.json.encode(fields)


def write_history(events: Iterable[HistoryEvent], path: str | pathlib.Path) -> None:
    """Write events as JSONL (one event a line, in the given order)."""
    with open(path, "wb") as handle:
        for event in events:
            handle.write(encode_event(event))
            handle.write(b"\n")


class HistoryRecorder:
    """Builds a history event by event, enforcing the format's rules as it goes.

    ``invoke(process, f, key, value, time)`` then ``complete(process, type, value,
    time, error=None)``. A rule broken raises :class:`HistoryError` at once, so a
    harness bug shows where it happens rather than in the checker.
    """

    def __init__(self) -> None:
        self._events: list[HistoryEvent] = []
        self._pairing = _Pairing()

    def invoke(self, process: int, f: OpName, key: str | None, value: Any, time: float,
               *, node: int | None = None) -> HistoryEvent:
        event = HistoryEvent(process=process, type="invoke", f=f, key=key,
                             value=_plain(value), time=float(time), node=node)
        return self._add(event)

    def complete(self, process: int, type: EventType, value: Any, time: float,
                 error: str | None = None, *, node: int | None = None) -> HistoryEvent:
        if type == "invoke":
            raise HistoryError("complete() takes ok, fail or info, not invoke")
        pending = self._pairing.outstanding.get(process)
        if pending is None:
            raise HistoryError(f"process {process} has no outstanding operation to complete")
        invoke = pending[1]
        event = HistoryEvent(process=process, type=type, f=invoke.f, key=invoke.key,
                             value=_plain(value), time=float(time), node=node, error=error)
        return self._add(event)

    def _add(self, event: HistoryEvent) -> HistoryEvent:
        self._pairing.feed(len(self._events), event, None)
        self._events.append(event)
        return event

    def outstanding(self) -> dict[int, HistoryEvent]:
        """Processes with an operation in flight, and its invoke."""
        return {p: inv for p, (_, inv) in sorted(self._pairing.outstanding.items())}

    @property
    def events(self) -> list[HistoryEvent]:
        return list(self._events)

    def operations(self) -> list[Operation]:
        return pair_operations(self._events)

    def write(self, path: str | pathlib.Path) -> None:
        write_history(self._events, path)


def _plain(value: Any) -> Any:
    """Tuples (a cas pair, a txn's micro-ops) become lists, as they would after a JSON
    round trip."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value
