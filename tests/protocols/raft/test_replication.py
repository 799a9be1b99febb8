"""Log replication (Raft §5.3), the commit rule (§5.4.2, Figure 8), batching and
pipelining, leader step-down answers."""

from __future__ import annotations

from replikv.core import Commit, Get, Ok, Persisted, Receive, Request, Set, Submit, Timeout
from replikv.protocols.raft import messages as m
from replikv.protocols.raft.records import LogAppend

from .harness import Cluster
from .steps import elect, entry, make, persists, sends, sync, with_log


def test_5_3_follower_appends_persists_then_acks() -> None:
    replica = make(node=2)
    msg = m.AppendEntries(1, 0, 0, (entry(1, 1), entry(2, 1)), commit_index=1)
    effects = replica.handle(Receive(1, msg))
    kinds = [type(e).__name__ for e in effects]
    # term persisted, entries persisted, entry 1 applied, then the (durable) ack
    assert kinds == ["Persist", "Persist", "Commit", "Send"]
    assert effects[1].records == (LogAppend((entry(1, 1), entry(2, 1))),)
    assert effects[3].msg == m.AppendReply(1, True, match_index=2)
    assert replica.commit_index == 1 and replica.leader == 1


def test_5_3_consistency_check_rejects_with_a_hint() -> None:
    replica = with_log([1, 1, 2, 2, 2], term=2, node=2)
    # prev beyond our log: hint is our last index + 1
    far = replica.handle(Receive(1, m.AppendEntries(3, 9, 3, (), 0)))
    assert sends(far)[-1].msg == m.AppendReply(3, False, reject_index=9, conflict_index=6)
    # prev term differs: hint is that term and the first index we hold of it
    clash = replica.handle(Receive(1, m.AppendEntries(3, 5, 3, (), 0)))
    assert sends(clash)[-1].msg == m.AppendReply(
        3, False, reject_index=5, conflict_term=2, conflict_index=3
    )


def test_5_3_conflicting_suffix_is_truncated() -> None:
    replica = with_log([1, 1, 2, 2], term=2, node=2)
    new = (entry(3, 3, "x"), entry(4, 3, "x"))
    effects = replica.handle(Receive(1, m.AppendEntries(3, 2, 1, new, 0)))
    assert replica.durable_state()[2] == ((1, 1), (2, 1), (3, 3), (4, 3))
    assert persists(effects)[-1].records == (LogAppend(new),)
    assert sends(effects)[-1].msg == m.AppendReply(3, True, match_index=4)
    # a stale, shorter AppendEntries of the same term does not truncate (Raft §5.3)
    effects = replica.handle(Receive(1, m.AppendEntries(3, 2, 1, new[:1], 0)))
    assert replica.log.last_index == 4 and persists(effects) == []
    assert sends(effects)[-1].msg == m.AppendReply(3, True, match_index=3)


def test_5_3_leader_backtracks_with_the_hint() -> None:
    leader = with_log([1, 1, 1, 4, 4], term=5, node=1)
    elect(leader)
    assert leader.log.last_index == 6  # the §8 no-op
    # the follower holds term 2 from index 4 on: skip over all of it in one step
    effects = leader.handle(
        Receive(2, m.AppendReply(6, False, reject_index=5, conflict_term=2, conflict_index=4))
    )
    probe = sends(effects, m.AppendEntries)[-1].msg
    assert probe.prev_index == 3 and probe.prev_term == 1
    assert [e.index for e in probe.entries] == [4, 5, 6]


def test_5_4_2_figure_8_no_commit_by_counting_old_terms() -> None:
    """An entry from an earlier term is not committed because a majority holds it; only
    an entry of the current term commits (and carries the older ones with it)."""
    leader = with_log([1, 2], term=3, node=1)
    effects = elect(leader)
    effects += sync(leader, effects)
    assert leader.term == 4 and leader.log.last_index == 3
    leader.handle(Receive(2, m.AppendReply(4, True, match_index=2)))
    assert leader.commit_index == 0  # index 2 (term 2) is on a majority, yet not committed
    effects = leader.handle(Receive(2, m.AppendReply(4, True, match_index=3)))
    assert leader.commit_index == 3
    assert [e.index for e in effects if isinstance(e, Commit)] == [1, 2, 3]


def test_10_2_1_leader_counts_itself_only_when_durable() -> None:
    leader = make(node=1)
    effects = elect(leader)
    noop_persist = persists(effects)[-1]
    leader.handle(Receive(2, m.AppendReply(1, True, match_index=1)))
    leader.handle(Receive(3, m.AppendReply(1, True, match_index=1)))
    assert leader.commit_index == 1  # two followers are a majority without us
    leader.handle(Persisted(noop_persist.seq))
    write = Request(5, 1, Set("a", "1"))
    effects = leader.handle(Submit(write))
    assert persists(effects) and leader.commit_index == 1
    effects = leader.handle(Receive(2, m.AppendReply(1, True, match_index=2)))
    assert leader.commit_index == 1  # follower 2 + not-yet-durable leader is no majority
    effects = sync(leader, leader.handle(Persisted(0)) or [])  # nothing new
    effects = leader.handle(Persisted(noop_persist.seq + 1))
    assert leader.commit_index == 2
    assert [type(e).__name__ for e in effects] == ["Commit", "Reply"]


def test_8_leader_that_steps_down_answers_timeout_not_not_leader() -> None:
    cluster = Cluster(3, seed=3)
    leader = cluster.elect()
    cluster.isolate(leader)
    write = Request(7, 1, Set("k", "v"))
    cluster.submit(leader, write)
    cluster.run(300)
    assert isinstance(cluster.replies[write.id], Timeout)
    cluster.heal()
    cluster.run(300)
    # the entry is in the old leader's log only, and the new leader overwrote it
    assert all(cluster.data(n).get("k") is None for n in cluster.nodes)


def test_5_3_log_matching_after_leader_changes() -> None:
    for seed in range(6):
        cluster = Cluster(5, seed=seed)
        seq = 0
        for _round in range(5):
            leader = cluster.elect()
            for _ in range(4):
                seq += 1
                cluster.submit(leader, Request(1, seq, Set(f"k{seq}", str(seq))))
            cluster.deliver(limit=3)
            cluster.isolate(leader)
            cluster.run(300)
            cluster.heal()
        cluster.run(1_000)
        logs = [cluster.nodes[n].replica.durable_state()[2] for n in sorted(cluster.nodes)]
        assert all(log == logs[0] for log in logs), f"seed {seed}: logs diverge"
        digests = {cluster.nodes[n].replica.state_machine().digest() for n in cluster.nodes}
        assert len(digests) == 1
        committed = {c.index: c.request for n in cluster.nodes for c in cluster.commits[n]}
        for n in cluster.nodes:
            for c in cluster.commits[n]:
                assert committed[c.index] == c.request  # state machine safety (§5.4.3)
        cluster.assert_one_leader_per_term()


def _messages_per_write(batch: bool, n: int = 3) -> float:
    cluster = Cluster(n, seed=11, batch=batch, max_inflight=16)
    leader = cluster.elect()
    cluster.run(100)
    cluster.sent.clear()
    requests = [Request(c, 1, Set(f"k{c}", "v")) for c in range(1, 41)]
    for i in range(0, 40, 10):  # ten concurrent clients per wave
        for request in requests[i : i + 10]:
            cluster.submit(leader, request)
        cluster.deliver()
    assert all(cluster.replies.get(r.id) == Ok(True) for r in requests)
    data_messages = [s for s in cluster.sent if not type(s[2]).heartbeat]
    return len(data_messages) / 40


def test_batching_cuts_messages_per_write() -> None:
    batched, unbatched = _messages_per_write(True), _messages_per_write(False)
    assert unbatched == 2 * (3 - 1)  # one append and one ack per follower per write
    assert batched < 1.0


def test_pipelining_keeps_several_appends_in_flight() -> None:
    cluster = Cluster(3, seed=5, batch=False, max_inflight=4)
    leader = cluster.elect()
    cluster.run(50)
    follower = next(n for n in sorted(cluster.nodes) if n != leader)
    start = len(cluster.sent)
    for c in range(1, 7):
        cluster.input(leader, Submit(Request(c, 1, Set("k", str(c)))))
        cluster.sync(leader)  # the leader's own disk only: no message is delivered, no ack
    sent = cluster.sent[start:]
    to_follower = [msg for src, dst, msg in sent if dst == follower and isinstance(msg, m.AppendEntries)]
    # optimistic next index: consecutive batches without waiting for acks, bounded
    assert [a.prev_index for a in to_follower] == [1, 2, 3, 4]
    cluster.deliver()
    cluster.run(100)
    assert cluster.data(follower)["k"] == "6"


def test_lost_appends_are_retransmitted() -> None:
    cluster = Cluster(3, seed=6)
    leader = cluster.elect()
    dropped = []

    def drop(src, dst, msg):
        if isinstance(msg, m.AppendEntries) and msg.entries and len(dropped) < 4:
            dropped.append(msg)
            return True
        return False

    cluster.drop = drop
    result = cluster.submit_and_wait(leader, Request(1, 1, Set("a", "b")))
    assert result.value is True and len(dropped) == 4
    read = cluster.submit_and_wait(leader, Request(1, 2, Get("a")))
    assert read.value == "b"


def test_5_3_lost_appends_are_retried_while_reads_keep_heartbeats_busy() -> None:
    """Read-index rounds (thesis §6.4) send heartbeats more often than ``heartbeat_ms``;
    the retransmission of lost appends must still run on its own clock (it was tied to
    the periodic heartbeat, so a follower whose pipeline was lost in a crash was never
    probed again while reads kept coming, found by the torn-restarts scenario)."""
    from replikv.core import Get

    cluster = Cluster(3, seed=5, batch=False, max_inflight=2)
    leader = cluster.elect()
    lagging = next(n for n in sorted(cluster.nodes) if n != leader)
    cluster.drop = lambda src, dst, msg: dst == lagging and isinstance(msg, m.AppendEntries)
    for seq in range(1, 6):
        assert cluster.submit_and_wait(leader, Request(1, seq, Set(f"k{seq}", "v"))) == Ok(True)
    assert cluster.status(leader).peers[lagging] < cluster.status(leader).last_index
    cluster.drop = None
    for seq in range(1, 60):
        cluster.submit(leader, Request(2, seq, Get("k1")))
        cluster.tick()
        cluster.deliver()
    assert cluster.status(leader).peers[lagging] == cluster.status(leader).last_index
