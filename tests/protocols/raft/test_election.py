"""Leader election (Raft §5.2, §5.4.1), pre-vote (thesis §9.6), check-quorum (§6.2)."""

from __future__ import annotations

from replikv.core import Persisted, Receive, Tick
from replikv.protocols.raft import messages as m
from replikv.protocols.raft.records import TermVote

from .harness import Cluster
from .steps import make, persists, sends, with_log


def test_5_2_vote_is_persisted_before_it_is_sent() -> None:
    replica = make(node=2)
    effects = replica.handle(Receive(1, m.RequestVote(term=1, last_log_index=0, last_log_term=0)))
    kinds = [type(e).__name__ for e in effects]
    assert kinds == ["Persist", "Send"]
    assert effects[0].records == (TermVote(term=1, voted_for=1),)
    assert effects[1].msg == m.RequestVoteReply(term=1, granted=True)
    assert m.RequestVoteReply.asserts_durable and m.AppendReply.asserts_durable
    assert replica.durable_state()[:2] == (1, 1)


def test_5_2_one_vote_per_term() -> None:
    replica = make(node=3)
    replica.handle(Receive(1, m.RequestVote(1, 0, 0)))
    effects = replica.handle(Receive(2, m.RequestVote(1, 0, 0)))
    assert [s.msg for s in sends(effects)] == [m.RequestVoteReply(1, False)]
    assert persists(effects) == []


def test_5_4_1_vote_denied_to_a_less_up_to_date_log() -> None:
    replica = with_log([1, 2], term=2, node=3)
    # up for an election timeout: no lease it may have granted before a restart binds it
    # any more (test_reads.py, a restarted follower keeps the lease it granted)
    replica.handle(Tick(0.0))
    replica.handle(Tick(replica.config.election_timeout_ms))
    shorter = replica.handle(Receive(1, m.RequestVote(3, last_log_index=5, last_log_term=1)))
    assert sends(shorter)[0].msg == m.RequestVoteReply(3, False)
    same_term_shorter = replica.handle(
        Receive(1, m.RequestVote(3, last_log_index=1, last_log_term=2))
    )
    assert sends(same_term_shorter)[0].msg == m.RequestVoteReply(3, False)
    newer = replica.handle(Receive(2, m.RequestVote(3, last_log_index=2, last_log_term=2)))
    assert sends(newer)[0].msg == m.RequestVoteReply(3, True)


def test_5_2_election_timeout_randomised_in_t_to_2t() -> None:
    firsts = set()
    for seed in range(20):
        replica = make(node=1, seed=seed, pre_vote=False)
        replica.handle(Tick(0.0))
        now = 0.0
        while replica.role == "follower":
            now += 1.0
            replica.handle(Tick(now))
        assert 100.0 <= now < 200.0 + 1.0
        firsts.add(now)
    assert len(firsts) > 5  # the RNG spreads them


def test_9_6_pre_vote_does_not_bump_the_term() -> None:
    replica = make(node=1)
    replica.handle(Tick(0.0))
    effects = replica.handle(Tick(500.0))
    assert replica.role == "precandidate" and replica.term == 0
    assert [s.msg for s in sends(effects)] == [m.PreVote(1, 0, 0)] * 2
    assert persists(effects) == []
    # a rejected pre-vote leaves the term alone, a granted one starts the real election
    replica.handle(Receive(2, m.PreVoteReply(0, False)))
    assert replica.term == 0
    effects = replica.handle(Receive(3, m.PreVoteReply(1, True)))
    assert replica.role == "candidate" and replica.term == 1
    assert [type(e).__name__ for e in effects][0] == "Persist"


def test_9_6_pre_vote_refused_while_a_leader_is_fresh() -> None:
    replica = make(node=2)
    replica.handle(Tick(0.0))
    replica.handle(Receive(1, m.Heartbeat(term=1, commit_index=0, round=1)))
    effects = replica.handle(Receive(3, m.PreVote(2, 0, 0)))
    assert sends(effects)[0].msg == m.PreVoteReply(1, False)
    replica.handle(Tick(150.0))
    effects = replica.handle(Receive(3, m.PreVote(2, 0, 0)))
    assert sends(effects)[0].msg == m.PreVoteReply(2, True)
    assert replica.term == 1


def test_4_2_3_vote_requests_ignored_while_leader_is_fresh() -> None:
    replica = make(node=2)
    replica.handle(Tick(0.0))
    replica.handle(Receive(1, m.Heartbeat(term=1, commit_index=0, round=1)))
    assert replica.handle(Receive(3, m.RequestVote(5, 0, 0))) == []
    assert replica.term == 1
    # except from a leadership-transfer candidate (thesis §3.10)
    effects = replica.handle(Receive(3, m.RequestVote(5, 0, 0, transfer=True)))
    assert replica.term == 5 and sends(effects)[0].msg == m.RequestVoteReply(5, True)


def test_election_safety_under_partitions() -> None:
    """At most one leader per term (Raft §5.2) across many seeds and partitions."""
    for seed in range(8):
        cluster = Cluster(5, seed=seed, pre_vote=bool(seed % 2), check_quorum=bool(seed % 3))
        cluster.elect()
        for round_ in range(4):
            cluster.isolate(cluster.leader() or 1)
            cluster.run(300)
            cluster.heal()
            cluster.run(100 + 37 * round_)
        cluster.assert_one_leader_per_term()
        assert cluster.leaders_by_term


def test_9_6_rejoining_node_does_not_disrupt_a_healthy_leader() -> None:
    cluster = Cluster(3, seed=4)
    leader = cluster.elect()
    term = cluster.status(leader).term
    loner = next(n for n in sorted(cluster.nodes) if n != leader)
    cluster.isolate(loner)
    cluster.run(1_000)
    assert cluster.status(loner).term == term  # pre-vote kept it from bumping
    cluster.heal()
    cluster.run(500)
    assert cluster.leader() == leader and cluster.status(leader).term == term


def test_without_pre_vote_a_rejoining_node_does_disrupt() -> None:
    """The control for the test above: the disruption pre-vote exists to prevent."""
    cluster = Cluster(3, seed=4, pre_vote=False, check_quorum=False)
    leader = cluster.elect()
    term = cluster.status(leader).term
    loner = next(n for n in sorted(cluster.nodes) if n != leader)
    cluster.isolate(loner)
    cluster.run(1_000)
    assert cluster.status(loner).term > term
    cluster.heal()
    cluster.run(500)
    assert cluster.status(cluster.leader()).term > term


def test_6_2_check_quorum_leader_steps_down_when_isolated() -> None:
    cluster = Cluster(3, seed=2)
    leader = cluster.elect()
    cluster.isolate(leader)
    cluster.run(250)  # more than two election timeouts
    assert cluster.status(leader).role != "leader"
    new = cluster.leader()
    assert new is not None and new != leader


def test_candidate_needs_its_vote_durable_to_win_a_single_node_cluster() -> None:
    """Figure 2 ("updated on stable storage before responding to RPCs"): the candidate's
    vote for itself counts only once its TermVote is durable, so a lone voter leads (and
    its AppendEntries, which overtake pending Persists, speak for a durable term) only
    after ``Persisted``."""
    replica = make(node=1, members=(1,))
    replica.handle(Tick(0.0))
    effects = replica.handle(Tick(300.0))
    assert replica.role == "candidate"
    assert [type(e).__name__ for e in effects] == ["Persist"]  # term/vote, nothing else
    (vote,) = persists(effects)
    assert vote.records == (TermVote(1, 1),)
    effects = replica.handle(Persisted(vote.seq))
    assert replica.role == "leader"
    commits = [e for e in effects if type(e).__name__ == "Commit"]
    assert commits == []  # the no-op is not durable yet
    later = []
    for p in persists(effects):
        later += replica.handle(Persisted(p.seq))
    assert [type(e).__name__ for e in later] == ["Commit"] and replica.commit_index == 1
