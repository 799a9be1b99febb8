"""Node processes: start in the background, tell whether they live, signal them.

Each node runs in its own session (so a Ctrl-C in the shell that ran ``cluster up``
does not reach it, and a signal to its process group reaches everything it started),
with stdout and stderr appended to its log file.

A pid alone is not proof: the kernel reuses pids. ``is_alive`` also checks that the
process's command line still names the node's data directory.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence


def serve_prefix() -> list[str]:
    """How to run ``replikv`` with this interpreter: the console script beside it when
    there is one (readable in ``ps``), else ``python -c`` on the entry point."""
    script = pathlib.Path(sys.executable).with_name("replikv")
    if script.exists():
        return [str(script)]
    found = shutil.which("replikv")
    if found:
        return [found]
    return [sys.executable, "-c", "from replikv.cli.main import main; main()"]


def spawn(argv: Sequence[str], log_file: str | os.PathLike[str]) -> int:
    """Start ``argv`` detached in a new session, output appended to ``log_file``."""
    log_path = pathlib.Path(log_file)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(log_path, "ab") as log:
        log.write(f"--- started: {' '.join(argv)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            close_fds=True,
        )
    _CHILDREN[process.pid] = process
    return process.pid


# Processes this Python process started: polled so they never linger as zombies (which
# would look alive to ``kill(pid, 0)``) when the tooling runs inside a long-lived process.
_CHILDREN: dict[int, subprocess.Popen] = {}


def _reap(pid: int) -> bool:
    """True when ``pid`` is our child and has exited (and is now reaped)."""
    child = _CHILDREN.get(pid)
    if child is None:
        return False
    if child.poll() is None:
        return False
    del _CHILDREN[pid]
    return True


def exit_code(pid: int) -> int | None:
    """The exit status of a child we started that has exited, else None."""
    child = _CHILDREN.get(pid)
    if child is None:
        return None
    return child.poll()


def still_running(pid: int) -> bool:
    """A child we started that has not exited (it may not look alive yet: between fork
    and exec its command line is still ours; or no longer: an exiting process loses its
    command line a moment before it can be reaped)."""
    child = _CHILDREN.get(pid)
    return child is not None and child.poll() is None


def is_alive(pid: int | None, marker: str | None = None) -> bool:
    """The process exists, is not a zombie, and (with ``marker``) its command line
    contains ``marker`` (guards against a reused pid)."""
    if pid is None or pid <= 0:
        return False
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process: not ours
    proc = pathlib.Path(f"/proc/{pid}")
    if proc.exists():
        try:
            stat = (proc / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                return False
            if marker is not None:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                return marker in cmdline
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return False
    return True


def is_stopped(pid: int | None) -> bool:
    """The process is stopped by SIGSTOP (``cluster pause``)."""
    if pid is None:
        return False
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] in ("T", "t")


def send_signal(pid: int, sig: signal.Signals, group: bool = True) -> bool:
    """Signal the node's process group (or just the process). False if it is gone."""
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.05) -> bool:
    """Poll ``predicate`` until true or ``timeout_s`` passes; the final answer."""
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


def terminate(pid: int, marker: str | None, timeout_s: float = 10.0) -> str:
    """SIGTERM (a paused node is resumed so it can act on it), then SIGKILL after
    ``timeout_s``. Returns ``"stopped"``, ``"killed"`` or ``"not running"``."""
    if not is_alive(pid, marker):
        return "not running"
    send_signal(pid, signal.SIGTERM)
    send_signal(pid, signal.SIGCONT)
    if wait_until(lambda: _reap(pid) or not is_alive(pid, marker), timeout_s):
        return "stopped"
    send_signal(pid, signal.SIGKILL)
    wait_until(lambda: _reap(pid) or not is_alive(pid, marker), 5.0)
    return "killed"


def kill(pid: int, marker: str | None, timeout_s: float = 5.0) -> bool:
    """SIGKILL the node's process group and wait until it is gone."""
    if not is_alive(pid, marker):
        return False
    send_signal(pid, signal.SIGKILL)
    wait_until(lambda: _reap(pid) or not is_alive(pid, marker), timeout_s)
    return True


def tail(path: str | os.PathLike[str], lines: int = 20) -> str:
    """The last ``lines`` lines of a log file ('' when it does not exist)."""
    with contextlib.suppress(OSError):
        data = pathlib.Path(path).read_bytes()[-64 * 1024 :]
        return "\n".join(data.decode(errors="replace").splitlines()[-lines:])
    return ""
