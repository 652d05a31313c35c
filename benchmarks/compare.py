"""pol against Polars and DuckDB on the bench policy, side by side, in one
process and one run.

    python benchmarks/compare.py                 # 1M and 10M rows
    python benchmarks/compare.py --rows 1000000 --repeat 5

For each size: the input made by the bench generator (held in memory as an
Arrow table), a warm-up of each contender, then several timed repetitions;
prints the median seconds and rows/s of each, the ratios Polars/pol and
DuckDB/pol, and the memory floor: the time to read every column the policy
uses once (a sum over each), against which pol's rows/s is set.
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import baseline_duckdb, baseline_polars  # noqa: E402
from benchmarks.bench_data import AS_OF, BENCH_POLICY, bench_table  # noqa: E402


def timed(fn, repeat: int) -> float:
    fn()                                    # warm-up: compile, caches
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def memory_floor(table: pa.Table, columns: list[str]) -> float:
    def scan():
        for c in columns:
            col = table.column(c)
            if pa.types.is_dictionary(col.type):
                col = pa.chunked_array([ch.indices for ch in col.chunks])
            elif pa.types.is_date32(col.type):
                col = col.cast(pa.int32())
            elif pa.types.is_boolean(col.type) or pa.types.is_string(col.type):
                pc.count(col)
                continue
            pc.sum(col)
    return timed(scan, 3)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, action="append", help="sizes (default 1M and 10M)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    import pol
    policy = pol.load(BENCH_POLICY)
    policy.compile()
    used = [f.name for f in policy.plan.fields]
    print(f"{'rows':>11} {'contender':<8} {'median s':>9} {'rows/s':>12} {'x pol':>7}")
    for n in args.rows or [1_000_000, 10_000_000]:
        table = bench_table(n)
        results = {
            "pol": timed(lambda: policy.evaluate(table, as_of=AS_OF, engine="kernel"), args.repeat),
            "polars": timed(lambda: baseline_polars.run(table, AS_OF), args.repeat),
            "duckdb": timed(lambda: baseline_duckdb.run(table, AS_OF), args.repeat),
        }
        floor = memory_floor(table, used)
        for name, sec in results.items():
            print(f"{n:>11,} {name:<8} {sec:>9.3f} {n / sec:>12,.0f} {sec / results['pol']:>7.1f}")
        print(f"{n:>11,} {'floor':<8} {floor:>9.3f} {n / floor:>12,.0f}   "
              f"(reading the {len(used)} used columns once; pol is {results['pol'] / floor:.1f}x the floor)")
        del table
        gc.collect()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
