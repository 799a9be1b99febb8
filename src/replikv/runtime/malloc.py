"""Large freed buffers go back to the operating system (glibc's malloc).

A node builds a few large, short-lived buffers: a snapshot of the state machine, its
encoded WAL record and frames (Raft §7 compaction restates the whole state), a WAL file
read at recovery. glibc serves a request above its mmap threshold with a mapping of its
own that ``free`` unmaps, but by default it *raises* that threshold to the size of each
such buffer freed (up to 32 MiB), so the next, slightly smaller, buffers come from the
heap, and the heap gives nothing back while a small live block sits above them. Under
``replikv bench --rss`` (1,000,000 writes of new keys, a snapshot every 10,000) that
left each node holding about 90 MB of freed buffers on top of its state (docs/bench.md,
"Memory"). Fixing the threshold at glibc's own default turns the adjustment off
(mallopt(3), ``M_MMAP_THRESHOLD``): every buffer above 128 KiB is mapped and unmapped.

Elsewhere than glibc (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import sys
from typing import Any

log = logging.getLogger("replikv.runtime")

M_MMAP_THRESHOLD = -3
"""mallopt(3)'s parameter number (glibc's malloc.h)."""
MMAP_THRESHOLD_BYTES = 128 * 1024
"""glibc's default threshold, kept fixed instead of adjusted."""


@functools.cache
def _mallopt() -> Any:
    """glibc's ``mallopt``, looked up once per process (``find_library`` runs
    ``ldconfig``), or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes (no dynamic adjustment); True
    when it was set, False where there is no glibc ``mallopt``."""
    mallopt = _mallopt()
    if mallopt is None:
        return False
    done = mallopt(M_MMAP_THRESHOLD, threshold) == 1
    if not done:
        log.warning("mallopt(M_MMAP_THRESHOLD, %d) refused; large freed buffers may stay in the heap", threshold)
    return done
