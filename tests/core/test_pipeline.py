"""The effect pipeline enforces save-before-send (DESIGN.md)."""

from __future__ import annotations

from typing import ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from replikv.core import Commit, EffectPipeline, Ok, Persist, Reply, Request, Send
from replikv.core.commands import Get
from replikv.core.messages import Message, Record


class Ping(Message, frozen=True):
    n: int


class Note(Record, frozen=True):
    n: int


class Ahead(Message, frozen=True):
    """Promises nothing about its sender's durable state: may overtake pending Persists."""

    overtakes_persist: ClassVar[bool] = True
    n: int


REQ = Request(1, 1, Get("k"))


def test_effects_before_a_persist_run_at_once_and_after_it_wait() -> None:
    pipeline = EffectPipeline()
    ready = pipeline.push([Send(2, Ping(1)), Persist(1, (Note(1),)), Send(2, Ping(2)), Reply(REQ, Ok(None))])
    assert ready == [Send(2, Ping(1)), Persist(1, (Note(1),))]
    assert pipeline.waiting == 2
    assert pipeline.durable(1) == [Send(2, Ping(2)), Reply(REQ, Ok(None))]
    assert pipeline.waiting == 0


def test_a_later_persist_is_released_for_writing_but_holds_what_follows_it() -> None:
    pipeline = EffectPipeline()
    ready = pipeline.push([Persist(1, (Note(1),)), Send(2, Ping(1)), Persist(2, (Note(2),)), Commit(1, REQ)])
    assert ready == [Persist(1, (Note(1),)), Persist(2, (Note(2),))]
    assert pipeline.durable(1) == [Send(2, Ping(1))]
    assert pipeline.durable(2) == [Commit(1, REQ)]


def test_effects_pushed_later_queue_behind_an_earlier_barrier() -> None:
    pipeline = EffectPipeline()
    pipeline.push([Persist(1, (Note(1),))])
    assert pipeline.push([Send(3, Ping(9))]) == []
    assert pipeline.durable(1) == [Send(3, Ping(9))]
    assert pipeline.push([Send(3, Ping(10))]) == [Send(3, Ping(10))]


def test_durable_covers_every_persist_up_to_its_seq() -> None:
    pipeline = EffectPipeline()
    pipeline.push([Persist(1, ()), Send(2, Ping(1)), Persist(2, ()), Send(2, Ping(2)), Persist(3, ()), Send(2, Ping(3))])
    assert pipeline.durable(2) == [Send(2, Ping(1)), Send(2, Ping(2))]
    assert pipeline.durable(3) == [Send(2, Ping(3))]


def test_reset_forgets_held_effects() -> None:
    pipeline = EffectPipeline()
    pipeline.push([Persist(1, ()), Send(2, Ping(1))])
    pipeline.reset()
    assert pipeline.waiting == 0
    assert pipeline.push([Send(2, Ping(2))]) == [Send(2, Ping(2))]


def test_a_send_that_overtakes_leaves_at_once_and_the_rest_keeps_its_order() -> None:
    """Raft thesis §10.2.1: a leader's AppendEntries leave while its own Persist is
    written; the Send, Reply and Commit behind the barrier still wait for it."""
    pipeline = EffectPipeline()
    ready = pipeline.push([
        Persist(1, (Note(1),)), Send(2, Ping(1)), Send(2, Ahead(1)), Reply(REQ, Ok(None)), Send(3, Ahead(2)),
    ])
    assert ready == [Persist(1, (Note(1),)), Send(2, Ahead(1)), Send(3, Ahead(2))]
    assert pipeline.waiting == 2
    assert pipeline.push([Persist(2, ()), Send(2, Ahead(3)), Commit(1, REQ)]) == [Persist(2, ()), Send(2, Ahead(3))]
    assert pipeline.durable(1) == [Send(2, Ping(1)), Reply(REQ, Ok(None))]
    assert pipeline.durable(2) == [Commit(1, REQ)]


def test_a_message_cannot_both_assert_durable_state_and_overtake() -> None:
    with pytest.raises(TypeError, match="Both.*asserts durable state and overtakes"):

        class Both(Message, frozen=True):
            asserts_durable: ClassVar[bool] = True
            overtakes_persist: ClassVar[bool] = True

    class Ack(Message, frozen=True):
        asserts_durable: ClassVar[bool] = True

    with pytest.raises(TypeError, match="AckAhead"):

        class AckAhead(Ack, frozen=True):  # inherits asserts_durable
            overtakes_persist: ClassVar[bool] = True


def test_the_pipeline_refuses_an_ack_flagged_to_overtake_after_its_class_was_made() -> None:
    class Late(Message, frozen=True):
        asserts_durable: ClassVar[bool] = True

    Late.overtakes_persist = True  # past the class-creation check: the pipeline still refuses
    pipeline = EffectPipeline()
    with pytest.raises(AssertionError, match="Late asserts durable state"):
        pipeline.push([Persist(1, ()), Send(2, Late())])


@given(st.lists(st.sampled_from(["persist", "send", "ahead"]), max_size=40))
def test_only_overtaking_sends_ever_pass_a_persist_before_it(kinds: list[str]) -> None:
    """Property: an overtaking Send runs when pushed; every other non-persist effect
    runs only once every persist before it is durable; each runs once, the held ones in
    stream order."""
    pipeline = EffectPipeline()
    effects = []
    seq = 0
    for i, kind in enumerate(kinds):
        if kind == "persist":
            seq += 1
            effects.append(Persist(seq, ()))
        else:
            effects.append(Send(2, Ahead(i) if kind == "ahead" else Ping(i)))
    first_persist = next((i for i, e in enumerate(effects) if isinstance(e, Persist)), len(effects))
    behind = [e for e in effects[first_persist:] if isinstance(e, Send) and type(e.msg) is Ping]
    pushed = pipeline.push(effects)
    assert [e for e in pushed if isinstance(e, Send)] == [
        e for e in effects if isinstance(e, Send) and e not in behind
    ]
    executed = []
    for s in range(1, seq + 1):
        executed.extend((e, s) for e in pipeline.durable(s))
    assert [e for e, _ in executed] == behind
    for effect, durable_when_run in executed:
        index = effects.index(effect)
        persists_before = [e.seq for e in effects[:index] if isinstance(e, Persist)]
        assert not persists_before or max(persists_before) <= durable_when_run


@given(st.lists(st.booleans(), max_size=40))
def test_no_send_ever_overtakes_a_persist_before_it(kinds: list[bool]) -> None:
    """Property: whatever the stream, a non-persist effect runs only once every persist
    before it is durable, and every effect runs exactly once, in order."""
    pipeline = EffectPipeline()
    effects = []
    seq = 0
    for i, is_persist in enumerate(kinds):
        if is_persist:
            seq += 1
            effects.append(Persist(seq, ()))
        else:
            effects.append(Send(2, Ping(i)))
    executed = []
    durable = 0
    for effect in pipeline.push(effects):
        executed.append((effect, durable))
    for s in range(1, seq + 1):
        durable = s
        executed.extend((e, durable) for e in pipeline.durable(s))
    sends = [e for e, _ in executed if isinstance(e, Send)]
    assert sends == [e for e in effects if isinstance(e, Send)]
    for effect, durable_when_run in executed:
        if isinstance(effect, Send):
            index = effects.index(effect)
            persists_before = [e.seq for e in effects[:index] if isinstance(e, Persist)]
            assert not persists_before or max(persists_before) <= durable_when_run


def test_outbox_numbers_persists_from_one_and_drains_in_order() -> None:
    from replikv.core.outbox import Outbox

    outbox = Outbox()
    outbox.send(2, Ping(1))
    assert outbox.persist((Note(1),)) == 1
    outbox.reply(REQ, Ok(None))
    assert outbox.persist((Note(2),), replace=True) == 2
    outbox.commit(1, REQ)
    assert outbox.drain() == [
        Send(2, Ping(1)), Persist(1, (Note(1),)), Reply(REQ, Ok(None)), Persist(2, (Note(2),), True), Commit(1, REQ),
    ]
    assert outbox.drain() == []
    assert outbox.persist(()) == 3  # numbering continues across steps


def test_outbox_tracks_the_durable_log_index_per_persist():
    from replikv.core.outbox import Outbox

    box = Outbox()
    first = box.persist((), upto=3)
    box.persist(())  # a Persist with no log position (a term record)
    third = box.persist((), upto=7)
    assert box.durable(first) == 3
    box.truncate(5)  # the entries above 5 were cut before the last Persist was durable
    assert box.durable(third) == 5
    assert box.durable(third) is None
