"""The txn lines of the history format (docs/history.md, "Transactions")."""

from __future__ import annotations

import pytest

from replikv.check.history import (
    HistoryError,
    HistoryRecorder,
    pair_operations,
    read_history,
    write_history,
)


def lines(*objects: str) -> list[str]:
    return list(objects)


INVOKE = '{"process": 1, "type": "invoke", "f": "txn", "value": [["append", "x", 1], ["r", "y", null]], "time": 0}'


def test_a_txn_reads_and_pairs() -> None:
    ok = '{"process": 1, "type": "ok", "f": "txn", "value": [["append", "x", 1], ["r", "y", [2, "3"]]], "time": 1}'
    (op,) = pair_operations(read_history(lines(INVOKE, ok)))
    assert op.f == "txn" and op.key is None and op.type == "ok"
    assert op.value == (("append", "x", 1), ("r", "y", None))
    assert op.output == (("append", "x", 1), ("r", "y", (2, "3")))


def test_an_absent_key_reads_as_an_empty_list() -> None:
    ok = '{"process": 1, "type": "ok", "f": "txn", "value": [["append", "x", 1], ["r", "y", null]], "time": 1}'
    (op,) = pair_operations(read_history(lines(INVOKE, ok)))
    assert op.output[1] == ("r", "y", ())


def test_fail_and_info_may_carry_null_or_the_micro_ops() -> None:
    fail = '{"process": 1, "type": "fail", "f": "txn", "value": null, "time": 1, "error": "aborted"}'
    info = '{"process": 1, "type": "info", "f": "txn", "value": [["append", "x", 1], ["r", "y", null]], "time": 1}'
    assert pair_operations(read_history(lines(INVOKE, fail)))[0].type == "fail"
    assert pair_operations(read_history(lines(INVOKE, info)))[0].type == "info"


@pytest.mark.parametrize(("line", "words"), [
    ('{"process": 1, "type": "invoke", "f": "txn", "value": [], "time": 0}',
     "a txn invoke carries a non-empty list of micro-ops"),
    ('{"process": 1, "type": "invoke", "f": "txn", "value": 5, "time": 0}',
     "a txn invoke carries a non-empty list of micro-ops"),
    ('{"process": 1, "type": "invoke", "f": "txn", "value": [["write", "x", 1]], "time": 0}',
     "micro-op 0 has kind 'write'"),
    ('{"process": 1, "type": "invoke", "f": "txn", "value": [["append", 3, 1]], "time": 0}',
     "micro-op 0 names key 3"),
    ('{"process": 1, "type": "invoke", "f": "txn", "value": [["append", "x", true]], "time": 0}',
     "micro-op 0 appends True"),
    ('{"process": 1, "type": "invoke", "f": "txn", "value": [["r", "x", [1]]], "time": 0}',
     "micro-op 0 is a read, whose value is null on the invoke"),
    ('{"process": 1, "type": "invoke", "f": "txn", "value": [["r", "x"]], "time": 0}',
     "micro-op 0 is"),
])
def test_malformed_invokes_name_the_line(line: str, words: str) -> None:
    with pytest.raises(HistoryError, match="line 2") as caught:
        read_history(["", line])
    assert words in str(caught.value)


@pytest.mark.parametrize(("value", "words"), [
    ('[["append", "x", 2], ["r", "y", []]]', "micro-op 0 appends 2 but the invoke appended 1"),
    ('[["append", "x", 1], ["r", "z", []]]', "micro-op 1 is ['r', 'z', []] but the invoke had"),
    ('[["append", "x", 1], ["r", "y", 7]]', "micro-op 1 read 7; a read returns a list"),
    ('[["append", "x", 1], ["r", "y", [1.5]]]', "micro-op 1 read [1.5]"),
    ('[["append", "x", 1]]', "a txn ok carries its 2 micro-ops again"),
    ('null', "a txn ok carries its 2 micro-ops again"),
])
def test_malformed_completions_name_the_line(value: str, words: str) -> None:
    ok = f'{{"process": 1, "type": "ok", "f": "txn", "value": {value}, "time": 1}}'
    with pytest.raises(HistoryError, match="line 2") as caught:
        read_history([INVOKE, ok])
    assert words in str(caught.value)


def test_the_recorder_writes_what_the_reader_reads(tmp_path) -> None:
    recorder = HistoryRecorder()
    recorder.invoke(1, "txn", None, (("append", "x", 1), ("r", "x", None)), 0)
    recorder.complete(1, "ok", (("append", "x", 1), ("r", "x", (1,))), 2)
    path = tmp_path / "h.jsonl"
    write_history(recorder.events, path)
    assert pair_operations(read_history(path)) == recorder.operations()
    assert recorder.operations()[0].output == (("append", "x", 1), ("r", "x", (1,)))


def test_single_key_rules_are_unchanged() -> None:
    with pytest.raises(HistoryError, match="an invoke needs a key"):
        read_history(['{"process": 1, "type": "invoke", "f": "read", "value": null, "time": 0}'])
