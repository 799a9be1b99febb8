"""What a check returns: a verdict, what was checked, and words for a human."""

from __future__ import annotations

import msgspec

from replikv.check.history import Operation


class KeyFailure(msgspec.Struct, frozen=True, kw_only=True):
    """One key whose operations cannot be ordered under the model.

    ``ops`` is the window of operations the explanation is about (the smallest found
    that fails on its own when ``certified``; otherwise the operations around the
    point where every ordering failed).

    The transaction checker (``check.txn``) returns one per anomaly shown: ``anomaly``
    is its name (``G0``, ``G1a``, ``G-single-realtime``, ``incompatible-order``, ...),
    ``key`` the keys involved (comma-separated), ``ops`` the transactions.
    """

    key: str
    model: str
    ops: tuple[Operation, ...]
    explanation: str
    certified: bool = False
    anomaly: str = ""


class CheckResult(msgspec.Struct, frozen=True, kw_only=True):
    """``valid`` is ``True``, ``False`` (a violation found: certain) or ``None``
    (unknown: the budget ran out before a verdict). ``anomalies`` counts each anomaly
    name found (transaction checker only)."""

    valid: bool | None
    model: str
    keys_checked: int
    ops: int
    steps: int = 0
    failures: tuple[KeyFailure, ...] = ()
    unknown_keys: tuple[str, ...] = ()
    explanation: str = ""
    anomalies: dict[str, int] = {}

    def to_dict(self) -> dict:
        """JSON-ready form (operations as plain dicts, infinity as null)."""
        data = msgspec.to_builtins(self)
        for failure in data["failures"]:
            for op in failure["ops"]:
                if op["complete_time"] == float("inf"):
                    op["complete_time"] = None
        return data


def combine(model: str, per_key: list[tuple[str, bool | None, int, KeyFailure | None]],
            ops: int) -> CheckResult:
    """Fold per-key verdicts ``(key, valid, steps, failure)``: any violation makes the
    history invalid (a violation is certain even if another key is unknown)."""
    failures = tuple(f for _, v, _, f in per_key if v is False and f is not None)
    unknown = tuple(k for k, v, _, _ in per_key if v is None)
    steps = sum(s for _, _, s, _ in per_key)
    if failures:
        valid: bool | None = False
        text = "\n\n".join(f.explanation for f in failures)
    elif unknown:
        valid = None
        text = (f"unknown: the search budget ran out on {len(unknown)} key(s) "
                f"({', '.join(map(repr, unknown[:5]))}{', ...' if len(unknown) > 5 else ''}); "
                "raise --max-steps or --timeout for a verdict")
    else:
        valid = True
        text = f"{model}: {ops} operations on {len(per_key)} key(s) can be ordered"
    return CheckResult(valid=valid, model=model, keys_checked=len(per_key), ops=ops,
                       steps=steps, failures=failures, unknown_keys=unknown, explanation=text)
