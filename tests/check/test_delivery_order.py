"""``check.delivery.DeliveryOrder``: primary order as the simulator checks it after every
step (ZAB, DSN 2011 §III: primary order and agreement)."""

from __future__ import annotations

from replikv.check.delivery import DeliveryOrder


def test_consecutive_deliveries_of_one_order_pass():
    order = DeliveryOrder()
    for index in (1, 2, 3):
        assert order.delivered(1, 1, index, (9, index)) is None
        assert order.delivered(2, 1, index, (9, index)) is None


def test_a_gap_is_caught():
    order = DeliveryOrder()
    order.delivered(1, 1, 1, (9, 1))
    assert "gap" in order.delivered(1, 1, 3, (9, 3))


def test_a_duplicate_or_a_step_back_is_caught():
    order = DeliveryOrder()
    order.delivered(1, 1, 1, (9, 1))
    order.delivered(1, 1, 2, (9, 2))
    assert "again" in order.delivered(1, 1, 2, (9, 2))


def test_two_nodes_delivering_different_requests_at_one_index_is_caught():
    order = DeliveryOrder()
    order.delivered(1, 1, 1, (9, 1))
    assert "where node 1 delivered" in order.delivered(2, 1, 1, (8, 1))


def test_a_restart_starts_over_and_a_restatement_may_move_forward_only():
    order = DeliveryOrder()
    order.delivered(1, 1, 1, (9, 1))
    order.delivered(1, 1, 2, (9, 2))
    assert order.delivered(1, 2, 1, (9, 1)) is None  # a new incarnation redelivers from its snapshot
    order.restated(1, 2)
    assert order.delivered(1, 2, 5, (9, 5)) is None  # it installed a snapshot at 4
    order.restated(1, 2)
    assert order.delivered(1, 2, 5, (9, 5)) is not None


def test_a_restatement_allows_one_jump_even_after_deliveries_emitted_before_it():
    # swarm seed 242: the host saw the SNAP's Persist before deliveries 2..3 were released
    order = DeliveryOrder()
    order.delivered(1, 1, 1, (9, 1))
    order.restated(1, 1)
    assert order.delivered(1, 1, 2, (9, 2)) is None
    assert order.delivered(1, 1, 3, (9, 3)) is None
    assert order.delivered(1, 1, 5, (9, 5)) is None  # the snapshot covered 4
    assert "gap" in order.delivered(1, 1, 7, (9, 7))  # one jump per restatement


def test_each_restatement_allows_one_jump():
    # swarm seed 242: four SNAPs written at once by a follower resumed from a pause
    order = DeliveryOrder()
    order.delivered(1, 1, 1, (9, 1))
    order.restated(1, 1)
    order.restated(1, 1)
    assert order.delivered(1, 1, 3, (9, 3)) is None
    assert order.delivered(1, 1, 5, (9, 5)) is None
    assert "gap" in order.delivered(1, 1, 7, (9, 7))


def test_a_restatement_before_an_incarnations_first_delivery_keeps_its_jump():
    # swarm seed 931188 (zab): a restarted follower synced by a SNAP (deliveries 51..91
    # held behind its write) took a second SNAP at 100, written before they were released
    order = DeliveryOrder()
    order.delivered(3, 1, 40, (9, 40))
    order.restated(3, 2)
    order.restated(3, 2)
    assert order.delivered(3, 2, 51, (9, 51)) is None  # the first of an incarnation: anywhere
    for index in range(52, 92):
        assert order.delivered(3, 2, index, (9, index)) is None
    assert order.delivered(3, 2, 101, (9, 101)) is None  # the second SNAP covered 92..100
    assert "gap" in order.delivered(3, 2, 103, (9, 103))


def test_a_restatement_of_an_earlier_incarnation_allows_nothing():
    order = DeliveryOrder()
    order.delivered(1, 1, 1, (9, 1))
    order.restated(1, 1)
    assert order.delivered(1, 2, 1, (9, 1)) is None
    assert "gap" in order.delivered(1, 2, 3, (9, 3))
