"""Peer transport: framing, handshake, authentication, bounds, partitions. Whatever a
peer sends, the node stays up and only that connection is closed."""

from __future__ import annotations

import asyncio
import os
import struct
import typing

import pytest
from rt_helpers import run, until
from rt_toy import ToyAck, ToyAppend

from replikv.core import errors
from replikv.core.commands import Set
from replikv.core.requests import Request
from replikv.core.router import ForwardReply
from replikv.runtime.transport import PeerTransport, TransportSettings
from replikv.runtime.wire import (
    Challenge,
    FrameDecoder,
    FrameError,
    Hello,
    Refused,
    Welcome,
    WireCodec,
    handshake_mac,
)

CODEC = WireCodec((ToyAppend, ToyAck))


def _transport(node: int, inbox: asyncio.Queue, secret: bytes | None = None, **settings) -> PeerTransport:
    return PeerTransport(
        node=node, listen=("127.0.0.1", 0), peers={}, codec=CODEC, cluster_id="test", protocol="toy",
        on_message=lambda src, msg: inbox.put_nowait((src, msg)), secret=secret,
        settings=TransportSettings(backoff_min_s=0.01, backoff_max_s=0.05, **settings),
    )


async def _pair(secret_a: bytes | None = None, secret_b: bytes | None = None, **settings):
    inbox_a, inbox_b = asyncio.Queue(), asyncio.Queue()
    a, b = _transport(1, inbox_a, secret_a, **settings), _transport(2, inbox_b, secret_b, **settings)
    await a.start()
    await b.start()
    a.add_peer(2, ("127.0.0.1", b.port))
    b.add_peer(1, ("127.0.0.1", a.port))
    return a, b, inbox_a, inbox_b


async def _raw_handshake(port: int, node: int = 1, secret: bytes | None = None, cluster: str = "test"):
    """Dial like a peer would; returns (reader, writer, answer)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    decoder = FrameDecoder(1 << 16)
    frames: list[bytes] = []
    while not frames:
        frames = decoder.feed(await reader.read(4096))
    challenge = CODEC.decode_handshake(frames[0])
    assert isinstance(challenge, Challenge)
    mac = handshake_mac(secret, "dial", challenge.nonce, cluster, node, "toy")
    writer.write(CODEC.frame(Hello(cluster, node, "toy", os.urandom(16), mac)))
    frames = []
    while not frames:
        data = await reader.read(4096)
        if not data:
            return reader, writer, None
        frames = decoder.feed(data)
    return reader, writer, CODEC.decode_handshake(frames[0])


def _append(i: int) -> ToyAppend:
    return ToyAppend(index=i, request=Request(1, i, Set("k", str(i))), commit=0)


async def _closed(reader: asyncio.StreamReader) -> bool:
    """True once the node closed the connection (whatever it said before closing)."""
    await asyncio.wait_for(reader.read(), 5)
    return reader.at_eof()


def test_messages_arrive_in_order_both_ways() -> None:
    async def scenario() -> None:
        a, b, inbox_a, inbox_b = await _pair()
        for i in range(1, 201):
            a.send(2, _append(i))
        b.send(1, ToyAck(7))
        got = [await asyncio.wait_for(inbox_b.get(), 5) for _ in range(200)]
        assert [(src, m.index) for src, m in got] == [(1, i) for i in range(1, 201)]
        assert await asyncio.wait_for(inbox_a.get(), 5) == (2, ToyAck(7))
        await a.close()
        await b.close()

    run(scenario())


def test_a_frame_split_into_single_bytes_is_reassembled() -> None:
    async def scenario() -> None:
        inbox = asyncio.Queue()
        b = _transport(2, inbox)
        await b.start()
        b.add_peer(1, ("127.0.0.1", 1))
        reader, writer, answer = await _raw_handshake(b.port)
        assert isinstance(answer, Welcome) and answer.node == 2
        for byte in CODEC.frame(_append(1)) + CODEC.frame(_append(2)):
            writer.write(bytes([byte]))
            await writer.drain()
        assert (await asyncio.wait_for(inbox.get(), 5))[1] == _append(1)
        assert (await asyncio.wait_for(inbox.get(), 5))[1] == _append(2)
        writer.close()
        await b.close()

    run(scenario())


@pytest.mark.parametrize(
    "payload",
    [
        struct.pack(">I", 10_000_000) + b"x" * 100,  # oversized length: refused before buffering
        struct.pack(">I", 5) + b"\xc1\xc1\xc1\xc1\xc1",  # not msgpack
        CODEC.frame(Refused("a handshake struct after the handshake"))[0:],  # wrong type
    ],
    ids=["oversized", "garbage", "wrong-type"],
)
def test_bad_frames_close_that_connection_and_the_node_stays_up(payload: bytes) -> None:
    async def scenario() -> None:
        a, b, _, inbox_b = await _pair(max_frame_bytes=1 << 20)
        reader, writer, answer = await _raw_handshake(b.port)
        assert isinstance(answer, Welcome)
        writer.write(payload)
        assert await _closed(reader)
        await until(lambda: b.bad_frames == 1, what="the bad frame to be counted")
        a.send(2, _append(1))  # the regular peer is unaffected
        assert await asyncio.wait_for(inbox_b.get(), 5) == (1, _append(1))
        await a.close()
        await b.close()

    run(scenario())


def test_garbage_instead_of_a_hello_is_dropped() -> None:
    async def scenario() -> None:
        inbox = asyncio.Queue()
        b = _transport(2, inbox)
        await b.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", b.port)
        writer.write(b"GET / HTTP/1.1\r\n\r\n" * 10)
        assert await _closed(reader)
        assert inbox.empty()
        await b.close()

    run(scenario())


def test_unknown_node_and_wrong_cluster_are_refused() -> None:
    async def scenario() -> None:
        inbox = asyncio.Queue()
        b = _transport(2, inbox)
        await b.start()
        b.add_peer(1, ("127.0.0.1", 1))
        _, w1, answer = await _raw_handshake(b.port, node=9)
        assert isinstance(answer, Refused) and "not a member" in answer.reason
        _, w2, answer = await _raw_handshake(b.port, node=1, cluster="other")
        assert isinstance(answer, Refused) and "cluster id" in answer.reason
        assert b.refused == 2
        w1.close()
        w2.close()
        await b.close()

    run(scenario())


def test_a_wrong_secret_is_refused_and_the_right_one_accepted() -> None:
    async def scenario() -> None:
        a, b, _, inbox_b = await _pair(secret_a=b"wrong", secret_b=b"right")
        a.send(2, _append(1))
        await until(lambda: b.refused >= 1, what="the wrong secret to be refused")
        assert inbox_b.empty()
        _, writer, answer = await _raw_handshake(b.port, secret=None)
        assert isinstance(answer, Refused) and "authentication" in answer.reason
        writer.close()
        await a.close()
        await b.close()
        a, b, _, inbox_b = await _pair(secret_a=b"right", secret_b=b"right")
        a.send(2, _append(1))
        assert await asyncio.wait_for(inbox_b.get(), 5) == (1, _append(1))
        await a.close()
        await b.close()

    run(scenario())


def test_a_dialer_rejects_a_listener_that_cannot_prove_the_secret() -> None:
    async def scenario() -> None:
        a, b, _, inbox_b = await _pair(secret_a=b"right", secret_b=None)
        # b has no secret so it accepts a's hello, but its Welcome carries no valid mac:
        a.send(2, _append(1))
        await until(lambda: a._links[2].failures >= 3, what="three failed handshakes")
        assert not a._links[2].connected and b.refused == 0
        assert inbox_b.empty()
        await a.close()
        await b.close()

    run(scenario())


def test_blocked_peers_lose_traffic_one_way_until_healed() -> None:
    async def scenario() -> None:
        a, b, inbox_a, inbox_b = await _pair()
        a.set_blocked(outgoing={2}, incoming=set())
        a.send(2, _append(1))
        b.send(1, ToyAck(1))
        assert await asyncio.wait_for(inbox_a.get(), 5) == (2, ToyAck(1))  # 2 -> 1 still flows
        assert a.blocked_drops == 1 and inbox_b.empty()
        b.set_blocked(outgoing=set(), incoming={1})
        a.set_blocked(set(), set())
        a.send(2, _append(2))
        await until(lambda: b.blocked_drops == 1, what="b to drop what comes from 1")
        b.set_blocked(set(), set())
        a.send(2, _append(3))
        assert await asyncio.wait_for(inbox_b.get(), 5) == (1, _append(3))
        await a.close()
        await b.close()

    run(scenario())


def test_a_full_send_queue_drops_its_oldest_frames_and_counts_them() -> None:
    async def scenario() -> None:
        inbox = asyncio.Queue()
        a = _transport(1, inbox, send_queue_frames=5)
        await a.start()
        a.add_peer(2, ("127.0.0.1", 1))  # nobody listens there: frames pile up
        for i in range(1, 21):
            a.send(2, _append(i))
        link = a._links[2]
        assert link.dropped == 15
        assert [CODEC.decode(f[4:]).index for f in link.queue] == [16, 17, 18, 19, 20]
        await a.close()

    run(scenario())


def test_frame_decoder_refuses_oversized_lengths_before_buffering() -> None:
    decoder = FrameDecoder(100)
    with pytest.raises(FrameError, match="exceeds"):
        decoder.feed(struct.pack(">I", 101))
    decoder = FrameDecoder(100)
    assert decoder.feed(struct.pack(">I", 3) + b"ab") == []
    assert decoder.feed(b"c" + struct.pack(">I", 0)) == [b"abc", b""]


def test_every_result_type_crosses_the_wire_in_a_forward_reply() -> None:
    """A forwarded request's answer keeps its type (WRONGTYPE stays WRONGTYPE at the node
    the client talks to), for every member of ``core.errors.Result``."""
    samples = {errors.Ok: errors.Ok(3), errors.NotLeader: errors.NotLeader(2)}
    for kind in typing.get_args(errors.Result):
        result = samples.get(kind) or kind()
        frame = CODEC.frame(ForwardReply(7, result, (1, 2)))
        decoded = CODEC.decode(frame[4:])
        assert type(decoded.result) is kind and decoded.result == result


def test_a_peer_that_dials_in_cuts_our_backoff_towards_it_short() -> None:
    """A restarted node is reachable both ways as soon as it is up: its connection to us
    makes our link to it, waiting out a backoff (here 30 s), dial at once."""
    async def scenario() -> None:
        inbox_a, inbox_b = asyncio.Queue(), asyncio.Queue()
        slow = {"backoff_min_s": 30.0, "backoff_max_s": 30.0}

        def transport(node: int, inbox: asyncio.Queue, port: int = 0) -> PeerTransport:
            return PeerTransport(node=node, listen=("127.0.0.1", port), peers={}, codec=CODEC, cluster_id="test",
                                 protocol="toy", on_message=lambda src, msg: inbox.put_nowait((src, msg)),
                                 settings=TransportSettings(**slow))

        gone = transport(2, inbox_b)
        await gone.start()
        port = gone.port
        await gone.close()  # node 2 is down: node 1's first dial is refused
        a = transport(1, inbox_a)
        await a.start()
        a.add_peer(2, ("127.0.0.1", port))
        await until(lambda: a._links[2].redial is not None, 5, "node 1 backing off")
        b = transport(2, inbox_b, port)  # node 2 restarts on its port and dials node 1
        await b.start()
        b.add_peer(1, ("127.0.0.1", a.port))
        await until(lambda: a.link_up(2), 5, "node 1's link to the restarted node 2")
        assert a._links[2].early_redials == 1
        a.send(2, ToyAck(3))
        assert await asyncio.wait_for(inbox_b.get(), 5) == (1, ToyAck(3))
        await a.close()
        await b.close()

    run(scenario())
