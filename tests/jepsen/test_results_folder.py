"""`replikv test --out` refuses a folder that already holds files (a previous run's
cluster would be taken for this run's, and its nodes refuse to start)."""

from __future__ import annotations

import pathlib

from click.testing import CliRunner

from replikv.cli.test_cmd import test as test_command


def test_a_results_folder_holding_a_previous_run_is_refused_before_anything_starts(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "run"
    (out / "cluster").mkdir(parents=True)
    (out / "report.json").write_text("{}\n")
    result = CliRunner().invoke(test_command, ["--protocol", "raft", "--time", "4", "--seed", "1",
                                               "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert f"results folder {out} is not empty" in " ".join(result.output.split()), result.output
    assert sorted(p.name for p in out.iterdir()) == ["cluster", "report.json"]  # nothing written, nothing wiped


def test_the_runner_refuses_it_too_when_called_as_a_library(tmp_path: pathlib.Path) -> None:
    import pytest

    from replikv.cluster.state import ClusterError
    from replikv.jepsen.runner import TestSettings, run_test

    (tmp_path / "cluster").mkdir()
    with pytest.raises(ClusterError, match="is not empty"):
        run_test(TestSettings(protocol="raft", out=tmp_path, time_s=4.0, seed=1), say=lambda _: None)
    assert [p.name for p in tmp_path.iterdir()] == ["cluster"]
