"""The coordinator: any node runs a client's read or write over the key's preference
list (Dynamo, SOSP 2007, §4.5 "Execution of get() and put() operations").

- A **read** asks every node of the preference list for its state and answers once R
  have (its own state counts at once when it holds the key); the answer is the merge of
  what came back, resolved to one value. Replicas that answered with less get the merged
  state (read repair, §4.7 and §6: done when the read completes).
- A **write** first reads at R to learn the versions it overwrites (``read_before_write``:
  the causal context a Dynamo client passes to ``put``, §4.4, fetched by the
  coordinator) and the current value (INCRBY, APPEND, SET NX/XX need it). It then takes
  the next dot of its own for the key, stores the new version locally, makes it durable
  and only then sends it (``Put``) to the other nodes of the list (save before send: a
  restarted node never reuses a dot that left it); it answers once W nodes (itself
  included) acknowledged a durable copy.

Session guarantees (``sessions.py``, Terry et al. 1994): a request that carries a
``ClientSession`` is answered only from a state that covers what its session wrote and
read (the token it brought), shows a version that follows them, and its write overwrites
them; while the answers gathered do not cover them, the coordinator asks the preference
list again every ``session_retry_ms`` until the request's deadline, then answers
``Unavailable`` (definite: nothing written, never a stale answer). Its ``Ok`` carries the
session's new token.

Levels come from the request (``one``/``quorum``/``all``; ``local`` means ``one``;
any other level, such as the workloads' ``linearizable``, means the configured default).

Errors (docs/protocols/quorum.md has the table): a read or the read phase of a write that
does not reach R nodes in ``request_timeout_ms`` answers ``Unavailable`` (nothing was
written); a write whose version was stored but not acknowledged by W answers ``Timeout``
(it may have taken effect: some nodes hold it, and anti-entropy spreads it).

What may live here: pending operations and their quorum counting. The replica routes
inputs here; storage is ``Store``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from replikv.core.commands import Get, is_read
from replikv.core.errors import BadRequest, Ok, Result, Timeout, Unavailable, Uncertain
from replikv.core.messages import Message
from replikv.core.requests import Request
from replikv.protocols.quorum import crdt
from replikv.protocols.quorum import versions as v
from replikv.protocols.quorum.claims import Claims
from replikv.protocols.quorum.config import LEVELS, QuorumConfig, level_count
from replikv.protocols.quorum.messages import Put, PutAck, Read, ReadReply, Repair
from replikv.protocols.quorum.ring import Ring
from replikv.protocols.quorum.sessions import BadToken, Session
from replikv.protocols.quorum.store import Store

REMEMBERED = 20_000
"""How many request ids a coordinator remembers the answer of."""


@dataclass
class Pending:
    """One client operation in flight at its coordinator."""

    op_id: int
    request: Request
    key: str
    preference: tuple[int, ...]
    need: int
    deadline: float
    write: bool
    phase: str = "read"
    """``read`` (gathering states) or ``put`` (waiting for durable acks)."""
    answers: dict[int, v.KeyState] = field(default_factory=dict)
    merged: v.KeyState = v.EMPTY
    ran: bool = False
    """A node answered that this write request (or a later one of its client) already ran."""
    acks: set[int] = field(default_factory=set)
    dot: v.Dot | None = None
    result: Result | None = None
    persist_seq: int = 0
    started: float = 0.0
    """When the current phase began (sloppy quorum: when to call on fallbacks)."""
    fallbacks: dict[int, int] = field(default_factory=dict)
    """Sloppy quorum: fallback node -> the preference-list node it stands in for."""
    state: v.KeyState | None = None
    """The write's new version (sent again to fallbacks)."""
    session: Session | None = None
    """The request's session (None: it carried none)."""
    retry_at: float = 0.0
    """A session read waiting for versions it must cover: when to ask the replicas again."""


class Coordinator:
    def __init__(self, node: int, ring: Ring, store: Store, config: QuorumConfig,
                 send: Callable[[int, Message], None], reply: Callable[[Request, Result], None],
                 persist: Callable[[str, v.KeyState, tuple[tuple[int, int], ...]], int],
                 claims: Claims | None = None) -> None:
        self.node = node
        self._ring = ring
        self._store = store
        self._config = config
        self._send = send
        self._reply = reply
        self._persist = persist
        self._claims = claims or Claims(config.request_timeout_ms)
        self._next_op = 0
        self.pending: dict[int, Pending] = {}
        self._answered: dict[tuple[int, int], Result | None] = {}
        """Request id -> its answer (None while in flight), the last ``REMEMBERED`` ones:
        a duplicate copy of a request (the network, a client's resend) gets the first
        copy's answer instead of running again, so a definite refusal sticks."""
        self.now = 0.0
        self.repairs_sent = 0
        self.session_retries = 0
        """Times a session's read asked the replicas again (the versions it must cover
        were not there yet)."""

    # -- starting ----------------------------------------------------------------------

    def level(self, request: Request, write: bool) -> str:
        level = request.read_level
        if level in LEVELS:
            return level
        if level == "local":
            return "one"
        return self._config.write_level if write else self._config.read_level

    def duplicate(self, request: Request) -> bool:
        """A copy of a request this node already took: answered again (or left to the
        copy in flight). True when handled."""
        if request.id not in self._answered:
            return False
        earlier = self._answered[request.id]
        if earlier is not None:
            self._reply(request, earlier)
        return True

    def answer(self, request: Request, result: Result) -> None:
        """Reply to the client and remember the answer for duplicates."""
        self._answered[request.id] = result
        while len(self._answered) > REMEMBERED:
            del self._answered[next(iter(self._answered))]
        self._reply(request, result)

    def start(self, request: Request, key: str, preference: tuple[int, ...]) -> None:
        self._answered[request.id] = None
        session = None
        if request.session:
            if self._config.resolution != "siblings":
                self.answer(request, BadRequest("session guarantees need resolution = siblings (last-writer-wins "
                                                "drops the versions a session follows)"))
                return
            try:
                session = Session.of(request.session, key)
            except BadToken as exc:
                self.answer(request, BadRequest(str(exc)))
                return
        write = not is_read(request.command)
        n = len(preference)
        need = level_count(self.level(request, write), n)
        self._next_op += 1
        op = Pending(self._next_op, request, key, preference, need,
                     self.now + self._config.request_timeout_ms, write, started=self.now, session=session)
        self.pending[op.op_id] = op
        blind = session is None or not session.waits(request.command)
        if write and not self._config.read_before_write and blind:
            self._write(op, self._store.get(key))
            if op.phase != "put":
                del self.pending[op.op_id]
            return
        if write:
            # the read phase of a write waits for R answers (the default read level)
            op.need = level_count(self._config.read_level, n)
        for peer in preference:
            if peer != self.node:
                self._send(peer, Read(op.op_id, key, request.client_id if write else 0, request.seq if write else 0))
        op.ran = write and (self._store.ran(request.client_id, request.seq)
                            or self._claims.other(request.client_id, request.seq, self.node, op.op_id, self.now))
        if self.node in preference:
            self._answer(op, self.node, self._store.get(key))

    # -- answers -----------------------------------------------------------------------

    def on_read_reply(self, src: int, msg: ReadReply) -> None:
        op = self.pending.get(msg.op)
        if op is None or op.phase != "read" or not msg.ready or msg.key != op.key:
            return
        if src not in op.preference and src not in op.fallbacks:
            return
        op.ran = op.ran or msg.ran
        self._answer(op, src, msg.state)

    def _answer(self, op: Pending, src: int, state: v.KeyState) -> None:
        op.answers[src] = state
        op.merged = v.merge(op.merged, state)
        if len(op.answers) < op.need:
            return
        shown = self._session_view(op)
        if shown is None:
            return  # not yet what the session needs: more answers, or ask again (tick)
        self._repair(op)
        if not op.write:
            del self.pending[op.op_id]
            result = crdt.read_result(op.request, shown)
            if op.session is not None and type(result) is Ok:
                result = Ok(result.value, session=op.session.after_read(shown, op.request.command))
            self.answer(op.request, result)
            return
        if op.ran:
            # at most once: a copy of this request (a client's retry at another node, a
            # delayed duplicate) already issued a dot; running it again could undo later writes
            del self.pending[op.op_id]
            self.answer(op.request, Uncertain("a copy of this request ran or is running at another coordinator"))
            return
        self._write(op, op.merged)
        if op.phase != "put":
            del self.pending[op.op_id]

    def _session_view(self, op: Pending) -> v.KeyState | None:
        """What the operation may answer from (Sessions §3): the merged state, or for a
        session's register read only the siblings that follow its anchor; None while the
        merged state does not cover what the session wrote and read (``sessions.py``)."""
        session = op.session
        if session is None or (op.write and not session.waits(op.request.command)):
            return op.merged
        shown: v.KeyState | None = op.merged
        if v.join(op.merged.context, session.needed()) != op.merged.context:
            shown = None
        elif isinstance(op.request.command, Get):
            shown = session.view(op.merged)
        if shown is None and op.retry_at == 0.0:
            op.retry_at = self.now + self._config.session_retry_ms
        return shown

    def _ask_again(self, op: Pending) -> None:
        """A session's read still misses versions it must cover: ask every replica again."""
        self.session_retries += 1
        op.retry_at = self.now + self._config.session_retry_ms
        write = op.write
        for peer in op.preference:
            if peer != self.node:
                self._send(peer, Read(op.op_id, op.key, op.request.client_id if write else 0,
                                      op.request.seq if write else 0))
        if self.node in op.preference:
            self._answer(op, self.node, self._store.get(op.key))

    def _repair(self, op: Pending) -> None:
        if not self._config.read_repair:
            return
        for node, state in sorted(op.answers.items()):
            if v.dominated(op.merged, state):
                continue
            if node == self.node:
                self._absorb_local(op.key, op.merged)
            else:
                self.repairs_sent += 1
                self._send(node, Repair(op.key, op.merged))

    def on_put_ack(self, src: int, msg: PutAck) -> None:
        op = self.pending.get(msg.op)
        if op is None or op.phase != "put" or msg.dot != op.dot:
            return
        op.acks.add(src)
        self._maybe_done(op)

    def on_persisted(self, seq: int) -> None:
        for op in list(self.pending.values()):
            if op.phase == "put" and 0 < op.persist_seq <= seq:
                op.acks.add(self.node)
                self._maybe_done(op)

    def _maybe_done(self, op: Pending) -> None:
        if len(op.acks) >= op.need and op.op_id in self.pending:
            del self.pending[op.op_id]
            assert op.result is not None and op.state is not None and op.dot is not None
            result = op.result
            if op.session is not None and type(result) is Ok:
                result = Ok(result.value, session=op.session.after_write(op.state, op.dot))
            self.answer(op.request, result)

    def tick(self, now: float) -> None:
        self.now = now
        for op in list(self.pending.values()):
            if now < op.deadline:
                if self._config.sloppy_quorum and now >= op.started + self._config.hint_after_ms:
                    self._fall_back(op)
                if op.phase == "read" and 0.0 < op.retry_at <= now and op.op_id in self.pending:
                    self._ask_again(op)
                continue
            del self.pending[op.op_id]
            if op.phase == "read":
                what = "write's read" if op.write else "read"
                if len(op.answers) >= op.need:
                    self.answer(op.request, Unavailable(
                        f"session: the {what} reached {len(op.answers)} replicas, none holding the versions this "
                        f"session wrote or read of {op.key!r} (or a later one) yet"))
                else:
                    self.answer(op.request, Unavailable(
                        f"{what} reached {len(op.answers)} of the {op.need} replicas it needs"))
            else:
                self.answer(op.request, Timeout())

    # -- the write ---------------------------------------------------------------------

    def _write(self, op: Pending, seen: v.KeyState) -> None:
        """Compute the new version from what the read saw (``crdt.plan``), then store it
        durably here and send it to the rest of the preference list."""
        if op.session is not None:
            # monotonic writes, writes-follow-reads: overwrite what the session wrote and read
            seen = v.KeyState(v.join(seen.context, op.session.overwrites()), seen.siblings)
        planned = crdt.plan(op.request, seen, self._store.get(op.key), self.node, self.now,
                            counters=self._config.counters == "crdt")
        if planned.delta is None:
            self.answer(op.request, planned.result)
            return
        assert planned.dot is not None
        op.phase, op.dot, op.result, op.acks = "put", planned.dot, planned.result, set()
        op.started, op.fallbacks, op.state = self.now, {}, planned.delta
        op.need = level_count(self.level(op.request, True), len(op.preference))
        op.deadline = self.now + self._config.request_timeout_ms
        if self.node in op.preference:
            requests = ((op.request.client_id, op.request.seq),)
            op.persist_seq = self._absorb_local(op.key, planned.delta, force=True, requests=requests)
        for peer in op.preference:
            if peer != self.node:
                self._send(peer, Put(op.op_id, op.key, planned.delta, planned.dot))

    def _fall_back(self, op: Pending) -> None:
        """Sloppy quorum (Dynamo §4.6): for each silent node of the preference list, ask
        the next node of the ring once (a read), or send it the version with a hint."""
        heard = op.answers if op.phase == "read" else op.acks
        silent = [n for n in op.preference if n not in heard and n not in op.fallbacks.values()]
        spare = [n for n in self._ring.extended(op.key)
                 if n not in op.preference and n not in op.fallbacks and n != self.node]
        for intended, fallback in zip(silent, spare, strict=False):
            op.fallbacks[fallback] = intended
            if op.phase == "read":
                write = op.write
                self._send(fallback, Read(op.op_id, op.key, op.request.client_id if write else 0,
                                          op.request.seq if write else 0))
            else:
                assert op.state is not None and op.dot is not None
                self._send(fallback, Put(op.op_id, op.key, op.state, op.dot, hint=intended))

    def _absorb_local(self, key: str, state: v.KeyState, force: bool = False,
                      requests: tuple[tuple[int, int], ...] = ()) -> int:
        merged = self._store.absorb(key, state)
        if merged is None and not force:
            return 0
        return self._persist(key, self._store.get(key), requests)
