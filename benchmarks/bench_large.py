"""Policies as large as an operator's catalogue: cold compile and cost per row.

    python -m benchmarks.bench_large                          # (10, 100), (50, 300), (200, 1000)
    python -m benchmarks.bench_large --offers 50 --segments 300

Each size (and first the bench policy, for comparison) runs in a fresh
process with an empty kernel cache, on the bench input
(benchmarks/data/bench_customers.py) and a policy of that many offers and
segments (benchmarks/data/large_policy.py). It prints, per size: the
policy's size in expression nodes and the kernel's stages
(compiler/backend/split.py), `pol.loads`, the first result (1,000 rows, the
default engine: the vectorized evaluator while the kernel compiles in the
background; wall and CPU seconds of this process), the background compile to the kernel's ready marker (wall and
CPU seconds: the machine is shared), and ns per row of the kernel and of the
vectorized evaluator (best of 3; `--rows`, 50,000 at most for the latter).
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
import datetime as dt, json, resource, sys, time
sys.path.insert(0, sys.argv[1])
t0 = time.perf_counter()
import pol
from bench_data import BENCH_POLICY, bench_table
from data.large_policy import large_policy
from pol.compiler.backend import split
offers, segments, rows = (int(a) for a in sys.argv[2:5])
table = bench_table(rows)
day = dt.date(2026, 11, 1)
t1 = time.perf_counter()
p = pol.loads(large_policy(offers, segments)) if offers else pol.load(BENCH_POLICY)
run = p.lowered.program
g = split.groups(run, split.THRESHOLD)
out = {"nodes": split.size(run), "stages": len(g.decls) + len(g.offers) if split.needed(run, None) else 1}
t2, c2 = time.perf_counter(), time.process_time()
first = p.evaluate(table.slice(0, 1000), as_of=day)          # vectorized; the kernel compiles meanwhile
t3, c3 = time.perf_counter(), time.process_time()
out.update(load_s=t2 - t1, first_result_s=t3 - t2, first_result_process_s=t3 - t0, first_result_cpu_s=c3 - c2,
           first_result_process_cpu_s=c3)
marker = p._kernel.marker(next(iter(p._auto._started)))
while not marker.exists() and p._auto.failure is None:
    time.sleep(0.2)
out["compile_s"] = time.perf_counter() - t2
out["failure"] = p._auto.failure
for _ in range(100):            # the compiling process's CPU time, once it is reaped
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu.ru_utime > 0:
        break
    time.sleep(0.1)
out["compile_cpu_s"] = cpu.ru_utime + cpu.ru_stime
for engine, n in (("kernel", rows), ("vector", min(rows, 50_000))):
    part = table.slice(0, n)
    p.evaluate(part.slice(0, 1000), as_of=day, engine=engine)
    best = float("inf")
    for _ in range(3):
        a = time.perf_counter()
        p.evaluate(part, as_of=day, engine=engine)
        best = min(best, time.perf_counter() - a)
    out[f"{engine}_ns_per_row"] = best / n * 1e9
print(json.dumps(out))
"""


def measure(offers: int, segments: int, rows: int) -> dict:
    here = Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, POL_CACHE_DIR=cache, POL_BACKGROUND_COMPILE="1")
        done = subprocess.run([sys.executable, "-c", CHILD, str(here), str(offers), str(segments), str(rows)],
                              env=env, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--offers", type=int)
    ap.add_argument("--segments", type=int)
    ap.add_argument("--rows", type=int, default=500_000)
    a = ap.parse_args(argv)
    sizes = [(a.offers, a.segments)] if a.offers is not None and a.segments is not None else [(0, 0), *SIZES]
    if sizes[0] != (0, 0):
        # the engine's own Numba functions (matcher, walk, binding) are
        # compiled once per installation; the bench policy's run puts them in
        # Numba's cache, so that a size measured alone times its own policy
        print("warming up: the bench policy once, for the engine's own functions", file=sys.stderr, flush=True)
        measure(0, 0, 2_000)
    print("| offers | segments | nodes | stages | load s | first result s (whole process), CPU s (whole process) "
          "| background compile s (CPU s) | kernel ns/row | vectorized ns/row |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for offers, segments in sizes:
        m = measure(offers, segments, a.rows)
        name = (offers, segments) if offers else ("bench", "policy")
        if "error" in m:
            print(f"| {name[0]} | {name[1]} | failed: {m['error']} |", flush=True)
            continue
        compiled = f"{m['compile_s']:.1f} ({m['compile_cpu_s']:.1f})"
        if m["failure"]:
            compiled = f"failed: {m['failure']}"
        print(f"| {name[0]} | {name[1]} | {m['nodes']} | {m['stages']} | {m['load_s']:.2f} "
              f"| {m['first_result_s']:.2f} ({m['first_result_process_s']:.2f}), "
              f"{m['first_result_cpu_s']:.2f} ({m['first_result_process_cpu_s']:.2f}) | {compiled} "
              f"| {m['kernel_ns_per_row']:.0f} | {m['vector_ns_per_row']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
