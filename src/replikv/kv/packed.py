"""Keys and values packed into a fixed number of byte strings: the bulk of a large state.

A Python dict costs about 175 bytes per key of a 16-byte value (two ``str`` objects and
a slot), so 1,000,000 keys took 167.5 MB of a node's RSS before any log or snapshot
(issue 14, docs/bench.md "Memory through 1,000,000 writes"). Here every pair is its
UTF-8 bytes inside one of ``BUCKETS`` byte strings (the bucket picked by the CRC-32 of
the key), about 2 bytes over the pair's own length: 1,000,000 such pairs fit in about
34 MB.

An entry is ``0xFF key 0xFE value``. Neither byte occurs in UTF-8 (``surrogatepass``
also packs a ``str`` with lone surrogates, which RESP's latin-1 decoding never makes but
a Python caller may pass), so finding
``0xFF key 0xFE`` in a bucket finds exactly that key, and its value runs to the next
``0xFF``: a lookup is a CRC and two ``bytes.find`` (C), an update or a removal rebuilds
one bucket of a few hundred bytes. ``kv.state_machine`` keeps recent keys in a dict and
moves them here in bulk (``add_all``), so the common path stays a dict lookup.

The order of the entries depends only on the sequence of operations, never on the
process (no ``hash()``): replicas that applied the same sequence hold the same bytes.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence

BUCKETS = 1 << 16
"""Fixed, so a bucket never needs rehashing: ~15 entries each at 1,000,000 keys, ~150 at
10,000,000 (a few KB: ``find`` still scans it in well under a microsecond)."""

_MASK = BUCKETS - 1
_KEY = b"\xff"
_VALUE = b"\xfe"
_EMPTY = b""


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogatepass")


class PackedPairs:
    """A map of ``str`` to ``str`` held as packed bytes (no object per key)."""

    __slots__ = ("_buckets", "_count")

    def __init__(self, buckets: list[bytes] | None = None) -> None:
        if buckets is not None and len(buckets) != BUCKETS:
            raise ValueError(f"packed pairs need {BUCKETS} buckets, not {len(buckets)}")
        if buckets is None:
            self._buckets, self._count = [_EMPTY] * BUCKETS, 0
        else:
            self._buckets = list(buckets)
            self._count = sum(bucket.count(_KEY) for bucket in buckets)

    def __len__(self) -> int:
        return self._count

    def buckets(self) -> list[bytes]:
        """The packed form, for a snapshot (``PackedPairs(buckets)`` restores it)."""
        return self._buckets

    def _find(self, key: str) -> tuple[int, bytes, int, int]:
        """(bucket index, bucket, start of the entry or -1, end of the entry)."""
        raw = _encode(key)
        slot = zlib.crc32(raw) & _MASK
        bucket = self._buckets[slot]
        if not bucket:
            return slot, bucket, -1, -1
        start = bucket.find(_KEY + raw + _VALUE)
        if start < 0:
            return slot, bucket, -1, -1
        end = bucket.find(_KEY, start + 1)
        return slot, bucket, start, len(bucket) if end < 0 else end

    @staticmethod
    def _value(bucket: bytes, start: int, end: int) -> str:
        """The value of the entry at ``bucket[start:end]``."""
        return _decode(bucket[bucket.index(_VALUE, start) + 1:end])

    def get(self, key: str) -> str | None:
        _, bucket, start, end = self._find(key)
        return None if start < 0 else self._value(bucket, start, end)

    def pop(self, key: str) -> str | None:
        """Remove ``key``; its value, or None when it was not here."""
        slot, bucket, start, end = self._find(key)
        if start < 0:
            return None
        value = self._value(bucket, start, end)
        self._buckets[slot] = bucket[:start] + bucket[end:]
        self._count -= 1
        return value

    def add_all(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Add pairs whose keys are not here yet (the caller guarantees it: a key lives
        either in the dict of recent keys or here), appended to their buckets in order."""
        grouped: dict[int, list[bytes]] = {}
        added = 0
        for key, value in pairs:
            raw = _encode(key)
            grouped.setdefault(zlib.crc32(raw) & _MASK, []).append(_KEY + raw + _VALUE + _encode(value))
            added += 1
        buckets = self._buckets
        for slot in sorted(grouped):
            buckets[slot] = buckets[slot] + _EMPTY.join(grouped[slot])
        self._count += added

    def items(self) -> Iterator[tuple[str, str]]:
        """Every pair, bucket by bucket (a deterministic order)."""
        for bucket in self._buckets:
            if not bucket:
                continue
            for entry in bucket.split(_KEY)[1:]:
                key, _, value = entry.partition(_VALUE)
                yield _decode(key), _decode(value)


def digest(recent: Mapping[str, str], buckets: Sequence[bytes] | None = None) -> str:
    """Hash of the pairs of ``recent`` and of the packed ``buckets`` together (a key is
    in one of them), the same whichever layer holds a key: replicas compare it.

    The pairs are hashed in their packed form (``key 0xFE value``, each after an
    ``0xFF``), slot by slot (the CRC-32 of the key, as in ``PackedPairs``), sorted as
    bytes within a slot: a canonical order that needs no sort of every key and no
    ``str`` per packed key. A packed bucket is split, never decoded (about 0.5 s at
    1,000,000 keys against 4.3 s for a sort of every key looked up one by one, issue 14).
    Pure: given copies (a dict, a list of immutable buckets) it runs off the event loop.
    """
    by_slot: dict[int, list[bytes]] = {}
    for key, value in recent.items():
        raw = _encode(key)
        by_slot.setdefault(zlib.crc32(raw) & _MASK, []).append(raw + _VALUE + _encode(value))
    h = hashlib.sha256()
    slots: Iterable[int] = sorted(by_slot) if buckets is None else range(BUCKETS)
    for slot in slots:
        entries = by_slot.pop(slot, [])
        if buckets is not None and buckets[slot]:
            entries.extend(buckets[slot].split(_KEY)[1:])
        if entries:
            entries.sort()
            h.update(_KEY + _KEY.join(entries))
    return h.hexdigest()[:16]
