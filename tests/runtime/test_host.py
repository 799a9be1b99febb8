"""NodeHost drives the effect pipeline, the WAL writer thread and recovery correctly."""

from __future__ import annotations

import asyncio
import threading

import pytest
from rt_helpers import run, until
from rt_toy import TOY, ToyAck, ToyAppend, ToyEntry

from replikv.core.commands import Get, Set
from replikv.core.config import ReplicaConfig
from replikv.core.errors import CorruptStorage, Ok, Timeout
from replikv.core.io import Persist, Persisted, Reply, Send, Submit
from replikv.core.replica import CreateArgs, ProtocolSpec, Status
from replikv.core.requests import Request
from replikv.runtime.host import NodeHost
from replikv.storage import MemoryWAL, RecordCodec


class GatedWAL(MemoryWAL):
    """A MemoryWAL whose appends wait for the test to open a gate (on the writer thread)."""

    def __init__(self, image: bytes = b"") -> None:
        super().__init__(image)
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.calls: list[tuple[str, int]] = []

    def append(self, payloads):
        self.entered.set()
        assert self.gate.wait(10), "test never opened the gate"
        self.calls.append(("append", len(payloads)))
        super().append(payloads)

    def replace(self, payloads):
        assert self.gate.wait(10)
        self.calls.append(("replace", len(payloads)))
        super().replace(payloads)


class Scripted:
    """A replica that answers each Submit with a fixed effect list and records its inputs."""

    def __init__(self, args: CreateArgs) -> None:
        self.inputs: list = []
        self.recovered = list(args.recovered)
        self.seq = 0
        self.sm = args.state_machine

    def handle(self, inp):
        self.inputs.append(inp)
        if isinstance(inp, Submit):
            self.seq += 1
            r = inp.request
            return [
                Send(2, ToyAck(index=100 + self.seq)),
                Persist(self.seq, (ToyEntry(self.seq, r),)),
                Send(2, ToyAppend(index=self.seq, request=r, commit=0)),
                Reply(r, Ok(self.seq)),
            ]
        return []

    def status(self):
        return Status(node=1, role="x", term=0, leader=1, commit_index=0, applied_index=0, last_index=0, members=(1, 2))

    def durable_state(self):
        return ()

    def state_machine(self):
        return self.sm


SCRIPTED = ProtocolSpec(
    name="scripted", summary="", config_type=ReplicaConfig, messages=TOY.messages, records=TOY.records,
    create=Scripted, promises=TOY.promises,
)


def _host(wal, sent, spec=SCRIPTED, config=None, wal_inline_ms=0) -> NodeHost:
    """A host whose groups all go to the writer thread unless ``wal_inline_ms`` says
    otherwise (a GatedWAL blocks whoever writes: on the loop it would block the test)."""
    return NodeHost(spec=spec, node=1, members=(1, 2), config=config or ReplicaConfig(tick_ms=1000, heartbeat_ms=1000, election_timeout_ms=3000),
                    wal=wal, codec=RecordCodec(spec.records),
                    send=lambda dst, msg: sent.append((dst, msg)), wal_inline_ms=wal_inline_ms)


def _request(seq: int) -> Request:
    return Request(client_id=7, seq=seq, command=Set("k", str(seq)))


def test_send_behind_a_persist_waits_until_durable_and_persisted_comes_after() -> None:
    async def scenario() -> None:
        wal, sent = GatedWAL(), []
        host = _host(wal, sent)
        await host.start()
        future = host.submit(_request(1))
        await until(wal.entered.is_set, what="the writer thread to start the append")
        # The Send before the Persist went out at once; the one behind it did not.
        assert [type(m).__name__ for _, m in sent] == ["ToyAck"]
        assert not future.done()
        wal.gate.set()
        assert await asyncio.wait_for(future, 5) == Ok(1)
        assert [type(m).__name__ for _, m in sent] == ["ToyAck", "ToyAppend"]
        replica = host.replica
        assert isinstance(replica.inputs[-1], Persisted) and replica.inputs[-1].seq == 1
        await host.stop()

    run(scenario())


def test_persists_pending_while_the_writer_is_busy_share_one_write() -> None:
    async def scenario() -> None:
        wal, sent = GatedWAL(), []
        host = _host(wal, sent)
        await host.start()
        futures = [host.submit(_request(1))]
        await until(wal.entered.is_set, what="first append")
        futures += [host.submit(_request(seq)) for seq in range(2, 7)]
        wal.gate.set()
        results = await asyncio.wait_for(asyncio.gather(*futures), 5)
        assert results == [Ok(i) for i in range(1, 7)]
        assert wal.calls == [("append", 1), ("append", 5)]  # group commit: 5 records, one write
        assert host.writer.stats.largest_group == 5
        await host.stop()

    run(scenario())


def test_a_group_commit_takes_no_thread_pool_hop_and_stays_on_one_thread() -> None:
    """Issue 14: each group goes to the writer's own thread through a queue and comes back
    with one call_soon_threadsafe; no run_in_executor (a work item, a concurrent future and
    an asyncio future chained to it, per group). Every WAL call runs on that one thread."""
    async def scenario() -> None:
        wal, sent = GatedWAL(), []
        threads: set[str] = set()
        real_append = wal.append

        def append(payloads):
            threads.add(threading.current_thread().name)
            real_append(payloads)

        wal.append = append
        wal.gate.set()
        loop = asyncio.get_running_loop()

        def no_executor(*args, **kwargs):
            raise AssertionError("the WAL writer used run_in_executor")

        loop.run_in_executor = no_executor
        host = _host(wal, sent)
        await host.start()
        for seq in range(1, 4):
            assert await asyncio.wait_for(host.submit(_request(seq)), 5) == Ok(seq)
        await host.stop()
        assert threads == {"replikv-wal"}
        assert not any(t.name == "replikv-wal" for t in threading.enumerate())  # stop() ended it

    run(scenario())


@pytest.mark.parametrize("wal_inline_ms", [0, 10], ids=["thread", "loop"])
def test_a_failed_wal_write_is_fatal_and_the_writer_reports_it(wal_inline_ms) -> None:
    async def scenario() -> None:
        wal, sent = GatedWAL(), []
        wal.gate.set()

        def broken(payloads):
            raise OSError(5, "Input/output error")

        wal.append = broken
        fatal: list[BaseException] = []
        host = _host(wal, sent, wal_inline_ms=wal_inline_ms)
        host._on_fatal = fatal.append
        await host.start()
        future = host.submit(_request(1))
        await until(lambda: bool(fatal), what="the fatal error")
        assert isinstance(fatal[0], OSError)
        assert not future.done()  # nothing is acknowledged after a failed write
        await host.stop()

    run(scenario())


class ThreadNoted(MemoryWAL):
    """A MemoryWAL that notes, for every call, the thread it ran on and what the host had
    sent by then; ``disk_s``: how far each append moves ``clock`` (a slow disk, on the
    writer's clock, without sleeping)."""

    def __init__(self, sent: list, clock: list[float] | None = None) -> None:
        super().__init__()
        self.sent = sent
        self.clock = clock
        self.disk_s = 0.0
        self.calls: list[tuple[str, str, int]] = []

    def append(self, payloads):
        self.calls.append(("append", threading.current_thread().name, len(self.sent)))
        if self.clock is not None:
            self.clock[0] += self.disk_s
        super().append(payloads)

    def replace(self, payloads):
        self.calls.append(("replace", threading.current_thread().name, len(self.sent)))
        super().replace(payloads)


def test_a_small_group_is_written_on_the_loop_after_the_sends_of_its_step() -> None:
    """Issue 14: with ``wal_inline_ms`` a group is written on the event loop itself (no
    thread hop), in a callback of its own, so the Send the same step emitted ahead of the
    Persist (SCRIPTED's ToyAck) is handed to the transport first; the Send behind it still
    waits for the write."""
    async def scenario() -> None:
        sent: list = []
        wal = ThreadNoted(sent)
        host = _host(wal, sent, wal_inline_ms=10)
        await host.start()
        future = host.submit(_request(1))
        assert wal.calls == []  # not inside submit: after the step's other callbacks
        assert [type(m).__name__ for _, m in sent] == ["ToyAck"]
        assert await asyncio.wait_for(future, 5) == Ok(1)
        assert wal.calls == [("append", threading.current_thread().name, 1)]
        assert [type(m).__name__ for _, m in sent] == ["ToyAck", "ToyAppend"]
        assert host.writer.stats.inline_groups == 1 and host.writer.stats.slow_inline == 0
        await host.stop()

    run(scenario())


def test_a_slow_write_on_the_loop_sends_the_next_groups_to_the_writer_thread(monkeypatch) -> None:
    """A write on the loop that took longer than ``wal_inline_ms`` (a slow or stalled
    disk) blocked the loop once; the groups after it go to the writer thread for a second,
    two after a second slow write in a row, and a fast write on the loop resets that."""
    from types import SimpleNamespace

    from replikv.runtime import writer as writer_module

    clock = [1000.0]
    monkeypatch.setattr(writer_module, "time", SimpleNamespace(monotonic=lambda: clock[0]))

    async def scenario() -> None:
        sent: list = []
        wal = ThreadNoted(sent, clock)
        host = _host(wal, sent, wal_inline_ms=10)
        await host.start()
        seq = 0

        async def write(disk_s: float, then_s: float = 0.0) -> str:
            nonlocal seq
            seq += 1
            wal.disk_s = disk_s
            assert await asyncio.wait_for(host.submit(_request(seq)), 5) == Ok(seq)
            clock[0] += then_s
            return wal.calls[-1][1]

        here, thread = threading.current_thread().name, "replikv-wal"
        assert await write(0.02) == here           # slow: 1 s on the thread
        assert await write(0.02, 1.1) == thread    # (the thread's writes are not judged)
        assert await write(0.02) == here           # slow again: 2 s
        assert await write(0.0, 1.5) == thread
        assert await write(0.0, 1.0) == thread
        assert await write(0.0) == here            # fast: back to 1 s
        assert await write(0.02, 1.1) == here      # slow: 1 s, not 4
        assert await write(0.0) == here
        assert host.writer.stats.slow_inline == 3 and host.writer.stats.inline_groups == 5
        await host.stop()

    run(scenario())


def test_a_snapshot_replace_is_never_written_on_the_loop() -> None:
    """A ``replace`` restates the whole state (a snapshot: megabytes): always the thread."""
    async def scenario() -> None:
        sent: list = []
        wal = ThreadNoted(sent)
        host = _host(wal, sent, wal_inline_ms=10)
        await host.start()
        host.writer.submit(Persist(1, (ToyEntry(1, _request(1)),), replace=True))
        await asyncio.wait_for(host.writer.flush(), 5)
        host.writer.submit(Persist(2, (ToyEntry(2, _request(2)),)))
        await asyncio.wait_for(host.writer.flush(), 5)
        loop_thread = threading.current_thread().name
        assert [(kind, thread) for kind, thread, _ in wal.calls] == [("replace", "replikv-wal"), ("append", loop_thread)]
        await host.stop()

    run(scenario())


def test_recovery_folds_the_wal_records_back_into_the_replica() -> None:
    async def scenario() -> bytes:
        wal, sent = GatedWAL(), []
        wal.gate.set()
        host = _host(wal, sent)
        await host.start()
        for seq in (1, 2, 3):
            await host.submit(_request(seq))
        await host.stop()
        return wal.image

    image = run(scenario())
    again = _host(MemoryWAL(image), [])
    again.recover()
    assert again.recovered_records == 3
    assert [r.request.seq for r in again.replica.recovered] == [1, 2, 3]


def test_a_flipped_byte_before_the_tail_refuses_recovery() -> None:
    async def scenario() -> bytes:
        wal = GatedWAL()
        wal.gate.set()
        host = _host(wal, [])
        await host.start()
        for seq in (1, 2, 3):
            await host.submit(_request(seq))
        await host.stop()
        return wal.image

    image = bytearray(run(scenario()))
    image[len(image) // 3] ^= 0xFF
    host = _host(MemoryWAL(bytes(image)), [])
    with pytest.raises(CorruptStorage, match="offset"):
        host.recover()


def test_replies_resolve_every_waiter_of_the_same_request_id() -> None:
    async def scenario() -> None:
        wal = GatedWAL()
        host = _host(wal, [])
        await host.start()
        first = host.submit(_request(1))
        retry = host.submit(_request(1))  # a client retry while the first is in flight
        wal.gate.set()
        assert await asyncio.wait_for(first, 5) == Ok(1)
        assert await asyncio.wait_for(retry, 5) == Ok(1)
        await host.stop()

    run(scenario())


def test_ticks_reach_the_replica_with_monotonic_milliseconds() -> None:
    async def scenario() -> None:
        host = _host(MemoryWAL(), [], spec=TOY, config=ReplicaConfig(tick_ms=5, heartbeat_ms=5, election_timeout_ms=11))
        await host.start()
        await until(lambda: host.counts["ticks"] >= 3, what="three ticks")
        now = host.replica.now
        assert now > 0
        await until(lambda: host.replica.now > now, what="time to advance")
        await host.stop()

    run(scenario())


def test_reads_and_writes_through_the_toy_scheme_on_one_node() -> None:
    async def scenario() -> None:
        host = NodeHost(spec=TOY, node=1, members=(1,), config=ReplicaConfig(), wal=MemoryWAL(),
                        codec=RecordCodec(TOY.records),
                        send=lambda dst, msg: host.receive(1, msg) if dst == 1 else None)
        await host.start()
        assert await host.submit(_request(1)) == Ok(True)
        assert await host.submit(Request(7, 2, Get("k"))) == Ok("1")
        await host.stop()

    run(scenario())


def test_batch_policy_gets_its_fsync_from_the_writer_timer(tmp_path) -> None:
    from replikv.storage import FileWAL

    async def scenario() -> None:
        wal = FileWAL(tmp_path / "wal", fsync="batch", batch_ms=200)
        host = _host(wal, [])
        await host.start()
        await host.submit(_request(1))
        # The append (well within 200 ms of recovery) did not fsync; the timer must.
        await until(lambda: host.writer.stats.syncs >= 1, what="the batch fsync")
        assert not wal.needs_sync()
        await host.stop()

    run(scenario())


class _EntriesView:
    """Durable view for SCRIPTED: ToyAck(index) claims entry ``index - 100`` is on disk."""

    def __init__(self) -> None:
        self.last = 0

    def apply(self, records, replace):
        for record in records:
            self.last = max(self.last, record.index)

    def holds(self, dst, msg) -> bool:
        return not isinstance(msg, ToyAck) or msg.index - 100 <= self.last

    def describe(self) -> str:
        return f"durable up to {self.last}"


def test_debug_durability_stops_a_node_whose_ack_overtakes_its_persist() -> None:
    """The runtime's debug mode (replikv serve --debug-durability) runs the driver's check:
    SCRIPTED sends ToyAck(101) ahead of the Persist of entry 1, in the same step."""
    from dataclasses import replace

    from replikv.core.driver import DurabilityViolation

    async def scenario() -> list:
        spec, fatal, sent = replace(SCRIPTED, durable_view=_EntriesView), [], []
        host = NodeHost(spec=spec, node=1, members=(1, 2),
                        config=ReplicaConfig(tick_ms=1000, heartbeat_ms=1000, election_timeout_ms=3000),
                        wal=MemoryWAL(), codec=RecordCodec(spec.records), send=lambda d, m: sent.append(m),
                        on_fatal=fatal.append, check_durability=True)
        await host.start()
        with pytest.raises(DurabilityViolation):
            host.submit(_request(1))
        await host.stop()
        return fatal + sent

    fatal_and_sent = run(scenario())
    assert isinstance(fatal_and_sent[0], DurabilityViolation)
    assert not any(isinstance(m, ToyAck) for m in fatal_and_sent[1:])  # the ack never left


def test_an_abandoned_waiter_is_gone_and_the_replicas_later_reply_finds_only_the_others() -> None:
    """``NodeHost.abandon`` (issue 14: no done-callback per request): a caller that
    answered its future itself removes it; a retry of the same id still gets the reply."""

    async def scenario() -> None:
        wal, sent = GatedWAL(), []
        host = _host(wal, sent)
        await host.start()
        first = host.submit(_request(1))
        retry = host.submit(_request(1))
        first.set_result(Timeout())
        host.abandon(_request(1).id, first)
        assert host._waiters == {_request(1).id: [retry]}
        wal.gate.set()
        assert await asyncio.wait_for(retry, 5) == Ok(1)
        assert first.result() == Timeout() and not host._waiters
        await host.stop()

    run(scenario())


class GatedRewrites(MemoryWAL):
    """A MemoryWAL whose compactions are written only once the test opens ``gate``, and
    which notes the thread of each call."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.threads: list[tuple[str, str]] = []
        self.fail_rewrite = False

    def begin_rewrite(self, encode):
        def gated():
            self.threads.append(("rewrite", threading.current_thread().name))
            assert self.gate.wait(10), "test never opened the gate"
            if self.fail_rewrite:
                raise OSError(28, "No space left on device")
            return encode()
        return super().begin_rewrite(gated)

    def finish_rewrite(self, rewrite):
        self.threads.append(("swap", threading.current_thread().name))
        super().finish_rewrite(rewrite)


def _writer(wal, durable: list, errors: list):
    from replikv.runtime.writer import WalWriter

    wal.recover()
    return WalWriter(wal, RecordCodec(TOY.records), durable.append, errors.append, inline_max_ms=10)


def _entries(wal) -> list:
    return RecordCodec(TOY.records).decode_all(MemoryWAL(wal.image).recover())


def test_a_compaction_holds_no_group_and_is_swapped_in_once_written() -> None:
    """Issue 14: a compaction (``Persist(compaction=True)``) restates what the log holds,
    so the writer reports it durable with the appends around it at once, writes it on a
    thread of its own while later groups go on, and swaps it in (its tail appended) on
    the writer thread once written."""
    async def scenario() -> None:
        durable, errors = [], []
        wal = GatedRewrites()
        writer = _writer(wal, durable, errors)
        entry = lambda i: ToyEntry(i, _request(i))  # noqa: E731
        writer.submit(Persist(1, (entry(1),)))
        # a restatement that reads differently from the log it restates, to see the swap
        writer.submit(Persist(2, (entry(7),), replace=True, compaction=True))
        writer.submit(Persist(3, (entry(2),)))
        await until(lambda: durable and durable[-1] == 3)
        writer.submit(Persist(4, (entry(3),)))
        await until(lambda: durable[-1] == 4)
        assert not wal.gate.is_set() and writer.stats.compactions == 0
        assert _entries(wal) == [entry(1), entry(2), entry(3)], "the live log has every append"
        wal.gate.set()
        await asyncio.wait_for(writer.flush(), 5)
        assert _entries(wal) == [entry(7), entry(2), entry(3)], "the restatement, then its tail"
        assert wal.threads == [("rewrite", "replikv-compaction"), ("swap", "replikv-wal")]
        assert writer.stats.compactions == 1 and writer.stats.compactions_superseded == 0
        assert errors == []
        await writer.close()

    run(scenario())


def test_a_replace_supersedes_a_compaction_being_written() -> None:
    async def scenario() -> None:
        durable, errors = [], []
        wal = GatedRewrites()
        writer = _writer(wal, durable, errors)
        writer.submit(Persist(1, (ToyEntry(1, _request(1)),), replace=True, compaction=True))
        await until(lambda: durable == [1])
        writer.submit(Persist(2, (ToyEntry(9, _request(9)),), replace=True))
        await until(lambda: durable == [1, 2])
        wal.gate.set()
        await asyncio.wait_for(writer.flush(), 5)
        assert _entries(wal) == [ToyEntry(9, _request(9))]
        assert writer.stats.compactions == 0 and writer.stats.compactions_superseded == 1
        assert [kind for kind, _ in wal.threads] == ["rewrite"], "never swapped in"
        await writer.close()

    run(scenario())


def test_a_failed_compaction_is_fatal_like_any_failed_write() -> None:
    async def scenario() -> None:
        durable, errors = [], []
        wal = GatedRewrites()
        wal.fail_rewrite = True
        writer = _writer(wal, durable, errors)
        writer.submit(Persist(1, (ToyEntry(1, _request(1)),), replace=True, compaction=True))
        wal.gate.set()
        await until(lambda: errors)
        assert isinstance(errors[0], OSError) and "No space" in str(errors[0])
        writer.submit(Persist(2, (ToyEntry(2, _request(2)),)))
        assert durable == [1] and writer.stats.groups == 1, "nothing is written after a failure"

    run(scenario())


def test_an_input_after_a_pause_reaches_the_replica_after_a_tick_of_the_time_now(monkeypatch) -> None:
    """A paused process (stop signal, long GC) resumes with inputs queued in its sockets;
    the replica must judge them by the time now, not by its last Tick before the pause
    (NodeDriver.stale_clock; a lease read was served from an expired lease otherwise)."""
    import replikv.runtime.host as host_module

    clock = [100.0]

    class FakeTime:
        @staticmethod
        def monotonic() -> float:
            return clock[0]

    monkeypatch.setattr(host_module, "time", FakeTime)

    async def scenario() -> None:
        sent: list = []
        config = ReplicaConfig(tick_ms=60_000, heartbeat_ms=60_000, election_timeout_ms=180_000)
        host = _host(MemoryWAL(), sent, config=config)
        await host.start()
        replica = host.replica
        host.tick()
        assert [type(i).__name__ for i in replica.inputs] == ["Tick"]
        clock[0] += 20.0  # a third of a tick: fresh enough (and before the ticker's next, at half)
        await asyncio.wait_for(host.submit(_request(1)), 5)
        assert [type(i).__name__ for i in replica.inputs] == ["Tick", "Submit", "Persisted"]
        clock[0] += 600.0  # ten ticks missed: paused
        await asyncio.wait_for(host.submit(_request(2)), 5)
        late = replica.inputs[3]
        assert [type(i).__name__ for i in replica.inputs[3:5]] == ["Tick", "Submit"]
        assert late.now_ms == clock[0] * 1000.0
        assert host.counts["late_ticks"] == 1
        await host.stop()

    run(scenario())
