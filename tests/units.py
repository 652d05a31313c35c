"""How `pytest -n N` hands the suite to its workers: in units, the longest
first.

A unit is what one worker runs from start to end: a test file (its module
fixtures are built, and the kernels its tests share compiled, in one worker
only), the Spark tests of every file (one JVM per run), or a group a file
names with `pytest.mark.xdist_group` (a file too long for one unit, such as
the conformance suite: one unit per section). On a cold kernel cache most
of a unit's time is Numba compiling, and two workers that run tests of one
file at once compile its kernels twice.

The units go out in decreasing order of cost (unit_costs.json: the seconds
each took from an empty cache), so that the last ones to run are short and
the workers finish together; a unit not in the file (a new test file) is
costed by its number of tests. After a change that moves time between
files, rewrite the file from a cold run:

    POL_UNIT_COSTS=tests/unit_costs.json python -m pytest -q -n 2

(it is written at the end of the run, from every test's setup, call and
teardown times). The order is the workers' only: a run without -n keeps
the files in their order.
"""
from __future__ import annotations

import collections
import json
import os
from pathlib import Path

import pytest

COSTS = Path(__file__).resolve().parent / "unit_costs.json"
SPARK = "spark"
# what a test of a unit missing from COSTS is taken to cost (seconds): most
# tests take less, a new file's first tests often compile
PER_TEST = 0.5


def unit(item: pytest.Item) -> str:
    """The unit of a test: its file's, unless a mark names another."""
    mark = item.get_closest_marker("xdist_group")
    if mark is not None:
        return str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
    if item.path.name.startswith("test_spark") or "spark" in item.name:
        return SPARK
    return item.path.relative_to(Path(__file__).resolve().parent).as_posix()


def mark_units(items: list[pytest.Item]) -> None:
    """Every test in a unit (xdist's loadgroup then keeps each on one worker)."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(unit(item)))


def longest_first(items: list[pytest.Item]) -> None:
    """The tests in place, unit by unit, the costliest unit first; within a
    unit, in their order."""
    costs = _costs()
    members: dict[str, list[pytest.Item]] = collections.defaultdict(list)
    for item in items:
        members[unit(item)].append(item)

    def cost(name: str) -> float:
        return costs.get(name, PER_TEST * len(members[name]))

    order = sorted(members, key=cost, reverse=True)     # stable: ties keep the file order
    items[:] = [item for name in order for item in members[name]]


def _costs() -> dict[str, float]:
    try:
        data = json.loads(COSTS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in data.items()}


class Recorder:
    """The controller's record of each unit's time, written at the end of a
    run when POL_UNIT_COSTS names a file."""

    def __init__(self, path: str):
        self.path = Path(path)
        self.seconds: dict[str, float] = collections.defaultdict(float)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # under loadgroup a test's id ends in "@" and its unit
        _, at, name = report.nodeid.rpartition("@")
        if at:
            self.seconds[name] += report.duration

    def pytest_sessionfinish(self) -> None:
        if self.seconds:
            costs = {k: round(v, 1) for k, v in sorted(self.seconds.items(), key=lambda kv: -kv[1])}
            self.path.write_text(json.dumps(costs, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def configure(config: pytest.Config) -> None:
    """Under -n: loadgroup in the collection's order (ours), and the
    recorder where asked for. In a worker: loadgroup when its controller
    runs it (xdist reads the worker's own command line, where `-n` alone
    reads as no --dist)."""
    if hasattr(config, "workerinput"):
        if config.workerinput.get("pol_units"):
            config.option.loadgroup = True
        return
    if getattr(config.option, "numprocesses", None) and getattr(config.option, "dist", None) == "load":
        config.option.dist = "loadgroup"
        # xdist would put the units with the most tests first; longest_first orders them
        config.option.loadscopereorder = False
    where = os.environ.get("POL_UNIT_COSTS")
    if where and getattr(config.option, "numprocesses", None):
        config.pluginmanager.register(Recorder(where), "pol-unit-costs")


def configure_node(node) -> None:
    """What a worker is told: whether to run in units."""
    node.workerinput["pol_units"] = node.config.getvalue("dist") == "loadgroup"


def in_units(config: pytest.Config) -> bool:
    """Whether this process is a worker that runs its tests in units."""
    return bool(getattr(config.option, "loadgroup", False)) and hasattr(config, "workerinput")
