"""Judging a finished run: which checks ran, which the scheme promises, and words.

What may live here: turning a history, the final values, the replicas' digests and the
scheme's promises into the report's check list and a human summary. No processes.

Which model: ``--model`` when given (then the user asked for it, and it is judged as a
promise); otherwise ``linearizable`` for reads at ``linearizable``/``lease`` level and
``read-your-writes`` for ``local`` reads (the weakest session guarantee a client talking
to one node could hope for; Terry et al. 1994, §3).

What counts as promised (what makes ``replikv test`` exit 1), following the simulator's
rule (``replikv.sim.report``) and the scheme's own ``Promises``:

* ``converged``: always, unless a partition ran and the scheme is not partition tolerant;
* ``no_lost_acked_writes``: when the scheme promises ``linearizable_writes`` (same caveat);
* the model check: when ``--model`` was given; else when the scheme promises
  linearizable reads; else, for a scheme that promises durable writes read at its
  primary (pb-sync, ``linearizable`` level) under faults without a partition, because
  then no deposed primary is alive to answer a read (docs/protocols/primary-backup.md);
* ``no_stale_reads``: exactly when a linearizable model check is promised, or when the
  scheme promises ``fresh_reads`` (a leaderless scheme with R + W > N: its model check
  is not promised, its reads never miss a write acknowledged before they began).

A promised check that comes back unknown (the model check out of budget, convergence
without digests, lost writes without final reads) is not a pass: the outcome is
``undecided`` (``replikv test`` exits 3), and the summary says which check and, for
the model check, how to recheck with a bigger budget. A failed promised check outranks
it (exit 1).

The transaction workload (``judge_txn``) has two checks: ``converged`` (as above) and
``strict-serializable``, the transaction checker (``check.txn``: Elle's list-append
graph; a lost acknowledged append shows up there too, as a cycle through the final
reads), promised exactly when a linearizable model check would be. It fails when no
transaction committed (an empty graph has no cycle, but shows nothing).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from replikv.check import (
    check_history,
    check_txn,
    describe_divergence,
    divergent,
    lost_acked_writes,
    pair_operations,
    stale_reads,
)
from replikv.check.decisions import divergent_decisions
from replikv.check.history import HistoryEvent, Operation
from replikv.check.linearizability import DEFAULT_MAX_STEPS
from replikv.core.replica import Promises

WRITE_FS = ("write", "cas", "delete", "incr")


@dataclass
class Check:
    name: str
    passed: bool | None
    promised: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "promised": self.promised, "detail": self.detail}


@dataclass
class Judgement:
    """Everything the report says about correctness; ``sentences`` is the summary."""

    model: str
    checks: list[Check] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    sentences: list[str] = field(default_factory=list)
    explanations: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if c.promised and c.passed is False]

    @property
    def undecided(self) -> list[str]:
        """Promised checks that came back unknown (e.g. the search ran out of budget):
        not a pass (the simulator's rule too, ``replikv.sim.report``)."""
        return [c.name for c in self.checks if c.promised and c.passed is None]

    @property
    def passed(self) -> bool:
        return not self.failed and not self.undecided

    @property
    def outcome(self) -> str:
        """``pass``, ``fail`` (a promised check failed: it outranks an undecided one) or
        ``undecided``; the CLI exits 0, 1 or 3 (:data:`EXIT_STATUS`)."""
        if self.failed:
            return "fail"
        return "undecided" if self.undecided else "pass"


EXIT_STATUS = {"pass": 0, "fail": 1, "undecided": 3}
"""``replikv test``'s exit status per outcome (2 stays bad usage, docs/testing.md)."""
RECHECK_STEPS = 50_000_000
"""The budget the summary suggests for a recheck of a model check that ran out."""


def default_model(read_level: str) -> str:
    """``local``: read-your-writes; ``sequential`` (zab's default, ZooKeeper's guarantee):
    sequential consistency; else linearizability."""
    return {"local": "read-your-writes", "sequential": "sequential"}.get(read_level, "linearizable")


def model_promised(promises: Promises, read_level: str, partitioned: bool, override: bool,
                   leaderless: bool = False) -> bool:
    """Is the model check a promise of this scheme at this read level (module docstring)?
    ``leaderless``: no primary answers reads, so durable writes alone promise nothing."""
    if override:
        return True
    if read_level == "local":
        return False
    if read_level == "sequential":  # the scheme offers it: its reads never go back in time
        return promises.linearizable_writes and (not partitioned or promises.partition_tolerant)
    if promises.linearizable_reads:
        return not partitioned or promises.partition_tolerant
    if promises.fresh_reads or leaderless:
        return False  # leaderless quorums: reads at no single node, fresh at best, not linearizable
    return promises.linearizable_writes and not partitioned


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def judge(events: Sequence[HistoryEvent], *, final_state: Mapping[str, Any] | None,
          unread_keys: Sequence[str], digests: Mapping[int, str], promises: Promises,
          read_level: str, partitioned: bool, model: str | None = None,
          check_timeout_s: float | None = 120.0,
          check_max_steps: int = DEFAULT_MAX_STEPS,
          decisions: Mapping[int, Mapping[str, str]] | None = None,
          leaderless: bool = False) -> Judgement:
    """Check a finished run. ``final_state`` holds the final value of every key read at
    the end (``None``: the final reads could not be made); ``unread_keys`` are keys whose
    final read failed (left out of the lost-write check, and said so). ``decisions``: what
    each node's records say it decided, per transaction (2PC/3PC; None for other schemes)."""
    ops = pair_operations(events)
    chosen = model or default_model(read_level)
    verdict = Judgement(model=chosen)
    safe_here = not partitioned or promises.partition_tolerant
    _counts(verdict, ops)
    _converged(verdict, digests, safe_here)
    _decisions(verdict, decisions, safe_here)
    _lost(verdict, ops, final_state, unread_keys, promises.linearizable_writes and safe_here)
    lin_promised = model_promised(promises, read_level, partitioned, model is not None, leaderless)
    _model(verdict, ops, chosen, lin_promised, check_timeout_s, check_max_steps)
    fresh = promises.fresh_reads and read_level != "local" and safe_here
    _stale(verdict, ops, (lin_promised and chosen == "linearizable") or fresh)
    verdict.fields["undecided"] = verdict.undecided
    return verdict


def _counts(verdict: Judgement, ops: Sequence[Operation]) -> None:
    counts = {"ok": 0, "fail": 0, "info": 0}
    for op in ops:
        counts[op.type] += 1
    acked = sum(1 for op in ops if op.type == "ok" and op.f in WRITE_FS)
    verdict.fields["ops"] = counts
    verdict.fields["acked_writes"] = acked


def _converged(verdict: Judgement, digests: Mapping[int, str], promised: bool) -> None:
    if not digests:
        verdict.fields["divergent"] = None
        verdict.checks.append(Check("converged", None, promised, "no node reported a digest"))
        verdict.sentences.append("Convergence could not be checked: no node reported its state digest.")
        return
    split = divergent(digests)
    verdict.fields["divergent"] = split
    detail = describe_divergence(digests)
    verdict.checks.append(Check("converged", not split, promised, detail))
    if split:
        verdict.sentences.append(f"The replicas did not converge after healing: {detail}.")


def _decisions(verdict: Judgement, decisions: Mapping[int, Mapping[str, str]] | None, promised: bool) -> None:
    """``no_divergent_decisions`` (2PC/3PC): no two nodes decided one transaction
    differently, from each node's records after the cluster stopped."""
    if decisions is None:
        return
    split, detail = divergent_decisions(decisions)
    verdict.fields["divergent_decisions"] = split
    verdict.checks.append(Check("no_divergent_decisions", split == 0, promised, detail))
    if split:
        verdict.sentences.append(f"Nodes decided transactions differently: {detail}.")


def _lost(verdict: Judgement, ops: Sequence[Operation], final_state: Mapping[str, Any] | None,
          unread: Sequence[str], promised: bool) -> None:
    if final_state is None:
        verdict.fields["lost_acked_writes"] = None
        verdict.checks.append(Check("no_lost_acked_writes", None, promised, "the final reads failed"))
        verdict.sentences.append("Lost writes could not be checked: the final reads failed.")
        return
    skip = set(unread)
    lost = lost_acked_writes([op for op in ops if op.key not in skip], final_state)
    losses = [w for w in lost if w.kind == "lost"]
    corrupt = [w for w in lost if w.kind == "corrupt"]
    verdict.fields["lost_acked_writes"] = len(losses)
    words = []
    if losses:
        keys = len({w.key for w in losses})
        words.append(f"{_plural(len(losses), 'acknowledged write was', 'acknowledged writes were')} "
                     f"lost (on {_plural(keys, 'key')})")
    if corrupt:
        words.append(f"{_plural(len(corrupt), 'key ends', 'keys end')} with a value nobody wrote")
    detail = "; ".join(words) or "every acknowledged write is in the final values"
    if skip:
        detail += f" ({_plural(len(skip), 'key')} left out: the final read failed)"
        verdict.sentences.append(f"{_plural(len(skip), 'key')} could not be read at the end and "
                                 "were left out of the lost-write check.")
    verdict.checks.append(Check("no_lost_acked_writes", not lost, promised, detail))
    if lost:
        verdict.sentences.append(f"{detail[0].upper()}{detail[1:]}.")
        verdict.explanations += [w.reason for w in lost[:10]]


def _model(verdict: Judgement, ops: Sequence[Operation], model: str, promised: bool,
           timeout_s: float | None, max_steps: int) -> None:
    result = check_history(ops, model, max_steps=max_steps, timeout_s=timeout_s)
    verdict.fields["linearizable"] = result.valid if model == "linearizable" else None
    verdict.fields["model_valid"] = result.valid
    name = "linearizable" if model == "linearizable" else model
    if result.valid is True:
        detail = result.explanation
    elif result.valid is None:
        detail = result.explanation
        where = ", ".join(repr(k) for k in result.unknown_keys[:5])
        more = f" and {len(result.unknown_keys) - 5} more" if len(result.unknown_keys) > 5 else ""
        bound = (f"{result.steps:,} search steps" if timeout_s is None
                 else f"{result.steps:,} search steps or {timeout_s:g} s")
        verdict.sentences.append(
            f"The {model} check ran out of budget after {bound}: no verdict "
            f"(undecided key(s): {where}{more})"
            + (". This check is promised, so the run is not a pass" if promised else "")
            + f". Recheck with a bigger budget: replikv check history.jsonl --model {model} "
              f"--max-steps {RECHECK_STEPS} (in the results folder).")
    else:
        keys = len(result.failures)
        detail = f"{_plural(keys, 'key')} cannot be ordered under the {model} model"
        verdict.sentences.append(f"The history is not {model}: {detail}.")
        verdict.explanations += [f.explanation for f in result.failures[:3]]
    verdict.checks.append(Check(name, result.valid, promised, detail))


def _stale(verdict: Judgement, ops: Sequence[Operation], promised: bool) -> None:
    found = stale_reads(ops)
    verdict.fields["stale_reads"] = len(found)
    detail = (f"{_plural(len(found), 'read was', 'reads were')} stale (missed a write acknowledged "
              "before the read began)") if found else "no read missed an earlier acknowledged write"
    verdict.checks.append(Check("no_stale_reads", not found, promised, detail))
    if found:
        verdict.sentences.append(f"{detail[0].upper()}{detail[1:]}.")
        verdict.explanations += [s.reason for s in found[:5]]


TXN_MODEL = "strict-serializable"


def judge_txn(events: Sequence[HistoryEvent], *, digests: Mapping[int, str], promises: Promises,
              read_level: str, partitioned: bool,
              decisions: Mapping[int, Mapping[str, str]] | None = None) -> Judgement:
    """Check a finished run of the transaction workload: each anomaly by name, with its
    cycle in words (the checker's explanation), and the checker's time."""
    ops = pair_operations(events)
    verdict = Judgement(model=TXN_MODEL)
    _counts(verdict, ops)
    verdict.fields["acked_writes"] = sum(
        1 for op in ops if op.type == "ok" and any(kind == "append" for kind, _, _ in op.value))
    _converged(verdict, digests, not partitioned or promises.partition_tolerant)
    _decisions(verdict, decisions, not partitioned or promises.partition_tolerant)
    started = time.monotonic()
    result = check_txn(ops)
    verdict.fields["checker_s"] = round(time.monotonic() - started, 3)
    verdict.fields.update(strict_serializable=result.valid, anomalies=dict(result.anomalies),
                          linearizable=None, model_valid=result.valid, lost_acked_writes=None,
                          stale_reads=None)
    promised = model_promised(promises, read_level, partitioned, override=False)
    committed = verdict.fields["ops"]["ok"]
    if result.valid and not committed:
        # An empty graph has no cycle: a run that committed nothing shows nothing.
        detail = "no transaction committed: nothing to judge (was the cluster up?)"
        verdict.sentences.append(f"The transaction check cannot pass: {detail}.")
        verdict.checks.append(Check(TXN_MODEL, False, promised, detail))
        return verdict
    if result.valid:
        detail = result.explanation
    else:
        named = ", ".join(f"{name} x{count}" for name, count in result.anomalies.items())
        detail = f"anomalies found: {named}"
        verdict.sentences.append(f"The transactions are not strictly serializable: {named}.")
        verdict.explanations += [f.explanation for f in result.failures[:5]]
    verdict.checks.append(Check(TXN_MODEL, result.valid, promised, detail))
    verdict.fields["undecided"] = verdict.undecided
    return verdict
