"""``run_cluster_bench`` end to end on a real (small, short) cluster: every documented
field is there and consistent, and nothing is left behind."""

from __future__ import annotations

import os
import shutil
import socket
import time

import pytest

from replikv.bench import cluster_bench
from replikv.bench.cluster_bench import run_cluster_bench
from replikv.bench.cpu import CpuMeter, cpu_seconds
from replikv.cluster import processes

pytestmark = [
    pytest.mark.process,
    pytest.mark.timeout(120),
]


def _consistent(figures: dict) -> None:
    assert figures["ops"] > 0
    assert figures["error_count"] == sum(figures["errors"].values()) == 0, figures["errors"]
    assert figures["reads"] + figures["writes"] == figures["ops"]
    assert figures["reads"] > 0 and figures["writes"] > 0
    assert sum(figures["timeline_ops_per_s"]) == figures["ops"]
    latency = figures["latency_us"]
    assert 0 < latency["p50"] <= latency["p99"] <= latency["p999"] <= latency["max"]


def test_short_run_reports_consistent_figures_and_cleans_up(bench_tmp) -> None:
    result = run_cluster_bench(protocol="pb-async", nodes=2, clients=4, duration=1.0, warmup=0.2,
                               fsync="never", progress=False, baseline="pb-async")
    assert (result["protocol"], result["nodes"], result["clients"], result["target"]) == ("pb-async", 2, 4, "leader")
    _consistent(result)
    assert result["ops_per_s"] == pytest.approx(result["ops"] / result["duration_s"], rel=1e-3)
    baseline = result["baseline"]
    assert baseline["kind"] == "pb-async-1-node-fsync-never"
    _consistent(baseline)
    ratio = result["ratio_to_baseline"]
    assert ratio["ops_per_s"] == pytest.approx(result["ops_per_s"] / baseline["ops_per_s"], rel=1e-3)
    assert ratio["p99"] == pytest.approx(result["latency_us"]["p99"] / baseline["latency_us"]["p99"], rel=1e-3)
    cpu = result["cpu_us_per_op"]  # every node's process and the driver's, over the window
    assert set(cpu["nodes"]) == {"1", "2"}
    assert all(value > 0 for value in cpu["nodes"].values()), cpu
    assert cpu["nodes_total"] == pytest.approx(sum(cpu["nodes"].values()), abs=0.2)
    assert cpu["driver"] > 0
    assert list(bench_tmp.iterdir()) == []  # clusters stopped and wiped


def test_bad_options_are_refused_before_anything_starts() -> None:
    with pytest.raises(ValueError, match="read_ratio"):
        run_cluster_bench(protocol="pb-async", read_ratio=1.5, progress=False)
    with pytest.raises(ValueError, match="baseline must be"):
        run_cluster_bench(protocol="pb-async", baseline="memcached", progress=False)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
def test_redis_baseline_leaves_no_process_behind(bench_tmp, monkeypatch) -> None:
    started: list[int] = []
    real_spawn = processes.spawn

    def spawn(argv, log_file):
        started.append(real_spawn(argv, log_file))
        return started[-1]

    monkeypatch.setattr(processes, "spawn", spawn)
    shape = cluster_bench.LoadShape(clients=2, duration_s=0.3, warmup_s=0.1)
    figures = cluster_bench._measure_baseline("redis-server", shape, None)
    assert figures["kind"] == "redis-server" and figures["ops"] > 0
    assert len(started) == 1 and not processes.is_alive(started[0])


def test_a_node_that_never_answers_cannot_hang_the_driver() -> None:
    with socket.socket() as silent:  # accepts connections (kernel backlog), never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        shape = cluster_bench.LoadShape(clients=3, duration_s=0.6, warmup_s=0.0, call_timeout_s=0.2)
        started = time.monotonic()
        result = cluster_bench._run_load("127.0.0.1", [port], shape, "silent", None)
    assert time.monotonic() - started < 5.0
    assert result.histogram.get_total_count() == 0
    assert result.errors.get("client-timeout", 0) >= 3


def test_cpu_meter_counts_the_window_only() -> None:
    """CPU burnt between start() and stop() is counted and divided by the ops; what is burnt
    after stop() is not; a process that is gone is ``None``, not an error."""
    meter = CpuMeter({"driver": "self", "gone": 2**22 + 12345})
    meter.start()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    meter.stop()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    used = meter.used_s()
    assert 0.25 <= used["driver"] <= 0.45, used
    assert used["gone"] is None
    per_op = meter.per_op_us(1000)
    assert per_op["driver"] == pytest.approx(used["driver"] * 1000, rel=1e-3)
    assert meter.per_op_us(0)["driver"] is None


def test_cpu_seconds_reads_a_process_name_with_spaces_and_parentheses(tmp_path, monkeypatch) -> None:
    stat = tmp_path / "stat"
    # proc(5): pid (comm) state ppid ... utime=field 14, stime=field 15
    stat.write_bytes(b"42 (a) b (c)) S 1 1 1 0 -1 0 0 0 0 0 250 50 0 0 20 0 1 0 0 0 0\n")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, mode="r", *a, **k: real_open(
        stat if path == "/proc/42/stat" else path, mode, *a, **k))
    assert cpu_seconds(42) == pytest.approx(300 / os.sysconf("SC_CLK_TCK"))
