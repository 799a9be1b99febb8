"""Session guarantees carried by the client (Terry, Demers, Petersen, Spreitzer, Theimer,
Welch, "Session Guarantees for Weakly Consistent Replicated Data", PDIS 1994).

What may live here: the session token (what a session wrote and read, per key), the
rules that say what a request must wait for, what a write overwrites and which sibling a
read shows, and the token's update. Pure values and functions; no replica state.

The session's state travels with the client (Terry §4, "the read-set and write-set are
kept by the session manager at the client"): every ``Ok`` to a request that carried a
``ClientSession`` returns the new token, and the client sends it with its next request,
at whatever node. Per key the token holds:

- ``written``: the contexts of the session's writes (each write's dot and every dot it
  overwrote); ``last_write``, the dot of its latest write;
- ``read``: the causal past of every version the session was shown (the shown sibling's
  dot and the context its write overwrote), or the whole merged context for reads that
  show every sibling (``SMEMBERS``, counters, ``SIBLINGS``); ``last_read``, the dot of the
  latest register version shown;
- ``read_last``: the latest of the two was a read.

The token always records; the request's toggles say what is enforced (Terry §3):

- **read-your-writes**: a read (or a write that reads the key: everything but a plain
  ``SET``) is answered only once the state it read covers ``written``;
- **monotonic reads**: likewise for ``read``;
- a read then shows a register sibling that *follows* the session's anchor (its latest
  write or read among the guarantees on): the anchor itself, or a sibling whose write had
  seen it (``Sibling.context`` covers it). Any version that causally follows what the
  session wrote or saw began after that was written, so it is never older in real time
  (the checker's reading of the guarantees, ``check/session.py``). Concurrent siblings
  that do not follow it (another node's write whose coordinator's clock ran ahead) are
  not shown to this session, whatever their timestamp;
- **monotonic writes**: a write overwrites ``written`` (its context includes it), so the
  session's earlier writes never outlive a later one anywhere;
- **writes-follow-reads**: a write overwrites ``read``: what the session read before a
  write never outlives that write.

Bounds: a token keeps its ``MAX_KEYS`` most recently used keys; a key dropped from it
loses its guarantees (docs/protocols/quorum.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from replikv.core.commands import Get, Set
from replikv.core.requests import GUARANTEES, ClientSession
from replikv.protocols.quorum import versions as v

MAX_KEYS = 1_000
"""Keys one token remembers (the least recently used is forgotten beyond it)."""

RYW, MR, MW, WFR = GUARANTEES


class KeySession(msgspec.Struct, frozen=True, array_like=True):
    """What one session wrote and read of one key."""

    key: str
    written: v.Context = v.EMPTY_CONTEXT
    read: v.Context = v.EMPTY_CONTEXT
    last_write: v.Dot | None = None
    last_read: v.Dot | None = None
    read_last: bool = False


class Token(msgspec.Struct, frozen=True, array_like=True):
    """The opaque bytes of ``ClientSession.token``, decoded (least recently used key first)."""

    keys: tuple[KeySession, ...] = ()


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Token)


class BadToken(ValueError):
    """The token is not one this scheme issued, or names an unknown guarantee."""


@dataclass(frozen=True)
class Session:
    """One request's session: the guarantees on, and the token's entry for its key."""

    guarantees: frozenset[str]
    token: Token
    entry: KeySession

    @staticmethod
    def of(session: ClientSession, key: str) -> Session:
        unknown = sorted(set(session.guarantees) - set(GUARANTEES))
        if unknown:
            raise BadToken(f"unknown session guarantee {unknown[0]!r} (one of {', '.join(GUARANTEES)})")
        try:
            token = _DECODER.decode(session.token) if session.token else Token()
        except msgspec.DecodeError:
            raise BadToken("the session token is not one this scheme issued") from None
        entry = next((k for k in token.keys if k.key == key), KeySession(key))
        return Session(frozenset(session.guarantees), token, entry)

    # -- what a request must wait for, and what a write overwrites ---------------------

    def needed(self) -> v.Context:
        """The dots the state a read uses must cover (read-your-writes, monotonic reads)."""
        need = v.EMPTY_CONTEXT
        if RYW in self.guarantees:
            need = v.join(need, self.entry.written)
        if MR in self.guarantees:
            need = v.join(need, self.entry.read)
        return need

    def waits(self, command: object) -> bool:
        """Must this request's read wait until it covers ``needed()``? Reads, and writes
        whose result or value depends on what they read; a plain ``SET`` does not."""
        blind = isinstance(command, Set) and command.only_if is None and not command.return_old
        return not blind

    def overwrites(self) -> v.Context:
        """What a write must overwrite besides what it read (monotonic writes,
        writes-follow-reads)."""
        extra = v.EMPTY_CONTEXT
        if MW in self.guarantees:
            extra = v.join(extra, self.entry.written)
        if WFR in self.guarantees:
            extra = v.join(extra, self.entry.read)
        return extra

    def anchor(self) -> v.Dot | None:
        """The version a read's answer must follow: the session's latest write or read
        among the guarantees on (the later of the two when both are)."""
        ryw, mr = RYW in self.guarantees, MR in self.guarantees
        entry = self.entry
        if ryw and mr:
            first, second = (entry.last_read, entry.last_write) if entry.read_last else (entry.last_write,
                                                                                          entry.last_read)
            return first if first is not None else second
        if ryw:
            return entry.last_write
        if mr:
            return entry.last_read
        return None

    def view(self, state: v.KeyState) -> v.KeyState | None:
        """``state`` as this session may be shown it (register reads): only the siblings
        that follow the anchor; None when the state covers the anchor but no register
        sibling follows it (a read must not answer then)."""
        anchor = self.anchor()
        if anchor is None:
            return state
        following = tuple(s for s in state.siblings
                          if s.kind == v.REGISTER and (s.dot == anchor or s.context.covers(anchor)))
        if not following:
            return None
        return v.KeyState(state.context, following)

    # -- the token after the request ---------------------------------------------------

    def after_read(self, shown: v.KeyState, command: object) -> bytes:
        entry = self.entry
        top = v.winner(shown) if isinstance(command, Get) else None
        if top is not None and top.kind == v.REGISTER:
            seen = v.add(top.context, top.dot)
            entry = msgspec.structs.replace(entry, read=v.join(entry.read, seen), last_read=top.dot, read_last=True)
        else:
            entry = msgspec.structs.replace(entry, read=v.join(entry.read, shown.context), read_last=True)
        return self._with(entry)

    def after_write(self, written: v.KeyState, dot: v.Dot) -> bytes:
        entry = self.entry
        entry = msgspec.structs.replace(entry, written=v.join(entry.written, written.context), last_write=dot,
                                        read_last=False)
        return self._with(entry)

    def _with(self, entry: KeySession) -> bytes:
        keys = [k for k in self.token.keys if k.key != entry.key]
        keys.append(entry)
        return _ENCODER.encode(Token(tuple(keys[-MAX_KEYS:])))


def decode(token: bytes) -> Token:
    """A token's contents (for tests and tools)."""
    return _DECODER.decode(token)
