"""Real ``replikv serve`` processes driven through ``replikv cluster`` (a separate
process, as from another shell), redis-cli and redis-benchmark. Every call has a
timeout; the ``cluster_dir`` fixture kills every recorded process group at the end."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess

import pytest
from cluster_helpers import free_base_port

from replikv import schemes
from replikv.cluster import admin, processes
from replikv.cluster.state import load_state

pytestmark = [pytest.mark.process, pytest.mark.timeout(120)]

needs_redis_cli = pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli not installed (Debian: redis-tools)")


def replikv(*args: str, check: bool = True, timeout: float = 60.0) -> subprocess.CompletedProcess:
    done = subprocess.run([*processes.serve_prefix(), *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, f"replikv {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def redis_cli(port: int, *args: str) -> str:
    done = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _up(root, protocol: str, nodes: int = 3, *extra: str) -> list[int]:
    base = free_base_port(nodes)
    replikv("cluster", "up", "--protocol", protocol, "--nodes", str(nodes), "--base-port", str(base),
            "--data-dir", str(root), "--timeout", "30", *extra)
    return [base + i for i in range(1, nodes + 1)]


def _status(root) -> dict:
    return json.loads(replikv("cluster", "status", "--json", "--data-dir", str(root)).stdout)


def _converged(root, expected_up: int) -> bool:
    nodes = [n for n in _status(root)["nodes"] if n["state"] == "up"]
    applied = {n["applied_index"] for n in nodes}
    digests = {n["digest"] for n in nodes}
    return len(nodes) == expected_up and len(applied) == 1 and len(digests) == 1


@needs_redis_cli
def test_up_status_kill_restart_down_round_trip_pb_sync(cluster_dir) -> None:
    ports = _up(cluster_dir, "pb-sync")
    status = _status(cluster_dir)
    assert [n["state"] for n in status["nodes"]] == ["up", "up", "up"]
    assert [n["role"] for n in status["nodes"]].count("primary") == 1
    primary = status["leader"]
    assert redis_cli(ports[primary - 1], "SET", "before", "1") == "OK"

    victim = next(n for n in (1, 2, 3) if n != primary)
    assert f"node {victim} (pid" in replikv("cluster", "kill", str(victim), "--data-dir", str(cluster_dir)).stdout
    states = {n["id"]: n["state"] for n in _status(cluster_dir)["nodes"]}
    assert states[victim] == "down" and list(states.values()).count("up") == 2
    # the others show their link to the dead node down (issue 8.3)
    assert processes.wait_until(lambda: all(
        n["down_links"] == [victim] for n in _status(cluster_dir)["nodes"] if n["id"] != victim), 10.0, 0.2)
    assert f"down:{victim}" in replikv("cluster", "status", "--data-dir", str(cluster_dir)).stdout

    replikv("cluster", "restart", str(victim), "--data-dir", str(cluster_dir))
    waited = replikv("cluster", "wait", "--timeout", "20", "--data-dir", str(cluster_dir)).stdout
    assert waited.startswith(f"converged: leader node {primary}")
    assert _converged(cluster_dir, 3)
    assert [n["down_links"] for n in _status(cluster_dir)["nodes"]] == [[], [], []]
    assert redis_cli(ports[victim - 1], "GET", "before") == "1"
    assert redis_cli(ports[primary - 1], "SET", "after", "2") == "OK"  # the primary took it back

    entries = load_state(cluster_dir).nodes
    out = replikv("cluster", "down", "--data-dir", str(cluster_dir)).stdout
    assert all(f"node {i}: " in out for i in (1, 2, 3))
    assert not any(processes.is_alive(e.pid, e.data_dir) for e in entries)
    assert all(not admin.ping("127.0.0.1", port, 0.3) for port in ports)
    again = replikv("cluster", "status", "--json", "--data-dir", str(cluster_dir))
    assert [n["state"] for n in json.loads(again.stdout)["nodes"]] == ["down", "down", "down"]


@needs_redis_cli
def test_partition_and_heal_through_the_cli(cluster_dir) -> None:
    ports = _up(cluster_dir, "pb-sync")
    where = ["--data-dir", str(cluster_dir)]
    replikv("cluster", "partition", "3", *where)
    blocked = {i: admin.node_status("127.0.0.1", ports[i - 1]).raw["blocked"] for i in (1, 2, 3)}
    assert blocked[3] == {"to": [1, 2], "from": [1, 2]}
    assert blocked[1] == {"to": [3], "from": [3]} and blocked[2] == {"to": [3], "from": [3]}
    replikv("cluster", "heal", *where)
    for i in (1, 2, 3):
        assert admin.node_status("127.0.0.1", ports[i - 1]).raw["blocked"] == {"to": [], "from": []}
    primary = _status(cluster_dir)["leader"]
    replikv("cluster", "wait", "--timeout", "20", *where)
    # pb-sync refuses a write (TIMEOUT, "backup N is down") while its primary has not
    # heard a backup for failure_timeout_ms (300 ms): on a loaded machine a healthy
    # backup can miss that once (CI: node 2, never partitioned). The cluster must take
    # the write again within a few seconds of the heal; SET of one value is idempotent.
    answers: list[str] = []
    assert processes.wait_until(
        lambda: answers.append(redis_cli(ports[primary - 1], "SET", "after-heal", "yes")) or answers[-1] == "OK",
        10.0, 0.2), answers
    assert all(a == "OK" or a.startswith("TIMEOUT backup") for a in answers), answers
    replikv("cluster", "wait", "--timeout", "20", *where)
    assert _converged(cluster_dir, 3)


@needs_redis_cli
@pytest.mark.parametrize("protocol", ["pb-sync", "pb-async"])
def test_redis_cli_set_and_get_on_every_node(cluster_dir, protocol: str) -> None:
    ports = _up(cluster_dir, protocol)
    for i, port in enumerate(ports, start=1):
        assert redis_cli(port, "SET", f"key-{i}", f"value from node {i}") == "OK"
    for port in ports:
        for i in range(1, len(ports) + 1):
            assert redis_cli(port, "GET", f"key-{i}") == f"value from node {i}"
    assert redis_cli(ports[0], "GET", "never-written") == ""


@pytest.mark.skipif(shutil.which("redis-benchmark") is None, reason="redis-benchmark not installed (Debian: redis-tools)")
def test_redis_benchmark_runs_without_errors(cluster_dir) -> None:
    # What is tested is Redis compatibility under load, not the disk: skip the fsyncs.
    ports = _up(cluster_dir, "pb-sync", 3, "--fsync", "never")
    primary = _status(cluster_dir)["leader"]
    done = subprocess.run(
        ["redis-benchmark", "-p", str(ports[primary - 1]), "-t", "set,get", "-n", "20000", "-c", "20", "-q"],
        capture_output=True, text=True, timeout=100,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "error" not in output.lower(), output
    rates = {line.split(":")[0]: line for line in output.splitlines() if "requests per second" in line}
    assert set(rates) == {"SET", "GET"}, output


@needs_redis_cli
def test_raft_leader_kill_and_transfer_through_the_cli(cluster_dir) -> None:
    ports = _up(cluster_dir, "raft")
    where = ["--data-dir", str(cluster_dir)]
    replikv("cluster", "wait", "--timeout", "20", *where)
    first = _status(cluster_dir)["leader"]
    assert redis_cli(ports[first - 1], "SET", "k", "v1") == "OK"
    replikv("cluster", "kill", str(first), *where)
    assert processes.wait_until(lambda: _status(cluster_dir)["leader"] not in (None, first), 20.0, 0.2)
    second = _status(cluster_dir)["leader"]
    assert redis_cli(ports[second - 1], "GET", "k") == "v1"
    replikv("cluster", "restart", str(first), *where)
    replikv("cluster", "wait", "--timeout", "20", *where)
    target = next(n for n in (1, 2, 3) if n != second)
    replikv("cluster", "transfer-leader", str(target), *where)
    assert processes.wait_until(lambda: _status(cluster_dir)["leader"] == target, 20.0, 0.2), _status(cluster_dir)
    assert redis_cli(ports[target - 1], "SET", "k", "v2") == "OK"
    replikv("cluster", "wait", "--timeout", "20", *where)
    assert [redis_cli(port, "GET", "k") for port in ports] == ["v2", "v2", "v2"]


@needs_redis_cli
def test_raft_add_node_and_remove_node_through_the_cli(cluster_dir) -> None:
    """Adding a fourth node and removing it work under load: a writer thread keeps
    SETting fresh keys at the leader (redis-py, following NOTLEADER hints) while
    ``cluster add-node`` and ``cluster remove-node`` run; writes are acknowledged during
    both, and afterwards every acknowledged write is readable at every member."""
    import threading
    import time

    import redis

    where = ["--data-dir", str(cluster_dir)]
    base = free_base_port(4)  # node 4's ports are checked free too
    replikv("cluster", "up", "--protocol", "raft", "--nodes", "3", "--base-port", str(base), *where,
            "--timeout", "30")
    replikv("cluster", "wait", "--timeout", "20", *where)
    port_of = {i: base + i for i in (1, 2, 3)}
    acked: list[tuple[float, str]] = []  # (when, key) of every OK
    unexpected: list[str] = []
    stop = threading.Event()

    def write_continuously() -> None:
        # one connection per node, kept open (a connection per write would leave
        # hundreds of local ports in TIME_WAIT, some of them maybe node 4's)
        clients: dict[int, redis.Redis] = {}
        target, n, deadline = _status(cluster_dir)["leader"], 0, time.monotonic() + 90.0
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                n += 1
                key = f"load-{n}"
                while not stop.is_set():  # NOTLEADER/UNAVAILABLE are definite: same key again
                    if target not in clients:
                        clients[target] = redis.Redis(port=port_of[target], socket_timeout=3,
                                                      socket_connect_timeout=1, protocol=2)
                    try:
                        assert clients[target].set(key, str(n)) is True
                        acked.append((time.monotonic(), key))
                        break
                    except redis.ResponseError as exc:
                        text = str(exc)
                        if text.startswith("TIMEOUT"):
                            break  # indefinite: never counted, next key
                        if not text.startswith(("NOTLEADER", "UNAVAILABLE")):
                            unexpected.append(f"{key}: {text}")
                            return
                        hint = text.rpartition("leader is node ")[2]
                        target = int(hint) if hint.isdigit() and int(hint) in port_of else target % 3 + 1
                    except (redis.ConnectionError, redis.TimeoutError):
                        clients.pop(target).close()
                        target = target % 3 + 1  # unknown outcome: never counted, next key
                        break
        finally:
            for client in clients.values():
                client.close()

    def acked_since(t: float) -> int:
        return sum(1 for when, _ in list(acked) if when >= t)

    writer = threading.Thread(target=write_continuously, name="raft-membership-writer", daemon=True)
    writer.start()
    try:
        assert processes.wait_until(lambda: len(acked) >= 20, 20.0), unexpected
        add_start = time.monotonic()
        added = replikv("cluster", "add-node", *where, check=False)
        assert added.returncode == 0, added.stderr
        assert added.stdout.startswith("node 4 started")
        # under load the applied indexes never line up (no `cluster wait`): instead every
        # node lists node 4, and node 4 catches up with what was acknowledged before it joined
        assert processes.wait_until(
            lambda: all(n["members"] == [1, 2, 3, 4] for n in _status(cluster_dir)["nodes"]), 20.0, 0.2
        ), _status(cluster_dir)
        port_of[4] = load_state(cluster_dir).node(4).client_port
        before_add = [key for when, key in list(acked) if when < add_start]
        with redis.Redis(port=port_of[4], socket_timeout=10, protocol=2) as client:
            assert processes.wait_until(
                lambda: client.get(before_add[-1]) == before_add[-1].removeprefix("load-").encode(), 20.0, 0.1
            ), "node 4 did not catch up"
        assert acked_since(add_start) > 0, "no write was acknowledged while node 4 joined"

        remove_start = time.monotonic()
        removed = replikv("cluster", "remove-node", "4", *where, check=False)
        assert removed.returncode == 0, removed.stderr
        after_remove = time.monotonic()
        assert processes.wait_until(lambda: acked_since(after_remove) >= 20, 20.0), "writes stopped after removal"
        assert acked_since(remove_start) > 0
    finally:
        stop.set()
        writer.join(timeout=15)
    assert not writer.is_alive(), "the writer did not stop"
    assert unexpected == [], unexpected[:5]

    entry = load_state(cluster_dir).node(4)
    assert entry.removed and entry.pid is None
    assert [n["id"] for n in _status(cluster_dir)["nodes"]] == [1, 2, 3]
    assert all(n["members"] == [1, 2, 3] for n in _status(cluster_dir)["nodes"])
    replikv("cluster", "wait", "--timeout", "20", *where)
    keys = [key for _, key in acked]
    assert len(keys) >= 40
    for node in (1, 2, 3):
        with redis.Redis(port=port_of[node], socket_timeout=10, protocol=2) as client:
            values = client.mget(keys)
        missing = [k for k, v in zip(keys, values, strict=True) if v != k.removeprefix("load-").encode()]
        assert missing == [], f"node {node} lacks {len(missing)} acknowledged writes, e.g. {missing[:5]}"


def _peer_handshake(port: int, secret: bytes | None, protocol: str) -> object:
    """Dial a node's peer port as node 2 would and return its answer to our Hello
    (``Welcome``, ``Refused``, or None when it closed without a word)."""
    import asyncio

    from replikv.runtime.wire import Challenge, FrameDecoder, Hello, WireCodec, handshake_mac

    codec = WireCodec(schemes.get_spec(protocol).messages)

    async def dial() -> object:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
        try:
            decoder, frames = FrameDecoder(1 << 16), []
            while not frames:
                frames = decoder.feed(await asyncio.wait_for(reader.read(4096), 5))
            challenge = codec.decode_handshake(frames[0])
            assert isinstance(challenge, Challenge)
            mac = handshake_mac(secret, "dial", challenge.nonce, "replikv", 2, protocol)
            writer.write(codec.frame(Hello("replikv", 2, protocol, b"\0" * 16, mac)))
            frames = []
            while not frames:
                data = await asyncio.wait_for(reader.read(4096), 5)
                if not data:
                    return None
                frames = decoder.feed(data)
            return codec.decode_handshake(frames[0])
        finally:
            writer.close()

    return asyncio.run(dial())


def test_a_default_cluster_refuses_a_peer_without_the_secret(cluster_dir) -> None:
    """Issue 8.7: `cluster up` started nodes without a secret, so any local process could
    dial a peer port as the leader and have a follower apply a forged entry. A default
    cluster now has a secret: a peer with none, or a wrong one, is refused."""
    from replikv.runtime.wire import Refused, Welcome

    _up(cluster_dir, "raft")
    state = load_state(cluster_dir)
    assert state.secret_file is not None
    peer_port = state.node(1).peer_port
    for secret in (None, b"not the secret"):
        answer = _peer_handshake(peer_port, secret, "raft")
        assert isinstance(answer, Refused) and "authentication" in answer.reason, answer
    real = pathlib.Path(state.secret_file).read_bytes().strip()
    assert isinstance(_peer_handshake(peer_port, real, "raft"), Welcome)  # the probe itself is right


def test_a_node_whose_data_dir_was_lost_comes_back_only_with_restart_rejoin(cluster_dir) -> None:
    """Issue 8.1, as an operator does it: a follower's data directory is moved away;
    `cluster restart` refuses to start it as if new, `cluster restart --rejoin` starts it
    and it catches up with every acknowledged write."""
    import redis

    ports = _up(cluster_dir, "raft")
    where = ["--data-dir", str(cluster_dir)]
    replikv("cluster", "wait", "--timeout", "20", *where)
    leader = _status(cluster_dir)["leader"]
    with redis.Redis(port=ports[leader - 1], socket_timeout=10, protocol=2) as client:
        for i in range(50):
            for _attempt in range(5):  # a TIMEOUT (outcome unknown) on a loaded machine: write again
                try:
                    assert client.set(f"k{i}", str(i)) is True
                    break
                except redis.ResponseError as exc:
                    assert str(exc).startswith("TIMEOUT"), exc
            else:
                pytest.fail(f"k{i} was never acknowledged")
    follower = next(n for n in (1, 2, 3) if n != leader)
    replikv("cluster", "kill", str(follower), *where)
    data_dir = pathlib.Path(load_state(cluster_dir).node(follower).data_dir)
    data_dir.rename(data_dir.with_name(data_dir.name + ".lost"))
    data_dir.mkdir()  # an empty directory, as a replaced disk leaves it

    refused = replikv("cluster", "restart", str(follower), *where, check=False)
    assert refused.returncode != 0 and "--rejoin" in refused.stderr, refused.stderr
    assert "restarted to rejoin" in replikv("cluster", "restart", "--rejoin", str(follower), *where).stdout
    replikv("cluster", "wait", "--timeout", "30", *where)
    with redis.Redis(port=ports[follower - 1], socket_timeout=10, protocol=2) as client:
        client.execute_command("READLEVEL", "local")
        assert client.mget([f"k{i}" for i in range(50)]) == [str(i).encode() for i in range(50)]


def test_insecure_is_a_warning_from_the_tooling_and_in_the_node_log(cluster_dir) -> None:
    """Issue 8.7: a cluster without a secret says so, on `cluster up`'s stderr and in the
    log of every node (`replikv serve` without --secret-file warns); a default one does not."""
    base = free_base_port(1)
    where = ["--data-dir", str(cluster_dir)]
    started = replikv("cluster", "up", "--protocol", "pb-sync", "--nodes", "1", "--base-port", str(base),
                      "--insecure", "--timeout", "30", *where)
    assert "warning: this cluster has no secret (--insecure)" in started.stderr
    log = pathlib.Path(load_state(cluster_dir).node(1).log_file)
    assert processes.wait_until(lambda: "peers are not authenticated" in log.read_text(), 10.0)
    replikv("cluster", "down", "--wipe", *where)
    started = replikv("cluster", "up", "--protocol", "pb-sync", "--nodes", "1", "--base-port", str(base),
                      "--timeout", "30", *where)
    assert "warning" not in started.stderr
    assert "peers are not authenticated" not in pathlib.Path(load_state(cluster_dir).node(1).log_file).read_text()
