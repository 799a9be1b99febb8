"""Planted bugs: replica wrappers that break one promise on purpose.

What may live here: wrappers around a real scheme's replica and the ``ProtocolSpec``s
that expose them under names like ``raft+stale-reads``. A checker that passes the real
scheme and never fails the planted one proves nothing; these make it fail for a reason
we know.

``raft+stale-reads``: the leader answers ``linearizable`` and ``lease`` reads from its
own state at once, skipping the read index round (Raft §8, thesis §6.4: "a leader must
check whether it has been deposed before processing a read-only request"). The wrapper
rewrites such a read to the ``local`` level before Raft sees it, whenever the replica
believes it leads. It also turns check-quorum off by default (a deposed leader then
keeps believing it leads while cut off, as in Raft without §6.2's check), which makes
the window in which a partitioned leader serves stale reads as long as the partition.
Followers still answer ``NotLeader`` and forward, so only leader reads are affected.

Registration (the lead's ``replikv/schemes.py`` owns the registry)::

    if os.environ.get("REPLIKV_PLANTED_BUGS") == "1":
        from replikv.testing.planted import register_planted; register_planted(_LOCATIONS)
"""

from __future__ import annotations

import os
from collections.abc import Hashable, MutableMapping
from dataclasses import replace

import msgspec

from replikv.core.commands import is_read
from replikv.core.io import Effect, Input, Reply, Submit
from replikv.core.replica import CreateArgs, Replica, StateMachine, Status
from replikv.protocols.raft import RAFT, RaftConfig
from replikv.protocols.raft import create as create_raft

ENV_FLAG = "REPLIKV_PLANTED_BUGS"
PLANTED: dict[str, str] = {
    "raft+stale-reads": "replikv.testing.planted:RAFT_STALE_READS",
}


class StaleReadsConfig(RaftConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    check_quorum: bool = False
    lease_reads: bool = False


class LeaderLocalReads:
    """Wraps a Raft replica: the leader serves reads from local state (the planted bug)."""

    def __init__(self, inner: Replica) -> None:
        self._inner = inner

    def handle(self, inp: Input) -> list[Effect]:
        if (isinstance(inp, Submit) and is_read(inp.request.command)
                and inp.request.read_level != "local" and self._inner.status().role == "leader"):
            original = inp.request
            rewritten = msgspec.structs.replace(original, read_level="local")
            effects = self._inner.handle(Submit(rewritten))
            # a local read is answered at once; answer it as the request the host sent
            return [Reply(original, e.result) if isinstance(e, Reply) and e.request == rewritten else e
                    for e in effects]
        return self._inner.handle(inp)

    def status(self) -> Status:
        return self._inner.status()

    def durable_state(self) -> Hashable:
        return self._inner.durable_state()

    def state_machine(self) -> StateMachine:
        return self._inner.state_machine()

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


def _create_stale_reads(args: CreateArgs) -> LeaderLocalReads:
    return LeaderLocalReads(create_raft(args))


RAFT_STALE_READS = replace(
    RAFT,
    name="raft+stale-reads",
    summary="PLANTED BUG: Raft whose leader serves reads locally without a read index",
    config_type=StaleReadsConfig,
    create=_create_stale_reads,
)


def enabled() -> bool:
    return os.environ.get(ENV_FLAG) == "1"


def is_planted(name: str) -> bool:
    return name in PLANTED


def register_planted(registry: MutableMapping[str, str], *, force: bool = False) -> list[str]:
    """Add the planted schemes to a ``name -> "module:attribute"`` registry, only when
    ``REPLIKV_PLANTED_BUGS=1`` (or ``force``). Returns the names added."""
    if not (force or enabled()):
        return []
    added = [name for name in PLANTED if name not in registry]
    registry.update(PLANTED)
    return added


def use_in_this_process() -> None:
    """Register the planted schemes in this process's ``replikv.schemes`` registry (when
    ``REPLIKV_PLANTED_BUGS=1``); a no-op once ``schemes.py`` registers them itself."""
    from replikv import schemes

    register_planted(schemes._LOCATIONS)  # noqa: SLF001 - test-only hook


def main_with_planted() -> None:
    """``replikv`` with the planted schemes registered (how the tester launches nodes of a
    planted scheme, whatever ``replikv.schemes`` does)."""
    from replikv import schemes
    from replikv.cli.main import main

    register_planted(schemes._LOCATIONS, force=True)  # noqa: SLF001 - test-only hook
    main()
