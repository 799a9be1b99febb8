"""Helpers for pure 2PC/3PC step tests: one replica, inputs in, effects out, in order.

The replica is called directly (no node driver), so the effect list is exactly what it
emitted: a test sees that a ``Persist`` comes before the ``Send`` it guards."""

from __future__ import annotations

import random

from replikv.core import Persist, Persisted, Receive, Reply, Request, Send, Set, Tick
from replikv.core.replica import CreateArgs, Recovery
from replikv.kv import KVStateMachine
from replikv.protocols.twophase import THREE_PC_SPEC, TWO_PC_SPEC, TwoPhaseReplica
from replikv.protocols.twophase import messages as m

SPECS = {"2pc": TWO_PC_SPEC, "3pc": THREE_PC_SPEC}
INTACT = Recovery()


def create(node: int = 1, members=(1, 2, 3), records=(), mode: str = "2pc", seed: int = 0,
           recovery: Recovery = INTACT, **options) -> TwoPhaseReplica:
    """A replica rebuilt from ``records``, not yet fed anything."""
    spec = SPECS[mode]
    config = spec.make_config(options)
    return spec.create(CreateArgs(node, tuple(members), config, random.Random(seed), KVStateMachine(),
                                  tuple(records), recovery=recovery))


def make(node: int = 1, members=(1, 2, 3), records=(), mode: str = "2pc", seed: int = 0,
         recovery: Recovery = INTACT, **options) -> TwoPhaseReplica:
    """A replica after its first tick, its new epoch durable."""
    replica = create(node, members, records, mode, seed, recovery, **options)
    boot = replica.handle(Tick(0.0))
    assert [type(e) for e in boot] == [Persist], boot
    replica.handle(Persisted(boot[0].seq))
    return replica


def write(seq: int, value: str, key: str = "k", client: int = 9) -> Request:
    return Request(client, seq, Set(key, value))


def sends(effects, kind=None) -> list[Send]:
    return [e for e in effects if isinstance(e, Send) and (kind is None or isinstance(e.msg, kind))]


def persists(effects) -> list[Persist]:
    return [e for e in effects if isinstance(e, Persist)]


def replies(effects) -> list[Reply]:
    return [e for e in effects if isinstance(e, Reply)]


def records(effects) -> list:
    return [r for p in persists(effects) for r in p.records]


def durable(replica: TwoPhaseReplica, effects) -> list:
    """Make every Persist of ``effects`` durable; the effects that causes."""
    out: list = []
    for persist in persists(effects):
        out.extend(replica.handle(Persisted(persist.seq)))
    return out


def prepared(replica: TwoPhaseReplica, txid, request, src: int = 1) -> list:
    """Deliver a PREPARE and make its record durable: the effects, vote included."""
    effects = replica.handle(Receive(src, m.Prepare(txid, request)))
    return effects + durable(replica, effects)

