"""``replikv explain``: a run told step by step from its trace."""

from __future__ import annotations

from click.testing import CliRunner

from replikv.cli.main import cli


def _explain(*args: str) -> str:
    result = CliRunner().invoke(cli, ["explain", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_probe_write_of_raft_step_by_step() -> None:
    out = _explain("--protocol", "raft", "--probe")
    assert "node 2 sends AppendEntries to node 1" in out
    assert "node 1's disk write" in out and "is durable (fsynced)" in out
    assert "node 2 decides (commits) index" in out
    assert "- 4 peer messages" in out
    assert "- the client's answer came from node 2" in out
    assert "Heartbeat" not in out
    assert out.rstrip().endswith("reproduce: replikv sim --protocol raft --scenario steady --seed 1 --trace trace.jsonl")


def test_the_first_client_write_of_pb_sync_and_who_answered() -> None:
    out = _explain("--protocol", "pb-sync", "--scenario", "primary-crash", "--seed", "3")
    assert "Telling write k3=1 by client process 1" in out
    assert "node 2 sends AppendAck to node 1" in out
    assert "node 1 decides (commits) index 1: Set from client 1 #2" in out
    assert "- the client's answer came from node 1" in out


def test_the_whole_run_stops_at_the_limit() -> None:
    out = _explain("--protocol", "pb-async", "--all", "--limit", "5")
    steps = [line for line in out.splitlines() if line.startswith("[")]
    assert len(steps) == 5
    assert "stopped after 5 steps" in out


def test_a_write_the_run_does_not_have_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["explain", "--protocol", "pb-sync", "--write", "100000"])
    assert result.exit_code == 2
    assert "fewer than 100000 acknowledged client writes" in result.output
