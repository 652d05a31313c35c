"""pol.evaluation.threads.run_shared: every part run once, by the caller
and the pool threads that are free, never waiting for one held elsewhere."""
from __future__ import annotations

import threading

import pytest

from pol.evaluation import threads


def test_every_part_once_and_each_runner_its_own_number():
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()

    def part(runner: int, i: int) -> None:
        with lock:
            seen.append((runner, i))
    threads.run_shared(part, 50)
    assert sorted(i for _, i in seen) == list(range(50))
    assert {r for r, _ in seen} <= set(range(threads.THREADS))


def test_pool_threads_held_elsewhere_leave_the_parts_to_the_caller():
    """A `later` holding every pool thread (the greedy walk beside the
    optimal allocation's prices) does not hold up the parts: the caller
    runs them all, and does not wait for the pool to come free."""
    release = threading.Event()
    held = [threads.later(lambda: release.wait(60)) for _ in range(threads.THREADS)]
    seen: list[tuple[int, int]] = []
    try:
        threads.run_shared(lambda runner, i: seen.append((runner, i)), 8)
        assert seen == [(0, i) for i in range(8)]
        assert not any(f.done() for f in held)
    finally:
        release.set()
    assert all(f.result() for f in held)


def test_an_error_in_a_part_reaches_the_caller():
    def part(runner: int, i: int) -> None:
        if i == 3:
            raise ValueError("part 3")
    with pytest.raises(ValueError, match="part 3"):
        threads.run_shared(part, 6)
