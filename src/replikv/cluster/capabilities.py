"""What the operator verbs may ask of a scheme, decided from its spec (never from a
node's reply text), and the refusal an operator reads when a verb does not apply.

What may live here: pure functions of a ``ProtocolSpec`` (``replikv.schemes``); no I/O.

A spec says which administrative commands it answers (``ProtocolSpec.admin_commands``):
``Promote`` where the primary moves by manual failover (chapter "Primary/backup
replication"), ``TransferLeader`` where an elected leader can hand over (Raft thesis
§3.10), ``AddServer``/``RemoveServer`` where membership changes at run time.
"""

from __future__ import annotations

from replikv import schemes
from replikv.core.commands import Promote, TransferLeader


def membership_refusal(protocol: str) -> str | None:
    """Why ``add-node`` / ``remove-node`` cannot run on this scheme, or None."""
    spec = schemes.get_spec(protocol)
    if spec.membership_changes:
        return None
    return (
        f"{protocol} cannot change its membership while running (its replicas are fixed at "
        "start-up); nothing was started or changed"
    )


def promote_refusal(protocol: str) -> str | None:
    """Why ``promote`` does not apply to this scheme, or None."""
    spec = schemes.get_spec(protocol)
    if spec.offers(Promote):
        return None
    if spec.failover == "elected":
        hint = (" To move leadership to a node use `replikv cluster transfer-leader ID`"
                if spec.offers(TransferLeader) else "")
        return f"{protocol} elects its {spec.leader_word}; a node cannot be promoted.{hint}"
    return f"{protocol} has no {spec.leader_word} to promote"


def transfer_refusal(protocol: str) -> str | None:
    """Why ``transfer-leader`` does not apply to this scheme, or None."""
    spec = schemes.get_spec(protocol)
    if spec.offers(TransferLeader):
        return None
    if spec.offers(Promote):
        return (
            f"{protocol} has no leadership transfer: its {spec.leader_word} moves by manual "
            f"failover; use `replikv cluster promote ID` to make node ID the {spec.leader_word}"
        )
    return f"{protocol} has no {spec.leader_word} to transfer"
