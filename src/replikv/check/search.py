"""Linearizability search for one key: Wing & Gong's algorithm with Lowe's memoisation.

What may live here: the search over one register's operations, and nothing about files,
words or models beyond ``register.step``.

The algorithm (Wing & Gong 1993, §4; Lowe 2017, "Testing for linearizability", §3;
the same shape as Porcupine's checker):

* Every operation gives two entries, its call at ``invoke_time`` and its return at
  ``complete_time`` (``inf`` for an unknown outcome), kept in one list sorted by time,
  calls before returns at equal times (touching intervals count as concurrent, so a
  tie never produces a false violation).
* Walk the list. At a call, try to linearize that operation now: if the register model
  allows it and the pair (set of linearized operations, register state) has not been
  seen before, lift the call and its return out of the list, push a backtrack point
  and start again from the head. At a return, the operation was not linearized before
  it returned: undo the last choice and try the next call after it.
* The history is linearizable when every operation with a known outcome is linearized
  (``info`` operations can always be appended at the end: their step is always legal,
  which is "it took effect after everything else, or never").

The budget is counted in search steps, so the verdict is the same on every machine;
an optional wall-clock deadline (CLI only) is checked every few thousand steps.
Running out gives ``None``: unknown, never a guess.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import msgspec

from replikv.check.register import Compiled, State, step


class Stuck(msgspec.Struct, frozen=True):
    """Where the search got furthest: ``order`` (operation positions, in the order they
    were linearized), the register ``state`` after them, and ``blocked``, the operation
    whose return was reached before it could be linearized."""

    order: tuple[int, ...]
    state: State
    blocked: int


class SearchOutcome(msgspec.Struct, frozen=True):
    valid: bool | None
    steps: int
    stuck: Stuck | None = None


_DEADLINE_EVERY = 4096


def search(calls: Sequence[float], returns: Sequence[float], ops: Sequence[Compiled],
           certain: Sequence[bool], initial: State, *, max_steps: int,
           deadline: float | None = None) -> SearchOutcome:
    """Is there an order of ``ops`` respecting real time and the register model?

    ``calls[i]``/``returns[i]`` are operation i's interval (``returns[i]`` is ``inf`` for
    an unknown outcome, and then ``certain[i]`` is ``False``).
    """
    n = len(ops)
    entries = sorted([(calls[i], 0, i) for i in range(n)] + [(returns[i], 1, i) for i in range(n)])
    head = 2 * n
    # doubly linked list over entry positions; -1 ends it
    nxt = list(range(1, 2 * n)) + [-1, 0 if n else -1]
    prv = [head] + list(range(0, 2 * n - 1)) + [-1]
    is_call = [kind == 0 for _, kind, _ in entries]
    op_of = [i for _, _, i in entries]
    call_pos = [0] * n
    return_pos = [0] * n
    for position, (_, kind, i) in enumerate(entries):
        if kind == 1:
            return_pos[i] = position
        else:
            call_pos[i] = position

    def lift(i: int) -> None:
        for gone in (call_pos[i], return_pos[i]):
            nxt[prv[gone]] = nxt[gone]
            if nxt[gone] != -1:
                prv[nxt[gone]] = prv[gone]

    def unlift(i: int) -> None:  # in the reverse order of lift
        for back in (return_pos[i], call_pos[i]):
            nxt[prv[back]] = back
            if nxt[back] != -1:
                prv[nxt[back]] = back

    remaining = sum(1 for c in certain if c)
    state = initial
    linearized = 0
    stack: list[tuple[int, State, bool]] = []  # (operation, state before, was a no-op)
    seen: set[tuple[int, State]] = set()
    best: Stuck | None = None
    steps = 0
    entry = nxt[head]
    while remaining:
        steps += 1
        if steps > max_steps or (deadline is not None and steps % _DEADLINE_EVERY == 0
                                 and time.monotonic() > deadline):
            return SearchOutcome(None, steps - 1, best)
        assert entry != -1, "walked past every return with operations left"
        i = op_of[entry]
        if is_call[entry]:
            legal, after = step(state, ops[i])
            if legal:
                marked = linearized | (1 << i)
                if (marked, after) not in seen:
                    seen.add((marked, after))
                    stack.append((i, state, False))
                    state, linearized = after, marked
                    remaining -= certain[i]
                    lift(i)
                    entry = nxt[head]
                    continue
            entry = nxt[entry]
            continue
        if not certain[i]:
            # an uncertain operation's horizon passed: from here on it is as if it never
            # happened (prune.py gives the horizon); one more choice to undo later
            marked = linearized | (1 << i)
            if (marked, state) not in seen:
                seen.add((marked, state))
                stack.append((i, state, True))
                linearized = marked
                lift(i)
                entry = nxt[head]
                continue
        elif best is None or len(stack) > len(best.order):
            # a certain operation returned before it could be linearized
            best = Stuck(tuple(j for j, _, _ in stack), state, i)
        # dead end: undo choices until one leaves other calls to try
        while True:
            if not stack:
                return SearchOutcome(False, steps, best)
            i, state, was_noop = stack.pop()
            linearized ^= 1 << i
            if not was_noop:
                remaining += certain[i]
            unlift(i)
            if not was_noop:
                entry = nxt[call_pos[i]]
                break
    return SearchOutcome(True, steps, None)
