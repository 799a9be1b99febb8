"""The event loop of the model executions that generate test histories.

What may live here: closed-loop clients over an event heap, for ``generate.py``
(single-key register histories) and ``txn/generate.py`` (list-append transactions). A
subclass says what an operation is (``_invoke``), when it takes effect (``_apply``) and
how it is reported (``_complete``); the heap, the client processes and the run loop are
here, once.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Sequence

from replikv.check.history import HistoryEvent, HistoryRecorder


class ClientLoop:
    def __init__(self, rng: random.Random, clients: int, keys: Sequence[str], latency_ms: float) -> None:
        self.rng, self.keys, self.latency = rng, list(keys), latency_ms
        self.clients = clients
        self.recorder = HistoryRecorder()
        self.heap: list[tuple[float, int, str, int, tuple]] = []
        self.sequence = 0
        self.process = list(range(1, clients + 1))  # client -> current process id
        self.next_process = clients + 1
        self.started = 0

    def _push(self, when: float, kind: str, client: int, data: tuple = ()) -> None:
        self.sequence += 1
        heapq.heappush(self.heap, (when, self.sequence, kind, client, data))

    def run(self, total: int) -> list[HistoryEvent]:
        """Start ``total`` operations across the clients; the history of their run."""
        for client in range(self.clients):
            self._push(self.rng.uniform(0, self.latency), "invoke", client)
        while self.heap:
            when, _, kind, client, data = heapq.heappop(self.heap)
            if kind == "invoke":
                if self.started < total:
                    self.started += 1
                    self._invoke(when, client)
            elif kind == "apply":
                self._apply(when, client, *data)
            else:
                self._complete(when, client, *data)
        return self.recorder.events

    def _invoke(self, now: float, client: int) -> None:
        raise NotImplementedError

    def _apply(self, now: float, client: int, *data) -> None:
        raise NotImplementedError

    def _complete(self, now: float, client: int, *data) -> None:
        raise NotImplementedError
