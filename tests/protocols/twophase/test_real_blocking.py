"""2PC blocks on a real cluster (issue 11's acceptance, real processes): the coordinator
dies after every participant voted YES and before it decided; the participants hold the
key's lock until it returns, then the transaction aborts everywhere (presumed abort).

The window "after the votes, before the decision" is opened with signals, not luck:
both participants are frozen (SIGSTOP) while the coordinator sends its PREPAREs, the
coordinator is frozen before they thaw (their YES votes wait in its socket), and it is
killed (SIGKILL) with the votes unread. ``vote_timeout_ms`` is long so no node gives up
on its own meanwhile."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from replikv.cluster import manager
from replikv.jepsen.cluster import running_cluster

pytestmark = pytest.mark.process

OPTIONS = {"vote_timeout_ms": "60000", "query_ms": "100", "request_timeout_ms": "1000"}


def _connect(port: int, timeout: float = 5.0) -> redis.Redis:
    return redis.Redis(port=port, socket_timeout=timeout, retry=Retry(NoBackoff(), 0))


def _get(r: redis.Redis, key: str) -> tuple[str, bytes | str | None]:
    """("ok", value), ("error", message) or ("timeout", None)."""
    try:
        return "ok", r.get(key)
    except redis.TimeoutError:
        return "timeout", None
    except redis.ResponseError as exc:
        return "error", str(exc)


@pytest.mark.timeout(120)
def test_coordinator_killed_after_the_votes_blocks_the_key_until_it_returns(tmp_path) -> None:
    root = tmp_path / "cluster"
    with running_cluster(root, "2pc", 3, options=OPTIONS) as state:
        ports = [m.client_port for m in state.members()]
        coordinator, participant = _connect(ports[0]), _connect(ports[1])
        assert coordinator.set("k", "before") is True and coordinator.set("other", "x") is True
        manager.pause(root, 2)
        manager.pause(root, 3)
        writer = threading.Thread(target=_get_set, args=(ports[0],), daemon=True)
        writer.start()  # node 1 locks k and sends PREPARE to the frozen participants
        time.sleep(0.5)
        manager.pause(root, 1)
        manager.resume(root, 2)
        manager.resume(root, 3)
        time.sleep(0.5)  # both persist PREPARED and vote YES into node 1's socket
        manager.kill(root, 1)
        killed = time.monotonic()
        # blocked: a linearizable read of k waits for the lock and is refused after 1 s,
        # three times over; a read of another key is served at once
        for _ in range(3):
            kind, message = _get(participant, "k")
            assert kind == "error" and "locked by a transaction in doubt" in message, (kind, message)
        assert _get(participant, "other") == ("ok", b"x")
        assert _get(_connect(ports[2]), "k")[0] == "error"
        blocked_s = time.monotonic() - killed
        manager.restart(root, 1)
        deadline = time.monotonic() + 10.0
        while _get(participant, "k") != ("ok", b"before"):  # presumed abort: the write never happened
            assert time.monotonic() < deadline, "node 2 still blocked after the coordinator returned"
            time.sleep(0.05)
        assert _get(_connect(ports[2]), "k") == ("ok", b"before")
        assert _get(_connect(ports[0]), "k") == ("ok", b"before")
        assert blocked_s >= 2.5


def _get_set(port: int) -> None:
    with contextlib.suppress(redis.RedisError):  # the coordinator is killed under it: outcome unknown
        _connect(port, timeout=30.0).set("k", "during")
