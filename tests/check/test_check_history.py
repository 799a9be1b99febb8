"""The history format: reading, writing, pairing and the recorder (docs/history.md)."""

from __future__ import annotations

import math

import pytest
from histories import DEL, INCR, R, W, events

from replikv.check.history import (
    HistoryError,
    HistoryEvent,
    HistoryRecorder,
    pair_operations,
    read_history,
    write_history,
)

GOOD = [
    '{"process": 3, "type": "invoke", "f": "write", "key": "k1", "value": 5, "time": 12.5}',
    '{"process": 3, "type": "ok", "f": "write", "key": "k1", "value": 5, "time": 14.0}',
]


def test_reads_the_design_example_and_ignores_extra_fields() -> None:
    lines = [GOOD[0], GOOD[1][:-1] + ', "node": 2, "latency_us": 99}']
    got = read_history(lines)
    assert got[0] == HistoryEvent(process=3, type="invoke", f="write", key="k1", value=5, time=12.5)
    assert got[1].node == 2 and got[1].type == "ok" and got[1].time == 14.0


def test_round_trip_through_a_file(tmp_path) -> None:
    original = events(W(1, "a", "x", 0, 1), R(2, "a", "x", 0.5, 2.5),
                      INCR(3, "b", 2, 2, 1, 3), DEL(4, "a", 3, None))
    original.append(HistoryEvent(process=5, type="invoke", f="cas", key="b", value=[2, 7], time=4))
    original.append(HistoryEvent(process=5, type="info", f="cas", key="b", time=9,
                                 error="timeout", node=1))
    path = tmp_path / "h.jsonl"
    write_history(original, path)
    assert read_history(path) == original
    assert '"error":"timeout"' in path.read_text()
    assert '"node"' not in path.read_text().splitlines()[0]  # null node left out


def test_blank_lines_are_skipped_and_line_numbers_still_count() -> None:
    with pytest.raises(HistoryError) as info:
        read_history([GOOD[0], "", "   ", "{oops"])
    assert info.value.line == 4
    assert str(info.value).startswith("line 4:")


@pytest.mark.parametrize(("bad", "words"), [
    ('{"process": 1, "type": "invoke", "f": "write", "key": "k", "value": 1}', "time"),
    ('{"process": 1, "type": "begin", "f": "write", "key": "k", "value": 1, "time": 1}', "type"),
    ('{"process": 1, "type": "invoke", "f": "put", "key": "k", "value": 1, "time": 1}', "$.f"),
    ('{"process": "one", "type": "invoke", "f": "read", "key": "k", "value": null, "time": 1}',
     "process"),
    ('{"process": 1, "type": "invoke", "f": "write", "key": "k", "value": true, "time": 1}',
     "value"),
    ('[1, 2]', "bad event"),
    ('{"process": 1,', "not a JSON object"),
    ('{"process": 1, "type": "invoke", "f": "write", "value": 1, "time": 1}', "needs a key"),
    ('{"process": 1, "type": "invoke", "f": "cas", "key": "k", "value": [1], "time": 1}',
     "[expected, new]"),
    ('{"process": 1, "type": "invoke", "f": "incr", "key": "k", "value": "2", "time": 1}',
     "integer delta"),
    ('{"process": 1, "type": "invoke", "f": "read", "key": "k", "value": 3, "time": 1}',
     "value null"),
    ('{"process": 1, "type": "ok", "f": "read", "key": "k", "value": 3, "time": 1}',
     "no outstanding invoke"),
])
def test_malformed_lines_name_the_line(bad: str, words: str) -> None:
    with pytest.raises(HistoryError) as info:
        read_history([GOOD[0], GOOD[1], bad])
    assert info.value.line == 3
    assert words in str(info.value)


@pytest.mark.parametrize(("second", "words"), [
    ('{"process": 3, "type": "invoke", "f": "read", "key": "k1", "value": null, "time": 13}',
     "still outstanding"),
    ('{"process": 3, "type": "ok", "f": "read", "key": "k1", "value": 5, "time": 14}',
     "completes read but invoked write"),
    ('{"process": 3, "type": "ok", "f": "write", "key": "k2", "value": 5, "time": 14}',
     "completes key 'k2'"),
    ('{"process": 3, "type": "ok", "f": "write", "key": "k1", "value": 5, "time": 1}',
     "before its invoke"),
])
def test_pairing_rules(second: str, words: str) -> None:
    with pytest.raises(HistoryError) as info:
        read_history([GOOD[0], second])
    assert info.value.line == 2 and words in str(info.value)


def test_no_invoke_after_info_and_ok_incr_needs_an_integer() -> None:
    info_then_invoke = [
        '{"process": 1, "type": "invoke", "f": "write", "key": "k", "value": 1, "time": 0}',
        '{"process": 1, "type": "info", "f": "write", "key": "k", "value": null, "time": 1}',
        '{"process": 1, "type": "invoke", "f": "read", "key": "k", "value": null, "time": 2}',
    ]
    with pytest.raises(HistoryError, match="after an info") as info:
        read_history(info_then_invoke)
    assert info.value.line == 3
    incr = ['{"process": 1, "type": "invoke", "f": "incr", "key": "k", "value": 1, "time": 0}',
            '{"process": 1, "type": "ok", "f": "incr", "key": "k", "value": "x", "time": 1}']
    with pytest.raises(HistoryError, match="new integer"):
        read_history(incr)


def test_pairing_makes_operations_in_invoke_order() -> None:
    ops = pair_operations(events(W(1, "k", 1, 0, 5), R(2, "k", 1, 1, 2),
                                 W(3, "k", 2, 3, None), W(4, "k", 3, 4, 6, type="fail"),
                                 W(5, "k", 4, 4.5, 7, type="info")))
    assert [(op.index, op.process) for op in ops] == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    assert ops[0].complete_time == 5 and ops[0].type == "ok" and ops[1].output == 1
    pending = ops[2]
    assert pending.type == "info" and math.isinf(pending.complete_time)
    assert pending.reported_time is None
    assert ops[3].type == "fail" and ops[3].complete_time == 6
    assert ops[4].type == "info" and math.isinf(ops[4].complete_time)
    assert ops[4].reported_time == 7


def test_pair_operations_names_the_event() -> None:
    bad = [HistoryEvent(process=1, type="ok", f="read", key="k", time=1)]
    with pytest.raises(HistoryError, match="event 1"):
        pair_operations(bad)


def test_recorder_builds_a_history_and_enforces_the_rules(tmp_path) -> None:
    rec = HistoryRecorder()
    rec.invoke(1, "write", "k", 1, 0.0, node=2)
    rec.invoke(2, "cas", "k", (1, 2), 0.5)
    assert sorted(rec.outstanding()) == [1, 2]
    with pytest.raises(HistoryError, match="outstanding"):
        rec.invoke(1, "read", "k", None, 0.7)
    rec.complete(1, "ok", 1, 1.0)
    rec.complete(2, "info", None, 3.0, error="timeout")
    with pytest.raises(HistoryError, match="after an info"):
        rec.invoke(2, "read", "k", None, 4.0)
    with pytest.raises(HistoryError, match="no outstanding"):
        rec.complete(7, "ok", None, 4.0)
    rec.invoke(3, "read", "k", None, 5.0)
    path = tmp_path / "rec.jsonl"
    rec.write(path)
    assert read_history(path) == rec.events
    ops = rec.operations()
    assert [op.type for op in ops] == ["ok", "info", "info"]  # the read never completed
    assert ops[1].value == (1, 2) and ops[1].error == "timeout" and ops[0].node == 2
    assert rec.events[1].value == [1, 2]  # a tuple is written as a JSON list


def test_recorder_refuses_values_outside_the_format() -> None:
    rec = HistoryRecorder()
    with pytest.raises(HistoryError, match="ints, strings or null"):
        rec.invoke(1, "write", "k", True, 0.0)
    with pytest.raises(HistoryError, match="ints, strings or null"):
        rec.invoke(1, "write", "k", 1.5, 0.0)
    with pytest.raises(HistoryError, match="finite"):
        rec.invoke(1, "write", "k", 1, float("nan"))
    assert rec.events == []  # nothing half-recorded
