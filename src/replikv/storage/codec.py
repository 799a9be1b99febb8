"""The WAL byte format: record codec, frames, and the scan that tells a torn tail from
corruption.

What may live here: pure functions and small classes over bytes. No files, no fsync
(``file_wal`` owns those), so the in-memory twin recovers through exactly the same code.

A WAL image is ``MAGIC`` followed by frames::

    offset  size  field
    0       4     length  payload length in bytes, unsigned little-endian
    4       4     crc     CRC32C (Castagnoli) over type byte + payload, little-endian
    8       1     type    1 = record that ends its append, 2 = record with more of the
                          same append after it (0 is never valid, so zeros never pass)
    9       len   payload one record, msgspec msgpack of a tagged ``core.Record`` struct

An append (one group commit) is all-or-nothing: its records are typed 2, 2, ..., 1, and
recovery keeps a run of type-2 records only when the type-1 record that closes it is
there too. So a crash mid-append never leaves half of a ``Persist`` behind.

Why a CRC per record and a torn-tail rule: a crash in the middle of an append leaves an
incomplete or garbled last frame (the write never returned, so nothing in it was
acknowledged), whereas damage *before* the tail means acknowledged state is gone. The
first is repaired by truncation, the second must stop the node (ARIES-style WAL
recovery; Raft §5.2 requires votes and entries to survive restarts, and a node that
silently forgot them could vote twice in a term).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import crc32c
import msgspec

from replikv.core.errors import CorruptStorage
from replikv.core.messages import Record

MAGIC = b"RKVWAL\x00\x01"
"""First bytes of every WAL file: format name and version 1."""

HEADER = struct.Struct("<IIB")
HEADER_SIZE = HEADER.size  # 9
TYPE_RECORD = 1
"""A record that closes its append (a lone record is an append of one)."""
TYPE_RECORD_CONTINUED = 2
"""A record whose append goes on in the next frame."""
KNOWN_TYPES = frozenset({TYPE_RECORD, TYPE_RECORD_CONTINUED})
DEFAULT_MAX_RECORD_BYTES = 256 << 20
"""Bound on one payload. A length field above it is corruption, not a reason to allocate."""
LENGTH_LIMIT = (1 << 32) - 1
LARGE_FIELD_BYTES = 1 << 20
"""``RecordCodec.encode_parts`` leaves a bytes field this large out of the copy."""
_EMPTY_BIN = b"\xc4\x00"
_BIN32 = struct.Struct(">BI")
_TYPE_BYTE = re.compile(b"[\\x01\\x02]")


def checksum(frame_type: int, payload: bytes | memoryview) -> int:
    """CRC32C over the type byte and the payload (the length is checked by the scan)."""
    return crc32c.crc32c(payload, crc32c.crc32c(bytes((frame_type,))))


def frame(payload: bytes, type: int = TYPE_RECORD) -> bytes:
    """One frame: header (length, CRC32C, type) then the payload."""
    if not 1 <= type <= 255:
        raise ValueError(f"frame type must be in 1..255, not {type}")
    if len(payload) > LENGTH_LIMIT:
        raise ValueError(f"payload of {len(payload)} bytes does not fit a 4-byte length")
    return HEADER.pack(len(payload), checksum(type, payload), type) + payload


def frame_header(parts: Sequence[bytes], type: int = TYPE_RECORD,
                 max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> bytes:
    """The header of a frame whose payload is ``parts`` joined, without joining them: a
    large payload (a snapshot) is written as header + parts with one ``writev`` and no
    copy (issue 14: each copy of a 40 MB snapshot held the GIL for ~25 ms)."""
    length = sum(len(part) for part in parts)
    if length > max_record_bytes:
        raise ValueError(f"a record is {length} bytes, above max_record_bytes={max_record_bytes}")
    if length > LENGTH_LIMIT:
        raise ValueError(f"payload of {length} bytes does not fit a 4-byte length")
    crc = crc32c.crc32c(bytes((type,)))
    for part in parts:
        crc = crc32c.crc32c(part, crc)
    return HEADER.pack(length, crc, type)


def frame_all(payloads: Iterable[bytes], max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> bytes:
    """Frames for a batch of payloads, joined (one write for a group commit); the batch
    is one all-or-nothing group (every frame but the last typed ``TYPE_RECORD_CONTINUED``).

    Raises ``ValueError`` before anything is written when a payload exceeds the bound,
    so bad input loses nothing and never produces a file that recovery would reject.
    """
    batch = list(payloads)
    parts: list[bytes] = []
    for index, payload in enumerate(batch):
        if len(payload) > max_record_bytes:
            raise ValueError(
                f"record {index} is {len(payload)} bytes, above max_record_bytes={max_record_bytes}"
            )
        last = index == len(batch) - 1
        parts.append(frame(bytes(payload), TYPE_RECORD if last else TYPE_RECORD_CONTINUED))
    return b"".join(parts)


class ScanProblem(NamedTuple):
    """Why a scan stopped early. ``kind`` is ``"torn"`` (safe to truncate at ``offset``)
    or ``"corrupt"`` (damage before the tail: refuse to start)."""

    kind: str
    offset: int
    reason: str
    records: int = 0
    """Records a torn tail drops: the complete records of an unclosed append, plus the
    damaged frame itself when it holds any non-zero byte."""


class ScanResult(NamedTuple):
    payloads: list[bytes]
    good_length: int
    """Bytes (from the start of ``data``) covered by valid frames."""
    problem: ScanProblem | None


def _frame_at(data: memoryview, offset: int, max_record_bytes: int) -> tuple[int, str | None]:
    """Check the frame at ``offset``: ``(end, None)`` when it is valid, else
    ``(declared end, why)``; the end is -1 when the header itself proves damage (an
    oversized length, a correct CRC on an unknown type) so no tear can explain it."""
    remaining = len(data) - offset
    if remaining < HEADER_SIZE:
        return len(data), f"incomplete header ({remaining} of {HEADER_SIZE} bytes)"
    length, crc, frame_type = HEADER.unpack_from(data, offset)
    if length > max_record_bytes:
        return -1, f"record length {length} exceeds max_record_bytes={max_record_bytes}"
    end = offset + HEADER_SIZE + length
    if end > len(data):
        return end, f"incomplete record ({remaining - HEADER_SIZE} of {length} payload bytes)"
    if checksum(frame_type, data[offset + HEADER_SIZE : end]) != crc:
        return end, "CRC32C mismatch"
    if frame_type not in KNOWN_TYPES:
        return -1, f"unknown frame type {frame_type} (written by a newer replikv?)"
    return end, None


def _all_zero(data: memoryview, start: int) -> bool:
    return not bytes(data[start:]).strip(b"\x00")


def _valid_frame_after(data: memoryview, start: int, max_record_bytes: int) -> int | None:
    """First offset >= ``start`` where a complete, valid frame begins (None if none).

    Used only on the failure path: when a bad frame looks like a torn tail, real frames
    behind it prove that its length field (not its tail) was damaged, so acknowledged
    records follow and truncating would lose them. Candidates are found by their type
    byte (a compiled regex), so the search is quick even over a long remainder.
    """
    raw = bytes(data)
    for match in _TYPE_BYTE.finditer(raw, start + HEADER_SIZE - 1):
        offset = match.start() - (HEADER_SIZE - 1)
        if _frame_at(data, offset, max_record_bytes)[1] is None:
            return offset
    return None


def _classify(
    data: memoryview, offset: int, end: int, why: str, max_record_bytes: int, base: int
) -> ScanProblem:
    """Torn tail or corruption for a bad frame at ``offset`` (see module docstring).

    Torn: everything from ``offset`` on is zeros, or the frame's declared extent reaches
    the end of the data (or is followed only by zeros) and no valid frame starts after
    it. Anything else -- an oversized length, a checksummed unknown type, or a bad frame
    with data behind it -- is corruption.
    """
    at = base + offset
    if _all_zero(data, offset):
        return ScanProblem("torn", at, f"zero-filled tail ({why})")
    if end < 0:
        return ScanProblem("corrupt", at, why)
    if end >= len(data) or _all_zero(data, end):
        found = _valid_frame_after(data, offset + 1, max_record_bytes)
        if found is None:
            return ScanProblem("torn", at, why)
        return ScanProblem("corrupt", at, f"{why}; a valid record follows at offset {base + found}")
    return ScanProblem("corrupt", at, f"{why}; {len(data) - end} more bytes follow")


def scan(
    data: bytes | bytearray | memoryview,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    *,
    base_offset: int = 0,
) -> ScanResult:
    """Read frames from ``data`` until its end or the first bad frame.

    Offsets in ``good_length`` are relative to ``data``; offsets in the problem add
    ``base_offset`` (so a caller that strips a file header reports file offsets).
    """
    view = memoryview(data).cast("B")
    payloads: list[bytes] = []
    group: list[bytes] = []  # records of an append not yet closed by a TYPE_RECORD frame
    group_start = offset = 0
    while offset < len(view):
        end, why = _frame_at(view, offset, max_record_bytes)
        if why is not None:
            problem = _classify(view, offset, end, why, max_record_bytes, base_offset)
            if problem.kind == "torn" and group:
                problem = problem._replace(
                    offset=base_offset + group_start,
                    reason=f"{why} at offset {base_offset + offset}, inside an append "
                    f"of which {len(group)} records were written",
                )
            problem = problem._replace(records=len(group) + (0 if _all_zero(view, offset) else 1))
            return ScanResult(payloads, group_start, problem)
        group.append(bytes(view[offset + HEADER_SIZE : end]))
        if view[offset + HEADER_SIZE - 1] == TYPE_RECORD:
            payloads.extend(group)
            group.clear()
            group_start = end
        offset = end
    if group:
        reason = f"incomplete append ({len(group)} records without the one that closes it)"
        return ScanResult(
            payloads, group_start, ScanProblem("torn", base_offset + group_start, reason, len(group))
        )
    return ScanResult(payloads, offset, None)


class ImageState(NamedTuple):
    """What recovery found in a whole WAL image (magic + frames)."""

    payloads: list[bytes]
    good_length: int
    """Bytes to keep (magic + valid frames); the rest is a torn tail to truncate."""
    torn: ScanProblem | None
    torn_records: int = 0
    """Records the truncation drops (``ScanProblem.records``)."""


def read_image(data: bytes, where: str, max_record_bytes: int) -> ImageState:
    """Validate the magic and scan the frames of one WAL image.

    Raises ``CorruptStorage`` naming ``where`` and the file offset for damage before the
    tail. Only complete images reach recovery (files are created by atomic rename), so a
    short or wrong magic is corruption too.
    """
    if data[: len(MAGIC)] != MAGIC:
        raise CorruptStorage(
            refuse_message(where, 0, f"not a replikv WAL (magic {bytes(data[:8])!r})")
        )
    result = scan(memoryview(data)[len(MAGIC) :], max_record_bytes, base_offset=len(MAGIC))
    problem = result.problem
    if problem is not None and problem.kind == "corrupt":
        raise CorruptStorage(refuse_message(where, problem.offset, problem.reason))
    torn_records = problem.records if problem is not None else 0
    return ImageState(result.payloads, len(MAGIC) + result.good_length, problem, torn_records)


class TornTail(NamedTuple):
    """What recovery cut off the end of a WAL (logged, and told to the replica as
    ``Recovery.torn_records``): where, how many bytes and records, and why."""

    where: str
    offset: int
    bytes_cut: int
    records: int
    reason: str

    def describe(self) -> str:
        return (
            f"{self.where}: truncated a torn tail at offset {self.offset}: {self.bytes_cut} bytes, "
            f"{self.records} record(s) cut ({self.reason})"
        )


def torn_tail(where: str, data_length: int, state: ImageState) -> TornTail | None:
    """The ``TornTail`` report of a recovered image, or None when nothing was cut."""
    if state.good_length >= data_length:
        return None
    reason = state.torn.reason if state.torn is not None else "trailing bytes"
    return TornTail(where, state.good_length, data_length - state.good_length, state.torn_records, reason)


def refuse_message(where: str, offset: int, why: str) -> str:
    return (
        f"{where}: bad record at offset {offset}: {why}; the node refuses to start: "
        "move the data directory away and start the node with --rejoin (replikv cluster restart "
        "--rejoin): it catches up from its peers before it votes or serves"
    )


class RecordCodec:
    """Encodes ``core.Record`` structs (a tagged union) to payload bytes and back.

    ``record_types`` are one scheme's record classes (``ProtocolSpec.records``); each must
    be a tagged msgspec struct so the union can be decoded without a schema byte.
    """

    __slots__ = ("record_types", "_encoder", "_decoder")

    def __init__(self, record_types: Sequence[type[Record]]) -> None:
        types = tuple(record_types)
        if not types:
            raise ValueError("RecordCodec needs at least one record type")
        for record_type in types:
            if not (isinstance(record_type, type) and issubclass(record_type, Record)):
                raise TypeError(f"{record_type!r} is not a core.Record subclass")
        self.record_types = types
        self._encoder = msgspec.msgpack.Encoder()
        union = types[0] if len(types) == 1 else _union(types)
        self._decoder = msgspec.msgpack.Decoder(union)

    def encode(self, record: Record) -> bytes:
        if not isinstance(record, self.record_types):
            raise TypeError(f"{type(record).__name__} is not one of this codec's record types")
        return self._encoder.encode(record)

    def encode_parts(self, record: Record) -> list[bytes]:
        """``encode(record)`` as parts whose join is exactly those bytes: a record whose
        last field holds at least ``LARGE_FIELD_BYTES`` of bytes (a snapshot's data) is
        encoded without it, and the bytes follow as a part of their own, uncopied
        (msgpack writes a struct's fields in order, that one last: a ``bin 32`` header,
        then the bytes)."""
        fields = record.__struct_fields__
        data = getattr(record, fields[-1]) if fields else None
        if type(data) is not bytes or len(data) < LARGE_FIELD_BYTES:
            return [self.encode(record)]
        head = self.encode(msgspec.structs.replace(record, **{fields[-1]: b""}))
        assert head.endswith(_EMPTY_BIN), "msgpack ends the struct with its last field"
        return [head[: -len(_EMPTY_BIN)] + _BIN32.pack(0xC6, len(data)), data]

    def encode_all(self, records: Iterable[Record]) -> list[bytes]:
        return [self.encode(record) for record in records]

    def decode(self, payload: bytes, where: str = "WAL") -> Record:
        try:
            return self._decoder.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise CorruptStorage(f"{where}: a record cannot be decoded: {exc}") from None

    def decode_all(self, payloads: Iterable[bytes], where: str = "WAL") -> list[Record]:
        records: list[Record] = []
        for index, payload in enumerate(payloads):
            records.append(self.decode(payload, f"{where} (record #{index})"))
        return records


def _union(types: tuple[type, ...]) -> object:
    union = types[0]
    for record_type in types[1:]:
        union = union | record_type
    return union
