import datetime as dt
import os
import sys
import tempfile
from pathlib import Path

import pytest
import units

ROOT = Path(__file__).resolve().parents[1]
BENCH_POLICY = ROOT / "benchmarks" / "data" / "retention_bench.pol"
AS_OF = dt.date(2026, 11, 1)

# Tests choose their evaluator explicitly; no background compiler processes.
os.environ.setdefault("POL_BACKGROUND_COMPILE", "0")
sys.path.insert(0, str(ROOT))


def _load_generator():
    from benchmarks.data import bench_customers
    return bench_customers


@pytest.fixture(scope="session")
def bench_table():
    """20,000 customers from the bench generator."""
    return _load_generator().generate(20_000, seed=7, as_of=AS_OF)


@pytest.fixture(scope="session")
def bench_policy():
    import pol
    return pol.load(BENCH_POLICY)


# ---------------------------------------------------------------- workers
# Under -n, each test file runs on one worker, and every Spark test on the
# same one (a JVM and its SparkSession cost tens of seconds to start; they
# share it through getOrCreate), the costliest units first: tests/units.py.
# `-n N` alone means `--dist load`; it is made `loadgroup` here rather than
# in addopts, where a run without -n would see pytest-benchmark switch
# itself off for a --dist it does not use.

def pytest_configure(config):
    units.configure(config)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    units.configure_node(node)


@pytest.hookimpl(tryfirst=True)        # before xdist's, which reads the marks
def pytest_collection_modifyitems(config, items):
    units.mark_units(items)
    if units.in_units(config):
        units.longest_first(items)


# ---------------------------------------------------------------- self-contained
# The repository must pass its tests from a plain clone, with nothing beside
# it: any file or folder a test opens beside the checkout (a sibling folder of
# the repository) fails that test. Temporary folders are exempt, wherever the
# system keeps them.

_OUTSIDE: list[str] = []
_PARENT = ROOT.parent
_EXEMPT = [Path(tempfile.gettempdir()).resolve()]


def _audit(event: str, args) -> None:
    if event not in ("open", "os.listdir", "os.scandir") or not args:
        return
    target = args[0]
    if not isinstance(target, (str, bytes, os.PathLike)):
        return
    try:
        p = Path(os.fsdecode(target))
        if not p.is_absolute():
            p = Path.cwd() / p
        p = Path(os.path.normpath(p))
    except (TypeError, ValueError):
        return
    if _PARENT in p.parents and ROOT != p and ROOT not in p.parents \
            and not any(e == p or e in p.parents for e in _EXEMPT):
        _OUTSIDE.append(str(p))


sys.addaudithook(_audit)


@pytest.fixture(autouse=True)
def _reads_nothing_beside_the_repository():
    del _OUTSIDE[:]
    yield
    outside = list(dict.fromkeys(_OUTSIDE))
    del _OUTSIDE[:]
    assert not outside, f"the test read outside the repository: {outside[:3]}"


@pytest.fixture
def reads_beside_repository():
    """What the tests opened beside the repository so far in this test."""
    return _OUTSIDE
