"""Node configuration: file < environment < flags, and a clear error for each bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from replikv.core.errors import ConfigError
from replikv.runtime.config import load_node_config, parse_options, parse_peers

BASE = {"id": "1", "protocol": "pb-sync", "client_port": "7001", "peer_port": "7101"}


def _flags(tmp_path: Path, **extra) -> dict:
    return {**BASE, "data_dir": str(tmp_path / "data"), **extra}


def test_flags_beat_environment_beat_file(tmp_path: Path) -> None:
    config_file = tmp_path / "node.toml"
    config_file.write_text(
        '[node]\ncluster_id = "from-file"\nfsync = "never"\nhost = "127.0.0.2"\npeers = { 2 = "127.0.0.1:7102" }\n'
        "[protocol]\nheartbeat_ms = 40\nrequest_timeout_ms = 700\n"
    )
    env = {"REPLIKV_FSYNC": "batch", "REPLIKV_CLUSTER_ID": "from-env", "REPLIKV_OPTIONS": "request_timeout_ms=800"}
    config = load_node_config(_flags(tmp_path, cluster_id="from-flag"), env=env, config_file=config_file,
                              options=["heartbeat_ms=45"])
    assert config.cluster_id == "from-flag"
    assert config.fsync == "batch"
    assert config.host == "127.0.0.2"
    assert config.peers == {2: ("127.0.0.1", 7102)}
    assert config.members == (1, 2)
    assert config.replica.heartbeat_ms == 45
    assert config.replica.request_timeout_ms == 800
    assert config.data_dir.is_dir()


def test_required_settings_name_every_way_to_give_them(tmp_path: Path) -> None:
    flags = _flags(tmp_path)
    del flags["peer_port"]
    with pytest.raises(ConfigError, match="--peer-port, REPLIKV_PEER_PORT or peer_port"):
        load_node_config(flags, env={})


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"protocol": "paxos-ish"}, "unknown protocol"),
        ({"id": "0"}, ">= 1"),
        ({"id": "one"}, "integer"),
        ({"client_port": "7101"}, "both 7101"),
        ({"client_port": "70000"}, "out of range"),
        ({"peers": "2=127.0.0.1:7001"}, "clashes"),
        ({"peers": "1=127.0.0.1:9999"}, "this node"),
        ({"peers": "2=127.0.0.1:7102,2=127.0.0.1:7103"}, "twice"),
        ({"fsync": "sometimes"}, "--fsync"),
        ({"log_level": "loud"}, "--log-level"),
        ({"secret_file": "/nonexistent/secret"}, "cannot read"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(tmp_path: Path, extra: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_node_config(_flags(tmp_path, **extra), env={})


def test_scheme_options_are_validated_by_the_scheme(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no_such_option"):
        load_node_config(_flags(tmp_path), env={}, options=["no_such_option=1"])
    with pytest.raises(ConfigError, match="heartbeat_ms"):
        load_node_config(_flags(tmp_path), env={}, options=["heartbeat_ms=1", "tick_ms=10"])


def test_a_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="--data-dir"):
        load_node_config(_flags(tmp_path, data_dir=str(tmp_path / "file")), env={})


def test_a_secret_file_is_read_and_stripped(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("s3cret\n")
    config = load_node_config(_flags(tmp_path, secret_file=str(tmp_path / "secret")), env={})
    assert config.secret == b"s3cret"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        load_node_config(_flags(tmp_path, secret_file=str(tmp_path / "empty")), env={})


def test_bad_config_files_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[node\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_node_config(_flags(tmp_path), env={}, config_file=bad)
    bad.write_text("[node]\nnot_a_setting = 1\n")
    with pytest.raises(ConfigError, match="not_a_setting"):
        load_node_config(_flags(tmp_path), env={}, config_file=bad)
    bad.write_text("[nodes]\n")
    with pytest.raises(ConfigError, match="unknown table"):
        load_node_config(_flags(tmp_path), env={}, config_file=bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_node_config(_flags(tmp_path), env={}, config_file=tmp_path / "missing.toml")


def test_option_values_are_typed_like_toml() -> None:
    assert parse_options(["a=10", "b=2.5", "c=true", 'd="x"', "e=auto", " "], "--option") == {
        "a": 10, "b": 2.5, "c": True, "d": "x", "e": "auto"}
    with pytest.raises(ConfigError, match="key=value"):
        parse_options(["novalue"], "--option")


def test_peers_parse_sorted_and_reject_malformed_entries() -> None:
    assert parse_peers("3=h:3, 2=h:2,") == {2: ("h", 2), 3: ("h", 3)}
    for bad in ("2", "x=h:1", "2=h", "2=h:notaport", "0=h:1"):
        with pytest.raises(ConfigError):
            parse_peers(bad)


def test_wal_inline_ms_defaults_to_the_writer_constant_and_refuses_a_negative(tmp_path: Path) -> None:
    from replikv.runtime.writer import WAL_INLINE_MS

    assert load_node_config(_flags(tmp_path), env={}).wal_inline_ms == WAL_INLINE_MS
    assert load_node_config(_flags(tmp_path), env={"REPLIKV_WAL_INLINE_MS": "0"}).wal_inline_ms == 0
    assert load_node_config(_flags(tmp_path, wal_inline_ms="25"), env={}).wal_inline_ms == 25
    with pytest.raises(ConfigError, match="wal_inline_ms must be >= 0"):
        load_node_config(_flags(tmp_path, wal_inline_ms="-1"), env={})
