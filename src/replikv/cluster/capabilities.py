"""What the operator verbs may ask of a scheme, decided from its spec (never from a
node's reply text), and the refusal an operator reads when a verb does not apply.

What may live here: pure functions of a ``ProtocolSpec`` (``replikv.schemes``); no I/O.

A spec that lists its ``admin_commands`` is taken at its word; one that does not yet is
read from the older fields: ``membership_changes``, and ``leader_word`` (``primary``:
primary/backup, whose primary moves only by manual failover, chapter "Primary/backup
replication"; ``leader``: an elected leader, moved by leadership transfer, Raft thesis
§3.10).
"""

from __future__ import annotations

from replikv import schemes
from replikv.core.commands import AddServer, Promote, TransferLeader
from replikv.core.replica import ProtocolSpec


def _offers(spec: ProtocolSpec, command: type, fallback: bool) -> bool:
    return spec.offers(command) if spec.admin_commands else fallback


def _manual(spec: ProtocolSpec) -> bool:
    return spec.leader_word == "primary" or spec.failover == "manual"


def membership_refusal(protocol: str) -> str | None:
    """Why ``add-node`` / ``remove-node`` cannot run on this scheme, or None."""
    spec = schemes.get_spec(protocol)
    if _offers(spec, AddServer, spec.membership_changes):
        return None
    return (
        f"{protocol} cannot change its membership while running (its replicas are fixed at "
        "start-up); nothing was started or changed"
    )


def promote_refusal(protocol: str) -> str | None:
    """Why ``promote`` does not apply to this scheme, or None."""
    spec = schemes.get_spec(protocol)
    if _offers(spec, Promote, _manual(spec)):
        return None
    if _offers(spec, TransferLeader, spec.leadership == "leader"):
        return (
            f"{protocol} elects its {spec.leader_word}; a node cannot be promoted. To move "
            "leadership to a node use `replikv cluster transfer-leader ID`"
        )
    return f"{protocol} has no {spec.leader_word} to promote"


def transfer_refusal(protocol: str) -> str | None:
    """Why ``transfer-leader`` does not apply to this scheme, or None."""
    spec = schemes.get_spec(protocol)
    if _offers(spec, TransferLeader, not _manual(spec) and spec.leadership == "leader"):
        return None
    if _offers(spec, Promote, _manual(spec)):
        return (
            f"{protocol} has no leadership transfer: its {spec.leader_word} moves by manual "
            f"failover; use `replikv cluster promote ID` to make node ID the {spec.leader_word}"
        )
    return f"{protocol} has no {spec.leader_word} to transfer"
