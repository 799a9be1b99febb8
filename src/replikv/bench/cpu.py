"""CPU time per operation: the benchmark figure that the machine's load does not move.

What may live here: reading processes' CPU time (``/proc/<pid>/stat``, user + system,
all threads) at two instants and dividing the difference by the operations completed
in between. On a shared machine raw ops/s swing twofold with what else runs, while the
CPU a process spends on one acknowledged write hardly moves: it is the figure to compare
between two versions of the code (docs/bench.md, "CPU per operation").
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int | str = "self") -> float | None:
    """User + system CPU seconds of process ``pid`` (every thread) so far; ``None`` when
    the process is gone or ``/proc`` is not there (not Linux)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read()
    except OSError:
        return None
    # Field 2 (the command name) is in parentheses and may hold spaces: split after it.
    rest = text[text.rindex(b")") + 2:].split()
    utime, stime = int(rest[11]), int(rest[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / _TICKS_PER_S


@dataclass
class CpuMeter:
    """CPU seconds of named processes between ``start()`` and ``stop()``.

    ``pids`` maps a name (a node id, ``"driver"``) to a pid; ``"self"`` is this process.
    """

    pids: dict[str, int | str]
    _started: dict[str, float | None] = field(default_factory=dict)
    _stopped: dict[str, float | None] = field(default_factory=dict)

    def start(self) -> None:
        self._started = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self) -> None:
        self._stopped = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def used_s(self) -> dict[str, float | None]:
        """CPU seconds each process used in the window (``None``: not measured)."""
        out: dict[str, float | None] = {}
        for name in self.pids:
            before, after = self._started.get(name), self._stopped.get(name)
            out[name] = None if before is None or after is None else round(after - before, 3)
        return out

    def per_op_us(self, ops: int) -> dict[str, float | None]:
        """Microseconds of CPU per operation, per process (``None``: not measured, or no op)."""
        return {name: (None if used is None or ops <= 0 else round(used * 1e6 / ops, 1))
                for name, used in self.used_s().items()}
