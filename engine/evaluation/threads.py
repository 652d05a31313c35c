"""Row ranges on all cores: the kernels release the GIL, so a thread per
core over disjoint row ranges runs them in parallel.

The pool is made anew in a forked child: the parent's worker threads do
not exist there, and a pool that believes they do would never run a task.
"""
from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import numpy as np

THREADS = max(1, os.cpu_count() or 1)
T = TypeVar("T")


def _new_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="pol")


_pool = _new_pool()


def _after_fork_in_child() -> None:
    global _pool
    _pool = _new_pool()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def chunks(n: int, parts: int = THREADS, minimum: int = 16_384) -> list[tuple[int, int]]:
    parts = max(1, min(parts, n // minimum or 1))
    bounds = np.linspace(0, n, parts + 1).astype(np.int64)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def run_parts(fn: Callable[[int, int, int], None], parts: list[tuple[int, int]]) -> None:
    """fn(j, start, stop) for each row range j of `parts`, at once."""
    if len(parts) == 1:
        fn(0, *parts[0])
        return
    for f in [_pool.submit(fn, j, a, b) for j, (a, b) in enumerate(parts)]:
        f.result()


def run_shared(fn: Callable[[int, int], None], count: int) -> None:
    """fn(runner, i) for each i in range(count), taken in turn by the caller
    and up to THREADS - 1 pool threads as each comes free; `runner` (0: the
    caller) names the one running it, for scratch space per runner. Unlike
    run_parts, a pool thread busy elsewhere (a `later`) is not waited for:
    the others take its share, and more parts than threads balance uneven
    ones."""
    if count == 1 or THREADS == 1:
        for i in range(count):
            fn(0, i)
        return
    taken = itertools.count()       # next() on it is atomic under the GIL

    def run(runner: int) -> None:
        for i in taken:
            if i >= count:
                return
            fn(runner, i)

    helpers = [_pool.submit(run, r) for r in range(1, min(THREADS, count))]
    try:
        run(0)
    finally:
        for f in helpers:
            if not f.cancel():      # started: it may hold a part still
                f.result()


def later(fn: Callable[[], T]) -> Future[T]:
    """fn() on a pool thread (a kernel that releases the GIL runs beside the
    caller); its result from .result(). It holds a thread until done: a
    run_parts meanwhile may wait for it, never deadlock."""
    return _pool.submit(fn)
