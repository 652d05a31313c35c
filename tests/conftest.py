import datetime as dt
import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
BENCH_POLICY = SHARED / "bench" / "retention_bench.pol"
AS_OF = dt.date(2026, 11, 1)

# Tests choose their evaluator explicitly; no background compiler processes.
os.environ.setdefault("POL_BACKGROUND_COMPILE", "0")
sys.path.insert(0, str(ROOT))


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_customers", SHARED / "bench" / "gen_customers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def bench_table():
    """20,000 customers from the bench generator."""
    return _load_generator().generate(20_000, seed=7, as_of=AS_OF)


@pytest.fixture(scope="session")
def bench_policy():
    import pol
    return pol.load(BENCH_POLICY)
