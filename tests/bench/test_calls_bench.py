"""``replikv bench calls``: calls per write of an in-process cluster (bench/calls_bench.py)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from replikv.bench.calls_bench import run_calls_bench
from replikv.cli.main import cli


def test_raft_counts_the_whole_clusters_calls_and_every_write_is_answered_ok() -> None:
    result = run_calls_bench("raft", nodes=3, requests=320, clients=32)
    assert result["requests"] == 320 and result["answers"] == {"Ok": 320}
    # The leader's and the followers' cores run on the one loop: a write costs tens of
    # Python calls at the least, and a counting mistake (per run instead of per request,
    # or the hook never set) lands far outside this band.
    assert 20 < result["python_calls_per_request"] < 2000
    assert 10 < result["c_calls_per_request"] < 4000
    assert result["cpu_us_per_request"] > 0
    names = [name for name, _ in result["top"]]
    assert len(names) == 15 and len(set(names)) == 15


def test_a_single_node_costs_fewer_calls_than_three() -> None:
    """Replication is counted: a follower's appends and acks are calls a lone node does not make."""
    one = run_calls_bench("raft", nodes=1, requests=320, clients=32)
    three = run_calls_bench("raft", nodes=3, requests=320, clients=32)
    assert one["python_calls_per_request"] < three["python_calls_per_request"]


def test_the_command_prints_json_and_names_a_scheme_that_cannot_start() -> None:
    out = CliRunner().invoke(cli, ["bench", "calls", "--protocol", "backup", "--requests", "64", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["protocol"] == "backup"
    bad = CliRunner().invoke(cli, ["bench", "calls", "--protocol", "no-such-scheme"])
    assert bad.exit_code != 0 and "no-such-scheme" in bad.output


def test_a_read_mix_is_drawn_the_same_every_run_and_every_read_is_answered() -> None:
    """With ``read_ratio`` each caller draws reads from its own seeded generator: the same
    count every run, near the ratio, and every read (of the caller's last key) answered Ok."""
    first = run_calls_bench("raft", nodes=3, requests=640, clients=32, read_ratio=0.5)
    again = run_calls_bench("raft", nodes=3, requests=640, clients=32, read_ratio=0.5)
    assert first["reads"] == again["reads"] and 0.35 * 640 < first["reads"] < 0.65 * 640
    assert first["answers"] == {"Ok": 640}
    writes_only = run_calls_bench("raft", nodes=3, requests=640, clients=32)
    assert writes_only["reads"] == 0 and writes_only["read_ratio"] == 0.0
