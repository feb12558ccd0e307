"""Handing freed heap memory back to the operating system after a phase that allocated a lot for a while.

glibc keeps freed memory in its heap (arrays below its adaptive mmap threshold, up to 32 MB, come from there too):
after a model fit or the combiner's scoring the process would keep tens of MB it no longer uses, so every later
phase, and the peak, starts higher. ``malloc_trim(0)`` returns the free pages; it is a no-op where glibc is absent.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache
from typing import Any


@cache
def _libc() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def release_free_memory() -> None:
    """Return the heap's free pages to the OS (glibc ``malloc_trim``; a few ms; nothing elsewhere), and Arrow's
    (its mimalloc/jemalloc pool keeps freed buffers for reuse) when pyarrow is loaded."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
    arrow = sys.modules.get("pyarrow")
    if arrow is not None:
        arrow.default_memory_pool().release_unused()
