"""Property tests: histories of a correct register are always accepted; a planted stale
read is always rejected. Derandomized, so every run tests the same examples."""

from __future__ import annotations

from histories import Op, R, W, events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replikv.check.history import CAS_MISMATCH
from replikv.check.invariants import lost_acked_writes, stale_reads
from replikv.check.linearizability import check_linearizable
from replikv.check.models import check_history
from replikv.check.register import as_int

KEYS = ("a", "b", "c")
SETTINGS = settings(max_examples=150, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

op_spec = st.tuples(
    st.sampled_from(["read", "write", "cas", "delete", "incr"]),
    st.sampled_from(KEYS),
    st.integers(min_value=1, max_value=3),                  # incr delta / which old value
    st.integers(min_value=0, max_value=25),                 # invoke: lead before the effect
    st.integers(min_value=0, max_value=25),                 # completion: lag after it
    st.sampled_from(["ok", "ok", "ok", "ok", "info-applied", "info-lost", "fail", "pending"]),
)


def execute(specs) -> tuple[list[Op], dict[str, str | None]]:
    """Run the specs one after the other on a register; operation i takes effect at
    time 10*i, inside its interval. Every op has its own process."""
    state: dict[str, str | None] = {}
    written: dict[str, list[str]] = {k: [] for k in KEYS}
    ops: list[Op] = []
    for i, (f, key, n, lead, lag, outcome) in enumerate(specs):
        at = 10.0 * i
        start, end = at - lead, at + lag
        applied = outcome in ("ok", "info-applied")
        kind = {"ok": "ok", "fail": "fail"}.get(outcome, "info")
        done = None if outcome == "pending" else end
        current = state.get(key)
        if f == "read":
            ops.append(Op(i + 1, "read", key, None, start, done, kind, current if applied else None))
        elif f == "write":
            value = f"v{i}"
            if applied:
                state[key] = value
            written[key].append(value)
            ops.append(Op(i + 1, "write", key, value, start, done, kind, value))
        elif f == "delete":
            if applied:
                state[key] = None
            ops.append(Op(i + 1, "delete", key, None, start, done, kind))
        elif f == "cas":
            olds = written[key]
            expected = olds[-n] if len(olds) >= n else None
            new = f"c{i}"
            written[key].append(new)
            error = None
            if kind == "ok" and current != expected:
                kind, error = "fail", CAS_MISMATCH  # ran, did not swap: it saw another value
            if applied and current == expected:
                state[key] = new
            ops.append(Op(i + 1, "cas", key, [expected, new], start, done, kind, None, error))
        else:
            number = as_int(current)
            if number is None:
                kind, applied = ("fail" if kind == "ok" else kind), False
            output = None
            if applied and number is not None:
                output = number + n
                state[key] = str(output)
            ops.append(Op(i + 1, "incr", key, n, start, done, kind, output))
    return ops, state


@SETTINGS
@given(st.lists(op_spec, max_size=25))
def test_a_correct_register_is_always_accepted(specs) -> None:
    ops, final = execute(specs)
    history = events(*ops)
    assert check_linearizable(history).valid is True
    assert check_history(history, "sequential").valid is True
    assert check_history(history, "read-your-writes").valid is True
    assert stale_reads(history) == []
    assert lost_acked_writes(history, final) == []


@SETTINGS
@given(st.lists(op_spec, max_size=25), st.data())
def test_a_planted_stale_read_is_always_rejected(specs, data) -> None:
    ops, _ = execute(specs)
    end = 10.0 * len(specs) + 30
    old = [op for op in ops if op.f == "write" and op.type == "ok"]
    if old:
        chosen = data.draw(st.sampled_from(old))
        key, stale = chosen.key, chosen.value
    else:
        key, stale = "fresh", None
    reader = len(specs) + 1
    planted = [W(reader, key, "new", end, end + 1), R(reader, key, stale, end + 2, end + 3)]
    history = events(*ops, *planted)
    result = check_linearizable(history)
    assert result.valid is False
    assert [f.key for f in result.failures] == [key]
    assert check_history(history, "read-your-writes").valid is False
    assert any(r.read.invoke_time == end + 2 and r.missed.value == "new"
               for r in stale_reads(history))
