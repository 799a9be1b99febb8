"""The record codec a node uses for its WAL.

Normally ``storage.RecordCodec(spec.records)``. ``RecordCodec`` accepts only
``core.Record`` subclasses, while a scheme may persist another frozen, tagged msgspec
struct as is (primary/backup persists ``core.log.Entry``); for such a scheme this module
builds the same codec (msgspec msgpack of the tagged union; ``CorruptStorage`` on a
payload that does not decode) without the subclass check. Byte format identical.
"""

from __future__ import annotations

from typing import Any

import msgspec

from replikv.core.errors import CorruptStorage
from replikv.core.replica import ProtocolSpec
from replikv.storage.codec import RecordCodec


class _TaggedStructCodec:
    """``RecordCodec``'s interface for any tuple of tagged msgspec structs."""

    def __init__(self, record_types: tuple[type, ...]) -> None:
        for record_type in record_types:
            if not (isinstance(record_type, type) and issubclass(record_type, msgspec.Struct)):
                raise TypeError(f"{record_type!r} is not a msgspec struct")
        self.record_types = record_types
        union: Any = record_types[0]
        for extra in record_types[1:]:
            union = union | extra
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(union)

    def encode(self, record: Any) -> bytes:
        if not isinstance(record, self.record_types):
            raise TypeError(f"{type(record).__name__} is not one of this codec's record types")
        return self._encoder.encode(record)

    def decode(self, payload: bytes, where: str = "WAL") -> Any:
        try:
            return self._decoder.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise CorruptStorage(f"{where}: a record cannot be decoded: {exc}") from None


def record_codec(spec: ProtocolSpec) -> Any:
    try:
        return RecordCodec(spec.records)
    except TypeError:
        return _TaggedStructCodec(tuple(spec.records))
