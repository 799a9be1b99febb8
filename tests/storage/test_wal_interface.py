"""What every WAL implementation must do (FileWAL and its in-memory twin alike)."""

from __future__ import annotations

import pytest

from replikv.core.errors import ConfigError
from replikv.storage import open_wal

from .conftest import Reopener


def test_fresh_wal_recovers_nothing(reopener: Reopener) -> None:
    wal = reopener.open()
    assert wal.recover() == []
    assert wal.record_count == 0


def test_appends_survive_a_restart_in_order(reopener: Reopener) -> None:
    wal = reopener.open()
    wal.recover()
    wal.append([b"a", b"bb"])
    wal.append([])
    wal.append([b"ccc"])
    assert wal.record_count == 3
    size = wal.size_bytes
    wal = reopener.restart(wal)
    assert wal.recover() == [b"a", b"bb", b"ccc"]
    assert (wal.record_count, wal.size_bytes) == (3, size)


def test_replace_drops_everything_before(reopener: Reopener) -> None:
    wal = reopener.open()
    wal.recover()
    wal.append([b"old-1", b"old-2"])
    wal.replace([b"snapshot"])
    wal.append([b"after"])
    assert wal.record_count == 2
    wal = reopener.restart(wal)
    assert wal.recover() == [b"snapshot", b"after"]


def test_replace_with_nothing_empties_the_log(reopener: Reopener) -> None:
    wal = reopener.open()
    wal.recover()
    wal.append([b"x"])
    wal.replace([])
    wal = reopener.restart(wal)
    assert wal.recover() == []


def test_oversized_record_is_refused_and_loses_nothing(reopener: Reopener) -> None:
    wal = reopener.open(max_record_bytes=16)
    wal.recover()
    wal.append([b"kept"])
    with pytest.raises(ValueError, match="max_record_bytes=16"):
        wal.append([b"fine", b"x" * 17])
    with pytest.raises(ValueError, match="max_record_bytes=16"):
        wal.replace([b"x" * 17])
    wal.append([b"still-works"])
    wal = reopener.restart(wal, max_record_bytes=16)
    assert wal.recover() == [b"kept", b"still-works"]


def test_writing_before_recover_is_an_error(reopener: Reopener) -> None:
    wal = reopener.open()
    with pytest.raises(RuntimeError, match="recover"):
        wal.append([b"x"])
    wal.recover()
    with pytest.raises(RuntimeError, match="already"):
        wal.recover()


def test_closed_wal_refuses_writes(reopener: Reopener) -> None:
    wal = reopener.open()
    wal.recover()
    wal.close()
    wal.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        wal.append([b"x"])


def test_unknown_policy_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="always, batch, never"):
        open_wal(tmp_path, "sometimes")
    with pytest.raises(ConfigError):
        open_wal(None, "sometimes")


def test_open_wal_picks_the_implementation(tmp_path) -> None:
    with open_wal(None) as memory:
        assert type(memory).__name__ == "MemoryWAL"
    with open_wal(tmp_path / "d", "batch", batch_ms=5) as durable:
        assert (type(durable).__name__, durable.policy, durable.batch_ms) == ("FileWAL", "batch", 5)
