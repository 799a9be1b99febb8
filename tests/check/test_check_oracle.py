"""The search against a brute-force oracle on small random histories, valid or not.

The oracle tries every order of the operations that respects real time, with every
``info`` operation either placed somewhere after its invoke or left out, and runs the
register model on it (a cas whose comparison failed is certain: it observed the key).
Derandomized hypothesis: the same examples every run."""

from __future__ import annotations

import itertools

from histories import Op, events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replikv.check.grouping import relevant
from replikv.check.history import CAS_MISMATCH, pair_operations
from replikv.check.invariants import stale_reads
from replikv.check.linearizability import check_linearizable
from replikv.check.models import check_history
from replikv.check.register import compile_op, is_certain, step

VALUES = st.sampled_from([1, 2, 3])
SETTINGS = settings(max_examples=400, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@st.composite
def small_history(draw):
    count = draw(st.integers(min_value=1, max_value=6))
    ops = []
    for p in range(1, count + 1):
        f = draw(st.sampled_from(["read", "read", "write", "cas", "delete", "incr"]))
        start = draw(st.integers(min_value=0, max_value=20))
        end = start + draw(st.integers(min_value=0, max_value=10))
        kind = draw(st.sampled_from(["ok", "ok", "ok", "info", "fail"]))
        if f == "read":
            out = draw(st.one_of(st.none(), VALUES))
            ops.append(Op(p, "read", "k", None, start, end, kind, out if kind == "ok" else None))
        elif f == "write":
            ops.append(Op(p, "write", "k", draw(VALUES), start, end, kind))
        elif f == "cas":
            expected = draw(st.one_of(st.none(), VALUES))
            # a compare-failed cas (it observed "not expected") or one refused
            error = draw(st.sampled_from([None, CAS_MISMATCH])) if kind == "fail" else None
            ops.append(Op(p, "cas", "k", [expected, draw(VALUES)], start, end, kind, None, error))
        elif f == "delete":
            ops.append(Op(p, "delete", "k", None, start, end, kind))
        else:
            out = draw(st.integers(min_value=1, max_value=4)) if kind == "ok" else None
            ops.append(Op(p, "incr", "k", draw(st.integers(1, 2)), start, end, kind, out))
    return events(*ops)


@st.composite
def failed_comparisons(draw):
    """Histories where cas that failed their comparison meet reads and writes inside
    and around them (the cases ``prune.py`` rewrites), with unknown writes."""
    count = draw(st.integers(min_value=2, max_value=6))
    ops = []
    for p in range(1, count + 1):
        f = draw(st.sampled_from(["read", "write", "write", "mismatch", "mismatch", "cas"]))
        start = draw(st.integers(min_value=0, max_value=12))
        end = start + draw(st.integers(min_value=0, max_value=12))
        if f == "read":
            ops.append(Op(p, "read", "k", None, start, end, "ok", draw(st.one_of(st.none(), VALUES))))
        elif f == "write":
            kind = draw(st.sampled_from(["ok", "info"]))
            ops.append(Op(p, "write", "k", draw(st.integers(1, 5)), start, end, kind))
        elif f == "mismatch":
            expected = draw(st.one_of(st.none(), VALUES))
            ops.append(Op(p, "cas", "k", [expected, 9], start, end, "fail", None, CAS_MISMATCH))
        else:
            kind = draw(st.sampled_from(["ok", "info"]))
            ops.append(Op(p, "cas", "k", [draw(VALUES), draw(st.integers(1, 5))], start, end,
                          kind))
    return events(*ops)


def oracle(history) -> bool:
    ops = relevant(pair_operations(history))
    must = [op for op in ops if is_certain(op)]
    maybe = [op for op in ops if not is_certain(op)]
    for keep in itertools.product([False, True], repeat=len(maybe)):
        chosen = must + [op for op, k in zip(maybe, keep, strict=True) if k]
        for order in itertools.permutations(chosen):
            if any(b.complete_time < a.invoke_time
                   for x, a in enumerate(order) for b in order[x + 1:]):
                continue  # b completed before a was invoked but comes after it
            state, legal = None, True
            for op in order:
                legal, state = step(state, compile_op(op))
                if not legal:
                    break
            if legal:
                return True
    return False


@SETTINGS
@given(small_history())
def test_the_search_agrees_with_brute_force(history) -> None:
    truth = oracle(history)
    assert check_linearizable(history).valid is truth
    if stale_reads(history):  # a certainly stale read is a certain violation
        assert truth is False


@SETTINGS
@given(failed_comparisons())
def test_failed_comparisons_agree_with_brute_force(history) -> None:
    assert check_linearizable(history).valid is oracle(history)


def sequential_oracle(history) -> bool:
    ops = relevant(pair_operations(history))
    must = [op for op in ops if is_certain(op)]
    maybe = [op for op in ops if not is_certain(op)]
    for keep in itertools.product([False, True], repeat=len(maybe)):
        chosen = must + [op for op, k in zip(maybe, keep, strict=True) if k]
        for order in itertools.permutations(chosen):
            if any(a.process == b.process and a.index > b.index
                   for x, a in enumerate(order) for b in order[x + 1:]):
                continue
            state, legal = None, True
            for op in order:
                legal, state = step(state, compile_op(op))
                if not legal:
                    break
            if legal:
                return True
    return False


@st.composite
def few_processes(draw):
    """Like ``small_history`` but with 2 processes taking turns (program order)."""
    history = draw(small_history())
    ops = pair_operations(history)
    renumbered = []
    clock = {1: -1.0, 2: -1.0}
    for op in ops:
        if op.type == "info":
            continue  # keep processes alive; info is covered by the other test
        p = draw(st.sampled_from([1, 2]))
        start = max(op.invoke_time, clock[p] + 0.5)
        end = start + (op.complete_time - op.invoke_time)
        clock[p] = end
        renumbered.append(Op(p, op.f, op.key, list(op.value) if op.f == "cas" else op.value,
                             start, end, op.type, op.output))
    return events(*renumbered)


@SETTINGS
@given(few_processes())
def test_sequential_agrees_with_brute_force(history) -> None:
    assert check_history(history, "sequential").valid is sequential_oracle(history)
