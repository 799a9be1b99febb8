"""Splitting a history into what each check looks at: operations, per key.

What may live here: small helpers shared by the checkers (no checking)."""

from __future__ import annotations

from collections.abc import Iterable

from replikv.check.history import (
    HistoryError,
    HistoryEvent,
    Operation,
    observed_mismatch,
    pair_operations,
)


def operations_of(history: Iterable[HistoryEvent] | Iterable[Operation]) -> list[Operation]:
    """Accept events (paired here) or already paired operations, of single keys: a
    ``txn`` is refused (:class:`HistoryError`), it is ``check.txn``'s to check."""
    items = list(history)
    if items and isinstance(items[0], Operation):
        ops: list[Operation] = items  # type: ignore[assignment]
    else:
        ops = pair_operations(items)  # type: ignore[arg-type]
    txn = next((op for op in ops if op.f == "txn"), None)
    if txn is not None:
        raise HistoryError(
            f"operation {txn.index + 1} (process {txn.process}) is a txn: this check is for "
            "single-key operations; check a transaction history with check_txn "
            "(replikv check --model txn), and keep single-key operations out of it")
    return ops


def relevant(ops: Iterable[Operation]) -> list[Operation]:
    """The operations that can matter: not ``fail`` (except a cas whose comparison
    failed: it observed the key, see ``history.observed_mismatch``), and not an ``info``
    read."""
    return [op for op in ops
            if (op.type != "fail" or observed_mismatch(op))
            and not (op.f == "read" and op.type != "ok")]


def by_key(ops: Iterable[Operation]) -> dict[str, list[Operation]]:
    """Operations grouped per key, keys in sorted order, ops in invoke order."""
    groups: dict[str, list[Operation]] = {}
    for op in ops:
        groups.setdefault(op.key, []).append(op)
    return {key: groups[key] for key in sorted(groups)}
