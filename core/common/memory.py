"""Handing freed memory back to the operating system.

A batch pass allocates and frees the same large buffers over and over on several threads, and
a model load frees its file's bytes and decoded copies once it is built. The allocators keep
what was freed for reuse: glibc's ``malloc`` in one arena per thread (numpy's arrays, Python's
bytes), pyarrow in its own pool. Their free pages stay counted in the process's resident
memory, so its peak grows with the number of threads rather than with what is alive.
:func:`release_free_memory` returns those pages (glibc's ``malloc_trim``, pyarrow's
``release_unused``); elsewhere than on glibc it does what it can, and never fails.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import sys


@functools.cache
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim  # glibc only (not musl)
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_free_memory() -> None:
    """Give the pages the allocators hold free back to the system (a few milliseconds)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
    if "pyarrow" in sys.modules:
        with contextlib.suppress(Exception):  # an old pyarrow without release_unused
            sys.modules["pyarrow"].default_memory_pool().release_unused()
