"""A node tells "new" from "lost its data" (issue 8, item 1): the start-up plan, the
``Recovery`` the host hands the replica, and real ``replikv serve`` processes that refuse
a wiped data directory and rejoin with ``--rejoin``."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import pytest
from rt_procs import SERVE, Cluster
from rt_toy import TOY, ToyEntry

from replikv.core.commands import Set
from replikv.core.config import ReplicaConfig
from replikv.core.replica import CreateArgs, ProtocolSpec, Recovery
from replikv.core.requests import Request
from replikv.runtime.host import NodeHost
from replikv.runtime.startup import StartRefused, plan_start
from replikv.storage import MemoryWAL, RecordCodec
from replikv.storage.identity import inspect, new_identity, write_identity


def _plan(directory: Path, *, bootstrap: bool = False, rejoin: bool = False, node: int = 2):
    return plan_start(inspect(directory), node=node, cluster_id="c", protocol="raft",
                      bootstrap=bootstrap, rejoin=rejoin)


def _wal_file(directory: Path) -> None:
    (directory / "wal-0000000000000001.log").write_bytes(b"RKVWAL\x00\x01")


def test_an_empty_directory_needs_bootstrap_or_rejoin(tmp_path: Path) -> None:
    with pytest.raises(StartRefused, match="--bootstrap.*--rejoin"):
        _plan(tmp_path)
    fresh = _plan(tmp_path, bootstrap=True)
    assert not fresh.lost and fresh.write_after is not None and fresh.write_before is None
    rejoin = _plan(tmp_path, rejoin=True)
    assert rejoin.lost and rejoin.write_before is not None and rejoin.write_before.rejoin_pending
    with pytest.raises(StartRefused, match="exclude each other"):
        _plan(tmp_path, bootstrap=True, rejoin=True)


def test_an_identity_without_a_wal_is_a_node_that_lost_its_data(tmp_path: Path) -> None:
    write_identity(tmp_path, new_identity(2, "c", "raft"))
    for bootstrap in (False, True):  # --bootstrap cannot make a node that had data new
        with pytest.raises(StartRefused, match="WAL is gone.*--rejoin"):
            _plan(tmp_path, bootstrap=bootstrap)
    assert _plan(tmp_path, rejoin=True).lost


def test_a_directory_with_a_wal_starts_normally_and_refuses_rejoin(tmp_path: Path) -> None:
    _wal_file(tmp_path)
    adopted = _plan(tmp_path)  # written by an older replikv: adopted
    assert not adopted.lost and adopted.write_after is not None
    write_identity(tmp_path, adopted.write_after)
    plan = _plan(tmp_path)
    assert not plan.lost and plan.write_after is None and not plan.lost_if_no_records
    with pytest.raises(StartRefused, match="move the directory away"):
        _plan(tmp_path, rejoin=True)


def test_a_rejoin_restarted_before_its_first_record_is_still_lost(tmp_path: Path) -> None:
    write_identity(tmp_path, new_identity(2, "c", "raft", rejoin_pending=True))
    assert _plan(tmp_path).lost  # no WAL yet
    _wal_file(tmp_path)
    plan = _plan(tmp_path)
    assert plan.lost_if_no_records and not plan.lost


def test_another_nodes_directory_is_refused(tmp_path: Path) -> None:
    write_identity(tmp_path, new_identity(3, "c", "raft"))
    _wal_file(tmp_path)
    with pytest.raises(StartRefused, match="belongs to node 3"):
        _plan(tmp_path)


# -- the host tells the replica -----------------------------------------------------------


class _Capture:
    args: list[CreateArgs] = []


def _capturing_spec() -> ProtocolSpec:
    def create(args: CreateArgs):
        _Capture.args.append(args)
        return TOY.create(args)

    return ProtocolSpec(name="toy", summary="", config_type=TOY.config_type, messages=TOY.messages,
                        records=TOY.records, create=create, promises=TOY.promises)


def _host(wal, spec: ProtocolSpec) -> NodeHost:
    config = ReplicaConfig(tick_ms=1000, heartbeat_ms=1000, election_timeout_ms=3000)
    return NodeHost(spec=spec, node=1, members=(1,), config=config, wal=wal, codec=RecordCodec(spec.records),
                    send=lambda dst, msg: None)


def _image(count: int) -> bytes:
    wal = MemoryWAL()
    wal.recover()
    codec = RecordCodec(TOY.records)
    for i in range(1, count + 1):
        wal.append([codec.encode(ToyEntry(i, Request(1, i, Set("k", str(i)))))])
    return wal.image


def test_the_host_passes_torn_records_and_logs_them(caplog) -> None:
    """Under fsync batch/never a torn frame may have held an acknowledged write: the
    replica is told (Recovery.torn_records) and treats it as damage."""
    spec = _capturing_spec()
    _Capture.args.clear()
    image = _image(3)
    with caplog.at_level(logging.WARNING):
        recovery = _host(MemoryWAL(image[:-4], name="wal-x", fsync="never"), spec).recover()
    assert recovery == Recovery(lost=False, torn_records=1)
    assert _Capture.args[-1].recovery == recovery and len(_Capture.args[-1].recovered) == 2
    assert any("torn" in r.getMessage() and "wal-x" in r.getMessage() for r in caplog.records
               if r.levelno == logging.WARNING)


def test_a_node_killed_before_its_first_write_is_told_of_the_torn_tail_again(tmp_path: Path) -> None:
    """Swarm seed 1100093 (2pc): the cut is remembered on disk (``FileWAL``'s marker) until
    a record written after it is, so a second start does not take the shortened log for
    an intact one; once the replica wrote, the next start is a clean one."""
    from replikv.storage import FileWAL

    spec = _capturing_spec()
    (tmp_path / "wal-0000000000000001.log").write_bytes(_image(3)[:-4])
    first = FileWAL(tmp_path, fsync="batch")
    assert _host(first, spec).recover() == Recovery(lost=False, torn_records=1)
    first.close()  # killed before the replica's first record reached the WAL
    second = FileWAL(tmp_path, fsync="batch")
    assert _host(second, spec).recover() == Recovery(lost=False, torn_records=1)
    second.append([RecordCodec(TOY.records).encode(ToyEntry(3, Request(1, 3, Set("k", "3"))))])
    second.close()
    third = FileWAL(tmp_path, fsync="batch")
    assert _host(third, spec).recover() == Recovery(lost=False, torn_records=0)
    assert len(_Capture.args[-1].recovered) == 3
    third.close()


def test_under_fsync_always_a_torn_frame_is_a_write_that_never_completed(caplog) -> None:
    """Nothing is acknowledged before its fsync returns, so the cut frame was never
    acknowledged: logged, and the replica starts normally (a full-cluster power loss
    must not leave every node waiting to be repaired by the others)."""
    spec = _capturing_spec()
    _Capture.args.clear()
    image = _image(3)
    with caplog.at_level(logging.WARNING):
        recovery = _host(MemoryWAL(image[:-4], name="wal-y", fsync="always"), spec).recover()
    assert recovery == Recovery(lost=False, torn_records=0)
    assert len(_Capture.args[-1].recovered) == 2
    assert any("never completed" in r.getMessage() and "wal-y" in r.getMessage() for r in caplog.records)


def test_the_host_passes_lost_and_an_intact_wal_passes_nothing() -> None:
    spec = _capturing_spec()
    _Capture.args.clear()
    assert _host(MemoryWAL(_image(2)), spec).recover() == Recovery()
    assert _host(MemoryWAL(), spec).recover(lost=True) == Recovery(lost=True)
    assert _host(MemoryWAL(), spec).recover(lost_if_no_records=True) == Recovery(lost=True)
    assert _host(MemoryWAL(_image(1)), spec).recover(lost_if_no_records=True) == Recovery()
    assert [a.recovery.lost for a in _Capture.args] == [False, True, True, False]


# -- real processes -----------------------------------------------------------------------


@pytest.fixture
def cluster(tmp_path: Path):
    made = Cluster(tmp_path, "raft", 3, ("request_timeout_ms=2000", "heartbeat_ms=30", "election_timeout_ms=200"))
    yield made
    made.cleanup()


def _start_fails(cluster: Cluster, i: int, *extra: str) -> str:
    argv = cluster.argv(i) + list(extra)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    return done.stderr


def test_a_node_whose_data_directory_was_moved_away_refuses_to_start_then_rejoins(cluster: Cluster) -> None:
    cluster.start_all()
    client = cluster.redis(1)
    for i in range(20):
        assert client.set(f"k{i}", i)
    cluster.kill(2)
    moved = cluster.root / "node2.moved"
    shutil.move(cluster.data_dir(2), moved)
    # Missing directory, then an empty one (what `cluster restart` leaves): both refused.
    assert "holds no replikv data" in _start_fails(cluster, 2) and "--rejoin" in _start_fails(cluster, 2)
    # The WAL deleted but the identity file kept: refused too.
    shutil.rmtree(cluster.data_dir(2))
    shutil.copytree(moved, cluster.data_dir(2))
    for wal in cluster.data_dir(2).glob("wal-*.log"):
        wal.unlink()
    assert "WAL is gone" in _start_fails(cluster, 2)
    # --rejoin on a directory that still has a WAL is refused (nothing is discarded silently).
    shutil.rmtree(cluster.data_dir(2))
    shutil.copytree(moved, cluster.data_dir(2))
    assert "move the directory away" in _start_fails(cluster, 2, "--rejoin")
    shutil.rmtree(cluster.data_dir(2))
    cluster.start(2, extra=("--rejoin",))
    assert "lost its durable state" in cluster.log(2)
    digest = cluster.wait_converged(timeout=30)  # node 2 holds the same state as the others
    assert digest == cluster.status(1)["digest"]
    assert cluster.status(2)["wal"]  # and it writes a WAL of its own again


def test_bootstrap_is_only_for_a_new_directory(tmp_path: Path) -> None:
    directory = tmp_path / "d"
    argv = [*SERVE, "--id", "1", "--protocol", "pb-sync", "--client-port", "0", "--peer-port", "0",
            "--data-dir", str(directory)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--bootstrap" in done.stderr, done.stderr
    assert not list(directory.glob("wal-*"))  # a refused start leaves no WAL behind
    done = subprocess.run(argv + ["--bootstrap", "--rejoin"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "exclude each other" in done.stderr, done.stderr
