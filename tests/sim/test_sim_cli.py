"""``replikv sim``: flags, files, JSON, exit codes."""

from __future__ import annotations

import json

from click.testing import CliRunner

from replikv.cli.sim_cmd import sim


def test_bad_flags_are_click_errors() -> None:
    runner = CliRunner()
    assert runner.invoke(sim, ["--protocol", "nope"]).exit_code == 2
    result = runner.invoke(sim, ["--protocol", "pb-sync", "--option", "novalue"])
    assert result.exit_code == 2 and "key=value" in result.output
    result = runner.invoke(sim, ["--protocol", "pb-sync", "--option", "max_batch=0"])
    assert result.exit_code == 2 and "max_batch" in result.output
    result = runner.invoke(sim, ["--protocol", "pb-sync", "--seeds", "2", "--history", "h.jsonl"])
    assert result.exit_code == 2


def test_json_report_files_and_reproduce_line(tmp_path) -> None:
    runner = CliRunner()
    args = ["--protocol", "pb-sync", "--scenario", "steady", "--seed", "3", "--json",
            "--history", str(tmp_path / "h.jsonl"), "--trace", str(tmp_path / "t.jsonl")]
    result = runner.invoke(sim, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for field in ("protocol", "scenario", "seed", "nodes", "ops", "acked_writes", "lost_acked_writes",
                  "linearizable", "stale_reads", "divergent", "messages_per_write", "heartbeats_per_s",
                  "latency_ms", "availability", "failover_ms", "reproduce", "checks", "violations"):
        assert field in report
    assert report["reproduce"] == "replikv sim --protocol pb-sync --scenario steady --seed 3"
    history = (tmp_path / "h.jsonl").read_bytes()
    assert history.count(b"\n") == 2 * 200
    first = json.loads(history.splitlines()[0])
    assert set(first) >= {"process", "type", "f", "key", "value", "time"}
    assert (tmp_path / "t.jsonl").read_bytes().startswith(b'{"t":')


def test_unpromised_loss_is_reported_not_failed_and_sweeps_summarise(tmp_path) -> None:
    result = CliRunner().invoke(sim, ["--protocol", "pb-async", "--scenario", "partition-primary",
                                      "--failover", "auto", "--seed", "1", "--seeds", "3", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["runs"]) == 3 and data["summary"]["lost_acked_writes_total"] > 0
    assert data["runs"][0]["reproduce"].endswith("--seed 1 --option failover=auto")
