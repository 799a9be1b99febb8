"""The operations behind ``replikv cluster``: each loads the state file, acts on the
node processes or asks the nodes over RESP, and saves what changed.

Every failure an operator can cause or meet (no cluster, unknown id, node down, port
taken, node that never came up) is a ``ClusterError`` whose message says what to do.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import secrets
import shutil
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from replikv import schemes
from replikv.cluster import admin, processes
from replikv.cluster.ports import port_free
from replikv.cluster.respwire import RespError
from replikv.cluster.state import (
    DEFAULT_BASE_PORT,
    ClusterError,
    ClusterState,
    NodeEntry,
    client_port,
    load_state,
    peer_port,
    save_state,
    state_path,
)
from replikv.storage import identity

READY_TIMEOUT_S = 30.0
RELEASE_WAIT_S = 5.0
"""How long ``restart`` waits for a stopped or killed node's ports to be released."""
STOP_TIMEOUT_S = 10.0

Reporter = Callable[[str], None]

INSECURE_WARNING = (
    "warning: this cluster has no secret (--insecure): any process that can reach a peer "
    "port can pose as a node and make a replica apply forged entries"
)


def _quiet(_: str) -> None:
    pass


# -- starting ----------------------------------------------------------------------


def node_argv(state: ClusterState, entry: NodeEntry, prefix: Sequence[str] | None = None) -> list[str]:
    """The ``replikv serve`` command line of one node, from the current membership."""
    others = [m for m in state.members() if m.id != entry.id]
    peers = ",".join(f"{m.id}={state.host}:{m.peer_port}" for m in others)
    argv = [*(prefix or processes.serve_prefix()), "serve", "--id", str(entry.id), "--protocol", state.protocol]
    argv += ["--peers", peers, "--client-port", str(entry.client_port), "--peer-port", str(entry.peer_port)]
    argv += ["--host", state.host, "--data-dir", entry.data_dir, "--fsync", state.fsync]
    argv += ["--cluster-id", state.cluster_id]
    if state.secret_file:
        argv += ["--secret-file", state.secret_file]
    for key, value in sorted(state.options.items()):
        argv += ["--option", f"{key}={value}"]
    if state.failpoints:
        argv += ["--failpoints"]
    return argv


def check_ports(state: ClusterState, entries: Sequence[NodeEntry], wait_s: float = 0.0) -> None:
    """Every port of ``entries`` can be bound. ``wait_s``: how long a port may take to be
    released (a node just stopped or killed: the kernel holds its sockets a moment)."""
    deadline = time.monotonic() + wait_s
    for entry in entries:
        for kind, port in (("client", entry.client_port), ("peer", entry.peer_port)):
            if not 0 < port < 65536:
                raise ClusterError(f"node {entry.id}: {kind} port {port} is out of range; choose another --base-port")
            while not port_free(state.host, port, reuse_address=True) and time.monotonic() < deadline:
                time.sleep(0.05)
            if not port_free(state.host, port, reuse_address=True):
                raise ClusterError(
                    f"node {entry.id}: {kind} port {port} on {state.host} is already in use; "
                    "choose another --base-port (or stop what holds it)"
                )


def new_entry(state: ClusterState, root: pathlib.Path, node_id: int) -> NodeEntry:
    return NodeEntry(
        id=node_id,
        client_port=client_port(state.base_port, node_id),
        peer_port=peer_port(state.base_port, node_id),
        data_dir=str(root / f"node-{node_id}"),
        log_file=str(root / f"node-{node_id}.log"),
        argv=[],
    )


def marker(entry: NodeEntry) -> str:
    """Text every live process of this node has in its command line."""
    return entry.data_dir


def node_alive(entry: NodeEntry) -> bool:
    return processes.is_alive(entry.pid, marker(entry))


def start_node(state: ClusterState, entry: NodeEntry, prefix: Sequence[str] | None,
               *, bootstrap: bool = False, rejoin: bool = False) -> None:
    """Spawn the node. ``bootstrap``: it is new (``cluster up`` of a new cluster,
    ``add-node``), so ``replikv serve --bootstrap`` may start it on an empty data
    directory; any other start of an empty directory is refused (it lost its data).
    ``rejoin``: it lost its data (``cluster restart --rejoin``), so ``replikv serve
    --rejoin`` starts it empty, not voting or counting toward a quorum until caught up."""
    assert not (bootstrap and rejoin), "a node is either new or lost its data"
    pathlib.Path(entry.data_dir).mkdir(parents=True, exist_ok=True)
    flags = ["--bootstrap"] if bootstrap else ["--rejoin"] if rejoin else []
    entry.argv = node_argv(state, entry, prefix) + flags
    entry.pid = processes.spawn(entry.argv, entry.log_file)


def wait_ready(state: ClusterState, entries: Sequence[NodeEntry], timeout_s: float) -> None:
    """Until every node answers PING; a node that exits or stays silent is an error
    carrying the tail of its log."""
    deadline = time.monotonic() + timeout_s
    waiting = list(entries)
    while waiting:
        for entry in list(waiting):
            if not node_alive(entry):
                if entry.pid and processes.still_running(entry.pid):
                    continue  # before its exec, or exiting but not yet reaped: look again
                code = processes.exit_code(entry.pid) if entry.pid else None
                how = f" (exit code {code})" if code is not None else ""
                raise ClusterError(_with_log(f"node {entry.id} exited during start-up{how}", entry))
            if admin.ping(state.host, entry.client_port, timeout_s=0.5):
                waiting.remove(entry)
        if waiting and time.monotonic() > deadline:
            entry = waiting[0]
            raise ClusterError(_with_log(
                f"node {entry.id} did not answer PING on {state.host}:{entry.client_port} within {timeout_s:g}s", entry
            ))
        if waiting:
            time.sleep(0.05)


SERVING_POLL_S = 0.05


def wait_serving(state: ClusterState, entries: Sequence[NodeEntry], timeout_s: float,
                 node: int | None = None) -> str | None:
    """Until the nodes can take a write: each reports its links to the others up, and
    none suspects another down (``Status.suspects``). A node dials its peers with a
    backoff of up to two seconds, so a node that answers PING may not reach them yet, and
    a pb-sync primary that has not heard a backup refuses writes. ``node``: only what
    concerns that one (it was restarted): its links and the others' links to it, and
    nobody suspecting it; a node among ``entries`` that does not answer is then left
    out. ``None`` once serving, else what was still missing at the deadline."""
    members = {e.id for e in entries}
    missing: list[str | None] = [None]

    def serving() -> bool:
        missing[0] = _not_serving(state, entries, members, node)
        return missing[0] is None

    processes.wait_until(serving, timeout_s, SERVING_POLL_S)
    return missing[0]


def _not_serving(state: ClusterState, entries: Sequence[NodeEntry], members: set[int],
                 node: int | None) -> str | None:
    for entry in entries:
        try:
            status = admin.node_status(state.host, entry.client_port)
        except (OSError, RespError, ValueError) as exc:
            if node is not None and entry.id != node:
                continue  # not the one restarted: its own trouble is not waited out here
            return f"node {entry.id} does not report its status ({exc or type(exc).__name__})"
        concern = members - {entry.id} if node is None or entry.id == node else {node}
        down = status.down_links(concern)
        if down:
            return f"node {entry.id} has no link yet to node(s) {', '.join(map(str, down))}"
        suspects = status.suspected(concern)
        if suspects:
            return f"node {entry.id} counts node(s) {', '.join(map(str, suspects))} as down"
    return None


def _with_log(message: str, entry: NodeEntry) -> str:
    log = processes.tail(entry.log_file, 20)
    return f"{message}\n--- last lines of {entry.log_file} ---\n{log or '(empty)'}"


@dataclass
class UpOptions:
    protocol: str
    nodes: int = 3
    base_port: int = DEFAULT_BASE_PORT
    fsync: str = "always"
    options: dict[str, str] | None = None
    secret: bool = True
    """Generate a cluster secret (peers authenticate with HMAC); ``False`` is the
    ``--insecure`` opt-out: any local process could then join as a peer (issue 8.7)."""
    host: str = "127.0.0.1"
    ready_timeout_s: float = READY_TIMEOUT_S
    serve_prefix: Sequence[str] | None = None
    """Command that runs ``replikv`` (default: this interpreter's); tests may swap it."""
    failpoints: bool = False
    """Nodes accept ``RKVADMIN failpoint`` (``replikv serve --failpoints``; ``replikv test``)."""


def up(data_dir: str | os.PathLike[str], opts: UpOptions, report: Reporter = _quiet) -> ClusterState:
    """Start a cluster of ``opts.nodes`` local processes, wait until all answer, then
    until they serve (``wait_serving``; a warning through ``report`` if they do not
    within ``opts.ready_timeout_s``: the nodes stay up)."""
    root = pathlib.Path(data_dir).resolve()
    if opts.protocol not in schemes.names():
        raise ClusterError(f"unknown protocol {opts.protocol!r}; choose one of: {', '.join(schemes.names())}")
    if opts.nodes < 1:
        raise ClusterError("--nodes must be at least 1")
    new_cluster = not state_path(root).exists()
    state = _fresh_or_stopped_state(root, opts)
    if state.secret_file is None:
        report(INSECURE_WARNING)
    entries = state.members()
    check_ports(state, entries)
    _write_secret(state)
    save_state(root, state)
    try:
        for entry in entries:
            start_node(state, entry, opts.serve_prefix, bootstrap=new_cluster)
            save_state(root, state)
            report(f"node {entry.id}: pid {entry.pid}, clients {state.host}:{entry.client_port}, peers :{entry.peer_port}")
        wait_ready(state, entries, opts.ready_timeout_s)
    except BaseException:
        _stop_all(state, timeout_s=3.0)
        save_state(root, state)
        raise
    missing = wait_serving(state, entries, opts.ready_timeout_s)
    if missing is not None:
        report(f"warning: the nodes run but the cluster may refuse writes: {missing} "
               f"after {opts.ready_timeout_s:g}s (see `replikv cluster status`)")
    return state


def _fresh_or_stopped_state(root: pathlib.Path, opts: UpOptions) -> ClusterState:
    """A new state, or the stopped cluster recorded in ``root`` restarted from its data."""
    if state_path(root).exists():
        old = load_state(root)
        running = [e.id for e in old.members() if node_alive(e)]
        if running:
            raise ClusterError(
                f"a {old.protocol} cluster is already running from {root} (nodes {running} alive); "
                "stop it with `replikv cluster down` or use another --data-dir"
            )
        if old.protocol != opts.protocol or len(old.members()) != opts.nodes:
            raise ClusterError(
                f"{root} holds the data of a stopped {old.protocol} cluster of {len(old.members())} nodes; "
                "remove it with `replikv cluster down --wipe` or use another --data-dir"
            )
        return old
    state = ClusterState(
        protocol=opts.protocol, host=opts.host, base_port=opts.base_port, fsync=opts.fsync,
        options=dict(opts.options or {}), failpoints=opts.failpoints,
    )
    if opts.secret:
        state.secret_file = str(root / "secret")
    state.nodes = [new_entry(state, root, node_id) for node_id in range(1, opts.nodes + 1)]
    return state


def _write_secret(state: ClusterState) -> None:
    """A fresh random cluster secret (256 bits, mode 0600), unless one is already there."""
    if state.secret_file is None or pathlib.Path(state.secret_file).exists():
        return
    path = pathlib.Path(state.secret_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(secrets.token_hex(32) + "\n")


# -- stopping and signals -----------------------------------------------------------


def _stop_all(state: ClusterState, timeout_s: float) -> dict[int, str]:
    outcome = {}
    for entry in state.nodes:
        if entry.pid is not None:
            outcome[entry.id] = processes.terminate(entry.pid, marker(entry), timeout_s)
            entry.pid = None
        else:
            outcome[entry.id] = "not running"
    return outcome


def down(data_dir: str | os.PathLike[str], wipe: bool = False, timeout_s: float = STOP_TIMEOUT_S) -> dict[int, str]:
    """SIGTERM every node, SIGKILL those still alive after ``timeout_s``; with ``wipe``
    also delete what the cluster wrote (state, node data, logs, secret)."""
    root = pathlib.Path(data_dir).resolve()
    state = load_state(root)
    outcome = _stop_all(state, timeout_s)
    if not wipe:
        save_state(root, state)
        return outcome
    for entry in state.nodes:
        shutil.rmtree(entry.data_dir, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.remove(entry.log_file)
    if state.secret_file:
        with contextlib.suppress(FileNotFoundError):
            os.remove(state.secret_file)
    state_path(root).unlink()
    with contextlib.suppress(OSError):
        root.rmdir()  # only when nothing else was put there
    return outcome


def member_entry(state: ClusterState, node_id: int) -> NodeEntry:
    """The node's entry; ``ClusterError`` when it was removed from the membership."""
    entry = state.node(node_id)
    if entry.removed:
        raise ClusterError(f"node {node_id} was removed from the cluster")
    return entry


def live_entry(state: ClusterState, node_id: int) -> NodeEntry:
    entry = member_entry(state, node_id)
    if not node_alive(entry):
        raise ClusterError(f"node {node_id} is down (start it with `replikv cluster restart {node_id}`)")
    return entry


def _live_process(data_dir: str | os.PathLike[str], node_id: int) -> tuple[ClusterState, NodeEntry, int]:
    """The state, the node's entry and its pid, for a verb that signals a running node."""
    state = load_state(data_dir)
    entry = live_entry(state, node_id)
    assert entry.pid is not None
    return state, entry, entry.pid


def kill(data_dir: str | os.PathLike[str], node_id: int) -> int:
    """SIGKILL one node (a crash: nothing flushed). Returns its pid."""
    state, entry, pid = _live_process(data_dir, node_id)
    processes.kill(pid, marker(entry))
    entry.pid = None
    save_state(data_dir, state)
    return pid


def restart(data_dir: str | os.PathLike[str], node_id: int, ready_timeout_s: float = READY_TIMEOUT_S,
            serve_prefix: Sequence[str] | None = None, rejoin: bool = False,
            report: Reporter | None = None) -> NodeEntry:
    """Stop the node if it runs (SIGTERM), start it again from its data, wait for PING.
    ``rejoin``: its data directory was lost or moved away; it starts with ``--rejoin``
    (this start only: the node records that it is rejoining in its own directory).
    ``report`` (the CLI's): then also wait until it is back in (``wait_serving`` about
    it, among the live nodes that are not paused), and report a warning if it is not
    within ``ready_timeout_s``. The test harness's nemesis leaves it out: it restarts
    nodes it may have cut off on purpose."""
    root = pathlib.Path(data_dir).resolve()
    state = load_state(root)
    entry = member_entry(state, node_id)
    if rejoin:
        _check_lost(entry)
    if entry.pid is not None:
        processes.terminate(entry.pid, marker(entry), STOP_TIMEOUT_S)
        entry.pid = None
    check_ports(state, [entry], wait_s=RELEASE_WAIT_S)
    prefix = serve_prefix or stored_prefix(entry)
    start_node(state, entry, prefix, rejoin=rejoin)
    save_state(root, state)
    wait_ready(state, [entry], ready_timeout_s)
    if report is not None:
        live = [e for e in state.members()
                if node_alive(e) and e.pid is not None and not processes.is_stopped(e.pid)]
        missing = wait_serving(state, live, ready_timeout_s, node=node_id)
        if missing is not None:
            report(f"warning: node {node_id} runs but is not back in yet: {missing} "
                   f"after {ready_timeout_s:g}s (see `replikv cluster status`)")
    return entry


def _check_lost(entry: NodeEntry) -> None:
    """Refuse ``restart --rejoin`` of a node whose directory still holds its WAL (and is
    not already rejoining) before stopping it: ``replikv serve --rejoin`` would refuse
    it and leave the node down. An unreadable identity is left to the node to report."""
    try:
        found = identity.inspect(entry.data_dir)
    except identity.IdentityError:
        return
    if found.has_wal and not (found.identity and found.identity.rejoin_pending):
        raise ClusterError(
            f"node {entry.id}'s data directory {entry.data_dir} still holds its WAL; --rejoin is "
            "for a node that lost its data. Restart it without --rejoin, or move the directory "
            "away first if it is damaged (rejoining discards nothing by itself)"
        )


def stored_prefix(entry: NodeEntry) -> list[str] | None:
    """The launcher part of the node's previous command line (everything before ``serve``)."""
    if "serve" in entry.argv:
        return entry.argv[: entry.argv.index("serve")]
    return None


def pause(data_dir: str | os.PathLike[str], node_id: int) -> None:
    """SIGSTOP: the node is frozen, its sockets stay open (a long GC pause)."""
    _, _, pid = _live_process(data_dir, node_id)
    processes.send_signal(pid, signal.SIGSTOP)
    if not processes.wait_until(lambda: processes.is_stopped(pid), 5.0):
        raise ClusterError(f"node {node_id} (pid {pid}) did not stop on SIGSTOP")


def resume(data_dir: str | os.PathLike[str], node_id: int) -> None:
    _, _, pid = _live_process(data_dir, node_id)
    processes.send_signal(pid, signal.SIGCONT)
    processes.wait_until(lambda: not processes.is_stopped(pid), 5.0)
