"""Shared helpers for runtime tests: bounded async runs, condition waits, free ports."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any


def run(coro: Coroutine[Any, Any, Any], timeout: float = 20.0) -> Any:
    """Run a coroutine on a fresh loop, failing the test if it takes longer than ``timeout``."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def until(condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Wait for a condition driven by real sockets/threads (checked every 5 ms), bounded."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.005)


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports the OS says are free now (bound to 0, then released)."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
