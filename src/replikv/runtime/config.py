"""Node configuration for ``replikv serve``: one TOML file < ``REPLIKV_*`` environment
variables < command-line flags (flags win), validated into one ``NodeConfig``.

Every setting has the same name in all three places: ``client_port`` in the file's
``[node]`` table, ``REPLIKV_CLIENT_PORT`` in the environment, ``--client-port`` on the
command line. Scheme options (``ReplicaConfig`` fields) come from the file's
``[protocol]`` table, ``REPLIKV_OPTIONS="k=v,k=v"`` and repeated ``--option k=v``,
merged key by key in the same order, then validated by ``spec.make_config``.

Every error is a ``ConfigError`` whose message names the setting and what is wrong.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from replikv.core.config import ReplicaConfig
from replikv.core.errors import ConfigError
from replikv.core.options import parse_options
from replikv.runtime.transport import Address, TransportSettings
from replikv.runtime.writer import WAL_INLINE_MS
from replikv.schemes import get_spec

FSYNC_POLICIES = ("always", "batch", "never")
LOG_LEVELS = ("debug", "info", "warning", "error")

# setting -> (type, default); ``None`` default = required
SETTINGS: dict[str, tuple[type, Any]] = {
    "id": (int, None),
    "protocol": (str, None),
    "peers": (str, ""),
    "host": (str, "127.0.0.1"),
    "client_port": (int, None),
    "peer_port": (int, None),
    "data_dir": (str, None),
    "cluster_id": (str, "replikv"),
    "secret_file": (str, ""),
    "fsync": (str, "always"),
    "log_level": (str, "info"),
    "max_frame_bytes": (int, TransportSettings.max_frame_bytes),
    "send_queue_frames": (int, TransportSettings.send_queue_frames),
    "client_buffer_budget": (int, 256 << 20),
    "wal_inline_ms": (int, WAL_INLINE_MS),
}
"""``client_buffer_budget``: node-wide bound on request bytes buffered across every client
connection (``resp.server``); the connection that pushes past it gets ``-ERR`` and is
closed. ``wal_inline_ms``: a small group commit is written on the event loop while an
fsync takes at most this long, else on the WAL writer thread; 0: always the thread
(``runtime.writer``)."""
ENV_PREFIX = "REPLIKV_"


@dataclass(frozen=True)
class NodeConfig:
    node: int
    protocol: str
    peers: dict[int, Address]
    """Peer id -> peer-port address, own id excluded."""
    host: str
    client_port: int
    peer_port: int
    data_dir: Path
    cluster_id: str
    secret: bytes | None
    fsync: str
    log_level: str
    replica: ReplicaConfig
    transport: TransportSettings = field(default_factory=TransportSettings)
    client_buffer_budget: int = 256 << 20
    wal_inline_ms: int = WAL_INLINE_MS
    """``runtime.writer``: group commits on the loop while fsyncs take at most this long."""
    bootstrap: bool = False
    """``--bootstrap``: a new node may start on an empty data directory (``runtime.startup``)."""
    rejoin: bool = False
    """``--rejoin``: the node lost its data; it catches up before it votes or serves."""
    failpoints: bool = False
    """``--failpoints``: accept ``RKVADMIN failpoint`` (``runtime.failpoints``; test clusters)."""
    debug_durability: bool = False
    """``--debug-durability``: the node driver judges every ack against a fold of the
    durable records and stops the node on a violation (costs memory and CPU)."""

    @property
    def members(self) -> tuple[int, ...]:
        return tuple(sorted({self.node, *self.peers}))


def load_node_config(
    flags: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
    options: list[str] | tuple[str, ...] = (),
) -> NodeConfig:
    """Merge file < environment < flags, then validate. ``flags`` maps setting names to
    values (``None`` = not given); ``options`` are ``key=value`` scheme options."""
    env = os.environ if env is None else env
    file_node, file_options = _read_file(config_file) if config_file else ({}, {})
    raw: dict[str, Any] = {}
    for name, (kind, _) in SETTINGS.items():
        if name in file_node:
            raw[name] = _typed(name, kind, file_node[name])
        if ENV_PREFIX + name.upper() in env:
            raw[name] = _typed(name, kind, env[ENV_PREFIX + name.upper()])
        if flags.get(name) is not None:
            raw[name] = _typed(name, kind, flags[name])
    unknown = sorted(set(file_node) - set(SETTINGS))
    if unknown:
        raise ConfigError(f"{config_file}: unknown setting(s) in [node]: {', '.join(unknown)}")
    for name, (_, default) in SETTINGS.items():
        if name not in raw:
            if default is None:
                raise ConfigError(f"missing setting {name!r}: give --{name.replace('_', '-')}, "
                                  f"{ENV_PREFIX}{name.upper()} or {name} in the config file")
            raw[name] = default
    merged_options = dict(file_options)
    merged_options.update(parse_options(env.get(ENV_PREFIX + "OPTIONS", "").split(","), "REPLIKV_OPTIONS"))
    merged_options.update(parse_options(options, "--option"))
    return _build(raw, merged_options)


def _read_file(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    extra = sorted(set(document) - {"node", "protocol"})
    if extra:
        raise ConfigError(f"config file {path}: unknown table(s) {', '.join(extra)}; use [node] and [protocol]")
    node = dict(document.get("node", {}))
    if isinstance(node.get("peers"), dict):
        node["peers"] = ",".join(f"{k}={v}" for k, v in node["peers"].items())
    return node, dict(document.get("protocol", {}))


def _typed(name: str, kind: type, value: Any) -> Any:
    if kind is int:
        if isinstance(value, bool):
            raise ConfigError(f"{name} must be an integer, not {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be an integer, not {value!r}") from None
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a string, not {value!r}")
    return value


def parse_address(text: str, what: str) -> Address:
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host:
        raise ConfigError(f"{what}: expected HOST:PORT, not {text!r}")
    return host, _port(port, what)


def parse_peers(text: str) -> dict[int, Address]:
    """``"2=127.0.0.1:7102,3=127.0.0.1:7103"`` -> {2: ("127.0.0.1", 7102), ...}."""
    peers: dict[int, Address] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        ident, sep, address = item.partition("=")
        if not sep:
            raise ConfigError(f"--peers: expected ID=HOST:PORT, not {item!r}")
        try:
            node = int(ident)
        except ValueError:
            raise ConfigError(f"--peers: node id must be an integer, not {ident!r}") from None
        if node < 1:
            raise ConfigError(f"--peers: node id must be >= 1, not {node}")
        if node in peers:
            raise ConfigError(f"--peers: node {node} is listed twice")
        peers[node] = parse_address(address, f"--peers entry for node {node}")
    return dict(sorted(peers.items()))


def _port(text: Any, what: str) -> int:
    try:
        port = int(text)
    except (TypeError, ValueError):
        raise ConfigError(f"{what}: port must be an integer, not {text!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"{what}: port {port} is out of range 0..65535")
    return port


def _build(raw: dict[str, Any], options: dict[str, Any]) -> NodeConfig:
    node = raw["id"]
    if node < 1:
        raise ConfigError(f"--id must be >= 1, not {node}")
    try:
        spec = get_spec(raw["protocol"])  # ConfigError names the known protocols
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"protocol {raw['protocol']!r} is not available in this build: {exc}") from None
    replica = spec.make_config(options)
    peers = parse_peers(raw["peers"])
    client_port = _port(raw["client_port"], "--client-port")
    peer_port = _port(raw["peer_port"], "--peer-port")
    _check_ports(raw["host"], node, peers, client_port, peer_port)
    peers.pop(node, None)
    fsync = raw["fsync"].lower()
    if fsync not in FSYNC_POLICIES:
        raise ConfigError(f"--fsync must be one of {', '.join(FSYNC_POLICIES)}, not {raw['fsync']!r}")
    log_level = raw["log_level"].lower()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"--log-level must be one of {', '.join(LOG_LEVELS)}, not {raw['log_level']!r}")
    if raw["max_frame_bytes"] < 1024 or raw["send_queue_frames"] < 1:
        raise ConfigError("max_frame_bytes must be >= 1024 and send_queue_frames >= 1")
    if raw["wal_inline_ms"] < 0:
        raise ConfigError(f"wal_inline_ms must be >= 0 (0: every WAL write on the writer thread), not {raw['wal_inline_ms']}")
    if raw["client_buffer_budget"] < 1 << 20:
        raise ConfigError(f"client_buffer_budget must be at least 1048576 bytes, not {raw['client_buffer_budget']}")
    return NodeConfig(
        node=node,
        protocol=spec.name,
        peers=peers,
        host=raw["host"],
        client_port=client_port,
        peer_port=peer_port,
        data_dir=_data_dir(raw["data_dir"]),
        cluster_id=raw["cluster_id"],
        secret=_secret(raw["secret_file"]),
        fsync=fsync,
        log_level=log_level,
        replica=replica,
        transport=TransportSettings(max_frame_bytes=raw["max_frame_bytes"], send_queue_frames=raw["send_queue_frames"]),
        client_buffer_budget=raw["client_buffer_budget"],
        wal_inline_ms=raw["wal_inline_ms"],
    )


def _check_ports(host: str, node: int, peers: dict[int, Address], client_port: int, peer_port: int) -> None:
    if client_port and client_port == peer_port:
        raise ConfigError(f"--client-port and --peer-port are both {client_port}")
    own = peers.get(node)
    if own is not None and own[1] != peer_port and peer_port:
        raise ConfigError(f"--peers gives node {node} (this node) port {own[1]} but --peer-port is {peer_port}")
    for other, (peer_host, port) in peers.items():
        if other == node or peer_host != host:
            continue
        if port in (client_port, peer_port):
            raise ConfigError(f"port {port} of node {other} in --peers clashes with this node's own ports")


def _data_dir(text: str) -> Path:
    path = Path(text)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--data-dir {path}: cannot create it: {exc.strerror}") from None
    if not path.is_dir() or not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise ConfigError(f"--data-dir {path}: not a readable and writable directory")
    return path


def _secret(path: str) -> bytes | None:
    if not path:
        return None
    try:
        secret = Path(path).read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"--secret-file {path}: cannot read it: {exc.strerror}") from None
    if not secret:
        raise ConfigError(f"--secret-file {path} is empty")
    return secret
