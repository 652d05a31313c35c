"""Policies as large as an operator's catalogue: cold compile and cost per row.

    python -m benchmarks.bench_large                          # (10, 100), (50, 300), (200, 1000)
    python -m benchmarks.bench_large --offers 50 --segments 300
    python -m benchmarks.bench_large --split-at 1000000       # one kernel, never split (what was)

Each size runs in a fresh process with an empty kernel cache, on the bench
input (benchmarks/data/bench_customers.py) and a policy of that many offers
and segments (benchmarks/data/large_policy.py). It prints, per size: the
policy's size in expression nodes and the kernel's stages, `pol.load`, the
first result from the vectorized evaluator (1,000 rows: what a run gives
while the kernel compiles), the kernel's cold compile in the foreground, and
ns per row of the kernel and of the vectorized evaluator (best of 3).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SIZES = ((10, 100), (50, 300), (200, 1000))

CHILD = """
import datetime as dt, json, sys, time
sys.path.insert(0, sys.argv[1])
t0 = time.perf_counter()
import pol
from bench_data import bench_table
from data.large_policy import large_policy
from pol.compiler.backend import split
from pol.evaluation.executor import KernelExecutor
offers, segments, rows, split_at = (int(a) for a in sys.argv[2:6])
table = bench_table(rows)
day = dt.date(2026, 11, 1)
t1 = time.perf_counter()
p = pol.loads(large_policy(offers, segments))
run = p.lowered.program
if split_at > 0:
    p._kernel = KernelExecutor(run, p.plan, split_at=split_at)
out = {"nodes": split.size(run)}
threshold = split_at if split_at > 0 else split.THRESHOLD
out["stages"] = len(split.groups(run, threshold).decls) + len(split.groups(run, threshold).offers) \\
    if split.needed(run, threshold) else 1
t2 = time.perf_counter()
p.evaluate(table.slice(0, 1000), as_of=day, engine="vector")
t3 = time.perf_counter()
out.update(imports_s=t1 - t0, load_s=t2 - t1, first_vector_s=t3 - t2, first_result_process_s=t3 - t0)
p.compile()
p.evaluate(table.slice(0, 1000), as_of=day, engine="kernel")
out["compile_s"] = time.perf_counter() - t3
for engine, n in (("kernel", rows), ("vector", min(rows, 50_000))):
    part = table.slice(0, n)
    best = float("inf")
    for _ in range(3):
        a = time.perf_counter()
        p.evaluate(part, as_of=day, engine=engine)
        best = min(best, time.perf_counter() - a)
    out[f"{engine}_ns_per_row"] = best / n * 1e9
print(json.dumps(out))
"""


def measure(offers: int, segments: int, rows: int, split_at: int) -> dict:
    here = Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, POL_CACHE_DIR=cache, POL_BACKGROUND_COMPILE="0")
        done = subprocess.run([sys.executable, "-c", CHILD, str(here), str(offers), str(segments), str(rows),
                               str(split_at)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--offers", type=int)
    ap.add_argument("--segments", type=int)
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--split-at", type=int, default=0, help="split threshold in nodes (0: the default)")
    a = ap.parse_args(argv)
    sizes = [(a.offers, a.segments)] if a.offers is not None and a.segments is not None else SIZES
    print("| offers | segments | nodes | stages | load s | first result s (process) | cold compile s "
          "| kernel ns/row | vectorized ns/row |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for offers, segments in sizes:
        m = measure(offers, segments, a.rows, a.split_at)
        if "error" in m:
            print(f"| {offers} | {segments} | failed: {m['error']} |", flush=True)
            continue
        print(f"| {offers} | {segments} | {m['nodes']} | {m['stages']} | {m['load_s']:.2f} "
              f"| {m['first_vector_s']:.2f} ({m['first_result_process_s']:.2f}) | {m['compile_s']:.1f} "
              f"| {m['kernel_ns_per_row']:.0f} | {m['vector_ns_per_row']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
