"""pytest-benchmark benchmarks of the engine on the bench policy.

    python -m pytest benchmarks/bench_engine.py --benchmark-columns=min,median,max

Measures, separately: the first result of a policy never seen before in a
fresh process (cold), the fused kernel's cold compile, a warm start in a
fresh process (kernel from the disk cache), `decide` latency, and `evaluate`
throughput on 1M rows. Fresh-process timings run `python -c` children so
that nothing compiled in this process helps them.
"""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_data import BENCH_POLICY, bench_table  # noqa: E402

AS_OF = dt.date(2026, 11, 1)

CHILD = """
import time, datetime as dt, sys
t0 = time.perf_counter()
import pol, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
p = pol.load(sys.argv[2])
r = p.evaluate(t, as_of=dt.date(2026, 11, 1), engine=sys.argv[3])
print(time.perf_counter() - t0)
"""


def _child(engine: str, cache: str, rows_file: str) -> float:
    env = dict(os.environ, POL_CACHE_DIR=cache, POL_BACKGROUND_COMPILE="0")
    out = subprocess.run([sys.executable, "-c", CHILD, rows_file, str(BENCH_POLICY), engine],
                         env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    import pyarrow.parquet as pq
    path = tmp_path_factory.mktemp("bench") / "rows.parquet"
    pq.write_table(bench_table(10_000), path)
    return str(path)


def test_first_result_never_seen_policy(benchmark, small_file):
    """Fresh process, empty kernel cache, default engine: time to first result."""
    def run():
        with tempfile.TemporaryDirectory() as cache:
            return _child("auto", cache, small_file)
    seconds = benchmark.pedantic(run, rounds=3, iterations=1)
    benchmark.extra_info["seconds_to_first_result"] = seconds


def test_cold_kernel_compile(benchmark, small_file):
    """Fresh process, empty kernel cache, fused kernel forced: the full compile."""
    def run():
        with tempfile.TemporaryDirectory() as cache:
            return _child("kernel", cache, small_file)
    benchmark.pedantic(run, rounds=2, iterations=1)


def test_warm_start(benchmark, small_file):
    """Fresh process, kernel already in the disk cache."""
    with tempfile.TemporaryDirectory() as cache:
        _child("kernel", cache, small_file)
        benchmark.pedantic(lambda: _child("kernel", cache, small_file), rounds=5, iterations=1)


@pytest.fixture(scope="module")
def policy():
    import pol
    return pol.load(BENCH_POLICY).compile()


def test_decide_latency(benchmark, policy):
    import numpy as np
    records = bench_table(2_000).to_pylist()
    policy.decide(records[0], as_of=AS_OF)          # compile and warm up
    lat = []
    for r in records:
        t0 = time.perf_counter_ns()
        policy.decide(r, as_of=AS_OF)
        lat.append(time.perf_counter_ns() - t0)
    lat = np.array(lat) / 1000.0
    benchmark.extra_info["p50_us"] = float(np.percentile(lat, 50))
    benchmark.extra_info["p99_us"] = float(np.percentile(lat, 99))
    it = iter(records * 50)
    benchmark(lambda: policy.decide(next(it), as_of=AS_OF))


def test_evaluate_1m(benchmark, policy):
    t = bench_table(1_000_000)
    policy.evaluate(t.slice(0, 1000), as_of=AS_OF, engine="kernel")
    result = benchmark.pedantic(lambda: policy.evaluate(t, as_of=AS_OF, engine="kernel"),
                                rounds=3, iterations=1)
    benchmark.extra_info["rows_per_second"] = t.num_rows / benchmark.stats.stats.median
    assert result.customers.num_rows == t.num_rows
