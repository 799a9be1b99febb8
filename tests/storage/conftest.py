"""Fixtures for the storage tests: a WAL factory over both implementations."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from replikv.storage import FileWAL, MemoryWAL


class Reopener:
    """Opens a WAL, and "restarts" it: a new object over what the old one left behind."""

    def __init__(self, kind: str, directory: Path) -> None:
        self.kind = kind
        self.directory = directory
        self._open: list[FileWAL | MemoryWAL] = []

    def open(self, **options: object) -> FileWAL | MemoryWAL:
        if self.kind == "file":
            wal: FileWAL | MemoryWAL = FileWAL(self.directory, **options)  # type: ignore[arg-type]
        else:
            image = self._open[-1].image if self._open else b""  # type: ignore[union-attr]
            wal = MemoryWAL(image, **options)  # type: ignore[arg-type]
        self._open.append(wal)
        return wal

    def restart(self, wal: FileWAL | MemoryWAL, **options: object) -> FileWAL | MemoryWAL:
        wal.close()
        return self.open(**options)

    def close_all(self) -> None:
        for wal in self._open:
            wal.close()


@pytest.fixture(params=["file", "memory"])
def reopener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Reopener]:
    opener = Reopener(request.param, tmp_path / "data")
    yield opener
    opener.close_all()


@pytest.fixture
def count_fsyncs(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Counts ``os.fsync`` calls (the file WAL is the only caller)."""
    import os

    calls: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    return lambda: len(calls)
