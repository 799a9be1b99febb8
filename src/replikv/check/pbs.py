"""Probabilistically Bounded Staleness (Bailis, Venkataraman, Franklin, Hellerstein,
Stoica, "Probabilistically Bounded Staleness for Practical Partial Quorums", VLDB 2012).

What may live here: the WARS model and the predictions it makes from measured latency
samples. No simulator, no processes: the latencies come in as lists.

**WARS** (§4.2): a write reaches replica i after ``W_i`` and its acknowledgement returns
after ``A_i``; the write commits when W acknowledgements are back. A read sent ``t`` ms
after the commit reaches replica i after ``R_i`` and its answer returns after ``S_i``;
the read takes the first R answers, and is *consistent* when one of them comes from a
replica the write reached before the read request did (``W_i <= commit + t + R_i``).
Monte Carlo over the measured samples gives P(consistent | t) (**t-visibility**, §4.3).
Here the coordinator is itself a replica: the writer's own copy is there at once (its
``A`` is its disk's), the copies for the others leave once it is durable (save before
send), and a read coordinated by a replica answers itself at once.

**k-staleness** (§3.2, without expanding quorums): the probability that a read returns
one of the last k versions is ``1 - (C(N-W, R) / C(N, R))^k``.

The prediction is set next to what the checker measured in the same runs by asking,
for every read, how long after the last acknowledged write of its key it began
(``gaps``): the expected number of stale reads is the sum of P(stale | gap), with a
binomial band (normal approximation, ~95%).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass
class Wars:
    """Latency samples in ms: write propagation, ack, read request, read response, and
    the local disk (a node's persist until durable)."""

    w: list[float] = field(default_factory=list)
    a: list[float] = field(default_factory=list)
    r: list[float] = field(default_factory=list)
    s: list[float] = field(default_factory=list)
    disk: list[float] = field(default_factory=list)

    def complete(self) -> bool:
        return all((self.w, self.a, self.r, self.s))


def wars_from_trace(events: Iterable[Mapping], write: str = "Put", ack: str = "PutAck",
                    read: str = "Read", response: str = "ReadReply") -> Wars:
    """Samples from a simulator trace (``replikv sim --trace``, FIFO links): each send is
    paired with the next deliver or drop on its (src, dst, message) link. ``W``: a write
    message's network time; ``A``: from its delivery until the ack is delivered back
    (the replica's fsync included); ``R``/``S``: the read messages' network times."""
    sent: dict[tuple, deque[float]] = defaultdict(deque)
    delivered: dict[tuple, deque[float]] = defaultdict(deque)
    persists: dict[tuple, float] = {}
    wars = Wars()
    for event in events:
        kind = event.get("ev")
        if kind == "persist":
            persists[(event["node"], event["seq"])] = event["t"]
        elif kind == "durable" and (event["node"], event["seq"]) in persists:
            wars.disk.append(event["t"] - persists.pop((event["node"], event["seq"])))
        if kind not in ("send", "deliver", "drop") or event.get("msg") not in (write, ack, read, response):
            continue
        link = (event["src"], event["dst"], event["msg"])
        if kind == "send":
            sent[link].append(event["t"])
            continue
        if not sent[link]:
            continue
        start = sent[link].popleft()
        if kind == "drop":
            continue
        msg = event["msg"]
        if msg == write:
            wars.w.append(event["t"] - start)
            delivered[(event["dst"], event["src"])].append(event["t"])
        elif msg == ack:
            pending = delivered[(event["src"], event["dst"])]
            if pending:
                wars.a.append(event["t"] - pending.popleft())
        elif msg == read:
            wars.r.append(event["t"] - start)
        else:
            wars.s.append(event["t"] - start)
    return wars


def consistent_probability(wars: Wars, n: int, r: int, w: int, t: float, trials: int = 10_000,
                           rng: random.Random | None = None) -> float:
    """P(a read started ``t`` ms after a write committed returns it or a newer one)."""
    assert wars.complete() and 1 <= r <= n and 1 <= w <= n
    rng = rng or random.Random(0)
    hits = 0
    for _ in range(trials):
        # replica 0 coordinates the write: its copy is there at once, its ack is its own
        # disk, and the copies for the others leave once that is durable (save before send)
        own = rng.choice(wars.disk) if wars.disk else 0.0
        arrive = [0.0] + [own + rng.choice(wars.w) for _ in range(n - 1)]
        acked = sorted([own] + [arrive[i] + rng.choice(wars.a) for i in range(1, n)])
        commit = acked[w - 1]
        reader = rng.randrange(n)  # the read's coordinator answers itself at once
        answers = []
        for i in range(n):
            request = 0.0 if i == reader else rng.choice(wars.r)
            reply = 0.0 if i == reader else rng.choice(wars.s)
            answers.append((request + reply, arrive[i] <= commit + t + request))
        answers.sort(key=lambda x: x[0])
        hits += any(fresh for _, fresh in answers[:r])
    return hits / trials


def k_staleness(n: int, r: int, w: int, k: int) -> float:
    """P(a read returns one of the last ``k`` versions) with non-expanding quorums (§3.2)."""
    if r + w > n:
        return 1.0
    miss = math.comb(n - w, r) / math.comb(n, r)
    return 1.0 - miss**k


@dataclass(frozen=True)
class Prediction:
    reads: int
    expected_stale: float
    low: float
    high: float


def predict_stale_reads(wars: Wars, n: int, r: int, w: int, gaps: Sequence[float], trials: int = 4000,
                        rng: random.Random | None = None, bucket_ms: float = 1.0) -> Prediction:
    """Expected stale reads among reads that began ``gaps`` ms after their key's last
    acknowledged write, with a ~95% band (the sum of Bernoulli variances)."""
    rng = rng or random.Random(0)
    cache: dict[int, float] = {}
    mean = variance = 0.0
    for gap in gaps:
        bucket = int(max(gap, 0.0) // bucket_ms)
        if bucket not in cache:
            cache[bucket] = 1.0 - consistent_probability(wars, n, r, w, bucket * bucket_ms + bucket_ms / 2,
                                                         trials, rng)
        p = cache[bucket]
        mean += p
        variance += p * (1 - p)
    spread = 1.96 * math.sqrt(variance)
    return Prediction(len(gaps), mean, max(0.0, mean - spread), mean + spread)
