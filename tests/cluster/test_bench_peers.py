"""``replikv bench --compare``: peers (etcd, Redis) started by the benchmark and driven by
the same load driver in the same run; what the driver counts as a success; ``--profile``
and ``--figure``; clear errors for what is missing or unknown."""

from __future__ import annotations

import importlib.util
import shutil
import time

import pytest
from click.testing import CliRunner

from replikv.bench import connectors, peers, profiling
from replikv.bench.cluster_bench import run_cluster_bench
from replikv.bench.load import LoadShape, run_load
from replikv.cli.main import cli
from replikv.cluster.respwire import RespConnection, RespError

pytestmark = [pytest.mark.process, pytest.mark.timeout(180)]

needs_redis = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
needs_pysyncobj = pytest.mark.skipif(importlib.util.find_spec("pysyncobj") is None,
                                     reason="pysyncobj (PyPI) not installed")
needs_etcd = pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd (Debian etcd-server) not installed")


def test_unknown_peer_is_refused_with_the_known_names() -> None:
    with pytest.raises(ValueError, match="unknown peer 'mysql': choose from etcd, redis, redis-aof-wait, pysyncobj"):
        peers.expand(["etcd", "mysql"])
    assert peers.expand(["redis", "etcd", "redis-aof-wait"]) == ["redis-aof-wait", "redis", "etcd"]


def test_a_missing_peer_names_the_package_that_provides_it(monkeypatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert peers.PEERS["etcd"].missing() == "etcd: `etcd` is not installed (Debian: apt-get install etcd-server)"


def test_a_missing_python_peer_names_the_pypi_package(monkeypatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert peers.PEERS["pysyncobj"].missing() == (
        "pysyncobj: the Python package `pysyncobj` is not installed (PyPI: pip install pysyncobj)")


@needs_pysyncobj
def test_pysyncobj_is_driven_like_the_others_and_writes_replicate(bench_tmp) -> None:
    """Three PySyncObj members behind the RESP harness: the driver's writes are
    acknowledged on the leader; an acknowledged SET is then read on every member; an
    unknown command is an error, not a hang."""
    with peers.started("pysyncobj", 3) as running:
        result = run_load(connectors.resp, running.host, running.ports,
                          LoadShape(clients=4, duration_s=0.5, warmup_s=0.0, read_ratio=0.0, keys=3), "pso", None)
        assert result.writes > 3 and result.errors == {}
        with RespConnection(running.host, running.ports[0]) as leader:
            assert leader.call("ISLEADER") == 1
            assert leader.call("SET", "probe", "v") == b"OK"
            with pytest.raises(RespError, match="unknown command"):
                leader.call("NOSUCH")
        members = list(running.members)
        assert len(members) == 3 and running.ports[0] in members
        deadline = time.monotonic() + 10
        seen: dict[int, object] = {}
        while len(seen) < len(members):
            assert time.monotonic() < deadline, f"the write reached only {sorted(seen)} of {members}"
            for port in members:
                with RespConnection(running.host, port) as member:
                    if member.call("GET", "probe") == b"v":
                        seen[port] = True
            time.sleep(0.05)
    assert "not fsynced" in running.described


def test_cli_refuses_an_unknown_peer_before_starting_anything() -> None:
    result = CliRunner().invoke(cli, ["bench", "--protocol", "raft", "--compare", "etcd,mysql"])
    assert result.exit_code == 1 and "unknown peer 'mysql'" in result.output


def test_profile_without_py_spy_says_how_to_get_it(monkeypatch) -> None:
    monkeypatch.setattr(profiling, "_py_spy", lambda: None)
    with pytest.raises(RuntimeError, match="pip install py-spy"):
        profiling.check_available()


@needs_redis
def test_a_write_no_replica_acknowledged_is_never_counted(bench_tmp) -> None:
    """``WAIT 2 0`` on a Redis with no replicas blocks (timeout 0 waits for ever): the
    write reached no replica, so the driver must count no success, and still stop on time."""
    with peers.started("redis", 1) as running:
        shape = LoadShape(clients=2, duration_s=0.4, warmup_s=0.0, read_ratio=0.0, call_timeout_s=0.2)
        started = time.monotonic()
        result = run_load(connectors.resp_wait(2), running.host, running.ports, shape, "wait", None)
    assert time.monotonic() - started < 5.0
    assert result.histogram.get_total_count() == 0 and result.writes == 0
    assert result.errors.get("client-timeout", 0) >= 2


@needs_redis
def test_keys_zero_writes_a_new_key_every_time(bench_tmp) -> None:
    with peers.started("redis", 1) as running:
        fresh = run_load(connectors.resp, running.host, running.ports,
                         LoadShape(clients=2, duration_s=0.3, warmup_s=0.0, read_ratio=0.0, keys=0), "fresh", None)
        with RespConnection(running.host, running.ports[0]) as connection:
            fresh_keys = connection.call("DBSIZE")
            connection.call("FLUSHALL")
        few = run_load(connectors.resp, running.host, running.ports,
                       LoadShape(clients=2, duration_s=0.3, warmup_s=0.0, read_ratio=0.0, keys=3), "few", None)
        with RespConnection(running.host, running.ports[0]) as connection:
            few_keys = connection.call("DBSIZE")
    assert fresh.writes > 3 and fresh_keys >= fresh.writes
    assert few.writes > 3 and few_keys <= 3


@needs_redis
@needs_etcd
def test_compare_drives_raft_etcd_and_both_redis_setups_in_one_run(bench_tmp) -> None:
    figure = bench_tmp / "out" / "cdf.png"
    result = run_cluster_bench(protocol="raft", nodes=3, clients=4, duration=1.0, warmup=0.3, progress=False,
                               read_ratio=0.0, keys=0, compare=["etcd", "redis"], figure=figure)
    assert list(result["peers"]) == ["etcd", "redis-aof-wait", "redis"]
    assert result["missing_peers"] == []
    for name, figures in [("replikv raft", result), *result["peers"].items()]:
        assert figures["ops"] > 0 and figures["writes"] == figures["ops"], name
        assert figures["error_count"] == 0, (name, figures["errors"])
    assert result["baseline"]["kind"] == "redis-server"
    assert result["baseline"]["ops"] == result["peers"]["redis"]["ops"]  # measured once, not twice
    for name, ratio in result["ratio_to_peers"].items():
        assert ratio["ops_per_s"] == pytest.approx(result["ops_per_s"] / result["peers"][name]["ops_per_s"], rel=1e-3)
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in bench_tmp.iterdir()] == ["out"]  # every cluster and peer wiped


@pytest.mark.skipif(profiling._py_spy() is None, reason="py-spy not installed")
def test_profile_writes_a_flame_graph_of_the_leader(bench_tmp) -> None:
    out = bench_tmp / "leader.svg"
    result = run_cluster_bench(protocol="raft", nodes=3, clients=4, duration=1.5, warmup=0.3, progress=False,
                               baseline="none", profile=out)
    assert result["profile"] == {"path": str(out), "error": None}
    assert b"<svg" in out.read_bytes()[:2000]


@needs_redis
@pytest.mark.parametrize(("fsync", "appendfsync"), [("always", "always"), ("batch", "everysec"), ("never", "no")])
def test_redis_aof_wait_uses_the_same_fsync_setting_as_the_run(bench_tmp, fsync, appendfsync) -> None:
    """Side by side with ``--fsync never`` the Redis group must not fsync every write
    either, else the table compares two different promises."""
    with peers.started("redis-aof-wait", 2, fsync) as running, RespConnection(running.host, running.ports[0]) as primary:
        assert primary.call("CONFIG", "GET", "appendfsync") == [b"appendfsync", appendfsync.encode()]
    assert f"appendfsync {appendfsync}," in running.described


def test_an_unknown_fsync_policy_is_refused_before_a_peer_starts(bench_tmp) -> None:
    with (pytest.raises(ValueError, match="fsync policy must be one of always, batch, never, not 'sometimes'"),
          peers.started("redis", 1, "sometimes")):
        pass
    assert list(bench_tmp.iterdir()) == []


@needs_redis
def test_curves_hands_the_caller_every_system_measured(bench_tmp) -> None:
    curves: dict = {}
    result = run_cluster_bench(protocol="pb-async", nodes=1, clients=2, duration=0.5, warmup=0.1, progress=False,
                               read_ratio=0.0, keys=0, fsync="never", compare=["redis"], curves=curves)
    assert list(curves) == ["replikv pb-async", "redis-aof-wait", "redis"]
    assert curves["replikv pb-async"].histogram.get_total_count() == result["ops"] > 0
    assert curves["redis"].histogram.get_total_count() == result["peers"]["redis"]["ops"]
