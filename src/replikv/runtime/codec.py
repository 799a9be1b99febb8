"""The record codec a node uses for its WAL: the storage codec of the scheme's records."""

from __future__ import annotations

from replikv.core.replica import ProtocolSpec
from replikv.storage.codec import RecordCodec


def record_codec(spec: ProtocolSpec) -> RecordCodec:
    return RecordCodec(spec.records)
