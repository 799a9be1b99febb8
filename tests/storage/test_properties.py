"""Property tests: any history of appends, replaces, restarts, tears and bit flips."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from replikv.core.errors import CorruptStorage
from replikv.storage import MAGIC, FileWAL, MemoryWAL, frame
from replikv.storage.codec import frame_all, read_image

payload = st.binary(max_size=64) | st.builds(
    lambda n, b: bytes([b]) * n, st.integers(0, 300), st.integers(0, 255)
)
batch = st.lists(payload, max_size=8)


class WALHistory(RuleBasedStateMachine):
    """A model (a list) against a FileWAL or MemoryWAL, with restarts in between."""

    kind = "file"

    def __init__(self) -> None:
        super().__init__()
        self.groups: list[list[bytes]] = []  # the non-empty appends, in order
        self.directory = Path(tempfile.mkdtemp(prefix="wal-prop-"))
        self.wal = self._open()
        assert self.wal.recover() == []

    def _open(self) -> FileWAL | MemoryWAL:
        if self.kind == "file":
            return FileWAL(self.directory, fsync="never")
        previous = getattr(self, "wal", None)
        return MemoryWAL(previous.image if previous is not None else b"")

    @rule(payloads=batch)
    def append(self, payloads: list[bytes]) -> None:
        self.wal.append(payloads)
        if payloads:
            self.groups.append(list(payloads))

    @rule(payloads=batch)
    def replace(self, payloads: list[bytes]) -> None:
        self.wal.replace(payloads)
        self.groups = [list(payloads)] if payloads else []

    @property
    def model(self) -> list[bytes]:
        return [payload for group in self.groups for payload in group]

    @rule()
    def restart(self) -> None:
        self.wal.close()
        self.wal = self._open()
        assert self.wal.recover() == self.model

    @precondition(lambda self: self.kind == "file")
    @rule(data=st.data())
    def tear_the_last_record_and_restart(self, data: st.DataObject) -> None:
        """A crash mid-append: the last append loses some of its bytes, so all of it."""
        if not self.groups:
            return
        self.wal.close()
        path = self.wal.path  # type: ignore[union-attr]
        size = sum(len(frame(p)) for p in self.groups[-1])
        cut = data.draw(st.integers(1, size), label="cut")
        path.write_bytes(path.read_bytes()[:-cut])
        self.groups.pop()
        self.wal = self._open()
        assert self.wal.recover() == self.model

    @invariant()
    def counts_agree(self) -> None:
        assert self.wal.record_count == len(self.model)

    def teardown(self) -> None:
        self.wal.close()
        shutil.rmtree(self.directory, ignore_errors=True)


class FileWALHistory(WALHistory):
    kind = "file"


class MemoryWALHistory(WALHistory):
    kind = "memory"


_settings = settings(max_examples=40, stateful_step_count=20, deadline=None, derandomize=True)
TestFileWALHistory = FileWALHistory.TestCase
TestFileWALHistory.settings = _settings
TestMemoryWALHistory = MemoryWALHistory.TestCase
TestMemoryWALHistory.settings = _settings


def _image(payloads: list[bytes]) -> bytes:
    return MAGIC + b"".join(frame(p) for p in payloads)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(payloads=st.lists(payload, max_size=10), data=st.data())
def test_any_cut_recovers_exactly_the_whole_records_before_it(
    payloads: list[bytes], data: st.DataObject
) -> None:
    image = _image(payloads)
    cut = data.draw(st.integers(len(MAGIC), len(image)), label="cut")
    whole, end = 0, len(MAGIC)
    for p in payloads:
        if end + len(frame(p)) > cut:
            break
        end += len(frame(p))
        whole += 1
    state = read_image(image[:cut], "img", 1 << 20)
    assert state.payloads == payloads[:whole]
    assert state.good_length == end


@settings(max_examples=200, deadline=None, derandomize=True)
@given(groups=st.lists(st.lists(payload, min_size=1, max_size=4), max_size=6), data=st.data())
def test_any_cut_keeps_exactly_the_whole_appends_before_it(
    groups: list[list[bytes]], data: st.DataObject
) -> None:
    image = MAGIC + b"".join(frame_all(group) for group in groups)
    cut = data.draw(st.integers(len(MAGIC), len(image)), label="cut")
    kept: list[bytes] = []
    end = len(MAGIC)
    for group in groups:
        if end + len(frame_all(group)) > cut:
            break
        end += len(frame_all(group))
        kept.extend(group)
    state = read_image(image[:cut], "img", 1 << 20)
    assert (state.payloads, state.good_length) == (kept, end)


@settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(payloads=st.lists(payload, min_size=1, max_size=6), data=st.data())
def test_a_flipped_byte_is_never_silently_accepted(
    payloads: list[bytes], data: st.DataObject
) -> None:
    """A damaged record before the last one always stops recovery; damage in the last
    one can only look like a torn write (it is dropped, nothing else is)."""
    image = bytearray(_image(payloads))
    index = data.draw(st.integers(0, len(payloads) - 1), label="record")
    start = len(MAGIC) + sum(len(frame(p)) for p in payloads[:index])
    position = data.draw(
        st.integers(start, start + len(frame(payloads[index])) - 1), label="position"
    )
    image[position] ^= data.draw(st.integers(1, 255), label="mask")
    try:
        state = read_image(bytes(image), "img", 1 << 20)
    except CorruptStorage as exc:
        assert f"img: bad record at offset {start}:" in str(exc)
        return
    assert index == len(payloads) - 1, "damage before the tail was accepted"
    assert state.payloads == payloads[:-1]


@pytest.mark.parametrize("kind", ["file", "memory"])
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=st.lists(st.tuples(st.sampled_from(["append", "replace"]), batch), max_size=12))
def test_any_appends_and_replaces_then_recover(
    kind: str, ops: list[tuple[str, list[bytes]]], tmp_path: Path
) -> None:
    directory = Path(tempfile.mkdtemp(dir=tmp_path))
    wal: FileWAL | MemoryWAL = FileWAL(directory, fsync="never") if kind == "file" else MemoryWAL()
    wal.recover()
    expected: list[bytes] = []
    for op, payloads in ops:
        getattr(wal, op)(payloads)
        expected = expected + payloads if op == "append" else list(payloads)
    wal.close()
    again = FileWAL(directory) if kind == "file" else MemoryWAL(wal.image)  # type: ignore[union-attr]
    assert again.recover() == expected
    again.close()
