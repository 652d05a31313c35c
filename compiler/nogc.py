"""Python's cycle collector paused while the compiler builds large graphs of
small objects with no cycles worth collecting (it is set off by the
allocations alone): it took 40% of checking a 5,000-declaration policy
(compiler/frontend/driver.py) and half of generating the kernel of a
policy of 1,000 segments (compiler/backend/codegen.py)."""
from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
