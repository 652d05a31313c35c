"""pol against Polars and DuckDB on the bench policy, side by side, in one
process and one run.

    python benchmarks/compare.py                 # 1M and 10M rows
    python benchmarks/compare.py --rows 1000000 --repeat 5

For each size: the input made by the bench generator (held in memory as an
Arrow table), a warm-up of each contender, then several timed repetitions;
prints the median seconds and rows/s of each, the ratios Polars/pol and
DuckDB/pol, and the memory floor: the time to read every column the policy
uses once (a sum over each), against which pol's rows/s is set. Also the
peak memory each contender takes beyond its input: measured in a fresh child
process per contender (a process that has run before keeps freed memory,
which would hide the peak), as resident memory sampled every few
milliseconds above what the process held with the input loaded and the
contender ready (Linux only), set against the input and pol's output.
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
import threading
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


def resident() -> int | None:
    """This process's resident memory in bytes (Linux), else None."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096
    except OSError:
        return None


def peak_above(fn) -> int | None:
    """The most memory `fn()` holds at once beyond what was resident before it."""
    gc.collect()
    base = resident()
    if base is None:
        fn()
        return None
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], resident() or 0)
            time.sleep(0.002)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    try:
        fn()
    finally:
        done.set()
        watcher.join()
    return max(peak[0], resident() or 0) - base


def _child_peak(name: str, n: int) -> int | None:
    table = bench_table(n)
    if name == "pol":
        import pol
        policy = pol.load(BENCH_POLICY)
        policy.compile()
        policy.evaluate(table.slice(0, 1000), as_of=AS_OF, engine="kernel")     # kernel loaded
        run = lambda: policy.evaluate(table, as_of=AS_OF, engine="kernel")  # noqa: E731
    else:
        module = baseline_polars if name == "polars" else baseline_duckdb
        module.run(table.slice(0, 1000), AS_OF)
        run = lambda: module.run(table, AS_OF)  # noqa: E731
    return peak_above(run)


def peak_in_child(name: str, n: int) -> int | None:
    import multiprocessing
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_child_peak, (name, n))


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
    print(f"{'rows':>11} {'contender':<8} {'median s':>9} {'rows/s':>12} {'x pol':>7} {'peak GiB':>9}")
    for n in args.rows or [1_000_000, 10_000_000]:
        table = bench_table(n)
        results = {
            "pol": timed(lambda t=table: policy.evaluate(t, as_of=AS_OF, engine="kernel"), args.repeat),
            "polars": timed(lambda t=table: baseline_polars.run(t, AS_OF), args.repeat),
            "duckdb": timed(lambda t=table: baseline_duckdb.run(t, AS_OF), args.repeat),
        }
        floor = memory_floor(table, used)
        out = policy.evaluate(table, as_of=AS_OF, engine="kernel")
        output = out.customers.nbytes + out.assignments.nbytes
        del out
        peaks = {name: peak_in_child(name, n) for name in results}
        for name, sec in results.items():
            mem = f"{peaks[name] / 2**30:>9.2f}" if peaks[name] is not None else f"{'-':>9}"
            print(f"{n:>11,} {name:<8} {sec:>9.3f} {n / sec:>12,.0f} {sec / results['pol']:>7.1f} {mem}")
        print(f"{n:>11,} {'floor':<8} {floor:>9.3f} {n / floor:>12,.0f}   "
              f"(reading the {len(used)} used columns once; pol is {results['pol'] / floor:.1f}x the floor)")
        print(f"{n:>11,} input {table.select(used).nbytes / 2**30:.2f} GiB (used columns), "
              f"pol's output {output / 2**30:.2f} GiB")
        table = None            # the next size is generated without this one in memory
        gc.collect()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
