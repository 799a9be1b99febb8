"""One client connection's state and the execution of its commands.

What may live here: per-connection state (request identity, read level, name) and the
dispatch of one parsed command to the ``NodeService``. No sockets: the server feeds
argument lists and writes back the bytes returned, so this is testable without I/O.

Request identity: a plain connection gets a ``client_id`` from the server's allocator
and numbers its requests 1, 2, 3...; ``RKV client_id seq read_level CMD ...`` runs one
command under an identity the client chose, so a retried write is applied at most once
(Raft thesis §6.3; kv/sessions.py). Commands of one connection run one at a time, in
order: the session table keeps only a client's latest request, and Redis clients expect
a pipeline's commands to take effect in the order sent.

Session guarantees (``SESSION``, Terry et al. 1994): the connection keeps the guarantees
its client turned on and the session token of its last ``Ok``, and sends both with each
data command (``core.requests.ClientSession``); ``SESSION TOKEN`` hands the token out so
a client can take its session to a connection at another node.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from replikv.core.commands import GUARD_FAILED, MGet, Txn, is_read
from replikv.core.errors import Aborted, Ok, Result, Timeout
from replikv.core.requests import GUARANTEES, READ_LEVELS, ClientSession, Request
from replikv.resp import info as infos
from replikv.resp import protocol as p
from replikv.resp.commands import (
    COMMAND_TABLE,
    INT64_MAX,
    CommandError,
    Render,
    arity_ok,
    build_data_command,
    error_reply,
    is_data_command,
    render_result,
    unknown_command,
    wrong_arity,
)
from replikv.resp.transaction import (
    UNWATCH_QUEUED,
    WATCH_INSIDE_MULTI,
    Prepared,
    Queued,
    TransactionState,
    no_transactions,
    not_in_transaction,
)
from replikv.runtime.service import NodeService

SESSION_NAMES = {"ryw": GUARANTEES[0], "mr": GUARANTEES[1], "mw": GUARANTEES[2], "wfr": GUARANTEES[3],
                 **{name: name for name in GUARANTEES}}
"""``SESSION``'s words for the guarantees (short and full names; ``all`` means the four)."""

WRITE_LEVELS = ("one", "quorum", "all", "default")
"""``WRITELEVEL``'s words: replicas a write waits for (``default``: the scheme's own)."""

log = logging.getLogger("replikv.resp")

ADMIN_FROM = ("loopback", "any")


@dataclass
class ServerContext:
    """What every session of one server shares."""

    service: NodeService
    next_client_id: Callable[[], int]
    scheme: str = "unknown"
    port: int = 0
    max_clients: int = 10_000
    max_bulk: int = 8 * 1024 * 1024
    idle_timeout_s: float = 0.0
    admin_from: str = "loopback"
    default_read_level: str = "linearizable"
    transactions: bool = True
    """Whether the scheme offers multi-key ``Txn`` (``ProtocolSpec.transactions``);
    without, EXEC, TXN, MSET and multi-key DEL are refused here, nothing applied."""
    connected: int = 0

    def __post_init__(self) -> None:
        if self.admin_from not in ADMIN_FROM:
            raise ValueError(f"admin_from must be one of {ADMIN_FROM}, not {self.admin_from!r}")
        if self.default_read_level not in READ_LEVELS:
            raise ValueError(
                f"read level must be one of {READ_LEVELS}, not {self.default_read_level!r}"
            )

    def facts(self, protocol: int = 2) -> infos.FrontEndFacts:
        return infos.FrontEndFacts(
            node_id=self.service.node_id,
            scheme=self.scheme,
            port=self.port,
            connected_clients=self.connected,
            max_clients=self.max_clients,
            max_bulk=self.max_bulk,
            idle_timeout_s=self.idle_timeout_s,
            protocol=protocol,
        )


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def _positive(raw: bytes, what: str) -> int:
    number = p.parse_int(raw)
    if number is None or not 0 < number <= INT64_MAX:
        raise CommandError(f"ERR {what} must be a positive integer")
    return number


def _int64(raw: bytes) -> int:
    number = p.parse_int(raw)
    if number is None or not -(2**63) <= number <= INT64_MAX:
        raise CommandError("ERR value is not an integer or out of range")
    return number


def _valid_name(raw: bytes) -> bool:
    return all(0x21 <= b <= 0x7E for b in raw)


class Session:
    """The state of one connection; ``execute`` runs one command and returns its reply."""

    def __init__(self, ctx: ServerContext, peer_host: str | None) -> None:
        self.ctx = ctx
        self.client_id = ctx.next_client_id()
        self.seq = 0
        self.read_level = ctx.default_read_level
        self.write_level: str | None = None
        """``WRITELEVEL``: the level a write request carries (a leaderless scheme's W);
        None: the read level, as before (schemes with a leader ignore it for writes)."""
        self.guarantees: tuple[str, ...] = ()
        """``SESSION``: the session guarantees this connection's requests ask for."""
        self.session_token = b""
        """The session token of the last ``Ok`` (sent back with the next request)."""
        self.name: bytes | None = None
        self.protocol = 2
        """RESP version of the replies: 2 until ``HELLO 3``."""
        self.closing = False
        """Set by QUIT: the server flushes the reply and closes."""
        self.peer_host = peer_host
        self._wait_client = self.client_id
        self.transaction = TransactionState()
        """MULTI and WATCH state (resp/transaction.py)."""
        self._handlers: dict[str, Callable[[list[bytes]], Awaitable[p.ReplyValue]]] = {
            "ping": self._ping,
            "echo": self._echo,
            "quit": self._quit,
            "wait": self._wait,
            "role": self._role,
            "info": self._info,
            "readlevel": self._readlevel,
            "writelevel": self._writelevel,
            "session": self._session,
            "command": self._command,
            "config": self._config,
            "client": self._client,
            "hello": self._hello,
            "select": self._select,
            "rkv": self._rkv,
            "rkvadmin": self._rkvadmin,
            "multi": self._multi,
            "exec": self._exec,
            "discard": self._discard,
            "watch": self._watch,
            "unwatch": self._unwatch,
        }

    async def execute(self, argv: list[bytes]) -> bytes:
        """Run one command; its reply encoded for the connection's protocol version (the
        version after the command, so ``HELLO 3`` is answered in RESP3, as Redis does)."""
        reply = await self._reply(argv)
        return p.encode_reply(reply, self.protocol == 3)

    async def _reply(self, argv: list[bytes]) -> p.ReplyValue:
        name = argv[0].decode("latin-1").lower()
        command_info = COMMAND_TABLE.get(name)
        error = None
        if command_info is None:
            error = unknown_command(argv)
        elif not arity_ok(command_info, len(argv)):
            error = wrong_arity(name)
        if error is not None:
            self.transaction.refuse()  # Redis: such an error inside MULTI aborts EXEC
            return p.Error(error)
        if self.transaction.intercepts(name):
            return self._queue(name, argv)
        try:
            if is_data_command(name):
                data = build_data_command(argv)
                self.seq += 1
                level = self.read_level if self.write_level is None or is_read(data.command) else self.write_level
                request = self._request(self.client_id, self.seq, data.command, level)
                self._wait_client = self.client_id
                return await self._run(request, data.render)
            return await self._handlers[name](argv[1:])
        except CommandError as exc:
            return p.Error(exc.text)

    def _queue(self, name: str, argv: list[bytes]) -> p.ReplyValue:
        """A command inside MULTI: ``+QUEUED``, or its error (then EXEC aborts)."""
        if name == "unwatch":
            return self.transaction.queue(UNWATCH_QUEUED)
        if not is_data_command(name):
            self.transaction.refuse()
            return p.Error(not_in_transaction(name))
        try:
            data = build_data_command(argv)
        except CommandError as exc:
            self.transaction.refuse()
            return p.Error(exc.text)
        return self.transaction.queue(Queued.of(data))

    async def _run(self, request: Request, render: Render) -> p.ReplyValue:
        if isinstance(request.command, Txn) and not self.ctx.transactions:
            return p.Error(no_transactions(self.ctx.scheme))
        return render_result(await self._execute(request), render)

    async def _execute(self, request: Request) -> Result:
        try:
            result = await self.ctx.service.execute(request)
        except Exception:
            # The request may have reached the cluster: never a definite error here.
            log.exception("service failed on request %s", request.id)
            return Timeout()
        if type(result) is Ok and result.session:
            self.session_token = result.session
        return result

    def _request(self, client_id: int, seq: int, command: object, level: str) -> Request:
        """A data command's request, with this connection's session when one is on."""
        if not self.guarantees:
            return Request(client_id, seq, command, level)  # type: ignore[arg-type]
        return Request(client_id, seq, command, level,  # type: ignore[arg-type]
                       session=ClientSession(self.guarantees, self.session_token))

    # -- connection commands --------------------------------------------------------

    async def _ping(self, args: list[bytes]) -> p.ReplyValue:
        if len(args) > 1:
            raise CommandError(wrong_arity("ping"))
        return args[0] if args else p.Simple("PONG")

    async def _echo(self, args: list[bytes]) -> p.ReplyValue:
        return args[0]

    async def _quit(self, args: list[bytes]) -> p.ReplyValue:
        self.closing = True
        return p.Simple("OK")

    async def _select(self, args: list[bytes]) -> p.ReplyValue:
        if _int64(args[0]) != 0:
            raise CommandError("ERR DB index is out of range")
        return p.Simple("OK")

    async def _readlevel(self, args: list[bytes]) -> p.ReplyValue:
        if not args:
            return self.read_level.encode()
        level = args[0].decode("latin-1").lower()
        if len(args) > 1:
            raise CommandError(wrong_arity("readlevel"))
        if level not in READ_LEVELS:
            raise CommandError(f"ERR read level must be one of {', '.join(READ_LEVELS)}")
        self.read_level = level
        return p.Simple("OK")

    async def _writelevel(self, args: list[bytes]) -> p.ReplyValue:
        """``WRITELEVEL one|quorum|all|default``: how many replicas this connection's
        writes wait for, on a scheme that lets the client choose (``quorum``'s W)."""
        if not args:
            return (self.write_level or "default").encode()
        if len(args) > 1:
            raise CommandError(wrong_arity("writelevel"))
        level = args[0].decode("latin-1").lower()
        if level not in WRITE_LEVELS:
            raise CommandError(f"ERR write level must be one of {', '.join(WRITE_LEVELS)}")
        self.write_level = None if level == "default" else level
        return p.Simple("OK")

    async def _session(self, args: list[bytes]) -> p.ReplyValue:
        """``SESSION``: the guarantees and whether each is on; ``SESSION ryw|mr|mw|wfr|all
        on|off`` (or the full names); ``SESSION TOKEN`` the session token in hex, ``SESSION
        TOKEN hex`` adopts one (the session moves here from another connection or node);
        ``SESSION RESET`` forgets the token (a new session, same guarantees)."""
        if not args:
            return [x for name in GUARANTEES for x in (name.encode(), b"on" if name in self.guarantees else b"off")]
        word = args[0].decode("latin-1").lower()
        if word == "token":
            if len(args) == 1:
                return self.session_token.hex().encode()
            if len(args) > 2:
                raise CommandError(wrong_arity("session|token"))
            try:
                self.session_token = bytes.fromhex(args[1].decode("latin-1"))
            except ValueError:
                raise CommandError("ERR SESSION TOKEN takes the hex that SESSION TOKEN answered") from None
            return p.Simple("OK")
        if word == "reset":
            if len(args) > 1:
                raise CommandError(wrong_arity("session|reset"))
            self.session_token = b""
            return p.Simple("OK")
        if len(args) != 2:
            raise CommandError(wrong_arity("session"))
        if word != "all" and word not in SESSION_NAMES:
            raise CommandError("ERR SESSION guarantee must be one of ryw, mr, mw, wfr, all "
                               f"(or {', '.join(GUARANTEES)})")
        state = args[1].decode("latin-1").lower()
        if state not in ("on", "off"):
            raise CommandError("ERR SESSION takes on or off after the guarantee")
        named = set(GUARANTEES) if word == "all" else {SESSION_NAMES[word]}
        if state == "on":
            spec = getattr(self.ctx.service, "spec", None)
            if spec is None or not spec.session_guarantees:
                raise CommandError(f"ERR scheme {self.ctx.scheme} keeps no session guarantees "
                                   "(ProtocolSpec.session_guarantees; quorum does)")
            on = set(self.guarantees) | named
        else:
            on = set(self.guarantees) - named
        self.guarantees = tuple(g for g in GUARANTEES if g in on)
        return p.Simple("OK")

    async def _wait(self, args: list[bytes]) -> p.ReplyValue:
        replicas = _int64(args[0])
        timeout_ms = _int64(args[1])
        if timeout_ms < 0:
            raise CommandError("ERR timeout is negative")
        service = self.ctx.service
        index = service.last_index_of(self._wait_client)
        return await service.wait_replicas(index, max(0, replicas), timeout_ms)

    async def _role(self, args: list[bytes]) -> p.ReplyValue:
        return infos.role(self.ctx.service.status())

    async def _info(self, args: list[bytes]) -> p.ReplyValue:
        sections = [a.decode("latin-1") for a in args]
        return infos.info(sections, self.ctx.service.status(), self.ctx.facts(self.protocol))

    async def _command(self, args: list[bytes]) -> p.ReplyValue:
        return infos.command(args)

    async def _config(self, args: list[bytes]) -> p.ReplyValue:
        return infos.config(args, self.ctx.facts())

    async def _hello(self, args: list[bytes]) -> p.ReplyValue:
        """``HELLO [protover [AUTH user pass] [SETNAME name]]``: protover 2 or 3 switches
        the connection's replies to that RESP version (after the options are checked, so
        a bad option switches nothing); no protover keeps the current one."""
        version = self.protocol
        if args:
            parsed = p.parse_int(args[0])
            if parsed is None:
                raise CommandError("ERR Protocol version is not an integer or out of range")
            if parsed not in (2, 3):
                raise CommandError("NOPROTO sorry, this protocol version is not supported.")
            version = parsed
        self.name = self._hello_options(args[1:])
        self.protocol = version
        return infos.hello(self.client_id, self.ctx.service.status(), version)

    def _hello_options(self, rest: list[bytes]) -> bytes | None:
        """Check HELLO's options; the connection name they leave."""
        name = self.name
        while rest:
            option = rest[0].upper()
            if option == b"AUTH" and len(rest) >= 3:
                if rest[1] != b"default":  # no users: the default user has no password
                    raise CommandError(
                        "WRONGPASS invalid username-password pair or user is disabled."
                    )
                rest = rest[3:]
            elif option == b"SETNAME" and len(rest) >= 2:
                if not _valid_name(rest[1]):
                    raise CommandError(
                        "ERR Client names cannot contain spaces, newlines or special characters."
                    )
                name, rest = rest[1], rest[2:]
            else:
                raise CommandError(
                    f"ERR Syntax error in HELLO option '{rest[0].decode('latin-1')}'"
                )
        return name

    async def _client(self, args: list[bytes]) -> p.ReplyValue:
        sub = args[0].decode("latin-1").lower()
        rest = args[1:]
        arity = {"id": 0, "getname": 0, "setname": 1, "setinfo": 2, "info": 0}
        if sub not in arity:
            raise CommandError(f"ERR unknown subcommand '{sub}'. Try CLIENT HELP.")
        if len(rest) != arity[sub]:
            raise CommandError(wrong_arity(f"client|{sub}"))
        if sub == "id":
            return self.client_id
        if sub == "getname":
            return self.name
        if sub == "info":
            name = (self.name or b"").decode("latin-1")
            line = f"id={self.client_id} addr={self.peer_host} name={name} readlevel={self.read_level}\n"
            return p.Verbatim("txt", line.encode())  # Redis 7: verbatim in RESP3
        if sub == "setname":
            if not _valid_name(rest[0]):
                raise CommandError(
                    "ERR Client names cannot contain spaces, newlines or special characters."
                )
            self.name = rest[0] or None
            return p.Simple("OK")
        if rest[0].upper() not in (b"LIB-NAME", b"LIB-VER"):
            raise CommandError(f"ERR Unrecognized option '{rest[0].decode('latin-1')}'")
        return p.Simple("OK")

    # -- transactions (resp/transaction.py) --------------------------------------------

    async def _multi(self, args: list[bytes]) -> p.ReplyValue:
        return self.transaction.multi()

    async def _discard(self, args: list[bytes]) -> p.ReplyValue:
        return self.transaction.discard()

    async def _unwatch(self, args: list[bytes]) -> p.ReplyValue:
        self.transaction.unwatch()
        return p.Simple("OK")

    async def _watch(self, args: list[bytes]) -> p.ReplyValue:
        """``WATCH key...``: read the keys not watched yet (one ``MGet`` at the
        linearizable level) and remember the values; EXEC sends them as guards."""
        if self.transaction.open is not None:
            return p.Error(WATCH_INSIDE_MULTI)
        keys = self.transaction.unwatched([a.decode("latin-1") for a in args])
        if not keys:
            return p.Simple("OK")
        result = await self._read_now(keys)
        if not isinstance(result, Ok):
            return result
        return self.transaction.watch(dict(zip(keys, result.value, strict=True)))

    async def _exec(self, args: list[bytes]) -> p.ReplyValue:
        """``EXEC``: the queued commands as ONE ``Txn`` whose guards are the watched
        values; the array of their replies, nil when a watched key changed."""
        prepared = self.transaction.exec()
        if isinstance(prepared, p.Error):
            return prepared
        if not self.ctx.transactions:
            return p.Error(no_transactions(self.ctx.scheme))
        if prepared.guards and prepared.read_only:
            return await self._exec_reads(prepared)
        if not prepared.ops:
            return prepared.replies([])
        self.seq += 1
        self._wait_client = self.client_id
        txn = Txn(prepared.ops, prepared.guards)
        result = await self._execute(Request(self.client_id, self.seq, txn, self.read_level))
        if isinstance(result, Aborted) and result.reason == GUARD_FAILED:
            return p.NULL_ARRAY  # as Redis when a watched key changed
        return render_result(result, prepared.replies)

    async def _exec_reads(self, prepared: Prepared) -> p.ReplyValue:
        """A watched transaction that only reads: one linearizable read of the watched
        keys and the keys read, so the guards and the reads see one instant (a read-only
        ``Txn`` takes the read path, which does not look at guards)."""
        guards = prepared.guards
        keys = [g.key for g in guards] + [op.key for op in prepared.ops]
        result = await self._read_now(keys)
        if not isinstance(result, Ok):
            return result
        values = result.value
        if any(values[i] != g.value for i, g in enumerate(guards)):
            return p.NULL_ARRAY
        return prepared.replies(values[len(guards):])

    async def _read_now(self, keys: list[str]) -> Ok | p.Error:
        """Read ``keys`` at the linearizable level: ``Ok(values)`` or the error reply."""
        self.seq += 1
        result = await self._execute(Request(self.client_id, self.seq, MGet(tuple(keys)), "linearizable"))
        return result if isinstance(result, Ok) else error_reply(result)

    # -- replikv extensions ---------------------------------------------------------

    async def _rkv(self, args: list[bytes]) -> p.ReplyValue:
        """``RKV client_id seq read_level CMD args...``: CMD under a client-chosen identity.
        ``read_level`` may be ``-`` for the connection's level."""
        client_id = _positive(args[0], "RKV client_id")
        seq = _positive(args[1], "RKV seq")
        level = args[2].decode("latin-1").lower()
        if level == "-":
            level = self.read_level
        elif level not in READ_LEVELS:
            raise CommandError("ERR read level must be linearizable, lease, local or -")
        inner = args[3:]
        name = inner[0].decode("latin-1").lower()
        if not is_data_command(name):
            raise CommandError(f"ERR RKV wraps only data commands, not '{name[:64]}'")
        data = build_data_command(inner)
        self._wait_client = client_id
        return await self._run(self._request(client_id, seq, data.command, level), data.render)

    async def _rkvadmin(self, args: list[bytes]) -> p.ReplyValue:
        """``RKVADMIN verb args...``: operator commands, from loopback peers only unless
        the server was started with ``admin_from="any"``."""
        if self.ctx.admin_from != "any" and not is_loopback(self.peer_host):
            raise CommandError(
                "ERR RKVADMIN is accepted only from a loopback address (server option admin_from=any)"
            )
        verb = args[0].decode("latin-1").lower()
        try:
            answer = await self.ctx.service.admin(verb, [a.decode("latin-1") for a in args[1:]])
        except ValueError as exc:
            raise CommandError(f"ERR {exc}") from None
        if "\n" in answer or "\r" in answer:
            return answer.encode()
        return p.Simple(answer)
