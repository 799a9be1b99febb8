"""The shared free-port helpers of the tooling, the benchmark and the Jepsen runner."""

from __future__ import annotations

import random
import socket

import pytest

from replikv.cluster import ports


def test_a_listening_port_is_not_free_with_or_without_reuse_address() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert not ports.port_free("127.0.0.1", port)
        assert not ports.port_free("127.0.0.1", port, reuse_address=True)
    assert ports.port_free("127.0.0.1", port)


def test_cluster_ports_follow_the_state_layout() -> None:
    assert ports.cluster_ports(7000, 3) == [7001, 7002, 7003, 7101, 7102, 7103]


def test_free_base_port_gives_a_free_aligned_range() -> None:
    base = ports.free_base_port(3, rng=random.Random(11))
    low, high = ports.BASE_PORT_RANGE
    assert low <= base < high and base % ports.BASE_PORT_STEP == 0
    assert all(ports.port_free("127.0.0.1", p) for p in ports.cluster_ports(base, 3))


def test_free_base_port_skips_a_range_with_a_taken_port() -> None:
    first = ports.free_base_port(2, rng=random.Random(5))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", first + 101))
        holder.listen()
        second = ports.free_base_port(2, rng=random.Random(5))
    assert second != first


def test_no_free_range_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="no free port range"):
        ports.free_base_port(1, attempts=0)
