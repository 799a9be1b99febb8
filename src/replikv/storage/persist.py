"""Writing a group of ``Persist`` effects: the glue between the pipeline and a WAL.

A host collects the ``Persist`` effects the ``EffectPipeline`` released since its last
write and hands them here together (group commit: many records, one fsync). A
``Persist(replace=True)`` restates the whole durable state (Raft §7 snapshot plus what
follows), so everything queued before the last replace is superseded: the group becomes
one atomic ``replace`` of that Persist's records and every later append, or else one
``append`` of all records. Either way one write and (under ``always``) one fsync.
"""

from __future__ import annotations

from collections.abc import Sequence

from replikv.core.io import Persist
from replikv.storage.base import WAL
from replikv.storage.codec import RecordCodec


def write_persists(wal: WAL, codec: RecordCodec, persists: Sequence[Persist]) -> int:
    """Write ``persists`` (in seq order) as one group; returns the highest seq written,
    or 0 when ``persists`` is empty. When this returns, every one of them is durable as
    far as the WAL's policy promises, so the host may call ``pipeline.durable(seq)``."""
    if not persists:
        return 0
    seqs = [persist.seq for persist in persists]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), (
        f"persist seqs out of order: {seqs}"
    )
    last_replace = max((i for i, p in enumerate(persists) if p.replace), default=None)
    start = 0 if last_replace is None else last_replace
    payloads = [codec.encode(record) for persist in persists[start:] for record in persist.records]
    if last_replace is None:
        wal.append(payloads)
    else:
        wal.replace(payloads)
    return seqs[-1]
