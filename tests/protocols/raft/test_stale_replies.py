"""Replies to messages of another term are never log-position answers, and a leader's
progress indices stay in range whatever a peer sends (issue 8, item 4; Raft §5.1, §5.3).

The crash seen on a real cluster: a follower that missed elections rejects a delayed
AppendEntries of an older term with its own term (the leader's current one) and
``reject_index = prev_index``; the leader took that for the answer to its probe, set
``match`` to -1 and ``next`` to 0, started a snapshot below its base and exited on
``AssertionError: log compacted without a snapshot``.
"""

from __future__ import annotations

from replikv.core import Receive, Request, Set, Submit, Tick
from replikv.protocols.raft import messages as m
from replikv.protocols.raft.constants import PROBE

from .steps import elect, make, sends, sync, with_log


def fresh_leader():
    """Leader 1 of term 1 with an empty log but its no-op; peer 2 is being probed at 1."""
    leader = make(node=1)
    effects = elect(leader, voters=(2, 3))
    sync(leader, effects)
    pr = leader.progress[2]
    assert (pr.state, pr.match, pr.next) == (PROBE, 0, 1) and pr.inflight
    return leader


def test_5_1_follower_answers_a_stale_term_append_with_its_term_only() -> None:
    follower = with_log([1, 2], term=3, node=2)
    effects = follower.handle(Receive(1, m.AppendEntries(2, 0, 0, (), 0)))
    reply = sends(effects, m.AppendReply)[-1].msg
    assert reply.term == 3 and reply.stale and not reply.success
    beat = follower.handle(Receive(1, m.Heartbeat(2, 0, 7)))
    assert sends(beat, m.HeartbeatReply)[-1].msg.stale


def test_5_3_stale_term_rejection_is_not_a_probe_answer() -> None:
    """The reply a follower sends to an AppendEntries of an older term (it carries the
    leader's current term) leaves the probe alone and never crashes the leader."""
    leader = fresh_leader()
    effects = leader.handle(Receive(2, m.AppendReply(1, False, stale=True)))
    pr = leader.progress[2]
    assert (pr.match, pr.next) == (0, 1) and sends(effects) == []
    assert leader.role == "leader"


def test_5_3_rejection_below_the_log_never_crashes_the_leader() -> None:
    """The exact message of the issue, as older replicas sent it (no ``stale`` flag): a
    rejection at prev_index 0 answering the probe at 0. It used to set match -1, next 0
    and assert "log compacted without a snapshot"."""
    leader = fresh_leader()
    effects = leader.handle(Receive(2, m.AppendReply(1, False, reject_index=0)))
    pr = leader.progress[2]
    assert pr.match >= 0 and pr.next >= 1 and leader.role == "leader"
    probe = sends(effects, m.AppendEntries)[-1].msg
    assert probe.prev_index == 0


def test_5_3_acks_beyond_the_leaders_log_are_ignored() -> None:
    """An ack for entries the leader does not have (a forged or corrupt reply) moves no
    index: ``next`` past ``last + 1`` used to assert on the next send."""
    leader = fresh_leader()
    leader.handle(Receive(2, m.AppendReply(1, True, match_index=50)))
    pr = leader.progress[2]
    assert pr.match <= leader.log.last_index and pr.next <= leader.log.last_index + 1
    effects = leader.handle(Submit(Request(5, 1, Set("a", "1"))))
    effects += leader.handle(Tick(leader.timers.now + 100.0))
    assert leader.role == "leader" and leader.commit_index <= leader.log.last_index
    done = leader.handle(Receive(2, m.InstallSnapshotReply(1, 99, 10, True)))
    assert leader.progress[2].match <= leader.log.last_index and leader.role == "leader"
    del done


def test_6_4_stale_term_heartbeat_reply_confirms_no_round() -> None:
    leader = fresh_leader()
    before = leader.leadership.confirmed_round
    leader.handle(Receive(2, m.HeartbeatReply(1, leader.leadership.round + 5, 0, stale=True)))
    leader.handle(Receive(3, m.HeartbeatReply(1, leader.leadership.round + 5, 0, stale=True)))
    assert leader.leadership.confirmed_round == before
