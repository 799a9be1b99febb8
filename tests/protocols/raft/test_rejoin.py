"""A node that lost its durable state (``Recovery.lost``) or part of it (a torn tail,
``Recovery.torn_records``) rejoins: no vote, no pre-vote, no campaign until it caught up
with a leader to that leader's last index as of their first contact (issue 8, items 1
and 13; Raft Figure 2 "updated on stable storage before responding", §5.4.1, §5.4.3;
thesis §9.6). docs/protocols/raft.md, "Losing durable state"."""

from __future__ import annotations

from replikv.core import Persist, Receive, Request, Set, Tick
from replikv.core.replica import Recovery
from replikv.protocols.raft import messages as m
from replikv.protocols.raft.records import LogAppend, TermVote

from .harness import Cluster
from .steps import entry, make, sends, sync


def test_fig2_lost_node_persists_rejoining_and_never_campaigns() -> None:
    replica = make(node=2, recovery=Recovery(lost=True))
    effects = replica.handle(Tick(0.0))
    assert effects[0] == Persist(1, (TermVote(0, None, True),), False)
    assert replica.status().role == "rejoining"
    for now in range(100, 5_000, 100):
        effects = replica.handle(Tick(float(now)))
        assert not sends(effects, m.PreVote) and not sends(effects, m.RequestVote)
    replica.handle(Receive(1, m.TimeoutNow(0)))
    assert replica.role == "follower"


def test_5_4_1_lost_node_grants_no_vote_and_no_pre_vote() -> None:
    replica = make(node=2, recovery=Recovery(lost=True))
    replica.handle(Tick(0.0))
    pre = replica.handle(Receive(3, m.PreVote(1, 0, 0)))
    assert sends(pre)[-1].msg == m.PreVoteReply(0, False)
    vote = replica.handle(Receive(3, m.RequestVote(4, 7, 3)))
    assert sends(vote)[-1].msg == m.RequestVoteReply(4, False)
    assert replica.voted_for is None and replica.term == 4


def test_fig2_rejoining_survives_a_crash() -> None:
    """The flag is durable: restarted from its own records without any Recovery flag,
    the node is still rejoining (else a crash mid-catch-up would make it a voter)."""
    replica = make(node=2, recovery=Recovery(lost=True))
    effects = replica.handle(Tick(0.0))
    records = [r for p in effects if isinstance(p, Persist) for r in p.records]
    again = make(node=2, records=tuple(records))
    assert again.rejoining and again.status().role == "rejoining"


def test_5_3_rejoin_ends_once_caught_up_to_the_leaders_last_index() -> None:
    replica = make(node=2, recovery=Recovery(torn_records=1))
    sync(replica, replica.handle(Tick(0.0)))
    # first contact: leader 1 of term 2 holds 3 entries; we get the first two
    first = m.AppendEntries(2, 0, 0, (entry(1, 1), entry(2, 2)), 2, leader_last_index=3)
    sync(replica, replica.handle(Receive(1, first)))
    assert replica.rejoining
    # the leader's log has grown to 5 meanwhile: the target stays 3
    rest = m.AppendEntries(2, 2, 2, (entry(3, 2),), 3, leader_last_index=5)
    effects = replica.handle(Receive(1, rest))
    assert not replica.rejoining and replica.status().role == "follower"
    kinds = [
        type(r).__name__
        for p in effects
        if isinstance(p, Persist)
        for r in p.records
    ]
    assert kinds == ["LogAppend", "TermVote"]  # caught-up entries durable first
    assert effects[-1].records == (TermVote(2, None, False),)
    # now it votes again (a transfer candidate: past leader stickiness, thesis §3.10)
    sync(replica, effects)
    vote = replica.handle(Receive(3, m.RequestVote(3, 3, 2, transfer=True)))
    sync(replica, vote)
    assert sends(vote)[-1].msg == m.RequestVoteReply(3, True)


def test_5_3_a_newer_leader_sets_a_new_target() -> None:
    replica = make(node=2, recovery=Recovery(lost=True))
    sync(replica, replica.handle(Tick(0.0)))
    sync(replica, replica.handle(Receive(1, m.Heartbeat(2, 0, 1, leader_last_index=9))))
    assert replica.volatile.rejoin_target == (2, 1, 9)
    done = m.AppendEntries(3, 0, 0, (entry(1, 1), entry(2, 3)), 2, leader_last_index=2)
    sync(replica, replica.handle(Receive(3, done)))
    assert not replica.rejoining


def _write(cluster: Cluster, leader: int, seq: int) -> None:
    result = cluster.submit_and_wait(leader, Request(7, seq, Set(f"k{seq}", str(seq))))
    assert result.__class__.__name__ == "Ok", result


def _lost_disk_scenario(recovery: Recovery, damage) -> Cluster:
    """The issue's reproduction: leader L, followers F and S; S cut off; writes committed
    by L and F; F and L crash; F loses durable state; S returns, F restarts with
    ``recovery``; S must not be elected with F's vote; L returns; nothing acked is lost."""
    cluster = Cluster(3, seed=11)
    leader = cluster.elect()
    follower, stale = (n for n in sorted(cluster.nodes) if n != leader)
    cluster.isolate(stale)
    for seq in range(1, 21):
        _write(cluster, leader, seq)
    cluster.crash(follower)
    cluster.crash(leader)
    damage(cluster, follower)
    cluster.heal()
    cluster.restart(follower, recovery)
    cluster.run(3_000)
    assert cluster.leader() is None, "elected with the vote of a node that lost its state"
    assert all(stale not in leaders for leaders in cluster.leaders_by_term.values())
    assert cluster.nodes[follower].replica.rejoining
    cluster.restart(leader)
    new = cluster.elect()
    _write(cluster, new, 21)
    cluster.run(500)
    expected = {f"k{seq}": str(seq) for seq in range(1, 22)}
    for node in sorted(cluster.nodes):
        assert cluster.data(node) == expected, node
    assert not cluster.nodes[follower].replica.rejoining
    cluster.assert_one_leader_per_term()
    return cluster


def test_5_4_3_a_wiped_follower_cannot_elect_a_stale_node() -> None:
    _lost_disk_scenario(Recovery(lost=True), lambda cluster, node: cluster.wipe(node))


def test_5_4_3_a_torn_follower_cannot_elect_a_stale_node() -> None:
    """Same with a torn tail that took acknowledged entries and the last TermVote."""

    def tear(cluster: Cluster, node: int) -> None:
        disk = cluster.nodes[node].disk
        appends = [i for i, r in enumerate(disk) if isinstance(r, LogAppend)]
        cluster.tear(node, len(disk) - appends[len(appends) // 2])

    _lost_disk_scenario(Recovery(torn_records=3), tear)
