"""FileWAL's zeros written ahead of the last frame (issue 14): appends overwrite them,
one fsync still covers an append, a crash leaves them and recovery reads them as room,
not as a torn tail; a torn frame inside them is still cut and reported."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from replikv.storage import MAGIC, FileWAL, frame
from replikv.storage.file_wal import PREALLOCATE_BYTES, log_bytes

AHEAD = 256


def logical_size(payloads: list[bytes]) -> int:
    return len(MAGIC) + sum(len(frame(p)) for p in payloads)


def crashed_image(directory: Path, appends: list[list[bytes]], **options: object) -> bytes:
    """The current file's bytes as a crash right after ``appends`` leaves them (read
    before ``close``, which would trim the zeros)."""
    with FileWAL(directory, **options) as wal:  # type: ignore[arg-type]
        wal.recover()
        for payloads in appends:
            wal.append(payloads)
        return wal.path.read_bytes()


def test_an_append_is_followed_by_zeros_and_close_trims_them(
    tmp_path: Path, count_fsyncs: Callable[[], int]
) -> None:
    with FileWAL(tmp_path, preallocate_bytes=AHEAD) as wal:
        wal.recover()
        before = count_fsyncs()
        wal.append([b"one", b"two"])
        assert count_fsyncs() - before == 1  # the zeros ride on the append's own fsync
        image = wal.path.read_bytes()
        size = logical_size([b"one", b"two"])
        assert wal.size_bytes == size
        assert len(image) == size + AHEAD and image[size:] == bytes(AHEAD)
        wal.append([b"three"])  # inside the zeros: no more are written
        assert len(wal.path.read_bytes()) == size + AHEAD
        path = wal.path
    assert path.stat().st_size == logical_size([b"one", b"two", b"three"])


def test_an_append_past_the_zeros_writes_more_behind_it(tmp_path: Path) -> None:
    big = b"x" * (3 * AHEAD)
    with FileWAL(tmp_path, preallocate_bytes=AHEAD) as wal:
        wal.recover()
        wal.append([b"small"])
        wal.append([big])
        size = logical_size([b"small", big])
        image = wal.path.read_bytes()
        assert len(image) == size + AHEAD and image[size:] == bytes(AHEAD)
    with FileWAL(tmp_path) as wal:
        assert wal.recover() == [b"small", big]


def test_after_a_crash_the_zeros_are_room_not_a_torn_tail(tmp_path: Path) -> None:
    image = crashed_image(tmp_path / "first", [[b"a"], [b"b", b"c"]], preallocate_bytes=AHEAD)
    assert len(image) > logical_size([b"a", b"b", b"c"])
    directory = tmp_path / "second"
    directory.mkdir()
    path = directory / "wal-0000000000000001.log"
    path.write_bytes(image)
    with FileWAL(directory, preallocate_bytes=AHEAD) as wal:
        assert wal.recover() == [b"a", b"b", b"c"]
        assert wal.torn_tail is None
        assert wal.size_bytes == logical_size([b"a", b"b", b"c"])
        assert len(path.read_bytes()) == len(image)  # kept, and appended over in place
        wal.append([b"d"])
        assert len(path.read_bytes()) == len(image)
    with FileWAL(directory) as wal:
        assert wal.recover() == [b"a", b"b", b"c", b"d"]


@pytest.mark.parametrize("cut", [1, 5, 9, 12])
def test_a_torn_frame_inside_the_zeros_is_cut_and_reported(tmp_path: Path, cut: int) -> None:
    """A crash in the middle of an append over the zeros: part of its frame, then zeros.
    The frame is cut (and reported) exactly as a torn append to a bare file is."""
    image = crashed_image(tmp_path / "first", [[b"kept"]], preallocate_bytes=AHEAD)
    good = logical_size([b"kept"])
    torn = frame(b"the append that was torn")[:cut]
    directory = tmp_path / "second"
    directory.mkdir()
    path = directory / "wal-0000000000000001.log"
    path.write_bytes(image[:good] + torn + image[good + len(torn):])
    with FileWAL(directory, preallocate_bytes=AHEAD) as wal:
        assert wal.recover() == [b"kept"]
        assert wal.torn_tail is not None and wal.torn_tail.offset == good
        assert wal.torn_tail.records == 1
        assert len(path.read_bytes()) == good  # truncated, then written ahead again on append
        wal.append([b"next"])
    with FileWAL(directory) as wal:
        assert wal.recover() == [b"kept", b"next"]


def test_policy_never_writes_no_zeros(tmp_path: Path) -> None:
    image = crashed_image(tmp_path, [[b"a"], [b"b"]], fsync="never", preallocate_bytes=AHEAD)
    assert len(image) == logical_size([b"a", b"b"])


def test_zeros_follow_a_replace_too(tmp_path: Path) -> None:
    with FileWAL(tmp_path, preallocate_bytes=AHEAD) as wal:
        wal.recover()
        wal.append([b"old"])
        wal.replace([b"snapshot"])
        assert len(wal.path.read_bytes()) == logical_size([b"snapshot"])
        wal.append([b"new"])
        assert len(wal.path.read_bytes()) == logical_size([b"snapshot", b"new"]) + AHEAD
    with FileWAL(tmp_path) as wal:
        assert wal.recover() == [b"snapshot", b"new"]


def test_a_negative_preallocation_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="preallocate_bytes"):
        FileWAL(tmp_path, preallocate_bytes=-1)


def test_log_bytes_leaves_out_the_zeros_written_ahead(tmp_path: Path) -> None:
    image = crashed_image(tmp_path, [[b"a"], [b"b" * 5000]], preallocate_bytes=PREALLOCATE_BYTES)
    path = tmp_path / "image"
    path.write_bytes(image)
    assert len(image) == logical_size([b"a"]) + PREALLOCATE_BYTES  # the second append is inside the zeros
    assert log_bytes(path) == logical_size([b"a", b"b" * 5000])
    path.write_bytes(image[:100] + bytes(3 * PREALLOCATE_BYTES))  # zeros longer than one read
    assert log_bytes(path) == 100
    path.write_bytes(b"")
    assert log_bytes(path) == 0


def test_a_disk_too_full_for_the_zeros_still_takes_the_append(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """ENOSPC while writing the zeros (not the frames): the append succeeds, durable, and
    the WAL goes on extending the file; it is not poisoned."""
    real_pwrite = os.pwrite

    def full_for_zeros(fd: int, data: bytes | memoryview, offset: int) -> int:
        if len(data) == AHEAD and not any(bytes(data)):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_pwrite(fd, data, offset)

    with FileWAL(tmp_path, preallocate_bytes=AHEAD) as wal:
        wal.recover()
        with monkeypatch.context() as patch:
            patch.setattr(os, "pwrite", full_for_zeros)
            wal.append([b"fits"])
            wal.append([b"fits too"])
        assert len(wal.path.read_bytes()) == logical_size([b"fits", b"fits too"])
        assert "cannot write 256 bytes of zeros ahead" in caplog.text
        wal.append([b"room again"])  # space came back: zeros ahead again
        assert len(wal.path.read_bytes()) == logical_size([b"fits", b"fits too", b"room again"]) + AHEAD
    with FileWAL(tmp_path) as wal:
        assert wal.recover() == [b"fits", b"fits too", b"room again"]
