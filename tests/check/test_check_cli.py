"""``replikv check``: output and exit codes (0 valid, 1 not valid, 2 unknown/malformed)."""

from __future__ import annotations

import json
import random

from click.testing import CliRunner
from histories import R, W, events
from txn_histories import T, a, r, txn_events

from replikv.check.generate import Mix, generate_history
from replikv.check.history import write_history
from replikv.cli.check_cmd import COMMANDS, check


def _file(tmp_path, history, name="h.jsonl"):
    path = tmp_path / name
    write_history(history, path)
    return str(path)


def test_exported_as_the_check_command() -> None:
    assert list(COMMANDS) == [check]
    assert check.name == "check"


def test_valid_history_exits_0(tmp_path) -> None:
    path = _file(tmp_path, events(W(1, "k", 1, 0, 1), R(2, "k", 1, 2, 3)))
    result = CliRunner().invoke(check, [path])
    assert result.exit_code == 0, result.output
    assert "VALID" in result.output and "NOT VALID" not in result.output


def test_violation_exits_1_with_an_explanation(tmp_path) -> None:
    path = _file(tmp_path, events(W(1, "k", 1, 0, 1), W(2, "k", 2, 2, 3), R(3, "k", 1, 4, 5)))
    result = CliRunner().invoke(check, [path])
    assert result.exit_code == 1
    assert "NOT VALID" in result.output and "key 'k' is not linearizable" in result.output
    # the same history meets the weaker promise
    assert CliRunner().invoke(check, [path, "--model", "sequential"]).exit_code == 0


def test_json_output(tmp_path) -> None:
    path = _file(tmp_path, events(W(1, "k", 1, 0, 1), R(3, "k", None, 4, 5)))
    result = CliRunner().invoke(check, [path, "--json"])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["valid"] is False and data["model"] == "linearizable" and data["ops"] == 2
    assert data["failures"][0]["key"] == "k" and len(data["failures"][0]["ops"]) == 2


def test_budget_exhausted_exits_2(tmp_path) -> None:
    history = generate_history(random.Random(3), ops=300, clients=8, keys=["k"],
                               mix=Mix(info_rate=0.1))
    path = _file(tmp_path, history)
    result = CliRunner().invoke(check, [path, "--max-steps", "5"])
    assert result.exit_code == 2 and "UNKNOWN" in result.output
    assert CliRunner().invoke(check, [path]).exit_code == 0
    data = json.loads(CliRunner().invoke(check, [path, "--max-steps", "5", "--json"]).output)
    assert data["valid"] is None and data["unknown_keys"] == ["k"]


def test_malformed_file_exits_2_naming_the_line(tmp_path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"process": 1, "type": "invoke", "f": "read", "key": "k", "value": null, '
                    '"time": 0}\n\n{"process": 1, "type": "ok", "f": "read", "time": }\n')
    result = CliRunner().invoke(check, [str(path)])
    assert result.exit_code == 2
    assert "line 3" in result.output and "malformed history" in result.output


def test_missing_file_and_bad_options_exit_2(tmp_path) -> None:
    assert CliRunner().invoke(check, [str(tmp_path / "nope.jsonl")]).exit_code == 2
    path = _file(tmp_path, events(W(1, "k", 1, 0, 1)))
    assert CliRunner().invoke(check, [path, "--model", "causal"]).exit_code == 2
    assert CliRunner().invoke(check, [path, "--max-steps", "0"]).exit_code == 2


def test_a_txn_history_goes_to_the_transaction_checker(tmp_path) -> None:
    good = _file(tmp_path, txn_events(T(1, a("x", 1), t0=0, t1=1), T(2, r("x", [1]), t0=2, t1=3)))
    result = CliRunner().invoke(check, [good])
    assert result.exit_code == 0, result.output
    assert "txn" in result.output and "NOT VALID" not in result.output
    bad = _file(tmp_path, txn_events(T(1, r("x", []), a("y", 1)), T(2, r("y", []), a("x", 2))),
                "bad.jsonl")
    for args in ([bad], [bad, "--model", "txn"]):
        result = CliRunner().invoke(check, args)
        assert result.exit_code == 1
        assert "G2 (a cycle of anti-dependencies: write skew)" in result.output
        assert "T0 -rw-> T1" in result.output and "T1 -rw-> T0" in result.output
    data = json.loads(CliRunner().invoke(check, [bad, "--json"]).output)
    assert data["valid"] is False and data["anomalies"] == {"G2": 1}
    assert data["failures"][0]["anomaly"] == "G2"


def test_a_txn_history_under_a_single_key_model_exits_2(tmp_path) -> None:
    path = _file(tmp_path, txn_events(T(1, a("x", 1))))
    result = CliRunner().invoke(check, [path, "--model", "linearizable"])
    assert result.exit_code == 2
    assert "is a txn: this check is for single-key operations" in result.output


def test_a_malformed_txn_line_exits_2(tmp_path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text('{"process": 1, "type": "invoke", "f": "txn", "value": [["put", "x", 1]], "time": 0}\n')
    result = CliRunner().invoke(check, [str(path)])
    assert result.exit_code == 2
    assert "line 1: micro-op 0 has kind 'put'" in result.output
