"""Write paths, effect by effect: when each variant persists, sends, acks and replies."""

from __future__ import annotations

import random

from replikv.core import (
    CreateArgs,
    Get,
    NotLeader,
    Ok,
    Persisted,
    Receive,
    Request,
    Set,
    Submit,
    Tick,
)
from replikv.core.errors import Uncertain
from replikv.core.io import Commit, Persist, Reply, Send
from replikv.kv import KVStateMachine
from replikv.protocols.primary_backup import PB_ASYNC, PB_SYNC
from replikv.protocols.primary_backup.messages import (
    Append,
    AppendAck,
    Heartbeat,
    HeartbeatReply,
)

from .harness import Cluster

MEMBERS = (1, 2, 3)


def make(spec, node: int, **options):
    config = spec.make_config(options)
    return spec.create(CreateArgs(node, MEMBERS, config, random.Random(node), KVStateMachine()))


def write(seq: int, key: str = "k", value: str = "v") -> Request:
    return Request(client_id=7, seq=seq, command=Set(key, value))


def kinds(effects) -> list[str]:
    return [type(e).__name__ if not isinstance(e, Send) else f"Send({type(e.msg).__name__}->{e.dst})" for e in effects]


def test_async_primary_sends_before_persisting_and_replies_only_after_persisted() -> None:
    primary = make(PB_ASYNC, 1)
    primary.handle(Tick(0))
    request = write(1)
    effects = primary.handle(Submit(request))
    assert kinds(effects) == ["Persist", "Send(Append->2)", "Send(Append->3)", "Persist"]
    assert not any(isinstance(e, Reply) for e in effects)
    entry_persist = effects[-1]
    assert isinstance(entry_persist, Persist) and entry_persist.records[0].request == request
    after = primary.handle(Persisted(entry_persist.seq))
    assert after == [Commit(1, request), Reply(request, Ok(True))]


def test_async_backup_persists_and_applies_without_acking_the_write() -> None:
    backup = make(PB_ASYNC, 2)
    request = write(1)
    primary = make(PB_ASYNC, 1)
    primary.handle(Tick(0))
    append = next(e.msg for e in primary.handle(Submit(request)) if isinstance(e, Send) and e.dst == 2)
    effects = backup.handle(Receive(1, append))
    assert [type(e) for e in effects] == [Persist, Commit]
    assert backup.state_machine().get("k") == "v"
    assert not any(isinstance(e, Send) for e in effects)


def test_async_steady_state_costs_one_message_per_backup_per_write() -> None:
    cluster = Cluster("pb-async")
    cluster.tick()
    before = len(cluster.sent)
    for seq in range(1, 21):
        cluster.submit(1, write(seq, value=str(seq)))
    carrying = [m for _, _, m in cluster.sent[before:] if not type(m).heartbeat]
    assert len(carrying) == 20 * 2
    assert all(isinstance(m, Append) for m in carrying)
    assert cluster.data(2) == cluster.data(3) == {"k": "20"}


def test_sync_backup_acks_only_behind_its_persist() -> None:
    primary = make(PB_SYNC, 1)
    backup = make(PB_SYNC, 2)
    primary.handle(Tick(0))
    append = next(e.msg for e in primary.handle(Submit(write(1))) if isinstance(e, Send) and e.dst == 2)
    effects = backup.handle(Receive(1, append))
    assert kinds(effects) == ["Persist", "Send(AppendAck->1)"]
    assert type(effects[1].msg).asserts_durable
    assert backup.state_machine().get("k") is None  # not committed yet: not applied


def test_sync_primary_replies_only_after_every_backup_acked() -> None:
    primary = make(PB_SYNC, 1)
    primary.handle(Tick(0))
    request = write(1)
    effects = primary.handle(Submit(request))
    own = [e for e in effects if isinstance(e, Persist)][-1]
    assert not any(isinstance(e, Reply) for e in primary.handle(Persisted(own.seq)))
    assert primary.handle(Receive(2, AppendAck(1, 1))) == []
    assert primary.handle(Receive(3, AppendAck(1, 1))) == [Commit(1, request), Reply(request, Ok(True))]


def test_sync_primary_waits_for_its_own_durable_copy_too() -> None:
    primary = make(PB_SYNC, 1)
    primary.handle(Tick(0))
    request = write(1)
    own = [e for e in primary.handle(Submit(request)) if isinstance(e, Persist)][-1]
    assert primary.handle(Receive(2, AppendAck(1, 1))) == []
    assert primary.handle(Receive(3, AppendAck(1, 1))) == []
    assert primary.handle(Persisted(own.seq)) == [Commit(1, request), Reply(request, Ok(True))]


def test_sync_commit_index_is_piggy_backed_on_the_next_append_and_heartbeat() -> None:
    cluster = Cluster("pb-sync")
    cluster.tick()
    cluster.submit(1, write(1, value="a"))
    assert cluster.status(1).commit_index == 1
    assert cluster.data(2) == {}  # backups learn the commit index later
    start = len(cluster.sent)
    cluster.submit(1, write(2, value="b"))
    appends = [m for _, _, m in cluster.sent[start:] if isinstance(m, Append)]
    assert appends and all(m.commit_index == 1 for m in appends)
    assert cluster.data(2) == {"k": "a"}
    cluster.tick(cluster.config.heartbeat_ms)
    beats = [m for _, _, m in cluster.sent[start:] if isinstance(m, Heartbeat)]
    assert beats[-1].commit_index == 2
    assert cluster.data(2) == cluster.data(3) == {"k": "b"}


def test_sync_steady_state_costs_two_messages_per_backup_per_write() -> None:
    cluster = Cluster("pb-sync")
    cluster.tick()
    before = len(cluster.sent)
    for seq in range(1, 21):
        cluster.submit(1, write(seq, value=str(seq)))
    carrying = [m for _, _, m in cluster.sent[before:] if not type(m).heartbeat]
    assert len(carrying) == 20 * 2 * 2
    assert {type(m) for m in carrying} == {Append, AppendAck}


def test_sync_refuses_new_writes_when_a_backup_is_down_with_an_indefinite_error() -> None:
    cluster = Cluster("pb-sync")
    cluster.tick()
    cluster.crash(3)
    cluster.tick(cluster.config.failure_timeout_ms - cluster.config.tick_ms)
    assert cluster.status(1).suspects == ()
    cluster.submit(1, write(1))
    assert cluster.results(write(1)) == []  # appended, waiting for node 3
    cluster.tick(2 * cluster.config.tick_ms)
    assert cluster.status(1).suspects == (3,)  # what `cluster up` and `cluster wait` wait out
    request = write(2, value="w")
    cluster.submit(1, request)
    # indefinite (issue 8.10): a delayed copy of the request may still be applied later
    assert cluster.results(request) == [Uncertain("backup 3 is down; pb-sync needs every replica")]
    assert not Uncertain.definite
    assert cluster.status(1).last_index == 1  # the refused write was not appended
    # the write that was waiting when node 3 went down: indefinite, it may still commit
    assert cluster.results(write(1)) == [Uncertain("backup 3 is down; pb-sync needs every replica")]
    cluster.tick(cluster.config.request_timeout_ms)
    assert len(cluster.results(write(1))) == 1  # answered once, not timed out again
    cluster.restart(3)
    cluster.tick(3 * cluster.config.heartbeat_ms)
    assert cluster.status(1).suspects == ()  # heard again


def test_sync_reads_at_the_primary_go_on_with_a_backup_down() -> None:
    cluster = Cluster("pb-sync")
    cluster.tick()
    cluster.submit(1, write(1, value="x"))
    cluster.crash(2)
    cluster.tick(cluster.config.failure_timeout_ms * 2)
    read = Request(client_id=8, seq=1, command=Get("k"))
    cluster.submit(1, read)
    assert cluster.results(read) == [Ok("x")]


def test_reads_and_writes_at_a_backup_answer_not_leader_with_the_primary_hint() -> None:
    backup = make(PB_ASYNC, 2)
    read = Request(client_id=8, seq=1, command=Get("k"))
    assert backup.handle(Submit(read)) == [Reply(read, NotLeader(1))]
    assert backup.handle(Submit(write(1))) == [Reply(write(1), NotLeader(1))]


def test_local_reads_are_served_by_any_replica_from_its_own_state() -> None:
    cluster = Cluster("pb-async")
    cluster.tick()
    cluster.submit(1, write(1, value="x"))
    read = Request(client_id=8, seq=1, command=Get("k"), read_level="local")
    cluster.submit(3, read)
    assert cluster.results(read) == [Ok("x")]


def test_oversized_value_is_a_bad_request_and_appends_nothing() -> None:
    primary = make(PB_ASYNC, 1, max_value_bytes=4)
    request = write(1, value="12345")
    (reply,) = primary.handle(Submit(request))
    assert type(reply.result).__name__ == "BadRequest"
    assert primary.status().last_index == 0


def test_max_pending_bounds_waiting_writes_with_an_indefinite_error() -> None:
    primary = make(PB_SYNC, 1, max_pending=2)
    primary.handle(Tick(0))
    primary.handle(Submit(write(1)))
    primary.handle(Submit(write(2)))
    effects = primary.handle(Submit(write(3)))
    assert effects == [Reply(write(3), Uncertain("too many pending writes"))]


def test_a_retried_pending_write_is_not_appended_twice() -> None:
    primary = make(PB_SYNC, 1)
    primary.handle(Tick(0))
    primary.handle(Submit(write(1)))
    assert primary.handle(Submit(write(1))) == []
    assert primary.status().last_index == 1


def test_heartbeat_replies_carry_async_progress_to_the_primary() -> None:
    cluster = Cluster("pb-async")
    cluster.tick()
    cluster.submit(1, write(1))
    cluster.submit(1, write(2))
    assert cluster.status(1).peers == {2: 0, 3: 0}
    cluster.tick(cluster.config.heartbeat_ms)
    assert cluster.status(1).peers == {2: 2, 3: 2}
    replies = [m for _, _, m in cluster.sent if isinstance(m, HeartbeatReply)]
    assert replies and all(type(m).heartbeat for m in replies)


def test_sync_retry_of_a_timed_out_write_waits_for_it_instead_of_a_definite_error() -> None:
    """The first copy of a write stays in the log after its client timed out and may still
    commit; a retry with the same request id must wait for it, never get Unavailable (a
    definite error for a write that later took effect; found by `replikv test`)."""
    cluster = Cluster("pb-sync")
    cluster.tick()
    cluster.crash(3)
    cluster.tick(cluster.config.failure_timeout_ms - cluster.config.tick_ms)
    cluster.submit(1, write(1, value="late"))
    cluster.tick(cluster.config.request_timeout_ms)
    # node 3 is declared down while the write waits: it is answered at once with an
    # indefinite error (it may still commit), not left to its timeout
    down = Uncertain("backup 3 is down; pb-sync needs every replica")
    assert cluster.results(write(1, value="late")) == [down]
    retry = write(1, value="late")
    cluster.submit(1, retry)  # node 3 is now known to be down
    cluster.tick(cluster.config.tick_ms)
    assert cluster.results(retry) == [down, down]  # the first copy's and the retry's: never definite
    assert cluster.status(1).last_index == 1  # not appended twice
    cluster.restart(3)
    cluster.tick(4 * cluster.config.heartbeat_ms)
    assert cluster.results(retry)[2:] == [Ok(True), Ok(True)]  # both learn the write took effect
    assert cluster.data(1) == cluster.data(2) == cluster.data(3) == {"k": "late"}


def test_a_stalled_primary_does_not_count_its_own_stall_as_backup_silence() -> None:
    """The first tick after the primary itself stalled (a paused process, a starved event
    loop: ticks 1 s apart) must not declare every backup down before the messages
    waiting for it are read (redis-benchmark on a loaded machine saw pb-sync refuse
    writes with 'backup 2 is down' while every backup was up)."""
    primary = make(PB_SYNC, 1)
    primary.handle(Tick(0))
    primary.handle(Tick(10))
    primary.handle(Tick(1010))  # 1 s stall > failure_timeout_ms (300)
    effects = primary.handle(Submit(write(1)))
    assert not any(isinstance(e, Reply) for e in effects)  # appended, waiting for the acks
    assert primary.status().last_index == 1
    # a backup that stays silent after the stall is still found down in time
    now = 1010.0
    while now < 1010 + primary._config.failure_timeout_ms + 20:
        now += 10
        primary.handle(Tick(now))
    effects = primary.handle(Submit(write(2)))
    assert [type(e.result).__name__ for e in effects if isinstance(e, Reply)] == ["Uncertain"]


def test_with_batch_on_writes_gather_behind_an_ack_sync_or_a_group_commit_async() -> None:
    """With ``batch`` on, pb-sync ships one Append per batch under load, not per write
    (primary._ship_now, as raft's ``_flush_due``): a write for a backup that still owes an
    ack waits for that ack, which ships everything gathered in one Append. pb-async (no
    acks per write) gathers while the primary's own group commit is in flight, and its
    Persisted ships the group (issue 14, fifth session). With the default (``batch``
    off: the chapter's n and 2n) both ship each write."""
    from replikv.protocols.primary_backup.messages import Append

    from .harness import Cluster

    cases = (("pb-sync", True, [1], [1, 4]), ("pb-sync", False, [1] * 5, [1] * 5),
             ("pb-async", True, [1, 4], [1, 4]), ("pb-async", False, [1] * 5, [1] * 5))
    for scheme, batch, first, after in cases:
        cluster = Cluster(scheme, batch=batch)
        cluster.tick()
        start = len(cluster.sent)

        def appends_to_2() -> list[int]:
            return [len(m.entries) for src, dst, m in cluster.sent[start:]  # noqa: B023
                    if src == 1 and dst == 2 and isinstance(m, Append)]

        for seq in range(1, 6):
            cluster.feed(1, Submit(Request(7, seq, Set(f"k{seq}", "v"))))  # nothing delivered yet
        cluster.flush(1)  # the primary's disk (what it sends may wait behind its Persists)
        assert appends_to_2() == first, scheme
        cluster.settle()
        assert appends_to_2() == after, scheme
        assert cluster.status(2).last_index == cluster.status(1).last_index == 5, scheme  # all shipped
