"""The transaction checker names each anomaly of hand-built list-append histories
(docs/checker.md, "Transactions"; Adya 1999 §4, Elle §4)."""

from __future__ import annotations

import pytest
from txn_histories import T, a, r, txn_events

from replikv.check.history import HistoryError, HistoryEvent
from replikv.check.models import check_history
from replikv.check.txn.check import check_txn


def names(*txns) -> dict[str, int]:
    result = check_txn(txn_events(*txns))
    assert (result.valid is False) == bool(result.anomalies)
    return result.anomalies


def test_a_serial_history_is_accepted() -> None:
    result = check_txn(txn_events(
        T(1, a("x", 1), a("y", 1), t0=0, t1=1),
        T(2, r("x", [1]), a("x", 2), t0=2, t1=3),
        T(1, r("x", [1, 2]), r("y", [1]), a("y", 2), t0=4, t1=5),
        T(3, r("y", [1, 2]), r("z", None), t0=6, t1=7)))
    assert result.valid is True and result.model == "txn"
    assert result.ops == 4 and result.keys_checked == 3
    assert "strictly serializable" in result.explanation


def test_a_concurrent_serializable_history_is_accepted() -> None:
    # all overlap; the order T2, T1, T3 explains every read
    assert names(T(1, r("x", [2]), a("x", 1), t0=0, t1=10),
                 T(2, a("x", 2), a("y", 3), t0=1, t1=9),
                 T(3, r("x", [2, 1]), r("y", [3]), t0=2, t1=11)) == {}


def test_g0_write_cycle() -> None:
    result = check_txn(txn_events(
        T(1, a("x", 1), a("y", 1)), T(2, a("x", 2), a("y", 2)),
        T(3, r("x", [1, 2]), r("y", [2, 1]), t0=11, t1=12)))
    assert result.anomalies == {"G0": 1}
    (failure,) = result.failures
    assert failure.anomaly == "G0" and failure.key == "x, y"
    text = failure.explanation
    assert "G0 (write cycle): a cycle of 2 transactions" in text
    assert "T0 -ww-> T1: x: T0 appended 1, and T1's 2 came right after it" in text
    assert "T1 -ww-> T0: y: T1 appended 2, and T0's 1 came right after it" in text


def test_g1a_aborted_read() -> None:
    result = check_txn(txn_events(T(1, a("x", 1), type="fail"), T(2, r("x", [1]))))
    assert result.anomalies == {"G1a": 1}
    assert "aborted read: T1 read x = [1], with 1, appended by T0, which failed" in result.explanation


def test_g1b_intermediate_read() -> None:
    # T1 saw x after T0's first append and before its second: also a G-single cycle
    result = check_txn(txn_events(T(1, a("x", 1), a("x", 2)), T(2, r("x", [1]))))
    assert result.anomalies == {"G1b": 1, "G-single": 1}
    assert "intermediate read: T1 read x = [1], ending at 1, but T0 appended 2" in result.explanation


def test_g1c_circular_information_flow() -> None:
    result = check_txn(txn_events(T(1, a("x", 1), r("y", [2])), T(2, a("y", 2), r("x", [1]))))
    assert result.anomalies == {"G1c": 1}
    assert "T0 -wr-> T1" in result.explanation and "T1 -wr-> T0" in result.explanation


def test_g_single_read_skew() -> None:
    result = check_txn(txn_events(T(1, a("x", 1), a("y", 1)), T(2, r("x", []), r("y", [1]))))
    assert result.anomalies == {"G-single": 1}
    (failure,) = result.failures
    assert failure.anomaly == "G-single"
    assert ("T1 -rw-> T0: x: T1 read [], all that was ever read, and T0 appended 1 later"
            in failure.explanation)
    assert "T0 -wr-> T1: y:" in failure.explanation


def test_g2_write_skew() -> None:
    result = check_txn(txn_events(T(1, r("x", []), a("y", 1)), T(2, r("y", []), a("x", 2))))
    assert result.anomalies == {"G2": 1}
    assert "G2 (a cycle of anti-dependencies: write skew)" in result.explanation


def test_a_lost_update_is_g_single() -> None:
    # both read x empty and append; the first append is overwritten in neither's view
    result = check_txn(txn_events(T(1, r("x", []), a("x", 1)), T(2, r("x", []), a("x", 2)),
                                  T(3, r("x", [1, 2]), t0=11, t1=12)))
    assert set(result.anomalies) == {"G-single"}


def test_a_stale_read_after_a_commit_is_a_realtime_violation() -> None:
    # serializable (T1 before T0), but T0 had committed before T1 began
    result = check_txn(txn_events(T(1, a("x", 1), t0=0, t1=1), T(2, r("x", []), t0=2, t1=3)))
    assert result.anomalies == {"G-single-realtime": 1}
    text = result.explanation
    assert "needs real-time order: serializable, but not strictly" in text
    assert "T0 -realtime-> T1: T0 completed at 1 ms, before T1 was invoked at 2 ms" in text
    # the same two transactions overlapping are fine
    assert names(T(1, a("x", 1), t0=0, t1=2), T(2, r("x", []), t0=1, t1=3)) == {}


def test_a_lost_acknowledged_append_is_a_realtime_violation() -> None:
    # 1 was acknowledged before 2 was appended, yet 2 is all there is: 1 comes after 2
    # in x's order (it was never read), against real time
    result = check_txn(txn_events(T(1, a("x", 1), t0=0, t1=1), T(2, a("x", 2), t0=2, t1=3),
                                  T(3, r("x", [2]), t0=4, t1=5)))
    assert result.anomalies == {"G0-realtime": 1}
    assert "T1 -ww-> T0: x: T0 appended 1, read by nobody, so after 2" in result.explanation


def test_incompatible_order() -> None:
    result = check_txn(txn_events(T(1, a("x", 1)), T(2, a("x", 2)), T(3, r("x", [1, 2])),
                                  T(4, r("x", [2, 1]))))
    assert result.anomalies == {"incompatible-order": 1}
    assert "two reads of x disagree on its order" in result.explanation
    assert "they part after 0 element(s)" in result.explanation


def test_duplicate_and_unwritten_elements() -> None:
    assert names(T(1, a("x", 1)), T(2, r("x", [1, 1]))) == {"duplicate-elements": 1}
    assert names(T(1, a("x", 1)), T(2, r("x", [1, 9]))) == {"unwritten-element": 1}


def test_internal_inconsistency() -> None:
    assert names(T(1, a("x", 1), r("x", []))) == {"internal": 1}
    assert names(T(1, a("x", 1), a("x", 2), r("x", [2, 1]))) == {"internal": 1}


def test_info_transactions_may_or_may_not_have_committed() -> None:
    # an unknown append read by someone: it committed; unread: it may never have
    assert names(T(1, a("x", 1), type="info"), T(2, r("x", [1]), t0=20, t1=21)) == {}
    assert names(T(1, a("x", 1), t1=None), T(2, r("x", []), t0=20, t1=21)) == {}


def test_a_failed_append_not_read_is_fine() -> None:
    assert names(T(1, a("x", 1), type="fail"), T(2, r("x", []), t0=20, t1=21)) == {}


def test_elements_compare_as_text() -> None:
    assert names(T(1, a("x", 5)), T(2, r("x", ["5"]), t0=20, t1=21)) == {}


def test_a_repeated_append_is_bad_input() -> None:
    with pytest.raises(HistoryError, match="element 1 is appended to key 'x' twice"):
        check_txn(txn_events(T(1, a("x", 1)), T(2, a("x", 1))))


def test_single_key_operations_are_refused_by_each_side() -> None:
    mixed = txn_events(T(1, a("x", 1))) + [
        HistoryEvent(process=9, type="invoke", f="read", key="k", value=None, time=0),
        HistoryEvent(process=9, type="ok", f="read", key="k", value=None, time=1)]
    with pytest.raises(HistoryError, match="the transaction checker takes only txn operations"):
        check_txn(mixed)
    with pytest.raises(HistoryError, match="is a txn: this check is for single-key operations"):
        check_history(mixed, "linearizable")
    assert check_history(txn_events(T(1, a("x", 1))), "txn").valid is True


def test_the_smallest_cycle_is_shown() -> None:
    # a 2-cycle of G1c and, around it, a 3-cycle: the 2-cycle is reported
    result = check_txn(txn_events(
        T(1, a("x", 1), r("y", [2])), T(2, a("y", 2), r("x", [1]), r("z", [3])),
        T(3, a("z", 3), r("x", [1]))))
    (failure,) = result.failures
    assert failure.anomaly == "G1c" and len(failure.ops) == 2
