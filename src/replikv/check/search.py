"""Linearizability search for one key: Wing & Gong's algorithm with Lowe's memoisation.

What may live here: the search over one register's operations, and nothing about files,
words or models beyond ``register.step``.

The algorithm (Wing & Gong 1993, §4; Lowe 2017, "Testing for linearizability", §3;
the same shape as Porcupine's checker):

* Every operation gives two entries, its call at ``invoke_time`` and its return at
  ``complete_time``, kept in one list sorted by time, calls before returns at equal
  times (touching intervals count as concurrent, so a tie never produces a false
  violation).
* Walk the list. At a call, try to linearize that operation now: if the register model
  allows it and the configuration (linearized operations, register state) is new, lift
  the call and its return out of the list, push a backtrack point and start again from
  the head. At a return, the operation was not linearized before it returned: undo the
  last choice and try the next call after it.
* The history is linearizable when every operation with a known outcome ("certain") is
  linearized. Uncertain (``info``) operations need not be: one may take effect any time
  after its call, or never. Its "return" is its *horizon* (``prune.py``; ``inf`` by
  default): reaching it means "never", a move like any other.

Reductions for uncertain operations, each keeping the verdict exact (the brute-force
oracle tests in ``tests/check/test_check_oracle*.py`` hold the search to that):

* **one of a kind**: among pending uncertain calls with the same effect (same compiled
  op, e.g. two unknown deletes), only the one with the earliest horizon is tried (the
  later one can do anything the earlier one can);
* **dominance** (Lowe's memoisation, extended): a configuration is skipped when one with
  the same certain operations and state, but a subset of the uncertain ones used up
  (more choices left), was already explored and failed.

* **no idle moves**: an uncertain operation that would leave the state as it is (an
  unknown cas whose comparison fails here, a write of the value already held) is not
  applied: the configuration with it still pending has the same certain operations
  and state and one more choice left, so it succeeds whenever the other would (at its
  horizon it can still be decided "never", which changes nothing either). Without it,
  k pending unknown cas that cannot swap are applied in all 2^k subsets, largest
  first, which dominance cannot cut (it skips supersets of what failed, not subsets).

* **no overwritten guess**: right after an uncertain operation was applied (with only
  "never" moves since), no uncertain *blind* operation (a write or a delete: the state
  after it does not depend on the state before) is applied. Without it, on a key whose
  unknown operations stay pending to the end (a key with increments: ``prune`` gives
  them no horizon), every dead end late in the key makes the search apply the 2^k
  subsets of k pending unknown writes one after another, each overwriting the last,
  and dominance cannot cut them (a subset is explored after its supersets). Measured:
  ``paxos`` under ``holes-after-crash``, N=5, seed 138, key ``k3`` (18 unknown
  operations) was not decided in 15 minutes; with the rule, 786 steps.

  Proof that the verdict is kept. A *way to finish* a configuration C is an order of
  some of its pending operations, every pending certain one among them, legal from
  its state and respecting real time; it is *tidy* when no uncertain operation in it
  is directly followed by an uncertain blind one. (1) C can be finished iff it can be
  finished tidily: in u, w with both uncertain and w blind, drop u (w leaves the same
  state whatever u did; leaving an uncertain operation out is always allowed; real
  time only orders the operations kept); each drop shortens the order. (2) Each
  configuration carries a flag: set by a move that applied an uncertain operation,
  kept by "never" (it drops an operation, the order does not change), cleared by a
  certain move. The search asks T(C, flag): "can C be finished tidily, by an order
  that does not start with an uncertain blind operation when the flag is set?". With
  the flag cleared that is (1)'s question, and the root's flag is cleared. Moves are
  exact for T: the first operation x of a witness is a move allowed at (C, flag), and
  the rest witnesses T for the configuration x leads to (flag set iff x is uncertain:
  then the rest, tidy, cannot start with an uncertain blind one); conversely an
  allowed move followed by a witness is a witness. (3) The other reductions keep T:
  look-alikes have the same compiled operation, so renaming one for the other keeps
  an order tidy; an idle uncertain operation dropped from the front leaves in front
  an operation that, having followed an uncertain one in a tidy order, is not an
  uncertain blind one; an observer moved to the front is certain (its flag cleared),
  and where taking it out of its place makes an uncertain operation directly precede
  an uncertain blind one, drop the first as in (1). (4) Memoisation: the flag is part
  of the configuration. T(C, set) implies T(C, cleared), and a witness for C still
  witnesses, tidy, for the configuration with the same certain operations and state
  and fewer uncertain ones used up; so one seen or failed with its flag cleared
  covers both flags, one failed with its flag set covers only configurations with
  their flag set, and dominance keeps its meaning.

and an order: at each configuration the calls reached are tried **certain ones first**,
then the uncertain ones, then the first return is handled. The same moves are tried,
so the verdict is the same; a valid history of hundreds of pending unknown writes is
usually ordered along its certain operations before any unknown one is tried.

and one for operations that change nothing:

* **observers first**: in each new configuration, every certain read and compare-failed
  cas whose call is reached and which is legal now is linearized at once, and undoing
  it tries nothing else in that configuration (``_observe_first`` says why this is
  exact). Without it, a read that must follow one of k concurrent writes waits while
  the search tries the other writes in between, in every order.

The budget is counted in search steps, so the verdict is the same on every machine;
an optional wall-clock deadline (CLI only) is checked every few thousand steps.
Running out gives ``None``: unknown, never a guess.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence

import msgspec

from replikv.check.register import CAS_MISMATCHED, DELETE, READ, WRITE, Compiled, State, step


class Stuck(msgspec.Struct, frozen=True):
    """Where the search got furthest: ``order`` (operation positions, in the order they
    were decided), the register ``state`` after them, and ``blocked``, the certain
    operation whose return was reached before it could be linearized."""

    order: tuple[int, ...]
    state: State
    blocked: int


class SearchOutcome(msgspec.Struct, frozen=True):
    valid: bool | None
    steps: int
    stuck: Stuck | None = None


class _OutOfBudget(Exception):
    pass


_DEADLINE_EVERY = 4096
_OBSERVERS = (READ, CAS_MISMATCHED)  # certain, and change nothing
_BLIND = (WRITE, DELETE)  # the state after them does not depend on the state before
_APPLY_CERTAIN, _APPLY_UNCERTAIN, _NEVER, _OBSERVE = 0, 1, 2, 3   # moves on the stack
_CERTAIN_FIRST, _UNCERTAIN_NEXT = 0, 1   # the two passes over the calls reached


def search(calls: Sequence[float], returns: Sequence[float], ops: Sequence[Compiled],
           certain: Sequence[bool], initial: State, *, max_steps: int,
           deadline: float | None = None) -> SearchOutcome:
    """Is there an order of ``ops`` respecting real time and the register model?

    ``calls[i]``/``returns[i]`` are operation i's interval; for an uncertain operation
    (``certain[i]`` false) ``returns[i]`` is its horizon.
    """
    run = _Search(calls, returns, ops, certain, initial, max_steps, deadline)
    collecting = gc.isenabled()
    gc.disable()  # millions of small memo tuples, none cyclic: the collector only slows us
    try:
        valid = run.run()
    except _OutOfBudget:
        return SearchOutcome(None, run.steps, run.best)
    finally:
        if collecting:
            gc.enable()
    return SearchOutcome(valid, run.steps, None if valid else run.best)


class _Search:
    def __init__(self, calls, returns, ops, certain, initial, max_steps, deadline) -> None:
        n = len(ops)
        entries = sorted([(calls[i], 0, i) for i in range(n)]
                         + [(returns[i], 1, i) for i in range(n)])
        self.head = 2 * n
        # doubly linked list over entry positions; -1 ends it
        self.nxt = list(range(1, 2 * n)) + [-1, 0 if n else -1]
        self.prv = [self.head] + list(range(0, 2 * n - 1)) + [-1]
        self.time_at = [t for t, _, _ in entries]
        self.is_call = [kind == 0 for _, kind, _ in entries]
        self.op_of = [i for _, _, i in entries]
        self.call_pos, self.return_pos = [0] * n, [0] * n
        for position, (_, kind, i) in enumerate(entries):
            (self.call_pos if kind == 0 else self.return_pos)[i] = position
        self.calls, self.ops, self.certain = calls, ops, certain
        # uncertain operations with the same effect, earliest horizon first
        kinds: dict[Compiled, list[int]] = {}
        for i in sorted(range(n), key=lambda i: (returns[i], i)):
            if not certain[i]:
                kinds.setdefault(ops[i], []).append(i)
        self.same_kind = {i: kinds[ops[i]] for i in range(n) if not certain[i]}
        self.state: State = initial
        self.done_certain = 0     # bitset: linearized certain operations
        self.done_uncertain = 0   # bitset: uncertain operations applied or decided "never"
        self.remaining = sum(1 for c in certain if c)
        self.pending_uncertain = n - self.remaining
        # (op, state before, move, first return, after_uncertain before)
        self.stack: list[tuple[int, State, int, float, bool]] = []
        # the configuration's flag: the last move that was not "never" applied an
        # uncertain operation (see "no overwritten guess")
        self.after_uncertain = False
        self.seen: set[tuple[int, int, State, bool]] = set()
        self.failed: dict[tuple[int, State], list[tuple[int, bool]]] = {}
        self.best: Stuck | None = None
        self.steps, self.max_steps, self.deadline = 0, max_steps, deadline

    # -- the list -----------------------------------------------------------------------
    def _lift(self, i: int) -> None:
        nxt, prv = self.nxt, self.prv
        for gone in (self.call_pos[i], self.return_pos[i]):
            nxt[prv[gone]] = nxt[gone]
            if nxt[gone] != -1:
                prv[nxt[gone]] = prv[gone]

    def _unlift(self, i: int) -> None:  # the reverse of _lift
        nxt, prv = self.nxt, self.prv
        for back in (self.return_pos[i], self.call_pos[i]):
            nxt[prv[back]] = back
            if nxt[back] != -1:
                prv[nxt[back]] = back

    # -- configurations -----------------------------------------------------------------
    def _fresh(self, done_c: int, done_u: int, state: State, flag: bool) -> bool:
        """Not seen, and not dominated by a failed configuration with the same certain
        operations and state, fewer uncertain ones used up (more choices left) and no
        more restricted (its ``flag`` unset, or both set: see "no overwritten guess")."""
        if (done_c, done_u, state, False) in self.seen or (
                flag and (done_c, done_u, state, True) in self.seen):
            return False
        for other, other_flag in self.failed.get((done_c, state), ()):
            if other & ~done_u == 0 and (flag or not other_flag):
                return False
        self.seen.add((done_c, done_u, state, flag))
        return True

    def _first_of_kind(self, i: int, first_return: float) -> bool:
        """Is ``i`` the earliest-horizon pending candidate among its look-alikes?"""
        for j in self.same_kind[i]:
            if j == i:
                return True
            if not self.done_uncertain >> j & 1 and self.calls[j] <= first_return:
                return False
        raise AssertionError("an operation is its own kind")

    def _push(self, i: int, after: State, move: int, first_return: float) -> None:
        self.stack.append((i, self.state, move, first_return, self.after_uncertain))
        self.state = after
        self.after_uncertain = self._flag_after(move)
        if move in (_APPLY_CERTAIN, _OBSERVE):
            self.done_certain |= 1 << i
            self.remaining -= 1
        else:
            self.done_uncertain |= 1 << i
            self.pending_uncertain -= 1
        self._lift(i)

    def _flag_after(self, move: int) -> bool:
        """The flag of the configuration a move leads to: set by applying an uncertain
        operation, kept by "never" (it applies nothing), cleared by a certain one."""
        return move == _APPLY_UNCERTAIN or (move == _NEVER and self.after_uncertain)

    def _pop(self) -> tuple[int, int, float]:
        self.failed.setdefault((self.done_certain, self.state), []).append(
            (self.done_uncertain, self.after_uncertain))
        i, self.state, move, first_return, self.after_uncertain = self.stack.pop()
        if move in (_APPLY_CERTAIN, _OBSERVE):
            self.done_certain ^= 1 << i
            self.remaining += 1
        else:
            self.done_uncertain ^= 1 << i
            self.pending_uncertain += 1
        self._unlift(i)
        return i, move, first_return

    def _tick(self) -> None:
        self.steps += 1
        if self.steps > self.max_steps or (
                self.deadline is not None and self.steps % _DEADLINE_EVERY == 0
                and time.monotonic() > self.deadline):
            self.steps -= 1
            raise _OutOfBudget

    # -- the walk -----------------------------------------------------------------------
    def _try_call(self, i: int, first_return: float) -> bool:
        """Linearize operation ``i`` now, if legal and new; True when it moved."""
        legal, after = step(self.state, self.ops[i])
        if not legal:
            return False
        bit = 1 << i
        if self.certain[i]:
            if self._fresh(self.done_certain | bit, self.done_uncertain, after, False):
                move = _OBSERVE if self.ops[i][0] in _OBSERVERS else _APPLY_CERTAIN
                self._push(i, after, move, first_return)
                return True
            return False
        if after == self.state:
            return False  # no effect here: keeping it pending leaves more choices
        if self.after_uncertain and self.ops[i][0] in _BLIND:
            return False  # it would overwrite a guess nobody saw: see "no overwritten guess"
        if not self._first_of_kind(i, first_return):
            return False  # a look-alike with more room goes first
        if self._fresh(self.done_certain, self.done_uncertain | bit, after, True):
            self._push(i, after, _APPLY_UNCERTAIN, first_return)
            return True
        return False

    def _first_return_after(self, entry: int) -> float:
        """The time of the first return at or after ``entry`` (all entries before
        ``entry`` are calls, so it is the first return of the list)."""
        while entry != -1 and self.is_call[entry]:
            entry = self.nxt[entry]
        return self.time_at[entry] if entry != -1 else float("inf")

    def _observe_first(self) -> int | None:
        """From a new configuration: linearize each certain observer (a read, a cas
        whose comparison failed) whose call is reached and which is legal now, before
        any other move; where the walk goes on, or ``None`` when the configuration
        already failed.

        Exact: all entries before a reached call are calls, so every operation that
        must precede the observer is linearized; it changes nothing, so any completion
        that places it later works with it placed now. Hence the configuration
        succeeds iff the one with the observer linearized does: when that one was
        already seen (or is dominated), this one failed too, and when it fails, the
        backtrack tries nothing else here (``_OBSERVE`` moves are undone like
        ``_NEVER`` ones)."""
        entry = self.nxt[self.head]
        while entry != -1 and self.is_call[entry]:
            i, after_entry = self.op_of[entry], self.nxt[entry]
            if self.certain[i] and self.ops[i][0] in _OBSERVERS:
                self._tick()
                legal, after = step(self.state, self.ops[i])
                if legal:
                    if not self._fresh(self.done_certain | 1 << i, self.done_uncertain, after,
                                       False):
                        return None
                    self._push(i, after, _OBSERVE, 0.0)
            entry = after_entry
        return self.nxt[self.head]

    def run(self) -> bool:
        entry, phase = self._observe_first(), _CERTAIN_FIRST
        while self.remaining:
            if entry is None:
                resumed = self._backtrack()
                if resumed is None:
                    return False
                entry, phase = resumed
                continue
            assert entry != -1, "walked past every return with operations left"
            i = self.op_of[entry]
            if self.is_call[entry]:
                if self.certain[i] != (phase == _CERTAIN_FIRST):
                    entry = self.nxt[entry]  # the other phase's
                    continue
                self._tick()
                first_return = (self._first_return_after(entry)
                                if not self.certain[i] and len(self.same_kind[i]) > 1 else 0.0)
                if self._try_call(i, first_return):
                    entry, phase = self._observe_first(), _CERTAIN_FIRST
                else:
                    entry = self.nxt[entry]
                continue
            if phase == _CERTAIN_FIRST:  # every certain call here tried: now the others
                entry, phase = self.nxt[self.head], _UNCERTAIN_NEXT
                continue
            self._tick()
            if not self.certain[i]:
                # an uncertain operation's horizon: as if it never happened, from here on
                done_u = self.done_uncertain | (1 << i)
                if self._fresh(self.done_certain, done_u, self.state, self.after_uncertain):
                    self._push(i, self.state, _NEVER, 0.0)
                    entry, phase = self._observe_first(), _CERTAIN_FIRST
                    continue
            elif self.best is None or len(self.stack) > len(self.best.order):
                self.best = Stuck(tuple(j for j, _, _, _, _ in self.stack), self.state, i)
            entry = None
        return True

    def _backtrack(self) -> tuple[int, int] | None:
        """Undo choices until one leaves other calls to try: where to resume, and in
        which phase."""
        while self.stack:
            i, move, _ = self._pop()
            if move == _APPLY_CERTAIN:  # a choice with others left
                return self.nxt[self.call_pos[i]], _CERTAIN_FIRST
            if move == _APPLY_UNCERTAIN:
                return self.nxt[self.call_pos[i]], _UNCERTAIN_NEXT
        return None
