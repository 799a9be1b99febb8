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

The prediction is set next to what the checker measured in the same runs
(:func:`predict_certainly_stale`): every read of the run is replayed against the writes
of its key, with the measured ``W`` drawn for each copy, and the count of certainly
stale reads (``check.staleness``) is predicted with a ~95% band from the spread of the
trials.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from replikv.check.history import Operation


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
    """Of ``reads`` reads, ``expected_stale`` stale on average, 95% of trials within
    [``low``, ``high``]; and how often each read was stale."""

    reads: int
    expected_stale: float
    low: float
    high: float
    per_read: Mapping[int, float] = field(default_factory=dict)
    """Read (``Operation.index``) -> the fraction of trials in which it was stale."""


def predict_certainly_stale(wars: Wars, ops: Sequence[Operation], hop_ms: float, trials: int = 500,
                            rng: random.Random | None = None) -> Prediction:
    """Expected *certainly stale* reads (``check.staleness``) of a run with R = W = 1,
    and a ~95% band, from the WARS write latencies and the run's own schedule.

    The per-read t-visibility above answers "does a read t ms after this write see it",
    one write at a time; the checker counts something slightly different: a read is
    certainly stale when the version it returned was produced before some acknowledged
    write was invoked (overlapping writes excuse it, a newer write seen counts as fresh).
    So each read is replayed against every write of its key (WARS §4.2, with the
    coordinator a replica as above):

    - a write coordinated by the read's own node is there once it arrived there
      (``invoke + hop``): the coordinator applies before its fsync;
    - any other write's copy leaves its coordinator when it commits (save before send,
      ``complete - hop`` at W = 1) and arrives after one draw of ``W``;
    - the read (arriving at ``invoke + hop``) returns the newest version its node holds
      (sibling resolution by timestamp, which is the coordinator's arrival time).

    One draw of ``W`` per (write, node) per trial is shared by every read of that node:
    two reads that wait for the same slow copy are stale together, so the band comes from
    the spread of the trials' totals (2.5% and 97.5% quantiles), not from a sum of
    independent Bernoulli variances, which would be too narrow."""
    assert wars.w, "no write latency samples"
    rng = rng or random.Random(0)
    plans = [plan for key_ops in _by_key(ops).values() for plan in _read_plans(key_ops, hop_ms)]
    totals = []
    counts = [0] * len(plans)
    for _ in range(trials):
        arrivals: dict[tuple[int, int], float] = {}
        stale = 0
        for number, (_, node, arrive, candidates) in enumerate(plans):
            missed = True  # nothing of the key's writes arrived: the initial state
            for index, sent, fresh, local in candidates:
                if local:
                    held = True
                else:
                    at = arrivals.get((index, node))
                    if at is None:
                        at = arrivals[(index, node)] = sent + rng.choice(wars.w)
                    held = at <= arrive
                if held:
                    missed = not fresh
                    break
            stale += missed
            counts[number] += missed
        totals.append(stale)
    totals.sort()
    mean = sum(totals) / len(totals)
    per_read = {plan[0]: count / trials for plan, count in zip(plans, counts, strict=True)}
    return Prediction(len(plans), mean, _quantile(totals, 0.025), _quantile(totals, 0.975), per_read)


def _by_key(ops: Sequence[Operation]) -> dict[str | None, list[Operation]]:
    """Operations per key, keys in first-seen order (not ``check.grouping.by_key``'s sorted
    order): the trials draw in this order, so the sweeps recorded in
    docs/protocols/quorum.md reproduce seed by seed."""
    grouped: dict[str | None, list[Operation]] = defaultdict(list)
    for op in ops:
        grouped[op.key].append(op)
    return grouped


def _read_plans(ops: Sequence[Operation], hop_ms: float) -> list[tuple[int, int, float, list[tuple[int, float, bool, bool]]]]:
    """For each read of one key that some acknowledged write completed before: its index, its node,
    when it arrived there, and the writes that may answer it, newest first, each as
    (index, when its copy left, whether returning it is fresh, whether it is local)."""
    writes = sorted((op for op in ops if op.f != "read" and op.type != "fail"), key=lambda op: op.invoke_time)
    acked = [op for op in writes if op.type == "ok"]
    plans = []
    for read in ops:
        if read.f != "read" or read.type != "ok" or read.node is None:
            continue
        # the latest invoke among writes acknowledged before the read began: returning a
        # version produced before it is certainly stale
        must = max((w.invoke_time for w in acked if w.complete_time < read.invoke_time), default=None)
        if must is None:
            continue
        arrive = read.invoke_time + hop_ms
        candidates = []
        for w in reversed(writes):
            if w.invoke_time + hop_ms > arrive:
                continue  # not yet at its coordinator when the read was answered
            local = w.node == read.node
            sent = w.complete_time - hop_ms if w.type == "ok" else math.inf
            if not local and sent > arrive:
                continue  # its copy had not left yet
            candidates.append((w.index, sent, w.complete_time >= must, local))
            if local:
                break  # held for sure: nothing older is ever chosen over it
        # past the oldest fresh candidate every outcome is stale (an older version or the
        # initial state), which the replay counts when no kept candidate is held
        while candidates and not candidates[-1][2]:
            candidates.pop()
        plans.append((read.index, read.node, arrive, candidates))
    return plans


def _quantile(ordered: Sequence[float], q: float) -> float:
    return float(ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))])
