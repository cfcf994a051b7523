"""Pausing Python's cyclic garbage collector while a large structure is built in one go.

Decoding a 10,000-row index creates tens of thousands of containers that all survive; the
collector would traverse them (and, once, the whole heap) again and again while they are being
made, only to find no garbage. :func:`gc_paused` turns it off for such a stretch and back on
afterwards (as Mercurial does when it reads its dirstate). Reference counting still frees
everything at once; cycles made meanwhile wait for the next collection. The pause nests and is
shared by threads: the collector comes back on when the last pause ends, and only if it was on
when the first began.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
