"""``run_cluster_bench`` end to end on a real (small, short) cluster: every documented
field is there and consistent, and nothing is left behind."""

from __future__ import annotations

import tempfile

import pytest

from replikv import schemes
from replikv.bench.cluster_bench import run_cluster_bench
from replikv.cli.main import cli

pytestmark = [
    pytest.mark.process,
    pytest.mark.timeout(120),
    pytest.mark.skipif("serve" not in cli.commands, reason="`replikv serve` is not built yet"),
    pytest.mark.skipif("pb-async" not in schemes.available(), reason="pb-async is not built yet"),
]


def _consistent(figures: dict) -> None:
    assert figures["ops"] > 0
    assert figures["error_count"] == sum(figures["errors"].values()) == 0, figures["errors"]
    assert figures["reads"] + figures["writes"] == figures["ops"]
    assert figures["reads"] > 0 and figures["writes"] > 0
    assert sum(figures["timeline_ops_per_s"]) == figures["ops"]
    latency = figures["latency_us"]
    assert 0 < latency["p50"] <= latency["p99"] <= latency["p999"] <= latency["max"]


def test_short_run_reports_consistent_figures_and_cleans_up(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
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
    assert list(tmp_path.iterdir()) == []  # clusters stopped and wiped


def test_bad_options_are_refused_before_anything_starts() -> None:
    with pytest.raises(ValueError, match="read_ratio"):
        run_cluster_bench(protocol="pb-async", read_ratio=1.5, progress=False)
    with pytest.raises(ValueError, match="baseline must be"):
        run_cluster_bench(protocol="pb-async", baseline="memcached", progress=False)
