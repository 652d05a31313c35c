"""pol on Spark against the bench policy written by hand in Spark SQL, and
against `pol run` on one machine; and the cost of the global walk.

    python benchmarks/bench_spark.py [--rows N] [--master local[2]]

1. Checks, at 100,000 rows, that pol.spark.evaluate, the hand-written Spark
   SQL (baseline_spark.py) and Policy.evaluate give the same customers and
   assignments (sorted by key; Spark has no dictionary type, so names are
   compared as strings).
2. Times, at N rows (default 10M) in one Parquet file, Parquet to Parquet:
   `pol run` on one machine; `pol run --engine spark`; pol.spark.evaluate
   with both outputs written by Spark's writer; the hand-written SQL, both
   outputs written the same way. Then splits pol on Spark's time: a
   mapInArrow that only receives the policy's columns (Spark's scan and the
   Arrow transfer to Python), the kernel alone on the same rows in one
   process, the rest (output back to Spark, writing).
3. The global walk (the driver's part of a run with capacities) over 1M and
   10M synthetic candidate pairs: time and memory.
Not run in CI. Figures go to benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

import pol  # noqa: E402
import pol.spark  # noqa: E402
from benchmarks import baseline_spark  # noqa: E402
from benchmarks.bench_data import AS_OF, bench_table, cache_dir  # noqa: E402

POLICY = ROOT / "benchmarks" / "data" / "retention_bench.pol"


def plain_sorted(t: pa.Table) -> pa.Table:
    cols = []
    for f in t.schema:
        c = t.column(f.name)
        if pa.types.is_dictionary(f.type):
            c = c.cast(f.type.value_type)
        elif pa.types.is_list(f.type):
            c = c.cast(pa.list_(pa.string()))
        elif pa.types.is_large_string(f.type):
            c = c.cast(pa.string())
        cols.append(c)
    t = pa.table(cols, names=t.schema.names)
    return t.sort_by([("id", "ascending")] + ([("rank", "ascending")] if "rank" in t.schema.names else []))


def same(a: pa.Table, b: pa.Table) -> bool:
    a, b = plain_sorted(a), plain_sorted(b)
    return a.schema.names == b.schema.names and all(x.equals(y) for x, y in zip(a.columns, b.columns))


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def parquet_of(n: int) -> str:
    bench_table(n)      # generated and cached as one Parquet file
    return str(cache_dir() / f"customers_n{n}_seed7_{AS_OF.isoformat()}.parquet")


def check(spark, policy) -> None:
    path = parquet_of(100_000)
    local = policy.evaluate(bench_table(100_000), as_of=AS_OF, engine="kernel")
    df = spark.read.parquet(path)
    ours = [d.toArrow() for d in pol.spark.evaluate(policy, df, as_of=AS_OF)]
    sql = [d.toArrow() for d in baseline_spark.run(spark, df, AS_OF)]
    for name, want, a, b in zip(("customers", "assignments"), (local.customers, local.assignments), ours, sql):
        assert same(want, a), f"pol.spark {name} differ from Policy.evaluate"
        assert same(want, b), f"the hand-written Spark SQL's {name} differ from pol's"
    print("checked at 100,000 rows: pol.spark == Spark SQL by hand == Policy.evaluate")


def write_both(pair, out: Path) -> None:
    customers, assignments = pair
    customers.write.mode("overwrite").parquet(str(out / "customers"))
    assignments.write.mode("overwrite").parquet(str(out / "assignments"))


def pol_cli(args: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pol", "run", str(POLICY), *args, "--as-of", AS_OF.isoformat(),
                    "--no-progress", "--overwrite"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def timings(spark, policy, n: int, master: str) -> None:
    path = parquet_of(n)
    work = Path(tempfile.mkdtemp(prefix="pol-bench-spark-"))
    try:
        rows = []
        t_local = pol_cli(["--input", path, "--out", str(work / "local")])
        rows.append(("`pol run` (one machine, all cores)", t_local))
        t_cli = pol_cli(["--input", path, "--out", str(work / "cli"), "--engine", "spark", "--master", master])
        rows.append((f"`pol run --engine spark --master {master}` (JVM start included)", t_cli))
        df = spark.read.parquet(path)
        t_api, _ = timed(lambda: write_both(pol.spark.evaluate(policy, df, as_of=AS_OF), work / "api"))
        rows.append(("pol.spark.evaluate, both outputs written by Spark", t_api))
        t_sql, _ = timed(lambda: write_both(baseline_spark.run(spark, df, AS_OF), work / "sql"))
        rows.append(("Spark SQL by hand, both outputs written by Spark", t_sql))
        print(f"\n{n:,} rows, Spark {master}:\n| what | seconds | rows/s | vs SQL |\n| --- | --- | --- | --- |")
        for what, s in rows:
            print(f"| {what} | {s:.1f} | {n / s / 1e6:.2f}M | {t_sql / s:.1f}x |")
        # Where pol on Spark's time goes (one evaluation pass; write_both runs two).
        columns = policy.columns

        def receive(batches):
            k = 0
            for b in batches:
                k += b.num_rows
            yield pa.RecordBatch.from_pydict({"n": [k]})
        t_transfer, _ = timed(lambda: df.select(*columns).mapInArrow(receive, "n long").collect())
        table = bench_table(n).select(columns)
        policy.evaluate(table.slice(0, 10_000), as_of=AS_OF, engine="kernel")
        t_kernel, _ = timed(lambda: policy.evaluate(table, as_of=AS_OF, engine="kernel"))
        t_count, _ = timed(lambda: pol.spark.evaluate(policy, df, as_of=AS_OF)[0].write.format("noop")
                           .mode("overwrite").save())
        print(f"\none pass of pol.spark.evaluate (customers only, written nowhere): {t_count:.1f} s, of which\n"
              f"- Spark scan + Arrow transfer of the {len(columns)} columns to Python: {t_transfer:.1f} s\n"
              f"- the policy on one process, all cores (Policy.evaluate in memory): {t_kernel:.1f} s\n"
              f"- the rest (the driver's checks, output back to the JVM): "
              f"{t_count - t_transfer - t_kernel:.1f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def walk_scaling(policy) -> None:
    from pol.spark.adapter import Candidates, Counts, Rules, walk
    rules = Rules.of(policy.program)
    K = len(policy.program.offers)
    rules = Rules(rules.max_n, rules.category, rules.exclusive, np.full(K, 1000, np.int64), rules.holdout_bp,
                  rules.holdout_state)
    print("\n| candidate pairs | customers | walk seconds (sort + walk) | peak RSS growth |\n| --- | --- | --- | --- |")
    rng = np.random.default_rng(1)
    for pairs in (1_000_000, 10_000_000):
        customers = pairs // 2
        pos = np.sort(rng.integers(0, customers, pairs)).astype(np.int64)
        c = Candidates(pos, rng.integers(0, K, pairs).astype(np.int16), np.zeros(pairs, np.int8),
                       rng.random(pairs) * 100, np.zeros(pairs, np.bool_))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        funnel = Counts.empty(policy.plan).funnel
        walk(Candidates(c.pos[:1000], c.offer[:1000], c.chan[:1000], c.prio[:1000], c.ctrl[:1000]), rules, funnel)
        t, _ = timed(lambda c=c, funnel=funnel: walk(c, rules, funnel))
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        print(f"| {pairs:,} | {len(np.unique(pos)):,} | {t:.2f} | {grown:.0f} MB |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--skip-check", action="store_true")
    args = ap.parse_args()
    from pyspark.sql import SparkSession
    spark = (SparkSession.builder.master(args.master).appName("pol bench")
             .config("spark.ui.showConsoleProgress", "false").config("spark.driver.memory", "6g")
             .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(1 << 17)).getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    policy = pol.load(POLICY).compile()
    if not args.skip_check:
        check(spark, policy)
    timings(spark, policy, args.rows, args.master)
    walk_scaling(policy)
    spark.stop()


if __name__ == "__main__":
    main()
