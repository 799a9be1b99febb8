"""One client connection of the Redis front end, as an ``asyncio.Protocol``.

What may live here: turning a connection's bytes into ``Session.execute`` calls, one at a
time and in order, and their replies into writes, under the bounds ``resp.server``
documents. The protocol is in ``resp.protocol``, the meaning of commands in
``resp.session``.

Why a protocol and not a stream reader with a task per connection (issue 14): on that
path every command cost a ``StreamReader`` wake-up, two steps of the connection's task
and a coroutine per read and per flush, more CPU than parsing and running the command
itself. Here ``data_received`` parses and starts the command at once; a command that
completes without waiting (PING, a refusal) is answered in the same callback, and one
that waits on the node (a write waiting for its commit) is resumed by a callback on the
future it waits on, as a task would resume it, without a task per command.
The commands run outside any task (``asyncio.current_task()`` is ``None`` in them):
nothing a command runs needs one (``asyncio.timeout`` would; ``wait_for`` does not).

Bounds, as before: once a command runs, reading pauses when more than ``READ_CHUNK``
bytes of further input wait behind it; every byte held (buffered input and the running
command's arguments) is charged to the node-wide ``BufferBudget``; when the replies
waiting for the client pass ``max_output_buffer`` (the transport's high-water mark) no
further command runs until the client reads, and a client that does not read within
``write_timeout`` seconds is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from replikv.resp import protocol as p
from replikv.resp.session import ServerContext, Session

if TYPE_CHECKING:
    from replikv.resp.server import BufferBudget, _Connections

log = logging.getLogger("replikv.resp")

READ_CHUNK = 64 * 1024
"""Input bytes a connection buffers behind a running command before it stops reading."""

REFUSE_LINGER_S = 1.0
"""How long a refused connection's further input is read and discarded after the error
(so the client reads the error instead of a reset); nothing read is kept."""


class RespConnection(asyncio.Protocol):
    """Parses one connection's commands and runs them one at a time, in order."""

    def __init__(self, ctx: ServerContext, limits: p.RespLimits, connections: _Connections, *,
                 max_query_buffer: int, max_output_buffer: int, write_timeout: float) -> None:
        self._ctx = ctx
        self._limits = limits
        self._connections = connections
        self._budget: BufferBudget = connections.budget
        self._max_query_buffer = max_query_buffer
        self._max_output_buffer = max_output_buffer
        self._write_timeout = write_timeout
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self._session: Session | None = None
        self._parser = p.RespParser(limits)
        self._held = 0
        """Bytes charged to the budget: buffered input plus the running command's arguments."""
        self._running: Coroutine[Any, Any, bytes] | None = None
        self._running_bytes = 0
        self._reading = True
        self._write_paused = False
        self._write_timer: asyncio.TimerHandle | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._eof = False
        self._counted = False
        self._peer: Any = None

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport subclass
        ctx = self._ctx
        if ctx.connected >= ctx.max_clients:
            transport.write(p.error("ERR max number of clients reached"))
            self._closed = True
            transport.close()
            return
        ctx.connected += 1
        self._counted = True
        self._connections.open.add(self)
        self._peer = transport.get_extra_info("peername")
        self._session = Session(ctx, self._peer[0] if isinstance(self._peer, tuple) else None)
        transport.set_write_buffer_limits(high=self._max_output_buffer)
        self._arm_idle()

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return  # refused or closing: what still arrives is discarded
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        budget = self._budget
        if budget.used + len(data) > budget.limit:
            # Checked before buffering: a read here can be 256 KiB (uvloop's), and the
            # node-wide total must not pass the budget by that much.
            self._refuse_over_budget(budget.used + len(data))
            return
        parser = self._parser
        parser.feed(data)
        self._charge(parser.buffered + self._running_bytes)
        if self._running is None and not self._write_paused:
            self._pump()
        else:
            self._regulate_reading()

    def eof_received(self) -> bool:
        # The client sends nothing more: the commands it sent still run and are answered
        # (it may only have half-closed), then the connection closes.
        self._eof = True
        if self._running is None and not self._write_paused:
            self._close()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._cancel_timers()
        self._charge(0)
        if self._counted:
            self._counted = False
            self._ctx.connected -= 1
        self._connections.open.discard(self)

    def pause_writing(self) -> None:
        """The replies waiting for the client passed ``max_output_buffer``: run nothing
        more until it reads, and drop it if it has not within ``write_timeout``."""
        self._write_paused = True
        if self._write_timer is None:
            self._write_timer = self._loop.call_later(self._write_timeout, self._write_timed_out)

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        if self._running is None and not self._closed:
            self._pump()

    # -- running commands -----------------------------------------------------------------

    def _pump(self) -> None:
        """Run the buffered commands in order until one waits, input runs out or the
        client stops reading; write the replies of those that completed."""
        parser = self._parser
        session = self._session
        assert session is not None
        out: list[bytes] = []
        size = 0
        while not session.closing and not self._write_paused and not self._closed:
            try:
                argv = parser.next_command()
                if argv is None:
                    if parser.buffered > self._max_query_buffer:
                        raise p.RespProtocolError("query buffer limit exceeded")
                    break
            except p.RespProtocolError as exc:
                out.append(p.error(f"ERR Protocol error: {exc}"))
                session.closing = True
                break
            self._running_bytes = sum(map(len, argv))
            self._charge(parser.buffered + self._running_bytes)
            command = session.execute(argv)
            reply = self._step(command)
            if reply is _WAITING:  # _resume carries on when it completes
                self._running = command
                self._write(out)
                self._regulate_reading()
                return
            if reply is _FAILED:
                return
            self._running_bytes = 0
            self._charge(parser.buffered)
            out.append(reply)
            size += len(reply)
            if size >= self._max_output_buffer:  # a long pipeline: write as it goes
                self._write(out)
                out, size = [], 0
        self._write(out)
        self._regulate_reading()
        if session.closing or (self._eof and not self._write_paused):
            self._close()  # QUIT, a protocol error or the client's EOF: after the replies
        else:
            self._arm_idle()

    def _step(self, command: Coroutine[Any, Any, bytes]) -> Any:
        """Advance ``command`` as a task step would: its reply; ``_WAITING`` once it waits
        on a future (``_resume`` runs when that future is done); ``_FAILED`` when it
        raised (a bug: logged, and the connection closes)."""
        try:
            waiting = command.send(None)
        except StopIteration as done:
            return done.value
        except Exception:
            log.exception("RESP connection from %s failed", self._peer)
            self._running = None
            self._close()
            return _FAILED
        if waiting is None:  # a bare yield (asyncio.sleep(0)): resume on the next turn
            self._loop.call_soon(self._resume, None)
        elif getattr(waiting, "_asyncio_future_blocking", None):
            waiting._asyncio_future_blocking = False
            waiting.add_done_callback(self._resume)
        else:
            command.close()
            log.error("RESP connection from %s: a command awaited %r, not an asyncio future",
                      self._peer, waiting)
            self._running = None
            self._close()
            return _FAILED
        return _WAITING

    def _resume(self, _: Any) -> None:
        command = self._running
        assert command is not None
        reply = self._step(command)
        if reply is _WAITING or reply is _FAILED:
            return
        self._running = None
        self._running_bytes = 0
        self._charge(self._parser.buffered)
        if self._closed:
            return  # the client went away meanwhile: nobody to answer
        self._write([reply])
        if self._write_paused:
            self._regulate_reading()
        else:
            self._pump()

    def _write(self, out: list[bytes]) -> None:
        if out and not self._closed:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))  # type: ignore[union-attr]

    def _regulate_reading(self) -> None:
        """Stop reading while more than ``READ_CHUNK`` bytes wait behind a running command
        (or a client that does not read its replies); read again once they are taken."""
        blocked = self._running is not None or self._write_paused
        if self._reading and blocked and self._parser.buffered > READ_CHUNK:
            self._reading = False
            self.transport.pause_reading()  # type: ignore[union-attr]
        elif not self._reading and not (blocked and self._parser.buffered > READ_CHUNK) and not self._closed:
            self._reading = True
            self.transport.resume_reading()  # type: ignore[union-attr]

    # -- bounds ---------------------------------------------------------------------------

    def _charge(self, now: int) -> None:
        self._held = self._budget.charge(self._held, now)

    def _refuse_over_budget(self, total: int) -> None:
        """A read would take the node-wide total to ``total`` bytes, past the budget: drop
        what this connection holds, answer the error, half-close, and discard further
        input for at most ``REFUSE_LINGER_S``."""
        budget = self._budget
        budget.refused += 1
        log.warning("closing client %s: %d request bytes buffered across all connections, "
                    "over client_buffer_budget=%d", self._peer, total, budget.limit)
        message = (f"ERR client buffer budget exceeded: {total} request bytes buffered "
                   f"across all connections (client_buffer_budget {budget.limit}); closing this connection")
        self._parser = p.RespParser(self._limits)  # drop what it held now, not at close
        self._charge(0)
        self._closed = True
        transport = self.transport
        assert transport is not None
        transport.write(p.error(message))
        if transport.can_write_eof():
            transport.write_eof()
        if not self._reading:
            self._reading = True
            transport.resume_reading()
        self._cancel_timers()
        self._write_timer = self._loop.call_later(REFUSE_LINGER_S, transport.close)

    def _arm_idle(self) -> None:
        idle = self._ctx.idle_timeout_s
        if idle > 0 and self._running is None and not self._closed:
            if self._idle_timer is not None:
                self._idle_timer.cancel()
            self._idle_timer = self._loop.call_later(idle, self._close)  # idle: close silently, as Redis

    def _write_timed_out(self) -> None:
        self._write_timer = None
        if self.transport is not None:
            self.transport.abort()  # a client that does not read its replies is dropped

    def _cancel_timers(self) -> None:
        for timer in (self._write_timer, self._idle_timer):
            if timer is not None:
                timer.cancel()
        self._write_timer = self._idle_timer = None

    def _close(self) -> None:
        self._closed = True
        self._cancel_timers()
        if self.transport is not None:
            self.transport.close()  # what is written still goes out first

    def close(self) -> None:
        """Close from the server's side (``close_resp``)."""
        self._close()


_WAITING = object()
"""``_step``: the command waits on a future."""
_FAILED = object()
"""``_step``: the command raised (a bug, logged); its connection is closed."""
