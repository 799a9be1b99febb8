"""Consistency models a history can be checked against, weakest promise last.

What may live here: the per-key sequential-consistency search, the read-your-writes
check, and ``check_history`` choosing among them and linearizability.

* ``linearizable`` (Herlihy & Wing 1990): one order of all operations on a key that
  respects real time (see ``linearizability``).
* ``sequential`` (Lamport 1979), per key: one order of all operations on a key that
  keeps each process's own order; real-time order *across* processes is not required
  (a stale read is allowed, going back in time within a process is not). A key that
  is linearizable is sequential, so the linearizability search runs first (with half
  the budget left); only when it does not say yes does the search over process orders
  run, which is exponential in the worst case.
* ``read-your-writes`` (Terry et al. 1994, "Session guarantees", §3), per key: a read
  by a process returns the value of that process's last acknowledged write to the key,
  or the value of an operation that may have come after that write (one that did not
  complete before the write was invoked). Reads before the process's first write, and
  other processes' reads, are not constrained.

Common to all: ``fail`` operations never happened; ``info`` operations may take effect
or not; a key starts absent; values compare as in ``register`` (5 == "5").
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from replikv.check.grouping import by_key, operations_of, relevant
from replikv.check.history import HistoryEvent, Operation
from replikv.check.linearizability import (
    DEFAULT_MAX_STEPS,
    KeyVerdict,
    check_linearizable,
    check_per_key,
    search_ops,
)
from replikv.check.register import (
    as_int,
    canon,
    compile_op,
    describe,
    is_certain,
    is_mutation,
    result_of,
    show_value,
    step,
)
from replikv.check.result import CheckResult, KeyFailure, combine
from replikv.check.txn.check import check_txn

MODELS = ("linearizable", "sequential", "read-your-writes", "txn")
_DEADLINE_EVERY = 4096


def check_history(history: Iterable[HistoryEvent] | Iterable[Operation], model: str = "linearizable",
                  *, max_steps: int = DEFAULT_MAX_STEPS, timeout_s: float | None = None) -> CheckResult:
    """Check a history against ``model`` (one of :data:`MODELS`; ``txn``: strict
    serializability of list-append transactions, ``check.txn``)."""
    if model == "linearizable":
        return check_linearizable(history, max_steps=max_steps, timeout_s=timeout_s)
    if model == "sequential":
        return check_sequential(history, max_steps=max_steps, timeout_s=timeout_s)
    if model == "read-your-writes":
        return check_read_your_writes(history)
    if model == "txn":
        return check_txn(history)
    raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")


# -- sequential consistency -------------------------------------------------------------


def check_sequential(history: Iterable[HistoryEvent] | Iterable[Operation], *,
                     max_steps: int = DEFAULT_MAX_STEPS,
                     timeout_s: float | None = None) -> CheckResult:
    """Per-key sequential consistency; the budget works as in ``check_linearizable``."""
    return check_per_key("sequential", history, _sequential_verdict,
                         max_steps=max_steps, timeout_s=timeout_s)


def _sequential_verdict(key: str, key_ops: list[Operation], left: int,
                        deadline: float | None) -> KeyVerdict:
    # a linearization keeps every process's order: linearizable implies sequential
    quick = search_ops(key_ops, max_steps=left // 2, deadline=deadline)
    if quick.valid is True:
        return True, quick.steps, None
    valid, steps, deepest = _sequential_key(key_ops, left - quick.steps, deadline)
    failure = _explain_sequential(key, key_ops, deepest) if valid is False else None
    return valid, steps + quick.steps, failure


def _chains(ops: Sequence[Operation]) -> list[list[int]]:
    """Each process's operations in its own order (processes in id order)."""
    chains: dict[int, list[int]] = {}
    for i, op in enumerate(ops):
        chains.setdefault(op.process, []).append(i)
    return [chains[p] for p in sorted(chains)]


def _sequential_key(ops: Sequence[Operation], max_steps: int, deadline: float | None):
    """Depth-first search over per-process positions, memoising (positions, state)
    (Lowe's memoisation, with a chain position standing for a set). Candidates are
    tried in invoke-time order, so a history that is also linearizable is usually
    accepted along its real-time order without backtracking."""
    chains = _chains(ops)
    compiled = [compile_op(op) for op in ops]
    # an info op is a process's last; the rest of a chain is certain ops
    need = [len(c) - (not is_certain(ops[c[-1]])) for c in chains]

    def candidates(positions: tuple[int, ...]) -> list[int]:
        ready = [p for p, at in enumerate(positions) if at < len(chains[p])]
        return sorted(ready, key=lambda p: (ops[chains[p][positions[p]]].invoke_time, p))

    start = tuple(0 for _ in chains)
    stack: list[tuple[tuple[int, ...], object, list[int], int]] = [
        (start, None, candidates(start), 0)]
    seen = {(start, None)}
    deepest: tuple[tuple[int, ...], object] = (start, None)
    steps = 0
    while stack:
        positions, state, order, k = stack[-1]
        if all(at >= n for at, n in zip(positions, need, strict=True)):
            return True, steps, None
        advanced = False
        while k < len(order):
            steps += 1
            if steps > max_steps or (deadline is not None and steps % _DEADLINE_EVERY == 0
                                     and time.monotonic() > deadline):
                return None, steps - 1, None
            p = order[k]
            k += 1
            at = positions[p]
            legal, after = step(state, compiled[chains[p][at]])  # type: ignore[arg-type]
            moved = positions[:p] + (at + 1,) + positions[p + 1:]
            if legal and (moved, after) not in seen:
                seen.add((moved, after))
                stack[-1] = (positions, state, order, k)
                stack.append((moved, after, candidates(moved), 0))
                advanced = True
                break
        if not advanced:
            if sum(positions) > sum(deepest[0]):
                deepest = (positions, state)
            stack.pop()
    return False, steps, (chains, deepest)


def _explain_sequential(key: str, ops: Sequence[Operation], found) -> KeyFailure:
    chains, (positions, state) = found
    blocked = [ops[chain[at]] for chain, at in zip(chains, positions, strict=True)
               if at < len(chain)]
    lines = [f"key {key!r} is not sequentially consistent: no single order of its "
             f"{len(ops)} operations keeps each process's own order and the rules of a "
             "register.",
             f"The search got furthest after ordering {sum(positions)} operations; the key "
             f"then held {show_value(state)}, and no process's next operation fits:"]
    lines += [f"  {describe(op)}" for op in blocked]
    return KeyFailure(key=key, model="sequential", ops=tuple(blocked), explanation="\n".join(lines))


# -- read your writes -------------------------------------------------------------------


def _may_produce(op: Operation, value: str | None) -> bool:
    known, result = result_of(op)
    if known:
        return result == value
    return op.f == "incr" and value is not None and as_int(value) is not None


def _ryw_violation(ops: Sequence[Operation], write: Operation, read: Operation) -> bool:
    """The read cannot have seen ``write`` or anything that may have followed it."""
    value = canon(read.output)
    if _may_produce(write, value):
        return False
    for other in ops:
        if (other is not write and is_mutation(other) and other.invoke_time <= read.complete_time
                and not other.complete_time < write.invoke_time and _may_produce(other, value)):
            return False
    return True


def check_read_your_writes(history: Iterable[HistoryEvent] | Iterable[Operation]) -> CheckResult:
    """Each process's reads see its own last acknowledged write to the key, or later."""
    ops = operations_of(history)
    per_key: list[tuple[str, bool | None, int, KeyFailure | None]] = []
    for key, key_ops in by_key(relevant(ops)).items():
        found: list[tuple[Operation, Operation]] = []
        last_write: dict[int, Operation] = {}
        for op in key_ops:  # invoke order is each process's own order
            if op.type != "ok":
                continue
            if op.f != "read":
                last_write[op.process] = op
            elif op.process in last_write and _ryw_violation(key_ops, last_write[op.process], op):
                found.append((last_write[op.process], op))
        failure = _explain_ryw(key, found) if found else None
        per_key.append((key, not found, len(key_ops), failure))
    return combine("read-your-writes", per_key, len(ops))


def _explain_ryw(key: str, found: list[tuple[Operation, Operation]]) -> KeyFailure:
    lines = [f"key {key!r}: {len(found)} read(s) did not see the reading process's own "
             "acknowledged write (or anything that may have come after it):"]
    shown: list[Operation] = []
    for write, read in found[:10]:
        lines.append(f"  {describe(read)}")
        lines.append(f"    after its own {describe(write)}")
        shown += [write, read]
    if len(found) > 10:
        lines.append(f"  ... and {len(found) - 10} more")
    return KeyFailure(key=key, model="read-your-writes", ops=tuple(shown),
                      explanation="\n".join(lines), certified=True)
