"""How a node may start from what its data directory holds: fresh, normal, or rejoining
after it lost its data (issue 8, item 1).

What may live here: the start-up policy, pure over ``storage.identity.DirectoryState``;
the process (``runtime.process``) performs what the plan says.

The rules (docs/runtime.md, "Starting, bootstrapping and rejoining"):

- a directory with a WAL starts normally (one without ``NODE``, written by an older
  replikv, is adopted: ``NODE`` is added);
- an empty directory starts only with ``--bootstrap`` (a new node: ``cluster up`` and
  ``cluster add-node`` pass it) or ``--rejoin`` (a node that lost its data). Without
  either it is an error: an empty directory is exactly what a wiped disk looks like, and
  a node that forgot its votes and acknowledged entries must never start as if new (Raft
  §5.2: persistent state survives restarts, or the node may vote twice in a term and a
  majority may elect a leader without committed entries);
- a directory with ``NODE`` but no WAL lost its data: an error that says to use
  ``--rejoin``;
- ``--rejoin`` tells the replica ``Recovery(lost=True)`` (it must not vote, promise or
  count toward a quorum until the others brought it up to date); it refuses a directory
  that still holds a WAL (move it away first: rejoining discards nothing by itself).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from replikv.storage.identity import DirectoryState, Identity, new_identity


class StartRefused(Exception):
    """The data directory and the flags do not allow this start; the message says why
    and what to do."""


@dataclass(frozen=True)
class StartPlan:
    lost: bool
    """Tell the replica it lost its durable state (``Recovery.lost``)."""
    write_before: Identity | None = None
    """Write this identity before the WAL is recovered (a rejoin: a crash right after
    must still find the node marked as rejoining)."""
    write_after: Identity | None = None
    """Write this identity once the WAL exists (a new or adopted directory)."""
    lost_if_no_records: bool = False
    """A rejoin that had not yet written a record: still lost if the WAL is empty."""
    note: str = ""


def plan_start(
    state: DirectoryState, *, node: int, cluster_id: str, protocol: str, bootstrap: bool, rejoin: bool
) -> StartPlan:
    """The plan for starting ``node`` on ``state``; ``StartRefused`` when it may not."""
    where = state.path
    if bootstrap and rejoin:
        raise StartRefused("--bootstrap and --rejoin exclude each other: a node is either new or lost its data")
    identity = state.identity
    if identity is not None:
        _check_owner(identity, where, node=node, cluster_id=cluster_id)
        if rejoin:
            if state.has_wal and not identity.rejoin_pending:
                raise StartRefused(_still_has_wal(where, node))
            return StartPlan(lost=True, write_before=replace(identity, rejoin_pending=True),
                             note="rejoining after losing its data (--rejoin)")
        if not state.has_wal:
            if identity.rejoin_pending:
                return StartPlan(lost=True, note="still rejoining (restarted before it wrote a record)")
            raise StartRefused(
                f"{where}: node {node} had data here (identity file NODE, created {identity.created}) "
                f"but its WAL is gone; it must not start as a new node, since it may have voted or "
                f"acknowledged writes it no longer remembers. Restart it with --rejoin: it then "
                f"catches up from its peers before it votes or serves"
            )
        return StartPlan(lost=False, lost_if_no_records=identity.rejoin_pending)
    if state.has_wal:
        if rejoin:
            raise StartRefused(_still_has_wal(where, node))
        return StartPlan(lost=False, write_after=new_identity(node, cluster_id, protocol),
                         note="adopted a data directory without an identity file")
    if bootstrap:
        return StartPlan(lost=False, write_after=new_identity(node, cluster_id, protocol),
                         note="new node (--bootstrap)")
    if rejoin:
        return StartPlan(lost=True, write_before=new_identity(node, cluster_id, protocol, rejoin_pending=True),
                         note="rejoining after losing its data (--rejoin)")
    raise StartRefused(
        f"{where}: holds no replikv data. If node {node} is new, start it with --bootstrap; if it "
        f"had data and lost it (a wiped or replaced disk, a data directory moved away), start it "
        f"with --rejoin so that it catches up from its peers before it votes or serves"
    )


def _check_owner(identity: Identity, where: object, *, node: int, cluster_id: str) -> None:
    if identity.node != node or identity.cluster_id != cluster_id:
        raise StartRefused(
            f"{where}: belongs to node {identity.node} of cluster {identity.cluster_id!r}, not node "
            f"{node} of {cluster_id!r}; give each node its own data directory"
        )


def _still_has_wal(where: object, node: int) -> str:
    return (
        f"{where}: --rejoin is for a node whose data is gone, but this directory still holds "
        f"node {node}'s WAL; move the directory away (keep it to inspect), then restart with --rejoin"
    )
