"""Explaining a linearizability violation: the smallest window that fails on its own.

What may live here: shrinking a failing key's history to a small window of operations
and putting it in words. Used only after the search found a certain violation.

A *window* W is certified when it cannot be ordered even from an unknown starting
value. That proves the whole history wrong only if no operation left out of W could
have been linearized in the middle of W, so a window is always *closed*: every
operation that changes the key (write, cas, delete, incr; ``info`` ones included) is in
W unless it completed before every operation of W was invoked, or was invoked after
every operation of W with a known outcome completed. Reads may be left out freely
(they change nothing). ``info`` operations of W may land after W's last certain
operation; they are always legal there, so that changes nothing.

Shrinking (deterministic, bounded by ``EXPLAIN_STEPS``): grow a window around the
operation the search could not place until it fails from the unknown value, then drop
operations one at a time (farthest first) while it still fails: a 1-minimal window.
"""

from __future__ import annotations

from collections.abc import Sequence

from replikv.check.history import Operation
from replikv.check.prune import prepare
from replikv.check.register import (
    UNKNOWN,
    canon,
    describe,
    is_certain,
    is_mutation,
    result_of,
    show_value,
)
from replikv.check.result import KeyFailure
from replikv.check.search import Stuck, search
from replikv.check.staleness import Producers, certainly_stale, never_written

MAX_WINDOW = 40
WINDOW_STEPS = 20_000
EXPLAIN_STEPS = 400_000
_RADII = (0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32)


class _Budget:
    def __init__(self, steps: int) -> None:
        self.left = steps

    def fails(self, ops: Sequence[Operation], window: list[int]) -> bool:
        """True only when the window is certainly not linearizable from any value."""
        if self.left <= 0:
            return False
        prepared = prepare([ops[i] for i in window], known_start=False)
        outcome = search(prepared.calls, prepared.returns, prepared.compiled, prepared.certain,
                         UNKNOWN, max_steps=min(WINDOW_STEPS, self.left))
        self.left -= outcome.steps
        return outcome.valid is False


def closure(ops: Sequence[Operation], core: set[int]) -> list[int]:
    """The smallest closed window containing ``core`` (see the module docstring)."""
    window = set(core)
    while True:
        low = min(ops[i].invoke_time for i in window)
        certain_ends = [ops[i].complete_time for i in window if is_certain(ops[i])]
        high = max(certain_ends) if certain_ends else float("-inf")
        extra = {j for j, op in enumerate(ops)
                 if j not in window and is_mutation(op)
                 and not op.complete_time < low and not op.invoke_time > high}
        if not extra:
            return sorted(window)
        window |= extra


def smallest_window(ops: Sequence[Operation], blocked: int) -> list[int] | None:
    """A 1-minimal certified window near operation ``blocked``, or ``None``."""
    budget = _Budget(EXPLAIN_STEPS)
    found: list[int] | None = None
    for radius in _RADII:
        core = {j for j in range(max(0, blocked - radius), min(len(ops), blocked + radius + 1))}
        window = closure(ops, core)
        if len(window) > MAX_WINDOW:
            break
        if budget.fails(ops, window):
            found = window
            break
    if found is None:
        return None
    shrinking = True
    while shrinking:
        shrinking = False
        for j in sorted(found, key=lambda j: (-abs(j - blocked), j)):
            rest = set(found) - {j}
            if not rest:
                continue
            candidate = closure(ops, rest)
            if j not in candidate and budget.fails(ops, candidate):
                found = candidate
                shrinking = True
                break
    return found


def _context(ops: Sequence[Operation], window: list[int]) -> list[str]:
    """Where the values the window's reads returned came from, when outside it."""
    lines: list[str] = []
    inside = set(window)
    for i in window:
        op = ops[i]
        if op.f != "read":
            continue
        value = op.output
        producers = [j for j, other in enumerate(ops)
                     if other.f != "read" and result_of(other) == (True, canon(value))]
        if value is None and not producers:
            continue  # the key starts absent
        if not producers:
            lines.append(f"  {show_value(value)} (read by process {op.process}) was never "
                         "written to this key by any operation in the history")
            continue
        for j in producers:
            if j not in inside:
                lines.append(f"  {show_value(value)} was written by {describe(ops[j])}")
    return lines


def _stuck_words(ops: Sequence[Operation], stuck: Stuck | None) -> str:
    if stuck is None:
        return ""
    blocked = ops[stuck.blocked]
    return (f"Over the whole key, the search got furthest after ordering {len(stuck.order)} "
            f"of {len(ops)} operations; the key then held {show_value(stuck.state)}, and "
            f"{describe(blocked)} could not take effect before it completed.")


def explain_linearizability(key: str, ops: Sequence[Operation], stuck: Stuck | None) -> KeyFailure:
    """A :class:`KeyFailure` for a key whose search answered "not linearizable"."""
    blocked = stuck.blocked if stuck is not None else 0
    window = smallest_window(ops, blocked) if ops else None
    header = f"key {key!r} is not linearizable."
    if window is not None:
        shown = [ops[i] for i in window]
        body = [header,
                f"These {len(shown)} operations cannot be put in any order that respects real "
                "time (an operation that completed before another was invoked comes first) and "
                "the rules of a single register, whatever value the key held before them:"]
        body += [f"  {describe(op)}" for op in shown]
        context = _context(ops, window)
        if context:
            body.append("For reference:")
            body += context
        body.append(_stuck_words(ops, stuck))
        return KeyFailure(key=key, model="linearizable", ops=tuple(shown),
                          explanation="\n".join(line for line in body if line), certified=True)
    # no small certified window: show the operations around the point where it got stuck
    if stuck is None:  # every order failed before any certain operation's deadline
        body = [header, "No order of its operations fits; the first ones:"]
        body += [f"  {describe(op)}" for op in ops[:20]]
        return KeyFailure(key=key, model="linearizable", ops=tuple(ops[:20]),
                          explanation="\n".join(body), certified=False)
    done = set(stuck.order)
    limit = ops[stuck.blocked].complete_time
    pending = [i for i in range(len(ops)) if i not in done and ops[i].invoke_time <= limit]
    recent = list(stuck.order[-3:])
    chosen = sorted(set(pending[:17]) | set(recent) | {stuck.blocked})
    shown = [ops[i] for i in chosen]
    body = [header, _stuck_words(ops, stuck),
            "No small window fails on its own; the operations around that point:"]
    body += [f"  {describe(op)}" for op in shown]
    return KeyFailure(key=key, model="linearizable", ops=tuple(shown),
                      explanation="\n".join(body), certified=False)


def explain_certain(key: str, ops: Sequence[Operation]) -> KeyFailure | None:
    """A violation provable without a search (``staleness``): a read of a value nothing
    wrote, or a certainly stale read. ``None`` when there is none."""
    unheard = never_written(ops)
    if unheard:
        read = unheard[0]
        text = (f"key {key!r} is not linearizable: a read returned a value that no operation "
                f"on this key ever wrote (nor could have):\n  {describe(read)}")
        return KeyFailure(key=key, model="linearizable", ops=(read,), explanation=text,
                          certified=True)
    stale = certainly_stale(ops)
    if not stale:
        return None
    read, missed = stale[0]
    value = canon(read.output)
    sources = sorted(Producers(ops).of(ops, value), key=lambda op: (op.complete_time, op.index))
    source = (f"the last operation that could have left {show_value(value)}:\n"
              f"  {describe(sources[-1])}" if sources
              else f"{show_value(value)} is only the initial state (the key starts absent)")
    lines = [f"key {key!r} is not linearizable: a stale read.",
             f"The read returned {show_value(value)}; {source}",
             "This operation was invoked after that completed, and completed before the read "
             f"was invoked:\n  {describe(missed)}",
             f"The read:\n  {describe(read)}",
             f"So the read comes after it, and it after {show_value(value)} was left: the read "
             f"cannot return {show_value(value)}."]
    if len(stale) > 1:
        lines.append(f"({len(stale) - 1} more stale read(s) on this key.)")
    window = ([sources[-1]] if sources else []) + [missed, read]
    return KeyFailure(key=key, model="linearizable", ops=tuple(window),
                      explanation="\n".join(lines), certified=True)
