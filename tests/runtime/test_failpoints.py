"""Runtime failpoints (``runtime.failpoints``): names and actions are checked, the
transport freezes when one fires, flushes what was sent before (the whole batch), and
only then exits; ``RKVADMIN failpoint`` is refused unless the node runs with them."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest
from rt_helpers import run, until
from rt_toy import ToyAck, ToyAppend

from replikv.core.commands import Set
from replikv.core.requests import Request
from replikv.runtime.admin import run_admin
from replikv.runtime.failpoints import EXIT_CODE, FailpointError, Failpoints
from replikv.runtime.transport import PeerTransport, TransportSettings
from replikv.runtime.wire import WireCodec

CODEC = WireCodec((ToyAppend, ToyAck))
TYPES = ("ToyAppend", "ToyAck")


def _append(i: int) -> ToyAppend:
    return ToyAppend(index=i, request=Request(1, i, Set("k", str(i))), commit=0)


def _ack() -> ToyAck:
    return ToyAck(index=1)


def _transport(node: int, inbox: asyncio.Queue) -> PeerTransport:
    return PeerTransport(
        node=node, listen=("127.0.0.1", 0), peers={}, codec=CODEC, cluster_id="test", protocol="toy",
        on_message=lambda src, msg: inbox.put_nowait((src, msg)),
        settings=TransportSettings(backoff_min_s=0.01, backoff_max_s=0.05),
    )


async def _pair():
    inbox_a, inbox_b = asyncio.Queue(), asyncio.Queue()
    a, b = _transport(1, inbox_a), _transport(2, inbox_b)
    await a.start()
    await b.start()
    a.add_peer(2, ("127.0.0.1", b.port))
    b.add_peer(1, ("127.0.0.1", a.port))
    await until(lambda: all(s.up for s in a.link_states()) and all(s.up for s in b.link_states()),
                what="links up")
    return a, b, inbox_a, inbox_b


class _Exits:
    """Stands in for ``os._exit``: records the code and whether the links were flushed."""

    def __init__(self, transport_ref: list[PeerTransport]) -> None:
        self.calls: list[tuple[int, bool]] = []
        self._ref = transport_ref

    def __call__(self, code: int) -> None:
        self.calls.append((code, self._ref[0].flushed()))


def test_names_and_actions_are_checked() -> None:
    fp = Failpoints(TYPES)
    with pytest.raises(FailpointError, match="after-send:<MessageType> or after-receive"):
        fp.set("before-send:ToyAck", "exit")
    with pytest.raises(FailpointError, match="no message type 'Nope'; known: ToyAck, ToyAppend"):
        fp.set("after-send:Nope", "exit")
    with pytest.raises(FailpointError, match="unknown failpoint action 'panic'; known: exit"):
        fp.set("after-send:ToyAck", "panic")
    fp.set("after-send:ToyAck", "exit")
    fp.set("after-receive:ToyAppend", "EXIT")
    assert fp.armed() == {"after-send:ToyAck": "exit", "after-receive:ToyAppend": "exit"}
    assert fp.clear("after-send:ToyAck") == 1
    assert fp.clear("after-send:ToyAck") == 0
    assert fp.clear() == 1
    assert fp.armed() == {}


def test_after_send_flushes_the_whole_batch_then_exits_and_freezes() -> None:
    async def scenario() -> None:
        a, b, inbox_a, inbox_b = await _pair()
        try:
            exits = _Exits([a])
            a.failpoints = Failpoints(TYPES, exit_process=exits)
            froze: list[bool] = []
            a.failpoints.on_freeze.append(lambda: froze.append(True))
            a.failpoints.set("after-send:ToyAck", "exit")
            a.send(2, _append(1))  # not armed: nothing happens
            await asyncio.sleep(0.05)
            assert not a.frozen and exits.calls == []
            # one input's effects, run synchronously by the host: the firing one in the middle
            a.send(2, _append(2))
            a.send(2, _ack())
            a.send(2, _append(3))
            await until(lambda: bool(exits.calls), what="the failpoint's exit")
            assert exits.calls == [(EXIT_CODE, True)]  # exited once, with every link flushed
            assert froze == [True]  # the host's ticker is stopped once (serve registers it)
            assert a.failpoints.fired == "after-send:ToyAck"
            got = [await asyncio.wait_for(inbox_b.get(), 5) for _ in range(4)]
            assert [type(m).__name__ for _, m in got] == ["ToyAppend", "ToyAppend", "ToyAck", "ToyAppend"]
            # frozen: nothing more leaves, nothing more is delivered
            a.send(2, _append(4))
            b.send(1, _append(5))
            await asyncio.sleep(0.1)
            assert inbox_b.empty() and inbox_a.empty()
            assert a.frozen
        finally:
            await a.close()
            await b.close()

    run(scenario())


def test_after_receive_hands_the_message_to_the_node_then_exits() -> None:
    async def scenario() -> None:
        a, b, inbox_a, inbox_b = await _pair()
        try:
            exits = _Exits([b])
            b.failpoints = Failpoints(TYPES, exit_process=exits)
            b.failpoints.set("after-receive:ToyAppend", "exit")
            a.send(2, _ack())
            assert type((await asyncio.wait_for(inbox_b.get(), 5))[1]).__name__ == "ToyAck"
            assert exits.calls == []
            a.send(2, _append(1))
            assert type((await asyncio.wait_for(inbox_b.get(), 5))[1]).__name__ == "ToyAppend"
            await until(lambda: bool(exits.calls), what="the failpoint's exit")
            assert exits.calls == [(EXIT_CODE, True)]
            assert b.failpoints.fired == "after-receive:ToyAppend"
        finally:
            await a.close()
            await b.close()

    run(scenario())


def test_no_failpoints_no_firing() -> None:
    async def scenario() -> None:
        a, b, _, inbox_b = await _pair()
        try:
            assert a.failpoints is None
            a.send(2, _ack())
            assert type((await asyncio.wait_for(inbox_b.get(), 5))[1]).__name__ == "ToyAck"
            assert not a.frozen
        finally:
            await a.close()
            await b.close()

    run(scenario())


def _node(failpoints: Failpoints | None) -> SimpleNamespace:
    return SimpleNamespace(transport=SimpleNamespace(failpoints=failpoints))


def test_admin_verb_refused_without_serve_failpoints() -> None:
    with pytest.raises(ValueError, match="failpoints are off on this node; start it with `replikv serve --failpoints`"):
        run(run_admin(_node(None), "failpoint", ["set", "after-send:ToyAck", "exit"]))


def test_admin_verb_sets_lists_clears_and_explains_errors() -> None:
    fp = Failpoints(TYPES)
    node = _node(fp)
    assert run(run_admin(node, "FAILPOINT", ["set", "after-send:ToyAck", "exit"])) == "OK"
    assert run(run_admin(node, "failpoint", ["list"])) == '{"after-send:ToyAck":"exit"}'
    with pytest.raises(ValueError, match="no message type 'Prepare'"):
        run(run_admin(node, "failpoint", ["set", "after-send:Prepare", "exit"]))
    with pytest.raises(ValueError, match="usage: RKVADMIN failpoint set"):
        run(run_admin(node, "failpoint", ["set", "after-send:ToyAck"]))
    assert run(run_admin(node, "failpoint", ["clear"])) == "OK 1 cleared"
    assert fp.armed() == {}


@pytest.mark.process
@pytest.mark.timeout(120)
def test_real_2pc_coordinator_dies_after_its_prepares_left(tmp_path) -> None:
    """``replikv serve --failpoints``: the node armed with ``after-send:Prepare`` exits 137
    on its first transaction, and *both* participants got the PREPARE (each is in doubt,
    holding the key) -- the flush guarantee; a node without the flag refuses the verb.
    Restarted, the coordinator has no decision: presumed abort, the write never happened."""
    import redis
    from rt_procs import Cluster

    cluster = Cluster(tmp_path, "2pc", 3)
    try:
        cluster.start(1, extra=("--failpoints",))
        cluster.start(2)
        cluster.start(3)
        with pytest.raises(redis.ResponseError, match="failpoints are off on this node"):
            cluster.redis(2).execute_command("RKVADMIN", "failpoint", "list")
        # the guarantee covers links that are up: wait until node 1 reaches both peers
        _wait_for(lambda: all(link["connected"] for link in cluster.status(1)["transport"]["links"].values()),
                  10.0, "node 1's links up")
        one = cluster.redis(1)
        with pytest.raises(redis.ResponseError, match="no message type 'Nope'; known: .*Prepare"):
            one.execute_command("RKVADMIN", "failpoint", "set", "after-send:Nope", "exit")
        assert one.execute_command("RKVADMIN", "failpoint", "set", "after-send:Prepare", "exit") in (b"OK", "OK")
        with pytest.raises(redis.RedisError):
            one.set("k", "v")
        assert cluster.procs[1].wait(timeout=15) == EXIT_CODE
        assert "failpoint after-send:Prepare fired on node 1" in cluster.log(1)
        # the PREPARE reached both participants (a frame may still sit unread in a socket:
        # wait, bounded); they stay in doubt while the coordinator is down
        _wait_for(lambda: all(cluster.status(i)["metrics"]["in_doubt"] == 1 for i in (2, 3)), 5.0,
                  "both participants in doubt")
        cluster.start(1)  # no failpoint armed after a restart (and no --failpoints)
        _wait_for(lambda: not any(cluster.status(i)["metrics"]["in_doubt"] for i in (2, 3)), 20.0,
                  "the participants to learn the outcome after the restart")
        assert all(cluster.redis(i).get("k") is None for i in (1, 2, 3))
    finally:
        cluster.cleanup()


def _wait_for(condition, timeout_s: float, what: str) -> None:
    """Poll a condition over real processes (every 50 ms), bounded."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.05)
