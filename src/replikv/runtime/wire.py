"""The peer wire format, sans-I/O: frames, the handshake and the runtime's own envelopes.

What may live here: byte layouts and the structs that travel between nodes; no sockets.

A frame is a 4-byte big-endian payload length followed by the payload, a msgpack
document (msgspec). Before the handshake completes the payload is one of the
handshake structs (``Challenge``, ``Hello``, ``Welcome``, ``Refused``); afterwards it is
one of the scheme's messages (``spec.messages``) or a runtime envelope (``Forward``,
``ForwardReply``). Every struct is frozen and tagged: one declaration is the type and
the wire format (DESIGN.md: never pickle).

The handshake proves membership with an optional shared secret (HMAC-SHA256 over a
fresh nonce of each side), so neither side can be replayed and a node without the
secret is refused::

    dialer                                      listener
      |  <------------- Challenge(nonce_l) -------  |
      |  -- Hello(cluster, node, protocol,          |
      |           nonce_d, mac_d) --------------->  |  checks cluster/protocol/member/mac_d
      |  <------- Welcome(node, mac_l) ----------   |  (or Refused(reason) and close)
      |  checks mac_l                               |
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from typing import Any

import msgspec

from replikv.core.messages import Message
from replikv.core.router import ENVELOPES as ROUTER_ENVELOPES
from replikv.core.router import Forward, ForwardReply  # noqa: F401 - the envelopes, re-exported

WIRE_VERSION = 1
HEADER = struct.Struct(">I")
NONCE_BYTES = 16


class FrameError(Exception):
    """The peer broke the framing rules (oversized or malformed frame): close the connection."""


# -- handshake --------------------------------------------------------------------------


class Challenge(msgspec.Struct, frozen=True, tag="rkv.challenge"):
    """Sent by the listener as soon as a connection is accepted."""

    nonce: bytes
    version: int = WIRE_VERSION


class Hello(msgspec.Struct, frozen=True, tag="rkv.hello"):
    """The dialer says who it is; ``mac`` answers the listener's challenge."""

    cluster_id: str
    node: int
    protocol: str
    nonce: bytes
    mac: bytes
    version: int = WIRE_VERSION


class Welcome(msgspec.Struct, frozen=True, tag="rkv.welcome"):
    """The listener accepts; ``mac`` answers the dialer's nonce (mutual authentication)."""

    node: int
    mac: bytes


class Refused(msgspec.Struct, frozen=True, tag="rkv.refused"):
    reason: str


Handshake = Challenge | Hello | Welcome | Refused


def handshake_mac(secret: bytes | None, role: str, nonce: bytes, cluster_id: str, node: int, protocol: str) -> bytes:
    """HMAC-SHA256 binding a nonce to who answers it; empty when no secret is configured."""
    if not secret:
        return b""
    text = f"{role}|{cluster_id}|{node}|{protocol}|".encode() + nonce
    return hmac.new(secret, text, hashlib.sha256).digest()


def mac_ok(secret: bytes | None, expected_args: tuple, given: bytes) -> bool:
    """Constant-time check of a handshake mac (always true without a secret)."""
    if not secret:
        return True
    return hmac.compare_digest(handshake_mac(secret, *expected_args), given)


# -- runtime envelopes (after the handshake) ----------------------------------------------


# ``Forward``/``ForwardReply`` live in ``core.router`` (the simulator carries them too).
ENVELOPES: tuple[type, ...] = ROUTER_ENVELOPES


# -- codecs -------------------------------------------------------------------------------


class WireCodec:
    """Encodes and decodes frame payloads for one scheme's message set."""

    def __init__(self, messages: tuple[type[Message], ...]) -> None:
        union: Any = _union((*messages, *ENVELOPES))
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(union)
        self._handshake = msgspec.msgpack.Decoder(Handshake)

    def frame(self, item: Any) -> bytes:
        payload = self._encoder.encode(item)
        return HEADER.pack(len(payload)) + payload

    def decode(self, payload: bytes) -> Any:
        """A scheme message or envelope; ``FrameError`` if the payload is not one."""
        try:
            return self._decoder.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise FrameError(f"malformed message: {exc}") from None

    def decode_handshake(self, payload: bytes) -> Any:
        try:
            return self._handshake.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise FrameError(f"malformed handshake: {exc}") from None


def _union(types: tuple[type, ...]) -> Any:
    assert types, "a scheme declares at least one message"
    union: Any = types[0]
    for extra in types[1:]:
        union = union | extra
    return union


class FrameDecoder:
    """Splits a byte stream into frame payloads (h11-style: feed bytes, take frames).

    A length above ``max_frame_bytes`` raises ``FrameError`` before the body is buffered,
    so a hostile or broken peer cannot make the node allocate it.
    """

    __slots__ = ("_buffer", "_max")

    def __init__(self, max_frame_bytes: int) -> None:
        self._buffer = bytearray()
        self._max = max_frame_bytes

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        frames: list[bytes] = []
        while len(self._buffer) >= HEADER.size:
            (length,) = HEADER.unpack_from(self._buffer)
            if length > self._max:
                raise FrameError(f"frame of {length} bytes exceeds max_frame_bytes={self._max}")
            end = HEADER.size + length
            if len(self._buffer) < end:
                break
            frames.append(bytes(self._buffer[HEADER.size : end]))
            del self._buffer[:end]
        return frames

    @property
    def buffered(self) -> int:
        return len(self._buffer)
