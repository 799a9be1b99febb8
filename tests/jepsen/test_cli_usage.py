"""``replikv test`` refuses bad input before starting anything (exit 2, clear words)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from replikv.cli.main import cli


@pytest.mark.parametrize(("args", "words"), [
    (["--protocol", "raft", "--nemesis", "kill,crash"], "unknown nemesis crash"),
    (["--protocol", "paxos-ish"], "unknown protocol 'paxos-ish'"),
    (["--protocol", "raft", "--time", "0.5"], "--time"),
    (["--protocol", "raft", "--read-level", "eventual"], "--read-level"),
    (["--protocol", "raft", "--workload", "bank"], "--workload"),
    (["--protocol", "raft", "--workload", "txn", "--model", "sequential"], "--model is for the register"),
    (["--protocol", "toy-lww", "--workload", "txn"], "toy-lww does not offer multi-key transactions"),
])
def test_bad_usage_exits_2_with_words(args: list[str], words: str, tmp_path) -> None:
    result = CliRunner().invoke(cli, ["test", *args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert words in result.output
    assert not (tmp_path / "out").exists()


def test_an_unregistered_scheme_is_refused(tmp_path) -> None:
    """Planted-bug schemes exist only where the test kit is installed (entry points, never
    an environment variable: tests/test_schemes.py); a name nobody registered is refused."""
    result = CliRunner().invoke(cli, ["test", "--protocol", "raft+no-such-bug", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "unknown protocol 'raft+no-such-bug'" in result.output
