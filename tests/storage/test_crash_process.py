"""Real processes: a writer SIGKILLed mid-stream loses no acknowledged append, and a
second process cannot open a directory in use. Every child is bounded by a timeout and
killed in ``finally``."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from replikv.storage import FileWAL, StorageLocked

pytestmark = pytest.mark.process

DEADLINE_S = 30.0

WRITER = r"""
import sys
from replikv.storage import FileWAL

def payload(i):
    return (b"%08d:" % i) * (1 + i % 7)

wal = FileWAL(sys.argv[1], fsync="always")
count = len(wal.recover())
print("ready", count, flush=True)
appends = 0
while True:
    group = [payload(count + k) for k in range(1 + appends % 5)]
    wal.append(group)
    count += len(group)
    appends += 1
    print(count, flush=True)  # acknowledged: append() returned
    if appends % 97 == 0:  # compact now and then: restate everything, atomically
        wal.replace([payload(i) for i in range(count)])
"""

HOLDER = r"""
import sys
from replikv.storage import FileWAL
wal = FileWAL(sys.argv[1])
print("locked", flush=True)
sys.stdin.readline()
"""


def payload(i: int) -> bytes:
    return (b"%08d:" % i) * (1 + i % 7)


def _child(script: str, directory: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", script, str(directory)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


class LineReader:
    """Reads a child's stdout line by line, never blocking past the deadline."""

    def __init__(self, proc: subprocess.Popen[bytes], deadline: float) -> None:
        assert proc.stdout is not None
        self._fd = proc.stdout.fileno()
        self._proc = proc
        self._deadline = deadline
        self._buffer = b""

    def lines(self) -> Iterator[str]:
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                yield line.decode()
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"child {self._proc.pid} too slow")
            ready, _, _ = select.select([self._fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._fd, 65536)
            if not chunk:
                return
            self._buffer += chunk


def _boundaries(start: int, upto: int) -> set[int]:
    """Record counts at which the writer's appends end (its k-th append adds 1 + k % 5)."""
    counts, count, k = {start}, start, 0
    while count < upto:
        count += 1 + k % 5
        counts.add(count)
        k += 1
    return counts


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=DEADLINE_S)


@pytest.mark.timeout(120)
def test_sigkill_mid_stream_loses_no_acknowledged_append(tmp_path: Path) -> None:
    deadline = time.monotonic() + DEADLINE_S
    acknowledged = 0
    for kill_after in (40, 450, 1200):
        start = acknowledged
        proc = _child(WRITER, tmp_path)
        try:
            lines = LineReader(proc, deadline).lines()
            assert next(lines) == f"ready {acknowledged}"
            for line in lines:
                acknowledged = max(acknowledged, int(line))
                if acknowledged >= kill_after:
                    proc.send_signal(signal.SIGKILL)
                    break
            for line in lines:  # counts printed before the kill landed are acknowledged too
                acknowledged = max(acknowledged, int(line))
            assert proc.wait(timeout=DEADLINE_S) == -signal.SIGKILL
        finally:
            _stop(proc)
        with FileWAL(tmp_path) as wal:
            recovered = wal.recover()
        assert len(recovered) >= acknowledged, "an acknowledged append was lost"
        assert recovered == [payload(i) for i in range(len(recovered))], "recovered is not a prefix"
        assert len(recovered) in _boundaries(start, len(recovered)), "half an append survived"
        acknowledged = len(recovered)  # the next writer resumes from what survived


@pytest.mark.timeout(60)
def test_a_second_process_cannot_open_a_directory_in_use(tmp_path: Path) -> None:
    proc = _child(HOLDER, tmp_path)
    try:
        lines = LineReader(proc, time.monotonic() + DEADLINE_S).lines()
        assert next(lines) == "locked"
        with pytest.raises(StorageLocked, match=f"pid {proc.pid} holds"):
            FileWAL(tmp_path)
        proc.communicate(b"\n", timeout=DEADLINE_S)
        FileWAL(tmp_path).close()  # free again once the holder exits
    finally:
        _stop(proc)
