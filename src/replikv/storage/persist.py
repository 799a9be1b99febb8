"""Writing a group of ``Persist`` effects: the glue between the pipeline and a WAL.

A host collects the ``Persist`` effects the ``EffectPipeline`` released since its last
write and hands them here together (group commit: many records, one fsync). A
``Persist(replace=True)`` restates the whole durable state (Raft §7 snapshot plus what
follows), so everything queued before the last replace is superseded: the group becomes
one atomic ``replace`` of that Persist's records and every later append, or else one
``append`` of all records. Either way one write and (under ``always``) one fsync.

A compaction (``Persist(compaction=True)``, core.io) is no barrier: it only restates
what the appends before it hold, so ``write_group`` appends what precedes it, begins a
``Rewrite`` for it (``rewrite.py``) and appends what follows. The caller writes the
rewrite when it likes (on a thread of its own, ``Rewrite.write``) and swaps it in with
``wal.finish_rewrite``; the group is durable without waiting for either.
"""

from __future__ import annotations

from collections.abc import Sequence

from replikv.core.io import Persist
from replikv.storage.base import WAL
from replikv.storage.codec import RecordCodec
from replikv.storage.rewrite import Rewrite


def write_group(wal: WAL, codec: RecordCodec, persists: Sequence[Persist]) -> tuple[int, list[Rewrite]]:
    """Write ``persists`` (in seq order) as one group; returns the highest seq written
    (0 when ``persists`` is empty) and the compactions begun, oldest first, for the
    caller to write and finish. When this returns, every one of the persists is durable
    as far as the WAL's policy promises, so the host may call ``pipeline.durable(seq)``."""
    if not persists:
        return 0, []
    seqs = [persist.seq for persist in persists]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), (
        f"persist seqs out of order: {seqs}"
    )
    last_replace = max((i for i, p in enumerate(persists) if p.replace and not p.compaction), default=None)
    base: list[bytes] | None = None
    if last_replace is not None:
        base = [codec.encode(record) for record in persists[last_replace].records]
    rewrites: list[Rewrite] = []
    payloads: list[bytes] = []
    for persist in persists[(0 if last_replace is None else last_replace + 1):]:
        if persist.compaction:
            _write(wal, base, payloads)
            base, payloads = None, []
            records = persist.records
            rewrites.append(wal.begin_rewrite(lambda records=records: [codec.encode_parts(r) for r in records]))
        else:
            payloads.extend(codec.encode(record) for record in persist.records)
    _write(wal, base, payloads)
    return seqs[-1], rewrites


def _write(wal: WAL, base: list[bytes] | None, payloads: list[bytes]) -> None:
    """One atomic replace of ``base + payloads``, or one append of ``payloads``."""
    if base is not None:
        wal.replace(base + payloads)
    elif payloads:
        wal.append(payloads)


def write_persists(wal: WAL, codec: RecordCodec, persists: Sequence[Persist]) -> int:
    """``write_group``, with any compaction written and swapped in before returning (a
    caller that has no thread to spare for it: tests, tools)."""
    seq, rewrites = write_group(wal, codec, persists)
    if rewrites:  # the newest restates the most; finishing it abandons the others
        rewrites[-1].write()
        wal.finish_rewrite(rewrites[-1])
    return seq
