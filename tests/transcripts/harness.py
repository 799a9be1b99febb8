"""A transcript cluster: replicas of any scheme, driven one explicit command at a time.

What may live here: the commands a transcript may use and how they drive nodes. Nothing
here names a scheme, a message type or a record type: a scheme comes from
``replikv.schemes.get_spec`` and every node runs through ``core.driver.NodeDriver``,
the host loop the simulator and the runtime use, with its durability check on. So a
message that claims durable state before that state is durable fails a transcript as it
fails a simulation (``error: ... DurabilityViolation``).

Nothing moves unless a command says so:

- a ``Send`` lands in the harness's in-flight list (FIFO per link, in send order) and
  reaches its destination only on ``deliver``;
- a ``Persist`` is written but not durable until ``durable`` makes it so (the driver
  releases what its barrier held back, then the node is fed ``Persisted``), so
  save-before-send shows in the output;
- each node has its own clock, moved only by ``tick``.

Commands (``key=value`` options; ``node=`` and ``nodes=`` both take ``1`` or ``1,2,3``
and default to every node that is up):

    start nodes=1,2,3 [seed=0] [<config key>=<value> ...]   boot every node (one Tick at 0)
    tick [nodes=...] [ms=<tick_ms>]       advance each node's clock by ms, feed one Tick
    deliver from=A to=B [count=1]         the oldest ``count`` messages on link A -> B
    deliver [from=A] [to=B]               every matching message in flight now, in send order
    deliver all                           repeat until nothing is in flight
    drop [from=A] [to=B] [count=N]        lose messages in flight (default: all matching)
    submit node=N [client=1] [seq=next] [read_level=L] <command>    e.g. ``set k v``
    durable [nodes=...] [seq=S]           make written persists durable (up to seq S)
    stabilize                             durable + deliver until nothing moves
    crash node=N                          writes not durable and messages to N are lost
    restart node=N [lost] [torn=K]        rebuild from the disk; ``lost``: the disk was
                                          wiped; ``torn=K``: K records cut off its tail
    status [nodes=...] | disk [nodes=...] | data [nodes=...] | inflight

Output: one line per effect, in the order the node produced it (``render`` says how
values print): ``1 -> 2 Msg(...)`` (a send), ``2 persist #3 <records>``,
``1 commit 4 <request>``, ``1 reply 7/1 <result>``. The effects an input caused are
indented under the line that names the input (a delivered message, ``2 durable #3``).
A command with nothing to say prints ``ok``.
"""

from __future__ import annotations

import random
import shlex
from dataclasses import dataclass, field
from typing import Any

from replikv.core.driver import NodeDriver
from replikv.core.io import (
    Commit,
    Effect,
    Input,
    Persist,
    Persisted,
    Receive,
    Reply,
    Send,
    Submit,
    Tick,
)
from replikv.core.messages import Message, Record
from replikv.core.replica import ProtocolSpec, Recovery
from replikv.core.requests import Request
from replikv.kv import KVStateMachine
from replikv.schemes import get_spec

from . import render
from .commands import CommandError, parse_command

MAX_STEPS = 10_000
"""Most deliveries or durable steps in one ``deliver all`` or ``stabilize``."""
INDENT = "  "


class HarnessError(ValueError):
    """A transcript used a command wrongly (not a protocol failure)."""


@dataclass
class InFlight:
    src: int
    dst: int
    msg: Message

    def describe(self) -> str:
        return f"{self.src} -> {self.dst} {render.value(self.msg)}"


@dataclass
class Node:
    id: int
    driver: NodeDriver
    disk: list[Record] = field(default_factory=list)
    written: list[Persist] = field(default_factory=list)
    """Persists executed but not yet durable."""
    clock: float = 0.0
    incarnation: int = 0
    state_machine: KVStateMachine = field(default_factory=KVStateMachine)

    @property
    def up(self) -> bool:
        return self.driver.up


class Options:
    """The ``key=value`` options and bare words of one command; each must be used."""

    def __init__(self, words: list[str]) -> None:
        self.named: dict[str, str] = {}
        self.bare: list[str] = []
        for word in words:
            key, eq, text = word.partition("=")
            if eq:
                self.named[key] = text
            else:
                self.bare.append(word)

    def text(self, key: str, default: str | None = None) -> str | None:
        return self.named.pop(key, default)

    def int(self, key: str, default: int | None = None) -> int | None:
        text = self.named.pop(key, None)
        if text is None:
            return default
        try:
            return int(text)
        except ValueError:
            raise HarnessError(f"{key}= takes an integer, not {text!r}") from None

    def ids(self) -> list[int] | None:
        text = self.named.pop("nodes", None) or self.named.pop("node", None)
        if text is None:
            return None
        try:
            return sorted(int(x) for x in text.split(","))
        except ValueError:
            raise HarnessError(f"node ids are integers separated by commas, not {text!r}") from None

    def flag(self, word: str) -> bool:
        if word in self.bare:
            self.bare.remove(word)
            return True
        return False

    def finish(self) -> None:
        if self.named or self.bare:
            unused = [f"{k}={v}" for k, v in self.named.items()] + self.bare
            raise HarnessError(f"unknown options: {' '.join(unused)}")


class Cluster:
    """One transcript's nodes, network and disks. ``run(line)`` returns the output lines."""

    def __init__(self, scheme: str) -> None:
        self.spec: ProtocolSpec = get_spec(scheme)
        self.nodes: dict[int, Node] = {}
        self.inflight: list[InFlight] = []
        self.seed = 0
        self.config: Any = None
        self._next_seq: dict[int, int] = {}

    # -- the entry point -------------------------------------------------------------------

    def run(self, line: str) -> list[str]:
        words = shlex.split(line, comments=True)
        if not words:
            raise HarnessError("empty command")
        name, rest = words[0], words[1:]
        handler = getattr(self, "_cmd_" + name, None)
        if handler is None:
            known = sorted(a[5:] for a in dir(self) if a.startswith("_cmd_"))
            raise HarnessError(f"unknown command {name!r}; commands: {', '.join(known)}")
        if name != "start" and not self.nodes:
            raise HarnessError("the first command must be start")
        return handler(rest) or ["ok"]

    # -- commands --------------------------------------------------------------------------

    def _cmd_start(self, words: list[str]) -> list[str]:
        if self.nodes:
            raise HarnessError("start may come only once")
        options = Options(words)
        ids = options.ids()
        if not ids:
            raise HarnessError("start needs nodes=1,2,3")
        self.seed = options.int("seed", 0) or 0
        self.config = self.spec.make_config({k: _scalar(v) for k, v in options.named.items()})
        options.named.clear()
        options.finish()
        members = tuple(ids)
        for node_id in ids:
            self.nodes[node_id] = Node(node_id, NodeDriver(self.spec, node_id, members, self.config))
        out: list[str] = []
        for node_id in ids:
            out += self._boot(self.nodes[node_id], Recovery())
        return out

    def _cmd_tick(self, words: list[str]) -> list[str]:
        options = Options(words)
        ids = options.ids()
        ms = _number("ms", options.text("ms") or self.config.tick_ms)
        options.finish()
        out: list[str] = []
        for node in self._targets(ids, out):
            node.clock += ms
            out += self._feed(node, Tick(node.clock))
        return out

    def _cmd_deliver(self, words: list[str]) -> list[str]:
        options = Options(words)
        every = options.flag("all")
        src, dst = options.int("from"), options.int("to")
        count = options.int("count", 1 if src is not None and dst is not None else None)
        options.finish()
        out: list[str] = []
        batch = self._select(src, dst, count)
        if not batch:
            return [f"no message in flight{_link(src, dst)}"]
        steps = 0
        while batch:
            for item in batch:
                self.inflight.remove(item)
                out += self._deliver(item)
            steps += len(batch)
            if steps > MAX_STEPS:
                raise HarnessError(f"deliver all: still busy after {MAX_STEPS} deliveries")
            batch = self._select(src, dst, count) if every else []
        return out

    def _cmd_drop(self, words: list[str]) -> list[str]:
        options = Options(words)
        src, dst, count = options.int("from"), options.int("to"), options.int("count")
        options.finish()
        batch = self._select(src, dst, count)
        for item in batch:
            self.inflight.remove(item)
        return [f"dropped {item.describe()}" for item in batch] or [
            f"no message in flight{_link(src, dst)}"
        ]

    def _cmd_submit(self, words: list[str]) -> list[str]:
        split = next((i for i, w in enumerate(words) if "=" not in w), len(words))
        options = Options(words[:split])
        ids = options.ids()
        client = options.int("client", 1)
        assert client is not None
        seq = options.int("seq", self._next_seq.get(client, 1))
        read_level = options.text("read_level", "linearizable")
        options.finish()
        if not ids or len(ids) != 1:
            raise HarnessError("submit needs one node=N")
        assert seq is not None and read_level is not None
        try:
            command = parse_command(words[split:], self.spec)
        except CommandError as exc:
            raise HarnessError(str(exc)) from None
        self._next_seq[client] = seq + 1
        request = Request(client, seq, command, read_level)
        out: list[str] = []
        for node in self._targets(ids, out):
            out += self._feed(node, Submit(request))
        return out

    def _cmd_durable(self, words: list[str]) -> list[str]:
        options = Options(words)
        ids = options.ids()
        seq = options.int("seq")
        options.finish()
        out: list[str] = []
        for node in self._targets(ids, out):
            if node.written:
                out += self._make_durable(node, seq)
            elif ids is not None:
                out.append(f"{node.id} has no write in progress")
        return out

    def _cmd_stabilize(self, words: list[str]) -> list[str]:
        Options(words).finish()
        out: list[str] = []
        for _ in range(MAX_STEPS):
            writing = [n for _, n in sorted(self.nodes.items()) if n.up and n.written]
            if writing:
                for node in writing:
                    out += self._make_durable(node, None)
            elif self.inflight:
                batch, self.inflight = self.inflight, []
                for item in batch:
                    out += self._deliver(item)
            else:
                return out
        raise HarnessError(f"stabilize: still busy after {MAX_STEPS} steps")

    def _cmd_crash(self, words: list[str]) -> list[str]:
        options = Options(words)
        ids = options.ids()
        options.finish()
        out: list[str] = []
        for node in self._targets(ids, out, need_ids=True):
            lost = len(node.written)
            node.driver.crash()
            node.written = []
            before = len(self.inflight)
            self.inflight = [m for m in self.inflight if m.dst != node.id]
            dropped = before - len(self.inflight)
            out.append(
                f"{node.id} crashed: lost {_count(lost, 'write')} not yet durable, "
                f"{_count(dropped, 'message')} in flight to it"
            )
        return out

    def _cmd_restart(self, words: list[str]) -> list[str]:
        options = Options(words)
        ids = options.ids()
        lost = options.flag("lost")
        torn = options.int("torn", 0) or 0
        options.finish()
        if not ids:
            raise HarnessError("restart needs node=N")
        out: list[str] = []
        for node_id in ids:
            node = self._node(node_id)
            if node.up:
                raise HarnessError(f"node {node_id} is up: crash it first")
            if lost:
                node.disk = []
            elif torn:
                node.disk = node.disk[: max(0, len(node.disk) - torn)]
            out += self._boot(node, Recovery(lost=lost, torn_records=torn))
        return out

    def _cmd_status(self, words: list[str]) -> list[str]:
        options = Options(words)
        ids = options.ids()
        options.finish()
        out = []
        for node_id in ids or sorted(self.nodes):
            node = self._node(node_id)
            if not node.up:
                out.append(f"{node_id} down")
                continue
            status = node.driver.status()
            fields = [(n, v) for n, v, _ in render.non_default_fields(status) if n != "node"]
            out.append(f"{node_id} " + " ".join(f"{n}={render.word(v)}" for n, v in fields))
        return out

    def _cmd_disk(self, words: list[str]) -> list[str]:
        options = Options(words)
        ids = options.ids()
        options.finish()
        out = []
        for node_id in ids or sorted(self.nodes):
            node = self._node(node_id)
            out += [f"{node_id} disk {render.value(record)}" for record in node.disk]
            if node.written:
                out.append(f"{node_id} writing #{', #'.join(str(p.seq) for p in node.written)}")
            if not node.disk and not node.written:
                out.append(f"{node_id} disk empty")
        return out

    def _cmd_data(self, words: list[str]) -> list[str]:
        options = Options(words)
        ids = options.ids()
        options.finish()
        out = []
        for node_id in ids or sorted(self.nodes):
            items = self._node(node_id).state_machine.items()
            text = " ".join(f"{k}={render.word(v)}" for k, v in sorted(items.items()))
            out.append(f"{node_id} data {text or 'empty'}")
        return out

    def _cmd_inflight(self, words: list[str]) -> list[str]:
        Options(words).finish()
        return [item.describe() for item in self.inflight] or ["nothing in flight"]

    # -- driving nodes -----------------------------------------------------------------------

    def _boot(self, node: Node, recovery: Recovery) -> list[str]:
        """Build the replica from its durable records, then feed one Tick at its clock."""
        node.incarnation += 1
        node.written = []
        node.state_machine = KVStateMachine()
        rng = random.Random(f"{self.seed}:{node.id}:{node.incarnation}")
        out = []
        if node.incarnation > 1:
            how = "an empty disk (lost)" if recovery.lost else _count(len(node.disk), "durable record")
            torn = f", {recovery.torn_records} torn off" if recovery.torn_records else ""
            out.append(f"{node.id} restarted from {how}{torn}")
        node.driver.start(
            tuple(node.disk), rng=rng, state_machine=node.state_machine, recovery=recovery
        )
        return out + self._feed(node, Tick(node.clock))

    def _feed(self, node: Node, inp: Input) -> list[str]:
        try:
            effects = node.driver.handle(inp)
        except Exception as exc:  # the transcript shows it; the expected output decides
            return [f"error: node {node.id} {type(exc).__name__}: {exc}"]
        return self._execute(node, effects)

    def _deliver(self, item: InFlight) -> list[str]:
        node = self._node(item.dst)
        if not node.up:
            return [f"{item.describe()} (dropped: {item.dst} is down)"]
        return [item.describe()] + _indent(self._feed(node, Receive(item.src, item.msg)))

    def _make_durable(self, node: Node, seq: int | None) -> list[str]:
        upto = node.written[-1].seq if seq is None else seq
        done = [p for p in node.written if p.seq <= upto]
        if not done:
            return [f"{node.id} has no write in progress up to #{upto}"]
        node.written = [p for p in node.written if p.seq > upto]
        for persist in done:
            node.disk = list(persist.records) if persist.replace else node.disk + list(persist.records)
        upto = done[-1].seq
        try:
            released = node.driver.release(upto)
        except Exception as exc:
            return [f"{node.id} durable #{upto}", f"{INDENT}error: node {node.id} {type(exc).__name__}: {exc}"]
        lines = self._execute(node, released)
        if node.up:
            lines += self._feed(node, Persisted(upto))
        return [f"{node.id} durable #{upto}"] + _indent(lines)

    def _execute(self, node: Node, effects: list[Effect]) -> list[str]:
        out = []
        for effect in effects:
            match effect:
                case Send(dst=dst, msg=msg):
                    item = InFlight(node.id, dst, msg)
                    self.inflight.append(item)
                    out.append(item.describe())
                case Persist(seq=seq, records=records, replace=replace):
                    node.written.append(effect)
                    what = "; ".join(render.value(r) for r in records) or "nothing"
                    out.append(f"{node.id} persist #{seq}{' replace' if replace else ''} {what}")
                case Commit(index=index, request=request):
                    out.append(f"{node.id} commit {index} {render.request(request)}")
                case Reply(request=request, result=result):
                    out.append(
                        f"{node.id} reply {request.client_id}/{request.seq} {render.value(result)}"
                    )
        return out

    # -- helpers ---------------------------------------------------------------------------

    def _node(self, node_id: int) -> Node:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise HarnessError(f"no node {node_id}; nodes are {sorted(self.nodes)}") from None

    def _targets(self, ids: list[int] | None, out: list[str], need_ids: bool = False) -> list[Node]:
        """The named nodes that are up (a line in ``out`` for each one down), or every
        node that is up when none is named."""
        if ids is None:
            if need_ids:
                raise HarnessError("this command needs node=N")
            return [n for _, n in sorted(self.nodes.items()) if n.up]
        nodes = []
        for node_id in ids:
            node = self._node(node_id)
            if node.up:
                nodes.append(node)
            else:
                out.append(f"{node_id} is down")
        return nodes

    def _select(self, src: int | None, dst: int | None, count: int | None) -> list[InFlight]:
        found = [
            m for m in self.inflight
            if (src is None or m.src == src) and (dst is None or m.dst == dst)
        ]
        return found if count is None else found[:count]


def _link(src: int | None, dst: int | None) -> str:
    return (f" from {src}" if src is not None else "") + (f" to {dst}" if dst is not None else "")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _indent(lines: list[str]) -> list[str]:
    return [INDENT + line for line in lines]


def _number(key: str, text: Any) -> float:
    try:
        return float(text)
    except ValueError:
        raise HarnessError(f"{key}= takes a number, not {text!r}") from None


def _scalar(text: str) -> Any:
    """A config value as typed: an integer, a number, true/false, or text."""
    if text in ("true", "false"):
        return text == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
