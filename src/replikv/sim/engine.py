"""The event heap and virtual clock, and the message trace.

What may live here: the single-threaded scheduler (events ordered by virtual time, then
by a sequence number, so ties break the same way every run) and the trace recorder.
Nothing here knows about replicas, networks or clients.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

import msgspec


class EventBudgetExceeded(Exception):
    """The run needed more events than its budget (``[run] max_events``)."""


class Engine:
    """A heap of ``(time_ms, seq, fn, args)``; ``seq`` makes the order total and stable.

    ``max_events`` bounds a run: the event past it raises ``EventBudgetExceeded`` instead
    of running (a livelock or a storm of copies would otherwise never end)."""

    __slots__ = ("now", "_heap", "_seq", "events", "max_events")

    def __init__(self, max_events: int | None = None) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, Callable[..., Any], tuple]] = []
        self._seq = 0
        self.events = 0
        """How many events ran (for the bench)."""
        self.max_events = max_events

    def at(self, time_ms: float, fn: Callable[..., Any], *args: Any) -> None:
        assert time_ms >= self.now, f"cannot schedule in the past: {time_ms} < {self.now}"
        self._seq += 1
        heapq.heappush(self._heap, (time_ms, self._seq, fn, args))

    def after(self, delay_ms: float, fn: Callable[..., Any], *args: Any) -> None:
        self.at(self.now + delay_ms, fn, *args)

    def run(self, stop: Callable[[], bool], limit_ms: float) -> bool:
        """Run events until ``stop()`` is true (checked after each event), the heap is
        empty or the next event is later than ``limit_ms``. True when ``stop()`` held."""
        heap = self._heap
        pop = heapq.heappop
        budget = self.max_events if self.max_events is not None else float("inf")
        while heap:
            if stop():
                return True
            if heap[0][0] > limit_ms:
                self.now = max(self.now, limit_ms)
                return False
            if self.events >= budget:
                raise EventBudgetExceeded(
                    f"more than {self.max_events} events by virtual time {self.now:.3f} ms "
                    f"({len(heap)} still queued)")
            time_ms, _, fn, args = pop(heap)
            self.now = time_ms
            self.events += 1
            fn(*args)
        return stop()


_ENCODER = msgspec.json.Encoder()
_TRACE_FIELDS = ("term", "epoch", "index", "prev_index", "commit_index", "last_index", "txid")
_FIELD_CACHE: dict[type, tuple[str, ...]] = {}


def message_fields(msg: object) -> dict[str, Any]:
    """The few identifying fields of a message worth a trace column (term, index, ...)."""
    cls = type(msg)
    names = _FIELD_CACHE.get(cls)
    if names is None:
        present = getattr(cls, "__struct_fields__", ())
        names = _FIELD_CACHE[cls] = tuple(f for f in _TRACE_FIELDS if f in present)
    return {name: getattr(msg, name) for name in names}


class Trace:
    """JSONL lines, one per event: ``{"t": ms, "ev": kind, ...}`` (docs/simulator.md)."""

    __slots__ = ("lines",)

    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def emit(self, t: float, ev: str, **fields: Any) -> None:
        self.lines.append(_ENCODER.encode({"t": round(t, 3), "ev": ev, **fields}))

    def to_bytes(self) -> bytes:
        return b"".join(line + b"\n" for line in self.lines)
