"""``replikv bench --profile``: a py-spy profile of the leader process under the load.

py-spy samples another process from outside (no change to the node, no slowdown of the
event loop it measures), which in-process profilers such as pyinstrument cannot do for a
node the benchmark started as a separate process.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

_FORMATS = {".svg": "flamegraph", ".json": "speedscope", ".txt": "raw"}


def _py_spy() -> str | None:
    beside = pathlib.Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def check_available() -> None:
    """Raise ``RuntimeError`` naming the fix when py-spy cannot be run."""
    if _py_spy() is None:
        raise RuntimeError("--profile needs py-spy: pip install py-spy (or pip install 'replikv[bench]')")


def start(pid: int, out: pathlib.Path, seconds: float) -> tuple[subprocess.Popen, pathlib.Path]:
    """Start sampling ``pid`` for ``seconds`` into ``out``: a flame graph (``.svg``), a
    speedscope profile (``.json``) or collapsed stacks (``.txt``), by the file's suffix."""
    fmt = _FORMATS.get(out.suffix)
    if fmt is None:
        raise ValueError(f"profile file must end in one of {', '.join(_FORMATS)}: {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    argv = [_py_spy() or "py-spy", "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
            "--rate", "200", "--format", fmt, "--output", str(out), "--nonblocking"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return process, out


def finish(recorder: tuple[subprocess.Popen, pathlib.Path]) -> dict:
    """Wait for py-spy to write its file; what it wrote, or why not."""
    process, out = recorder
    try:
        output, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    if process.returncode != 0 or not out.exists():
        return {"path": None, "error": f"py-spy exited {process.returncode}: {output.strip()[-500:]}"}
    return {"path": str(out), "error": None}
