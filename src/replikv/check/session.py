"""Session guarantees in a history, each violation named (Terry, Demers, Petersen,
Spreitzer, Theimer, Welch, "Session Guarantees for Weakly Consistent Replicated Data",
PDIS 1994, §3).

What may live here: the four rules, judged on single-key register histories whose
written values are unique per key (the workloads' rule), so a value names its write.
A session is a history ``process``; its operations run one at a time, in its order.

- **read-your-writes**: a read by the session after one of its own acknowledged writes
  of the key returns that write or a newer one; a violation returns a value whose write
  completed before the session's write was invoked (or the initial absent value).
- **monotonic reads**: a later read by the session never returns a value older than an
  earlier read returned (whose write completed before the earlier value's write began).
- **monotonic writes**: the session's writes of a key take effect in its order: the key's
  final value is never a session's write that the same session followed with another
  acknowledged write of the key (the earlier write overwrote the later one somewhere).
- **writes-follow-reads**: a session's write of a key is ordered after the write whose
  value the session read before it: the final value is never the value read, when the
  session then wrote the key (acknowledged).

The last two are judged on the final state (after the heal and convergence), where an
ordering that lost a session's write shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from replikv.check.history import Operation

GUARANTEES = ("read-your-writes", "monotonic-reads", "monotonic-writes", "writes-follow-reads")


@dataclass(frozen=True)
class Violation:
    guarantee: str
    process: int
    key: str
    detail: str


def _value(op: Operation) -> str | None:
    return None if op.output is None else str(op.output)


def session_violations(ops: Sequence[Operation], final: Mapping[str, str | None] | None = None) -> list[Violation]:
    """Every violation of the four guarantees, in the order found."""
    writes: dict[tuple[str, str], Operation] = {}
    for op in ops:
        if op.f == "write" and op.type != "fail" and op.key is not None:
            writes[(op.key, str(op.value))] = op
    found: list[Violation] = []

    def older(value: str | None, than: Operation, key: str) -> bool:
        """The write of ``value`` completed before ``than`` was invoked (None: initial)."""
        if value is None:
            return True
        producer = writes.get((key, value))
        return producer is not None and producer.complete_time < than.invoke_time

    sessions: dict[tuple[int, str], list[Operation]] = {}
    for op in sorted(ops, key=lambda o: o.invoke_time):
        if op.key is not None and op.f in ("read", "write"):
            sessions.setdefault((op.process, op.key), []).append(op)
    for (process, key), history in sorted(sessions.items()):
        last_write: Operation | None = None
        last_read: Operation | None = None
        for op in history:
            if op.type != "ok":
                continue
            if op.f == "write":
                last_write = op
                continue
            value = _value(op)
            if last_write is not None and value != str(last_write.value) and older(value, last_write, key):
                found.append(Violation("read-your-writes", process, key,
                                       f"read {value!r} after its own write {last_write.value!r}, an older value"))
            if last_read is not None and _value(last_read) is not None and value != _value(last_read):
                earlier = writes.get((key, str(_value(last_read))))
                if earlier is not None and older(value, earlier, key):
                    found.append(Violation("monotonic-reads", process, key,
                                           f"read {value!r} after reading {_value(last_read)!r}, an older value"))
            last_read = op
        if final is None or key not in final:
            continue
        value = final[key]
        acked = [op for op in history if op.type == "ok"]
        for i, op in enumerate(acked):
            later_writes = [w for w in acked[i + 1:] if w.f == "write"]
            if not later_writes:
                continue
            if op.f == "write" and str(op.value) == value:
                found.append(Violation("monotonic-writes", process, key,
                                       f"final value {value!r} is its write followed by its write "
                                       f"{later_writes[0].value!r}"))
            if op.f == "read" and _value(op) is not None and _value(op) == value:
                found.append(Violation("writes-follow-reads", process, key,
                                       f"final value {value!r} is what it read before writing "
                                       f"{later_writes[0].value!r}"))
    return found


def count_by_guarantee(violations: Sequence[Violation]) -> dict[str, int]:
    return {name: sum(1 for v in violations if v.guarantee == name) for name in GUARANTEES}
