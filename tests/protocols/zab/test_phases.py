"""Tier-1 step tests of ZAB's phases (Junqueira, Reed, Serafini, DSN 2011 §IV; ZooKeeper's
fast leader election and DIFF/TRUNC/SNAP): one replica, inputs in, effects checked in
order."""

from __future__ import annotations

import itertools

from replikv.core import Commit, Get, Persisted, Receive, Request, Submit, Tick
from replikv.core.errors import Ok, Unavailable
from replikv.protocols.zab import messages as m
from replikv.protocols.zab.records import EpochRecord, ProposalRecord, TruncRecord

from .steps import durable, follow, lead, make, persists, records, replies, sends, vote_for, write


def _proposal(position, epoch, counter, value):
    return m.Proposal(position, (epoch, counter), write(position, value))


# -- Phase 0: fast leader election --------------------------------------------------------


def test_fle_a_looking_peer_votes_for_itself_then_adopts_a_better_vote():
    replica = make(1)
    own = replica.election.vote
    assert own == (0, (0, 0), 1)
    effects = replica.handle(Receive(3, vote_for(replica, 3, 0, (0, 5))))
    assert replica.election.vote == (0, (0, 5), 3)
    assert sorted(s.dst for s in sends(effects, m.Notification)) == [2, 3]
    assert all(s.msg.leader == 3 for s in sends(effects, m.Notification))


def test_fle_a_higher_current_epoch_beats_a_longer_history():
    replica = make(1)
    replica.handle(Receive(2, vote_for(replica, 2, 0, (0, 9))))
    replica.handle(Receive(3, vote_for(replica, 3, 1, (1, 1))))
    assert replica.election.vote[2] == 3


def test_fle_decides_after_a_quorum_agrees_and_the_finalize_wait():
    replica = make(1)
    replica.handle(Receive(2, vote_for(replica, 1)))
    assert replica.peer.state == "looking"  # the finalize wait first
    replica.handle(Tick(30.0))
    assert replica.peer.state == "leading"
    assert replica.status().role == "leading"  # not a leader until established


def test_fle_a_looking_peer_joins_an_established_leader_named_by_a_quorum():
    replica = make(3, members=(1, 2, 3, 4, 5))
    replica.handle(Receive(1, m.Notification(4, 1, 2, (2, 3), "leading")))
    assert replica.peer.state == "looking"  # the leader and us: two of five
    replica.handle(Receive(4, m.Notification(4, 1, 2, (2, 3), "looking")))
    assert replica.peer.state == "looking"
    effects = replica.handle(Receive(2, m.Notification(4, 1, 2, (2, 3), "following")))
    assert replica.peer.state == "following" and replica.peer.leader == 1
    assert [(s.dst, s.msg) for s in sends(effects, m.FollowerInfo)] == [
        (1, m.FollowerInfo(0, 0, False, replica.peer.attempt))]


# -- Phase 1: discovery --------------------------------------------------------------------


def test_discovery_the_new_epoch_is_above_every_accepted_epoch_and_durable_before_newepoch():
    replica = make(1)
    replica.handle(Receive(2, vote_for(replica, 1)))
    replica.handle(Tick(30.0))
    effects = replica.handle(Receive(2, m.FollowerInfo(6, 3)))
    assert replica.leading.epoch == 7
    assert records(effects) == [EpochRecord(7, 1, 0)]
    (new_epoch,) = sends(effects, m.NewEpoch)
    assert new_epoch.dst == 2 and new_epoch.msg.epoch == 7
    assert effects.index(persists(effects)[0]) < effects.index(new_epoch)


def test_discovery_a_follower_persists_the_accepted_epoch_before_ackepoch():
    replica = make(2)
    replica.handle(Receive(1, m.Notification(1, 1, 0, (0, 0), "leading")))
    replica.handle(Receive(3, m.Notification(1, 1, 0, (0, 0), "following")))
    effects = replica.handle(Receive(1, m.NewEpoch(5, attempt=replica.peer.attempt)))
    assert records(effects) == [EpochRecord(5, 1, 0)]
    (ack,) = sends(effects, m.AckEpoch)
    assert ack.msg == m.AckEpoch(5, 0, (0, 0), attempt=replica.peer.attempt)
    assert effects.index(persists(effects)[0]) < effects.index(ack)


def test_discovery_an_epoch_below_the_accepted_one_sends_the_follower_back_to_election():
    replica = make(2, records=[EpochRecord(5, 3, 4)])
    replica.handle(Receive(1, m.Notification(1, 1, 0, (0, 0), "leading")))
    replica.handle(Receive(3, m.Notification(1, 1, 0, (0, 0), "following")))
    effects = replica.handle(Receive(1, m.NewEpoch(4, attempt=replica.peer.attempt)))
    assert sends(effects, m.AckEpoch) == [] and persists(effects) == []
    assert replica.peer.state == "looking"


def test_discovery_one_epoch_is_never_acknowledged_to_two_leaders():
    replica = make(2, records=[EpochRecord(5, 3, 4)])  # accepted epoch 5 from node 3
    replica.handle(Receive(1, m.Notification(1, 1, 0, (0, 0), "leading")))
    replica.handle(Receive(3, m.Notification(1, 1, 0, (0, 0), "following")))
    effects = replica.handle(Receive(1, m.NewEpoch(5, attempt=replica.peer.attempt)))
    assert sends(effects, m.AckEpoch) == []
    assert replica.peer.state == "looking"


def test_discovery_the_leader_gives_up_when_a_follower_is_ahead():
    replica = make(1)
    replica.handle(Receive(2, vote_for(replica, 1)))
    replica.handle(Tick(30.0))
    durable(replica, replica.handle(Receive(2, m.FollowerInfo(0))))
    replica.handle(Receive(2, m.AckEpoch(1, 0, (0, 3))))
    assert replica.peer.state == "looking"


# -- Phase 2: synchronization -------------------------------------------------------------


def _leader_with_history(*proposals, epoch=2):
    history = records_of(*proposals, current=epoch)
    return make(1, records=history)


def records_of(*proposals, current):
    return [EpochRecord(current, 1, current), ProposalRecord(tuple(proposals))]


def _sync_for(leader_history, follower_zxid, follower_current=1):
    replica = make(1, records=leader_history)
    effects = lead(replica, followers=(2,), acks={2: (follower_current, follower_zxid)})
    return replica, effects


def test_sync_diff_sends_the_proposals_after_the_followers_last_zxid():
    history = records_of(_proposal(1, 1, 1, "a"), _proposal(2, 1, 2, "b"), _proposal(3, 2, 1, "c"), current=2)
    replica = make(1, records=history)
    replica.handle(Receive(2, vote_for(replica, 1, 2, (2, 1))))
    replica.handle(Tick(30.0))
    durable(replica, replica.handle(Receive(2, m.FollowerInfo(2))))
    effects = replica.handle(Receive(2, m.AckEpoch(3, 1, (1, 1))))
    effects += durable(replica, effects)
    (new_leader,) = sends(effects, m.NewLeader)
    assert new_leader.msg.truncate is None and new_leader.msg.snapshot is None
    assert [p.position for p in new_leader.msg.proposals] == [2, 3]


def test_sync_trunc_cuts_a_proposal_the_leader_never_had():
    history = records_of(_proposal(1, 1, 1, "a"), _proposal(2, 2, 1, "c"), current=2)
    replica = make(1, records=history)
    replica.handle(Receive(2, vote_for(replica, 1, 2, (2, 1))))
    replica.handle(Tick(30.0))
    durable(replica, replica.handle(Receive(2, m.FollowerInfo(2))))
    # the follower holds (1, 2) at position 2: only the old leader and it ever had it
    effects = replica.handle(Receive(2, m.AckEpoch(3, 1, (1, 2))))
    effects += durable(replica, effects)
    (new_leader,) = sends(effects, m.NewLeader)
    assert new_leader.msg.truncate == (1, (1, 1))
    assert [p.zxid for p in new_leader.msg.proposals] == [(2, 1)]


def test_sync_a_follower_truncates_persists_history_then_epoch_then_acks():
    old = [EpochRecord(1, 1, 1), ProposalRecord((_proposal(1, 1, 1, "a"), _proposal(2, 1, 2, "b")))]
    replica = make(2, records=old)
    replica.handle(Receive(3, m.Notification(1, 3, 0, (0, 0), "leading")))
    replica.handle(Receive(1, m.Notification(1, 3, 0, (0, 0), "following")))
    durable(replica, replica.handle(Receive(3, m.NewEpoch(2, attempt=replica.peer.attempt))))
    effects = replica.handle(Receive(3, m.NewLeader(2, (_proposal(2, 2, 1, "c"),), (1, (1, 1)),
                                                    attempt=replica.peer.attempt)))
    assert records(effects) == [TruncRecord(1), ProposalRecord((_proposal(2, 2, 1, "c"),)), EpochRecord(2, 3, 2)]
    (ack,) = sends(effects, m.AckNewLeader)
    assert ack.msg == m.AckNewLeader(2, 2, replica.peer.attempt)
    assert effects.index(persists(effects)[-1]) < effects.index(ack)
    assert replica.history.zxid_at(2) == (2, 1)


def test_sync_newleader_is_applied_once_per_epoch():
    replica = make(2)
    follow(replica, leader=1, epoch=1, new_leader=m.NewLeader(1, (_proposal(1, 1, 1, "a"),)))
    # a late copy computed against an older report must not cut what we hold now
    effects = replica.handle(Receive(1, m.NewLeader(1, (), (0, (0, 0)), attempt=replica.peer.attempt)))
    assert persists(effects) == []
    assert [s.msg for s in sends(effects, m.AckNewLeader)] == [m.AckNewLeader(1, 1, replica.peer.attempt)]
    assert replica.history.last_position == 1


def test_sync_the_leader_is_established_only_by_a_quorum_of_newleader_acks_its_own_durable():
    replica = make(1)
    replica.handle(Receive(2, vote_for(replica, 1)))
    replica.handle(Tick(30.0))
    durable(replica, replica.handle(Receive(2, m.FollowerInfo(0))))
    effects = replica.handle(Receive(2, m.AckEpoch(1, 0, (0, 0))))
    assert records(effects) == [EpochRecord(1, 1, 1)]
    replica.handle(Receive(2, m.AckNewLeader(1, 0)))
    assert not replica.leading.established  # our own current epoch is not durable yet
    durable(replica, effects)
    assert replica.leading.established and replica.status().role == "leader"


# -- Phase 3: broadcast --------------------------------------------------------------------


def test_broadcast_leader_proposes_then_persists_and_counts_itself_once_durable():
    replica = make(1)
    lead(replica)
    effects = replica.handle(Submit(write(1, "x")))
    (propose,) = sends(effects, m.Propose)
    assert propose.dst == 2 and [p.zxid for p in propose.msg.proposals] == [(1, 1)]
    (persist,) = persists(effects)
    assert effects.index(propose) < effects.index(persist)
    out = replica.handle(Receive(2, m.Ack(1, 1)))
    assert replica.peer.commit == 0  # one ack of three is no quorum without our own copy
    out = replica.handle(Persisted(persist.seq))
    assert replica.peer.commit == 1
    assert [r.result for r in replies(out)] == [Ok(True)]
    assert [s.msg for s in sends(out, m.CommitTxn)] == [m.CommitTxn(1, 1)]


def test_broadcast_follower_acks_only_after_persisting_and_ignores_a_gap():
    replica = make(2)
    follow(replica)
    effects = replica.handle(Receive(1, m.Propose(1, (_proposal(2, 1, 2, "b"),))))
    assert effects == []  # position 1 is missing: wait for the leader to send again
    effects = replica.handle(Receive(1, m.Propose(1, (_proposal(1, 1, 1, "a"), _proposal(2, 1, 2, "b")))))
    (persist,) = persists(effects)
    (ack,) = sends(effects, m.Ack)
    assert ack.msg == m.Ack(1, 2, replica.peer.attempt) and effects.index(persist) < effects.index(ack)


def test_broadcast_a_follower_delivers_in_zxid_order_up_to_the_commit():
    replica = make(2)
    follow(replica)
    replica.handle(Receive(1, m.Propose(1, (_proposal(1, 1, 1, "a"), _proposal(2, 1, 2, "b")))))
    effects = replica.handle(Receive(1, m.CommitTxn(1, 1)))
    assert [e.index for e in effects if isinstance(e, Commit)] == [1]
    effects = replica.handle(Receive(1, m.CommitTxn(1, 5)))  # we hold only up to 2
    assert [e.index for e in effects if isinstance(e, Commit)] == [2]
    assert replica.peer.delivered == 2


def test_broadcast_messages_of_an_old_epoch_are_refused():
    replica = make(2)
    follow(replica, epoch=3)
    for msg in (m.Propose(2, (_proposal(1, 2, 1, "old"),)), m.CommitTxn(2, 1), m.Ping(2, 1, 1)):
        assert replica.handle(Receive(1, msg)) == []
    assert replica.history.last_position == 0


# -- reads ----------------------------------------------------------------------------------


def test_sequential_read_is_served_locally_by_a_synced_follower_and_refused_while_looking():
    looking = make(2)
    (reply,) = replies(looking.handle(Submit(Request(5, 1, Get("k"), "sequential"))))
    assert isinstance(reply.result, Unavailable)
    replica = make(2)
    follow(replica)
    (reply,) = replies(replica.handle(Submit(Request(5, 1, Get("k"), "sequential"))))
    assert reply.result == Ok(None)


def test_sequential_read_waits_behind_a_write_of_the_same_client_at_this_peer():
    replica = make(2)
    follow(replica)
    effects = replica.handle(Submit(write(1, "x", client=5)))
    assert [s.msg for s in sends(effects, m.ForwardRequest)] == [m.ForwardRequest(write(1, "x", client=5))]
    assert replies(replica.handle(Submit(Request(5, 2, Get("k"), "sequential")))) == []
    effects = replica.handle(Receive(1, m.Propose(1, (m.Proposal(1, (1, 1), write(1, "x", client=5)),))))
    effects = replica.handle(Receive(1, m.CommitTxn(1, 1)))
    assert [r.result for r in replies(effects)] == [Ok(True), Ok("x")]


def test_linearizable_read_at_a_follower_syncs_with_the_leader_first():
    replica = make(2)
    follow(replica)
    effects = replica.handle(Submit(Request(5, 1, Get("k"), "linearizable")))
    (sync,) = sends(effects, m.SyncRequest)
    assert sync.dst == 1 and replies(effects) == []
    replica.handle(Receive(1, m.Propose(1, (_proposal(1, 1, 1, "x"),))))
    assert replies(replica.handle(Receive(1, m.SyncReply(1, sync.msg.sync_id, 1)))) == []
    (reply,) = replies(replica.handle(Receive(1, m.CommitTxn(1, 1))))
    assert reply.result == Ok("x")


def test_leader_answers_a_sync_only_after_a_quorum_confirms_a_round_sent_after_it():
    replica = make(1)
    lead(replica)
    effects = replica.handle(Receive(2, m.SyncRequest(1, 7)))
    (ping,) = sends(effects, m.Ping)
    assert sends(effects, m.SyncReply) == []
    effects = replica.handle(Receive(2, m.PingReply(1, ping.msg.round)))
    assert [s.msg for s in sends(effects, m.SyncReply)] == [m.SyncReply(1, 7, 0)]


def test_sync_a_follower_that_rejoins_the_same_leader_syncs_again_and_ignores_the_old_attempt():
    # dup-reorder-crash seed 4: a follower that timed out and joined the same leader in the
    # same epoch took the new NewLeader for a retransmission and never reached broadcast
    replica = make(2)
    follow(replica, leader=1, epoch=1, new_leader=m.NewLeader(1, (_proposal(1, 1, 1, "a"),)))
    replica.handle(Tick(replica.peer.now + 200.0))
    assert replica.peer.state == "looking"
    replica.handle(Receive(1, m.Notification(9, 1, 1, (1, 1), "leading")))
    first = replica.peer.attempt - 1
    assert replica.peer.state == "following"
    durable(replica, replica.handle(Receive(1, m.NewEpoch(1, True, attempt=replica.peer.attempt))))
    stale = replica.handle(Receive(1, m.NewLeader(1, (), (0, (0, 0)), attempt=first)))
    assert stale == [] and replica.history.last_position == 1
    effects = replica.handle(Receive(1, m.NewLeader(1, (_proposal(2, 1, 2, "b"),), commit=2,
                                                    attempt=replica.peer.attempt)))
    assert replica.peer.phase == "broadcast"
    assert [s.msg for s in sends(effects, m.AckNewLeader)] == [m.AckNewLeader(1, 2, replica.peer.attempt)]


def test_a_sync_reply_to_an_earlier_incarnation_never_answers_a_read_of_this_one():
    # replikv test seed 1 (real cluster, restart-all): a stale linearizable read; sync ids
    # restarted at 1 in every incarnation, so a late SyncReply to the previous one could
    # match a new sync with an older position
    before = make(2, seed=1)
    follow(before)
    sync = sends(before.handle(Submit(Request(5, 1, Get("k"), "linearizable"))), m.SyncRequest)[0].msg
    after = make(2, seed=2)  # the restarted node
    follow(after)
    assert sends(after.handle(Submit(Request(6, 1, Get("k"), "linearizable"))), m.SyncRequest)
    assert replies(after.handle(Receive(1, m.SyncReply(1, sync.sync_id, 0)))) == []


def test_an_ack_of_an_earlier_attempt_is_not_counted():
    # a follower that lost its disk and rejoined may no longer hold what its earlier
    # incarnation acknowledged: only acks of its current attempt count
    replica = make(1)
    lead(replica)
    effects = replica.handle(Submit(write(1, "x")))
    durable(replica, effects)
    assert replica.peer.commit == 0
    replica.handle(Receive(2, m.Ack(1, 1, attempt=99)))
    assert replica.peer.commit == 0
    replica.handle(Receive(2, m.Ack(1, 1)))
    assert replica.peer.commit == 1


def test_a_snapshot_sync_is_sent_again_after_twice_as_long_each_time():
    """A follower that fell behind the leader's snapshot is synchronized again with it
    (SNAP): the whole state in one NEWLEADER. One still installing it on a loaded machine
    was sent it again every ``retransmit_ms``, and the queued copies took it to 567 MB at
    1,000,000 keys (issue 14). Each resend now waits twice as long as the one before."""
    replica = make(1, members=(1, 2, 3), snapshot_threshold=4, snapshot_growth=0.0)
    lead(replica, followers=(2,))
    epoch = replica.leading.epoch
    effects = replica.handle(Receive(3, m.FollowerInfo(0)))  # follower 3 joins the established leader
    durable(replica, effects)
    effects = replica.handle(Receive(3, m.AckEpoch(epoch, 0, (0, 0))))
    durable(replica, effects)
    replica.handle(Receive(3, m.AckNewLeader(epoch, replica.history.last_position)))
    assert replica.leading.learners[3].stage == "synced"
    for seq in range(1, 7):  # follower 2 acks everything, follower 3 nothing
        durable(replica, replica.handle(Submit(write(seq, str(seq), key=f"k{seq}"))))
        replica.handle(Receive(2, m.Ack(epoch, replica.history.last_position)))
    assert replica.history.base_position >= 4, "no snapshot taken"
    retransmit = replica.config.retransmit_ms
    snaps = []
    now = replica.peer.now
    for _ in range(80):  # 40 x retransmit_ms, follower 3 never answers
        now += retransmit / 2
        effects = replica.handle(Tick(now))
        snaps += [now for s in sends(effects, m.NewLeader) if s.dst == 3 and s.msg.snapshot is not None]
        for ping in sends(effects, m.Ping):
            if ping.dst == 2:
                replica.handle(Receive(2, m.PingReply(epoch, ping.msg.round)))
    assert replica.peer.state == "leading"
    gaps = [b - a for a, b in itertools.pairwise(snaps)]
    assert 4 <= len(snaps) <= 8, snaps
    assert all(b >= 2 * a - retransmit / 2 for a, b in itertools.pairwise(gaps)), gaps
