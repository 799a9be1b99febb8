"""Real-run helpers: ``replikv test`` in a child process, bounded by a timeout, and no
node process left behind whatever happens (SIGTERM -> the tester's own cleanup; then
SIGKILL of every process group its cluster state file names)."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
from dataclasses import dataclass

import pytest

from replikv.jepsen.cluster import kill_recorded

REPLIKV = [sys.executable, "-c", "from replikv.cli.main import main; main()"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Long runs here (``slow``) only when asked for with ``-m slow``."""
    if "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="long real-cluster run: use -m slow")
    here = pathlib.Path(__file__).parent
    for item in items:
        if "slow" in item.keywords and here in pathlib.Path(str(item.fspath)).parents:
            item.add_marker(skip)


@dataclass
class Run:
    code: int
    output: str
    out: pathlib.Path

    @property
    def report(self) -> dict:
        return json.loads((self.out / "report.json").read_text())

    @property
    def summary(self) -> str:
        return (self.out / "summary.txt").read_text()


def run_test_cli(out: pathlib.Path, *args: str, timeout_s: float = 90.0) -> Run:
    env = dict(os.environ)
    argv = [*REPLIKV, "test", *args, "--out", str(out)]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        output, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        pytest.fail(f"replikv test did not finish within {timeout_s} s:\n{output[-3000:]}")
    finally:
        kill_recorded(out / "cluster")
    return Run(code=process.returncode, output=output, out=out)
