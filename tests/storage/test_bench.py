"""The WAL benchmark runs and reports every case with sane numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from replikv.storage.bench import CASES, run_wal_bench


def test_bench_reports_every_case(tmp_path: Path) -> None:
    result = run_wal_bench(tmp_path, seconds=0.02, record_bytes=64, snapshot_bytes=4096)
    for policy, group in CASES:
        case = result[f"{policy}_x{group}"]
        assert case["appends"] >= 1
        assert case["records_per_s"] == pytest.approx(case["appends_per_s"] * group, rel=0.01)
        assert case["mb_per_s"] > 0
    assert result["replace_snapshot_ms"] >= 0
    assert result["settings"]["under"] == str(tmp_path)
    assert list(tmp_path.iterdir()) == []  # cleans up after itself


def test_bench_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        run_wal_bench(seconds=0)
