"""WAL throughput on this machine: appends/s and MB/s per fsync policy and group size.

``run_wal_bench()`` is what ``replikv bench wal`` prints. Each case appends records of
``record_bytes`` for about ``seconds`` into a fresh directory (under ``directory``, or
the system temp directory) and reports rates over the bytes actually written (frames
included). The figures say what group commit buys: under ``always`` one fsync per
append, so 64 records per append cost about what 1 does.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from replikv.storage.file_wal import FileWAL

CASES: tuple[tuple[str, int], ...] = (
    ("always", 1),
    ("always", 64),
    ("batch", 1),
    ("never", 1),
    ("never", 64),
)


def _run_case(
    directory: Path, policy: str, group: int, record_bytes: int, seconds: float
) -> dict[str, float]:
    payloads = [os.urandom(record_bytes) for _ in range(group)]
    with FileWAL(directory, fsync=policy, batch_ms=10.0) as wal:
        wal.recover()
        start_bytes = wal.size_bytes
        appends = 0
        started = time.perf_counter()
        deadline = started + seconds
        now = started
        while now < deadline:
            wal.append(payloads)
            appends += 1
            now = time.perf_counter()
        elapsed = now - started
        written = wal.size_bytes - start_bytes
    return {
        "appends_per_s": round(appends / elapsed, 1),
        "records_per_s": round(appends * group / elapsed, 1),
        "mb_per_s": round(written / elapsed / 1e6, 3),
        "mean_append_us": round(elapsed / appends * 1e6, 1),
        "appends": appends,
    }


def _replace_ms(directory: Path, snapshot_bytes: int) -> float:
    """Time of one atomic replace (temp, fsync, rename, fsync dir) of a snapshot."""
    with FileWAL(directory) as wal:
        wal.recover()
        snapshot = os.urandom(snapshot_bytes)
        started = time.perf_counter()
        wal.replace([snapshot])
        return round((time.perf_counter() - started) * 1000, 2)


def run_wal_bench(
    directory: str | os.PathLike[str] | None = None,
    *,
    seconds: float = 1.0,
    record_bytes: int = 128,
    snapshot_bytes: int = 8 << 20,
) -> dict[str, Any]:
    """Measure every case in ``CASES`` plus one snapshot replace; returns plain data."""
    if seconds <= 0 or record_bytes < 1:
        raise ValueError("seconds must be > 0 and record_bytes >= 1")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="replikv-walbench-", dir=directory) as root:
        for policy, group in CASES:
            case_dir = Path(root) / f"{policy}-x{group}"
            results[f"{policy}_x{group}"] = _run_case(
                case_dir, policy, group, record_bytes, seconds
            )
        results["replace_snapshot_ms"] = _replace_ms(Path(root) / "replace", snapshot_bytes)
        results["settings"] = {
            "under": str(Path(root).parent),
            "record_bytes": record_bytes,
            "seconds_per_case": seconds,
            "snapshot_bytes": snapshot_bytes,
        }
    return results


if __name__ == "__main__":
    import json

    print(json.dumps(run_wal_bench(), indent=2))
