"""A node gives large freed buffers back to the operating system (runtime/malloc.py):
glibc's dynamic mmap threshold otherwise kept a snapshot's transient buffers in the
heap, about 90 MB per node at 1,000,000 keys (issue 14, docs/bench.md "Memory")."""

from __future__ import annotations

import ctypes
import subprocess
import sys
import textwrap

import pytest


def _has_glibc_mallinfo2() -> bool:
    try:
        return hasattr(ctypes.CDLL(None), "mallinfo2")
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or not _has_glibc_mallinfo2(),
                                reason="glibc 2.33 or later only")

# After a 24 MiB buffer is freed, glibc (by default) raises its mmap threshold to 24 MiB;
# is a new 1 MiB buffer then a mapping of its own (unmapped when freed: hblks + 1) or a
# piece of the heap (kept by the process after it is freed: hblks + 0)?
_PROBE = textwrap.dedent("""
    import ctypes, sys
    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                     "fordblks", "keepcost")]
    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    if sys.argv[1] == "node":
        from replikv.runtime.node import Node
        from replikv.schemes import get_spec
        from replikv.storage import MemoryWAL
        spec = get_spec("raft")
        Node(node=1, spec=spec, replica_config=spec.make_config(), wal=MemoryWAL(), peers={},
             listen=("127.0.0.1", 0))
    big = b"x" * (24 << 20)
    del big
    before = libc.mallinfo2().hblks
    blob = b"x" * (1 << 20)
    print(libc.mallinfo2().hblks - before)
""")


def _new_mappings(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, timeout=60,
                          check=True)
    return int(done.stdout)


def test_without_the_fix_glibc_puts_the_buffer_in_the_heap() -> None:
    """The control: the probe tells the two apart on this platform."""
    assert _new_mappings("bare") == 0


def test_a_node_process_maps_large_buffers_so_freeing_returns_them() -> None:
    assert _new_mappings("node") == 1


def test_fix_mmap_threshold_reports_whether_it_was_set() -> None:
    from replikv.runtime.malloc import fix_mmap_threshold

    assert fix_mmap_threshold() is True
