"""Raft peer messages (Raft §5, §6, §7; thesis §3.10, §6.4, §9.6).

What may live here: frozen, tagged msgspec structs, one per message kind, and nothing
that acts on them. ``asserts_durable`` marks acknowledgements that may only leave a node
after the ``Persist`` that made them true (vote granted, append ack, snapshot ack);
``overtakes_persist`` marks ``AppendEntries`` and ``Heartbeat``, which leave while the
leader's own Persists are pending (thesis §10.2.1), and ``HeartbeatReply``, which leaves
while a follower's are (why each is safe is said on the class);
``heartbeat`` marks liveness traffic that carries no writes.
"""

from __future__ import annotations

from typing import ClassVar

from replikv.core.log import Entry
from replikv.core.messages import Message


class PreVote(Message, frozen=True):
    """Would you vote for me in ``term`` (= my term + 1)? Changes no state (thesis §9.6)."""

    term: int
    last_log_index: int
    last_log_term: int


class PreVoteReply(Message, frozen=True):
    """Answer to ``PreVote``; ``term`` echoes the asked term when granted, else the
    voter's own term."""

    term: int
    granted: bool


class RequestVote(Message, frozen=True):
    """Candidate asks for a vote (Raft §5.2). ``transfer`` is set by a candidate started by
    ``TimeoutNow``: voters then skip the leader-stickiness check (thesis §3.10, §4.2.3)."""

    term: int
    last_log_index: int
    last_log_term: int
    transfer: bool = False


class RequestVoteReply(Message, frozen=True):
    """Vote answer. Sent only after the voter's term and vote are durable (Raft §5.2,
    Figure 2 "persistent state ... updated on stable storage before responding")."""

    asserts_durable: ClassVar[bool] = True
    term: int
    granted: bool


class AppendEntries(Message, frozen=True):
    """Replicate ``entries`` after (``prev_index``, ``prev_term``) (Raft §5.3).
    ``leader_last_index``: the leader's last log index when it sent this, the catch-up
    target of a follower that lost durable state (``rejoin.py``).

    Overtakes the leader's pending Persists (thesis §10.2.1: "the leader can write to its
    disk in parallel with replicating to the followers"). What it claims, and why none
    of it waits for a pending Persist:

    - ``term``: the sender leads it. Its ``TermVote`` (term, vote for itself) is durable
      before it leads: the Persist precedes its RequestVotes, so every granted vote
      answers a durable campaign, and its own vote counts only once ``Persisted`` says
      so (``election.py``; this matters when it is the only voter). Every Persist
      before that one is durable too (durability is a prefix), so what stays pending
      behind a leader's AppendEntries is only what it persisted while leading: its own
      entries and its own snapshots, never a term or a vote (the node driver checks the
      term against the durable records, ``durable.py``).
    - ``entries``, ``prev_index``/``prev_term``: the leader's log, which it never
      truncates (Leader Append-Only, §5.3). A crash before its Persist is durable loses
      its copy, not the Log Matching property: a node leads a term at most once (its
      durable vote), so (index, term) names one entry forever. The leader counts its own
      copy toward a commit only once it is durable (``_advance_commit``).
    - ``commit_index``: computed with that rule, so it is committed (on a majority of
      disks) whatever the leader's pending Persists become.
    - ``leader_last_index``: only ever a catch-up target (``rejoin.py``); counting
      entries not yet durable on the leader makes it larger, never too small.
    """

    overtakes_persist: ClassVar[bool] = True
    term: int
    prev_index: int
    prev_term: int
    entries: tuple[Entry, ...]
    commit_index: int
    leader_last_index: int = 0


class AppendReply(Message, frozen=True):
    """Answer to ``AppendEntries``. On success ``match_index`` is the last index known to
    match the leader (durable: sent after the follower's Persist). On rejection
    ``reject_index`` is the rejected ``prev_index`` and (``conflict_term``,
    ``conflict_index``) the fast-backtracking hint (Raft §5.3, the optimisation at the end
    of the section): the term of the follower's entry at ``prev_index`` and the first
    index it holds of that term, or ``conflict_term = 0`` and its last index + 1.

    ``stale``: the AppendEntries was of an older term; the reply only carries the
    replier's term (Raft §5.1) and says nothing about its log. Without it, a leader
    re-elected in that newer term cannot tell the answer to a message of its earlier
    reign from the answer to its current probe (issue 8, item 4)."""

    asserts_durable: ClassVar[bool] = True
    term: int
    success: bool
    match_index: int = 0
    reject_index: int = 0
    conflict_term: int = 0
    conflict_index: int = 0
    stale: bool = False


class Heartbeat(Message, frozen=True):
    """Leader liveness and commit propagation (Raft §5.2), and a read-index round
    (thesis §6.4): followers echo ``round``. ``commit_index`` is capped at what the
    follower is known to hold, since a heartbeat carries no consistency check;
    ``leader_last_index`` as in ``AppendEntries``.

    Overtakes the leader's pending Persists, for the reasons ``AppendEntries`` gives: its
    ``term`` is durable before it leads, its ``commit_index`` is committed by the rule
    that counts the leader only once its copy is durable, ``leader_last_index`` is only a
    catch-up target, and ``round`` promises nothing. Held behind the leader's own log
    writes, a read round waited for an fsync it does not need (issue 14: with half
    reads, a linearizable read took as long as a write)."""

    heartbeat: ClassVar[bool] = True
    overtakes_persist: ClassVar[bool] = True
    term: int
    commit_index: int
    round: int
    leader_last_index: int = 0


class HeartbeatReply(Message, frozen=True):
    """Echo of a heartbeat round. ``last_index``: the last index the follower knows to
    equal this leader's log (shown by an AppendEntries of this term); below the leader's
    matchIndex the leader probes at it. ``stale`` as in ``AppendReply``: an answer to a
    heartbeat of an older term, carrying only the replier's term.

    Overtakes the replier's pending Persists (a follower's appends under load): the echo
    of ``round`` says "when your heartbeat reached me I knew no newer term", true
    whatever the disk holds, and a read-index round needs nothing more (thesis §6.4);
    ``last_index`` only ever makes the leader probe when it is *below* what the follower
    acknowledged durably, and counting entries not yet durable makes it larger. The one
    claim that must be durable is ``term`` (Figure 2: the term before responding), so
    a replier whose term is not yet on disk answers with ``HeartbeatReplyInNewTerm``
    instead, which waits for it."""

    heartbeat: ClassVar[bool] = True
    overtakes_persist: ClassVar[bool] = True
    term: int
    round: int
    last_index: int
    stale: bool = False


class HeartbeatReplyInNewTerm(HeartbeatReply, frozen=True):
    """A ``HeartbeatReply`` spoken in a term its sender has not yet made durable (it just
    adopted the heartbeat's term, or campaigns in a newer one): held behind that Persist
    like any reply (Raft Figure 2). The leader treats it as a ``HeartbeatReply``."""

    overtakes_persist: ClassVar[bool] = False


class InstallSnapshot(Message, frozen=True):
    """One chunk of the leader's snapshot (Raft §7). ``offset`` is where ``data`` goes;
    ``done`` marks the last chunk. The configuration travels with the snapshot
    (thesis §5.1: "the latest configuration as of the last included index")."""

    term: int
    last_index: int
    last_term: int
    voters: tuple[int, ...]
    learners: tuple[int, ...]
    offset: int
    data: bytes
    done: bool


class InstallSnapshotReply(Message, frozen=True):
    """Chunk received. When ``done`` the snapshot is installed and durable."""

    asserts_durable: ClassVar[bool] = True
    term: int
    last_index: int
    next_offset: int
    done: bool


class TimeoutNow(Message, frozen=True):
    """Start an election now, skipping pre-vote (leadership transfer, thesis §3.10)."""

    term: int


MESSAGES: tuple[type[Message], ...] = (
    PreVote,
    PreVoteReply,
    RequestVote,
    RequestVoteReply,
    AppendEntries,
    AppendReply,
    Heartbeat,
    HeartbeatReply,
    HeartbeatReplyInNewTerm,
    InstallSnapshot,
    InstallSnapshotReply,
    TimeoutNow,
)
