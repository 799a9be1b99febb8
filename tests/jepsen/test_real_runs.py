"""Short real runs of ``replikv test``, one per scheme, each with a hard timeout.

Longer acceptance runs are marked ``slow`` (``python -m pytest tests/jepsen -m slow``).
Seeds are chosen so the fault hits the interesting node: seed 4 kills the primary first
(manual failover), seed 8 partitions the leader.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from replikv.cluster import processes
from replikv.jepsen.cluster import kill_recorded

from .conftest import REPLIKV, run_test_cli

pytestmark = pytest.mark.process

REPORT_FIELDS = {"protocol", "seed", "nodes", "ops", "acked_writes", "lost_acked_writes", "linearizable",
                 "stale_reads", "divergent", "latency_ms", "availability", "reproduce", "nemesis_schedule",
                 "nemesis_executed", "checks", "failed", "pass"}


def _files_are_there(out) -> None:
    for name in ("history.jsonl", "report.json", "summary.txt", "latency.png", "throughput.png", "schedule.txt"):
        assert (out / name).stat().st_size > 0, name


def test_pb_sync_survives_killing_the_primary(tmp_path) -> None:
    run = run_test_cli(tmp_path / "out", "--protocol", "pb-sync", "--nemesis", "kill", "--time", "8",
                       "--seed", "4")
    assert run.code == 0, run.output[-4000:]
    report = run.report
    assert set(report) >= REPORT_FIELDS
    assert report["pass"] and report["linearizable"] is True and report["lost_acked_writes"] == 0
    assert report["acked_writes"] > 50 and not report["divergent"]
    first = report["nemesis_executed"][0]
    assert first["kind"] == "kill" and any(n.startswith("promoted node") for n in first["notes"])
    assert "PASS" in run.summary and "reproduce: replikv test --protocol pb-sync" in run.output
    _files_are_there(run.out)


def test_pb_async_local_reads_under_kill_run_and_report(tmp_path) -> None:
    run = run_test_cli(tmp_path / "out", "--protocol", "pb-async", "--read-level", "local", "--nemesis", "kill",
                       "--time", "8", "--seed", "4")
    report = run.report
    assert run.code == (0 if report["pass"] else 1), run.output[-4000:]
    assert report["model"] == "read-your-writes" and isinstance(report["stale_reads"], int)
    by_name = {c["name"]: c for c in report["checks"]}
    assert not by_name["no_lost_acked_writes"]["promised"] and not by_name["read-your-writes"]["promised"]
    if report["lost_acked_writes"]:
        assert "acknowledged write" in run.summary
    _files_are_there(run.out)


def test_raft_stays_linearizable_when_the_leader_is_partitioned(tmp_path) -> None:
    run = run_test_cli(tmp_path / "out", "--protocol", "raft", "--nemesis", "partition", "--time", "8",
                       "--seed", "8")
    assert run.code == 0, run.output[-4000:]
    report = run.report
    assert report["linearizable"] is True and report["stale_reads"] == 0 and report["lost_acked_writes"] == 0
    assert report["nemesis_executed"][0]["kind"] == "partition"


def test_the_planted_stale_read_bug_is_caught(tmp_path) -> None:
    # 12 s: seed 8 partitions the leader at 1.0 s and again at 6.7 s. With 8 s only the
    # first window ran, and on a loaded machine the leader was not yet known at 1.0 s, so
    # the nemesis fell back to a follower and the bug had no chance to show (CI, once).
    # 24 clients, 8 per node: the deposed leader's clients spend most of a window stuck
    # in writes that cannot commit (1.5 s attempts), so with 8 clients (2-3 per node) a
    # window could see only 3 reads there, none stale (CI, once); with 8 per node runs
    # here showed 21 and 34 stale reads.
    run = run_test_cli(tmp_path / "out", "--protocol", "raft+stale-reads", "--nemesis", "partition", "--time", "12",
                       "--seed", "8", "--keys", "3", "--ops-per-key", "1000", "--clients", "24")
    assert run.code == 1, run.output[-4000:]
    assert run.report["linearizable"] is False and "linearizable" in run.report["failed"]
    assert "The history is not linearizable" in run.summary
    assert "FAIL" in run.summary


def test_ctrl_c_stops_every_node(tmp_path) -> None:
    out = tmp_path / "out"
    process = subprocess.Popen([*REPLIKV, "test", "--protocol", "raft", "--nemesis", "pause", "--time", "60",
                                "--seed", "1", "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if "nemesis: pause" in line or not line:
                break
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGUSR1)  # faulthandler: where is it stuck?
            time.sleep(1)
            process.kill()
            output, _ = process.communicate()
            pytest.fail(f"replikv test did not stop within 60 s of SIGINT:\n{output[-8000:]}")
        assert process.returncode == 130, output
        state = json.loads((out / "cluster" / "cluster.json").read_text())
        started = [entry for entry in state["nodes"] if entry["pid"]]
        assert not any(processes.is_alive(e["pid"], e["data_dir"]) for e in started)
        assert "interrupted: the cluster was stopped" in output
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        kill_recorded(out / "cluster")


@pytest.mark.slow
def test_acceptance_pb_sync_kill_and_pause_30s(tmp_path) -> None:
    run = run_test_cli(tmp_path / "out", "--protocol", "pb-sync", "--nemesis", "kill,pause", "--time", "30",
                       "--seed", "1", timeout_s=300)
    assert run.code == 0, run.summary if (run.out / "summary.txt").exists() else run.output[-4000:]


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(1, 11))
def test_acceptance_raft_every_nemesis_60s(tmp_path, seed: int) -> None:
    run = run_test_cli(tmp_path / "out", "--protocol", "raft", "--nemesis", "kill,pause,partition,restart-all",
                       "--time", "60", "--seed", str(seed), timeout_s=400)
    assert run.code == 0, run.summary if (run.out / "summary.txt").exists() else run.output[-4000:]
