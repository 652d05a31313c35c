"""pol, the hand-written Polars version and the DuckDB SQL version of the
bench policy agree row for row (customers and assignments)."""
import sys
from pathlib import Path

import pytest

pytest.importorskip("polars")
pytest.importorskip("duckdb")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import AS_OF  # noqa: E402

from benchmarks import baseline_duckdb, baseline_polars  # noqa: E402
from benchmarks.bench_data import bench_table  # noqa: E402


def as_plain(policy_result):
    c = policy_result.customers.cast(baseline_polars.customers_schema())
    a = policy_result.assignments.cast(baseline_polars.assignments_schema())
    return c, a


@pytest.mark.parametrize("engine", ["kernel", "vector"])
def test_pol_polars_duckdb_agree(bench_policy, engine):
    t = bench_table(30_000)
    c, a = as_plain(bench_policy.evaluate(t, as_of=AS_OF, engine=engine))
    for name, run in (("polars", baseline_polars.run), ("duckdb", baseline_duckdb.run)):
        bc, ba = run(t, AS_OF)
        for col in c.column_names:
            assert c.column(col).equals(bc.column(col)), (name, col)
        assert a.equals(ba), name
