"""replikv.check: the client history format and the checkers (docs/history.md,
docs/checker.md).

Public API::

    read_history(path_or_lines) -> list[HistoryEvent]
    write_history(events, path)
    HistoryRecorder().invoke(...) / .complete(...)
    pair_operations(events) -> list[Operation]
    check_linearizable(events, *, max_steps=..., timeout_s=None) -> CheckResult
    check_history(events, model="linearizable" | "sequential" | "read-your-writes" | "txn")
    check_txn(events) -> CheckResult          # list-append transactions (check.txn)
    generate_txn_history(rng, ...)            # check.txn.generate
    lost_acked_writes(events, final_state) -> list[LostWrite]
    stale_reads(events) -> list[StaleRead]
    divergent(digests) -> bool, divergent_nodes(digests), describe_divergence(digests)
"""

from replikv.check.history import (
    HistoryError,
    HistoryEvent,
    HistoryRecorder,
    Operation,
    pair_operations,
    read_history,
    write_history,
)
from replikv.check.invariants import (
    LostWrite,
    StaleRead,
    describe_divergence,
    digest_groups,
    divergent,
    divergent_nodes,
    lost_acked_writes,
    stale_reads,
)
from replikv.check.linearizability import DEFAULT_MAX_STEPS, check_linearizable
from replikv.check.models import MODELS, check_history
from replikv.check.result import CheckResult, KeyFailure
from replikv.check.txn.check import check_txn
from replikv.check.txn.generate import generate_txn_history

__all__ = [
    "DEFAULT_MAX_STEPS",
    "MODELS",
    "CheckResult",
    "HistoryError",
    "HistoryEvent",
    "HistoryRecorder",
    "KeyFailure",
    "LostWrite",
    "Operation",
    "StaleRead",
    "check_history",
    "check_linearizable",
    "check_txn",
    "describe_divergence",
    "digest_groups",
    "divergent",
    "divergent_nodes",
    "generate_txn_history",
    "lost_acked_writes",
    "pair_operations",
    "read_history",
    "stale_reads",
    "write_history",
]
