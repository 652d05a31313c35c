"""Row ranges on all cores: the kernels release the GIL, so a thread per
core over disjoint row ranges runs them in parallel."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

THREADS = max(1, os.cpu_count() or 1)
pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="pol")


def chunks(n: int, parts: int = THREADS, minimum: int = 16_384) -> list[tuple[int, int]]:
    parts = max(1, min(parts, n // minimum or 1))
    bounds = np.linspace(0, n, parts + 1).astype(np.int64)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def parallel(fn: Callable[[int, int], None], n: int) -> None:
    """fn(start, stop) over row ranges, one per core."""
    parts = chunks(n)
    if len(parts) == 1:
        fn(0, n)
        return
    for f in [pool.submit(fn, a, b) for a, b in parts]:
        f.result()
