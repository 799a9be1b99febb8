"""Three in-process nodes on loopback: commit, forwarding, WAIT, admin verbs."""

from __future__ import annotations

import asyncio
import json

import pytest
from rt_helpers import free_ports, run, until
from rt_toy import TOY

from replikv.core.commands import Get, Incr, MGet, Set
from replikv.core.config import ReplicaConfig
from replikv.core.errors import Ok, Timeout
from replikv.core.requests import Request
from replikv.kv import KVStateMachine
from replikv.runtime.admin import partition_rules
from replikv.runtime.node import Node
from replikv.runtime.transport import TransportSettings
from replikv.schemes import get_spec
from replikv.storage import MemoryWAL

CONFIG = ReplicaConfig(tick_ms=5, heartbeat_ms=10, election_timeout_ms=50, request_timeout_ms=500)


async def _cluster(spec=TOY, config=CONFIG, n: int = 3, wals=None) -> list[Node]:
    ports = free_ports(n)
    addresses = {i + 1: ("127.0.0.1", ports[i]) for i in range(n)}
    nodes = []
    for i in range(1, n + 1):
        node = Node(node=i, spec=spec, replica_config=config, wal=(wals or {}).get(i) or MemoryWAL(),
                    peers=addresses, listen=addresses[i],
                    transport_settings=TransportSettings(backoff_min_s=0.01, backoff_max_s=0.1))
        node.recover()
        await node.start()
        nodes.append(node)
    return nodes


async def _stop(nodes: list[Node]) -> None:
    for node in nodes:
        await node.stop()


def test_a_write_to_a_follower_is_forwarded_and_commits_everywhere() -> None:
    async def scenario() -> None:
        nodes = await _cluster()
        try:
            result = await nodes[2].execute(Request(42, 1, Set("k", "v")))  # node 3 is a follower
            assert result == Ok(True)
            assert await nodes[0].execute(Request(42, 2, Get("k"))) == Ok("v")
            # the follower's linearizable read is forwarded to the leader too
            assert await nodes[1].execute(Request(42, 3, Get("k"))) == Ok("v")
            await until(lambda: all(n.host.replica.state_machine().get("k") == "v" for n in nodes[1:]),
                        what="followers to apply the write")
            assert nodes[0].last_index_of(42) == 1
            assert await nodes[0].wait_replicas(1, 2, 1000) == 2
            digests = {n.host.replica.state_machine().digest() for n in nodes}
            assert len(digests) == 1
        finally:
            await _stop(nodes)

    run(scenario())


def test_the_leaders_own_requests_build_no_route_and_a_followers_do(monkeypatch) -> None:
    """Issue 14: a request the local replica answers (anything but NotLeader) is answered
    without building a core.router.Route, as Route would answer it as it is; a follower's
    request, refused with NotLeader, still takes the route (forwarded to the leader)."""
    import replikv.runtime.node as node_module

    routes: list[object] = []
    real_route = node_module.Route

    def counting_route(*args, **kwargs):
        route = real_route(*args, **kwargs)
        routes.append(route)
        return route

    monkeypatch.setattr(node_module, "Route", counting_route)

    async def scenario() -> None:
        nodes = await _cluster()
        try:
            assert await nodes[0].execute(Request(43, 1, Set("k", "v"))) == Ok(True)  # node 1 leads
            assert await nodes[0].execute(Request(43, 2, Get("k"))) == Ok("v")
            assert routes == []
            assert await nodes[2].execute(Request(43, 3, Set("k", "w"))) == Ok(True)  # forwarded
            assert len(routes) == 1
        finally:
            await _stop(nodes)

    run(scenario())


def test_a_retried_forwarded_write_applies_once() -> None:
    async def scenario() -> None:
        nodes = await _cluster()
        try:
            request = Request(5, 1, Set("k", "1"))
            first, again = await asyncio.gather(nodes[1].execute(request), nodes[2].execute(request))
            assert first == again == Ok(True)
            incr = Request(5, 2, Incr("n"))
            assert await nodes[1].execute(incr) == Ok(1)
            assert await nodes[2].execute(incr) == Ok(1)  # a retry of the same (client, seq)
            assert await nodes[0].execute(Request(5, 3, Get("n"))) == Ok("1")
        finally:
            await _stop(nodes)

    run(scenario())


def test_a_partitioned_leader_times_out_writes_and_heals() -> None:
    async def scenario() -> None:
        nodes = await _cluster()
        try:
            for node in nodes:
                await node.admin("partition", ["3"])
            assert await nodes[0].execute(Request(1, 1, Set("k", "v"))) == Timeout()  # N-of-N: 3 is cut off
            status = json.loads(await nodes[0].admin("status", []))
            assert status["blocked"] == {"to": [3], "from": [3]}
            for node in nodes:
                assert await node.admin("heal", []) == "OK"
            assert json.loads(await nodes[0].admin("status", []))["blocked"] == {"to": [], "from": []}
            before = nodes[2].host.counts["received"]
            await nodes[0].execute(Request(1, 2, Set("k", "w")))  # the toy has no catch-up: 3 just hears it
            await until(lambda: nodes[2].host.counts["received"] > before, what="node 3 to hear the leader again")
        finally:
            await _stop(nodes)

    run(scenario())


def test_status_hashes_a_new_state_off_the_event_loop_from_copies_taken_with_the_status(monkeypatch) -> None:
    """A large state's digest takes long to hash (0.5 s at 1,000,000 keys): ``status``
    hashes it on another thread, from copies taken when it was asked, so the answer
    describes one state even when requests apply meanwhile; a known digest is reused."""
    import threading

    spec = get_spec("raft")
    config = spec.make_config({"tick_ms": 5, "heartbeat_ms": 20, "election_timeout_ms": 150})

    async def scenario() -> None:
        nodes = await _cluster(spec=spec, config=config, n=1)
        node = nodes[0]
        try:
            await until(lambda: node.status().role == "leader", what="a leader")
            assert await node.execute(Request(7, 1, Set("k", "before"))) == Ok(True)
            machine = node.host.replica.state_machine()
            loop_thread, hashed_on = threading.get_ident(), []
            job = KVStateMachine.digest_job

            def traced_job(self):
                compute = job(self)
                assert callable(compute)  # nothing digested yet

                def on_thread() -> str:
                    hashed_on.append(threading.get_ident())
                    return compute()
                return on_thread
            monkeypatch.setattr(KVStateMachine, "digest_job", traced_job)
            asked = asyncio.ensure_future(node.admin("status", []))
            await asyncio.sleep(0)  # the status took its copies and waits on the thread
            assert await node.execute(Request(7, 2, Set("k", "after"))) == Ok(True)
            answer = json.loads(await asked)
            assert hashed_on and hashed_on[0] != loop_thread
            assert answer["status"]["applied_index"] < node.status().applied_index
            other = KVStateMachine()
            other.apply(Request(7, 1, Set("k", "before")))
            assert answer["digest"] == other.digest() != machine.digest()
            monkeypatch.undo()
            assert machine.digest_job() == machine.digest()  # remembered: no thread
        finally:
            await _stop(nodes)

    run(scenario())


def test_admin_rejects_unknown_verbs_and_bad_arguments() -> None:
    async def scenario() -> None:
        nodes = await _cluster(n=1)
        try:
            with pytest.raises(ValueError, match="unknown admin verb"):
                await nodes[0].admin("explode", [])
            with pytest.raises(ValueError, match="usage"):
                await nodes[0].admin("transfer-leader", [])
            with pytest.raises(ValueError, match="integer"):
                await nodes[0].admin("partition", ["x"])
            with pytest.raises(ValueError, match="unknown node"):
                await nodes[0].admin("partition", ["9"])
        finally:
            await _stop(nodes)

    run(scenario())


def test_restart_recovers_from_the_wal_and_catches_nothing_up_twice() -> None:
    async def scenario() -> None:
        wals = {i: MemoryWAL() for i in (1, 2, 3)}
        nodes = await _cluster(wals=wals)
        for seq in range(1, 6):
            assert await nodes[0].execute(Request(9, seq, Set(f"k{seq}", "x"))) == Ok(True)
        await _stop(nodes)
        images = {i: MemoryWAL(w.image) for i, w in wals.items()}
        nodes = await _cluster(wals=images)
        try:
            assert await nodes[0].execute(Request(9, 6, Get("k5"))) == Ok("x")
            assert nodes[0].host.recovered_records == 5
        finally:
            await _stop(nodes)

    run(scenario())


@pytest.mark.parametrize(
    ("me", "group", "sources", "expected"),
    [
        (1, {1}, None, ({2, 3}, {2, 3})),
        (2, {1}, None, ({1}, {1})),
        (1, {1, 2}, {3}, (set(), {3})),
        (3, {1, 2}, {3}, ({1, 2}, set())),
        (2, {1}, {3}, (set(), set())),
    ],
)
def test_partition_rules_give_each_node_its_part(me, group, sources, expected) -> None:
    assert partition_rules(me, (1, 2, 3), group, sources) == expected


@pytest.mark.parametrize("scheme", ["pb-async", "pb-sync", "raft"])
def test_three_nodes_of_a_real_scheme_commit_a_write_through_any_node(scheme: str) -> None:
    spec = get_spec(scheme)
    config = spec.make_config({"tick_ms": 5, "heartbeat_ms": 20, "election_timeout_ms": 150})

    async def scenario() -> None:
        nodes = await _cluster(spec=spec, config=config)
        try:
            for i, node in enumerate(nodes, start=1):  # forwarded to the leader/primary when needed
                assert await node.execute(Request(100 + i, 1, Set(f"k{i}", str(i)))) == Ok(True)
            assert await nodes[0].execute(Request(1, 1, MGet(("k1", "k2", "k3")))) == Ok(["1", "2", "3"])
            await until(lambda: len({n.host.replica.state_machine().digest() for n in nodes}) == 1,
                        what="replicas to converge")
        finally:
            await _stop(nodes)

    run(scenario())


def test_a_forward_reply_for_another_request_is_not_taken_as_the_answer() -> None:
    """CI, test_pb_sync_survives_killing_the_primary: a backup restarted, its forward ids
    started over at 1, and the primary's late ForwardReplys to its previous incarnation
    answered the new requests with those ids (a write acknowledged that never ran, a read
    returning another key's value). A reply counts only for the request it was sent for."""
    from replikv.core.router import ForwardReply

    async def scenario() -> None:
        nodes = await _cluster()
        try:
            follower = nodes[2]
            follower.transport.set_blocked({1}, set())  # the Forward never reaches node 1
            request = Request(77, 1, Set("k", "v"))
            pending = asyncio.ensure_future(follower._forward(1, request))
            await until(lambda: len(follower._forwards) == 1, what="the forward to be pending")
            (forward_id,) = follower._forwards
            follower._on_message(1, ForwardReply(forward_id, Ok("stale"), (999, 1)))
            assert not follower._forwards[forward_id][1].done()  # the stale reply resolved nothing
            follower._on_message(1, ForwardReply(forward_id, Ok(True), request.id))
            assert await pending == Ok(True)
        finally:
            await _stop(nodes)

    run(scenario())


def test_a_write_through_a_follower_after_the_leader_died_waits_for_the_next_leader() -> None:
    """The follower still names the dead leader, but has no connection to it: the forward
    is never sent (so nothing happened), and the request waits for the election and
    commits at the new leader, instead of answering Timeout after the forward's bound
    (request_timeout_ms * 1.5 + 1 s = 4 s here)."""
    spec = get_spec("raft")
    config = spec.make_config({"tick_ms": 5, "heartbeat_ms": 20, "election_timeout_ms": 150,
                               "request_timeout_ms": 2000})

    async def scenario() -> None:
        nodes = await _cluster(spec=spec, config=config)
        running = list(nodes)
        try:
            await until(lambda: any(n.status().leader == n.node_id for n in nodes), what="a leader")
            leader = next(n for n in nodes if n.status().leader == n.node_id)
            assert await leader.execute(Request(5, 1, Set("before", "1"))) == Ok(True)
            follower = next(n for n in nodes if n is not leader)
            running.remove(leader)
            await leader.stop()
            await until(lambda: not follower.transport.link_up(leader.node_id), what="the link to go down")
            assert follower.status().leader == leader.node_id  # it does not know yet
            started = asyncio.get_running_loop().time()
            assert await follower.execute(Request(5, 2, Set("after", "2"))) == Ok(True)
            assert asyncio.get_running_loop().time() - started < 2.0
            assert follower.status().leader not in (None, leader.node_id)
        finally:
            await _stop(running)

    run(scenario())


def test_a_forward_nobody_answers_is_timeout_after_the_guard_bound_and_leaves_nothing_behind() -> None:
    """``Node._guard`` (issue 14: one deadline queue swept every ``GUARD_SWEEP_S``, not a
    timer per request): a forward whose message is dropped is answered ``Timeout`` once
    request_timeout_ms * 1.5 + 1 s passed, not before; answered requests leave the queue
    and the sweep stops re-arming once it is empty."""

    async def scenario() -> None:
        nodes = await _cluster()
        try:
            await until(lambda: all(n.status().leader is not None for n in nodes), what="a leader")
            leader = next(n for n in nodes if n.status().leader == n.node_id)
            follower = next(n for n in nodes if n is not leader)
            for seq in range(1, 6):
                assert await follower.execute(Request(43, seq, Set("k", str(seq)))) == Ok(True)
            follower.transport.set_blocked({leader.node_id}, set())
            loop = asyncio.get_running_loop()
            started = loop.time()
            result = await follower._forward(leader.node_id, Request(43, 6, Set("k", "6")))
            waited = loop.time() - started
            assert result == Timeout()
            bound = CONFIG.request_timeout_ms * 1.5 / 1000.0 + 1.0
            assert bound <= waited < bound + 1.0, waited
            assert not follower._forwards
            await until(lambda: not follower._deadlines and follower._sweeper is None,
                        what="the deadline queue to empty and the sweep to stop")
            assert not follower.host._waiters and not leader.host._waiters
        finally:
            await _stop(nodes)

    run(scenario())


def test_forwards_and_their_replies_of_one_loop_turn_travel_together() -> None:
    """A follower serving many clients forwards several writes in one turn of its loop,
    and the leader answers a committed batch at once: each side sends them as one
    ``Envelopes`` message (one frame, one encode, one decode), and every write is still
    answered once, with its own result."""
    from replikv.core.router import Envelopes, Forward, ForwardReply

    spec = get_spec("raft")
    config = spec.make_config({"tick_ms": 5, "heartbeat_ms": 20, "election_timeout_ms": 150})

    async def scenario() -> None:
        nodes = await _cluster(spec=spec, config=config)
        try:
            assert await nodes[0].execute(Request(1, 1, Set("ready", "1"))) == Ok(True)
            leader = nodes[0].status().leader
            follower = next(n for n in nodes if n.node_id != leader)
            leading = next(n for n in nodes if n.node_id == leader)
            sent: dict[int, list] = {follower.node_id: [], leader: []}
            for node in (follower, leading):
                original = node.transport.send

                def spy(dst, msg, original=original, log=sent[node.node_id]):
                    if isinstance(msg, (Envelopes, Forward, ForwardReply)):
                        log.append(msg)
                    original(dst, msg)

                node.transport.send = spy  # type: ignore[method-assign]
            results = await asyncio.gather(*(follower.execute(Request(200 + c, 1, Set(f"k{c}", str(c))))
                                             for c in range(12)))
            assert results == [Ok(True)] * 12
            forwards = [f for m in sent[follower.node_id] for f in (m.forwards if type(m) is Envelopes else (m,))]
            replies = [r for m in sent[leader] for r in (m.replies if type(m) is Envelopes else (m,))]
            assert sorted(f.request.client_id for f in forwards) == list(range(200, 212))
            assert sorted(tuple(r.request_id) for r in replies) == [(200 + c, 1) for c in range(12)]
            assert any(type(m) is Envelopes and len(m.forwards) > 1 for m in sent[follower.node_id])
            assert any(type(m) is Envelopes and len(m.replies) > 1 for m in sent[leader])
            for c in range(12):
                assert await leading.execute(Request(300, c + 1, Get(f"k{c}"))) == Ok(str(c))
        finally:
            await _stop(nodes)

    run(scenario())
