"""The WAL byte format: frames, the torn-tail/corruption scan, the record codec."""

from __future__ import annotations

import struct

import crc32c
import pytest

from replikv.core.errors import CorruptStorage
from replikv.core.messages import Record
from replikv.storage.codec import (
    HEADER_SIZE,
    MAGIC,
    RecordCodec,
    frame,
    frame_all,
    read_image,
    scan,
)


class TermVote(Record, frozen=True):
    term: int
    voted_for: int | None


class LogEntry(Record, frozen=True):
    index: int
    term: int
    data: str


PAYLOADS = [b"first", b"", b"x" * 300, bytes(range(256))]


def framed(payloads: list[bytes]) -> bytes:
    return b"".join(frame(p) for p in payloads)


def test_frame_layout_is_length_crc_type_payload() -> None:
    data = frame(b"hello")
    length, crc, frame_type = struct.unpack("<IIB", data[:HEADER_SIZE])
    assert (length, frame_type, data[HEADER_SIZE:]) == (5, 1, b"hello")
    assert crc == crc32c.crc32c(b"\x01hello")


def test_frame_rejects_type_zero() -> None:
    with pytest.raises(ValueError, match="frame type"):
        frame(b"x", type=0)


def test_scan_round_trip() -> None:
    data = framed(PAYLOADS)
    result = scan(data)
    assert result.payloads == PAYLOADS
    assert result.good_length == len(data)
    assert result.problem is None


def test_scan_of_nothing_is_empty() -> None:
    assert scan(b"") == ([], 0, None)


def test_torn_at_every_byte_of_the_last_frame() -> None:
    head = framed(PAYLOADS[:-1])
    last = frame(PAYLOADS[-1])
    for cut in range(len(last)):
        result = scan(head + last[:cut])
        assert result.payloads == PAYLOADS[:-1], cut
        assert result.good_length == len(head)
        if cut:
            assert result.problem is not None and result.problem.kind == "torn", cut
            assert result.problem.offset == len(head)


def test_zero_filled_tail_is_torn() -> None:
    head = framed(PAYLOADS)
    for zeros in (1, HEADER_SIZE, 4096):
        result = scan(head + bytes(zeros))
        assert result.payloads == PAYLOADS
        assert result.problem is not None and result.problem.kind == "torn"


def test_partly_written_last_frame_followed_by_zeros_is_torn() -> None:
    head = framed(PAYLOADS[:2])
    last = bytearray(frame(b"y" * 100))
    last[50:] = bytes(len(last) - 50)  # the end of the write never reached the disk
    result = scan(head + bytes(last) + bytes(512))
    assert result.payloads == PAYLOADS[:2]
    assert result.problem is not None and result.problem.kind == "torn"


def test_bad_final_frame_extending_to_eof_is_torn() -> None:
    head = framed(PAYLOADS[:2])
    last = bytearray(frame(b"z" * 40))
    last[-1] ^= 0xFF
    result = scan(head + bytes(last))
    assert result.payloads == PAYLOADS[:2]
    assert result.problem is not None and result.problem.kind == "torn"


def test_every_flipped_byte_of_a_middle_frame_is_corruption() -> None:
    before, middle, after = framed(PAYLOADS[:1]), frame(b"middle-record" * 3), framed(PAYLOADS[1:])
    for position in range(len(middle)):
        damaged = bytearray(middle)
        damaged[position] ^= 0xFF
        result = scan(before + bytes(damaged) + after)
        assert result.payloads == PAYLOADS[:1], position
        assert result.problem is not None, position
        assert result.problem.kind == "corrupt", (position, result.problem)
        assert result.problem.offset == len(before)


@pytest.mark.parametrize("flip", [0x01, 0x10, 0x80])
def test_single_bit_flips_in_a_middle_frame_are_corruption(flip: int) -> None:
    before, middle, after = framed(PAYLOADS[:2]), frame(b"m" * 20), framed(PAYLOADS[2:])
    for position in range(len(middle)):
        damaged = bytearray(middle)
        damaged[position] ^= flip
        problem = scan(before + bytes(damaged) + after).problem
        assert problem is not None and problem.kind == "corrupt", (position, problem)


def test_length_past_eof_with_valid_frames_behind_is_corruption() -> None:
    """A damaged length can make a middle frame look incomplete; the frames behind it
    show that acknowledged records follow, so this must not be truncated as torn."""
    middle = bytearray(frame(b"abc"))
    middle[3] = 0x01  # length += 16 MiB: beyond the end of the data, below the bound
    data = framed(PAYLOADS[:1]) + bytes(middle) + framed(PAYLOADS[1:])
    problem = scan(data).problem
    assert problem is not None and problem.kind == "corrupt"
    assert "valid record follows" in problem.reason


def test_oversized_length_is_corruption_even_at_the_tail() -> None:
    header = struct.pack("<IIB", 1000, 0, 1)
    result = scan(framed(PAYLOADS) + header + b"q" * 10, max_record_bytes=999)
    assert result.payloads == PAYLOADS
    assert result.problem is not None and result.problem.kind == "corrupt"
    assert "exceeds max_record_bytes=999" in result.problem.reason


def test_unknown_type_with_a_good_crc_is_corruption() -> None:
    result = scan(framed(PAYLOADS) + frame(b"future", type=7))
    assert result.problem is not None and result.problem.kind == "corrupt"
    assert "unknown frame type 7" in result.problem.reason


def test_frame_all_refuses_oversized_payload_before_writing() -> None:
    with pytest.raises(ValueError, match="record 1 is 11 bytes"):
        frame_all([b"ok", b"x" * 11], max_record_bytes=10)


def test_read_image_names_the_place_and_file_offset() -> None:
    data = bytearray(MAGIC + framed(PAYLOADS))
    offset = len(MAGIC) + len(frame(PAYLOADS[0])) + HEADER_SIZE - 1  # type byte of frame 2
    data[offset] ^= 0x02
    with pytest.raises(CorruptStorage) as info:
        read_image(bytes(data), "/data/wal-1.log", 1 << 20)
    message = str(info.value)
    assert message.startswith(
        f"/data/wal-1.log: bad record at offset {len(MAGIC) + len(frame(PAYLOADS[0]))}:"
    )
    assert "refuses to start" in message and "--rejoin" in message and "catches up from its peers" in message


def test_read_image_rejects_a_foreign_file() -> None:
    with pytest.raises(CorruptStorage, match="not a replikv WAL"):
        read_image(b"PK\x03\x04 a zip file", "f", 100)


def test_record_codec_round_trips_a_tagged_union() -> None:
    codec = RecordCodec((TermVote, LogEntry))
    records = [TermVote(term=3, voted_for=2), LogEntry(index=1, term=3, data="é\x00")]
    assert codec.decode_all(codec.encode_all(records)) == records


def test_record_codec_decode_error_is_corrupt_storage() -> None:
    codec = RecordCodec((TermVote, LogEntry))
    with pytest.raises(CorruptStorage, match=r"node-1 \(record #1\)"):
        codec.decode_all([codec.encode(TermVote(term=1, voted_for=None)), b"\xc1garbage"], "node-1")


def test_record_codec_refuses_foreign_records() -> None:
    class Other(Record, frozen=True):
        x: int

    with pytest.raises(TypeError, match="Other"):
        RecordCodec((TermVote,)).encode(Other(x=1))
    with pytest.raises(TypeError):
        RecordCodec((int,))  # type: ignore[arg-type]


def test_frame_all_marks_every_record_but_the_last_as_continued() -> None:
    data = frame_all([b"a", b"b", b"c"])
    types = [data[i * (HEADER_SIZE + 1) + HEADER_SIZE - 1] for i in range(3)]
    assert types == [2, 2, 1]
    assert scan(data).payloads == [b"a", b"b", b"c"]


def test_an_append_cut_anywhere_is_dropped_whole() -> None:
    head = frame_all([b"kept-1", b"kept-2"])
    group = frame_all([b"one", b"two", b"three"])
    for cut in range(1, len(group)):
        result = scan(head + group[:cut])
        assert (result.payloads, result.good_length) == ([b"kept-1", b"kept-2"], len(head)), cut
        assert result.problem is not None and result.problem.kind == "torn"
        assert result.problem.offset == len(head)


def test_damage_inside_an_earlier_append_is_corruption() -> None:
    group = bytearray(frame_all([b"one", b"two", b"three"]))
    group[HEADER_SIZE + 1] ^= 0x40  # the payload of "one"
    result = scan(bytes(group) + frame_all([b"later"]))
    assert result.problem is not None and result.problem.kind == "corrupt"
    assert result.problem.offset == 0
