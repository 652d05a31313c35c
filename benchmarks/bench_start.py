"""Start-up as a user waits for it, each in a fresh process; and `decide` latency.

    python benchmarks/bench_start.py                 # every figure, 7 processes each
    python benchmarks/bench_start.py --repeat 15 --decisions 20000

Figures (benchmarks/README.md, issue 18's targets):

* warm start of `decide`: a fresh `python` that imports pol, loads the bench
  policy and prints its first decision, the row kernel already in the disk
  cache (target 0.5 s);
* the same process deciding back to back until the row kernel serves: the
  first decisions come from the reference evaluator while the kernel loads
  on a background thread (it shares the GIL with them);
* warm start of `pol run`: the bench policy over 10,000 rows of Parquet to
  Parquet, the kernel already cached (target 0.5 s);
* `pol check` of the telecom library, every file (target 0.4 s);
* `decide` p50 and p99 in one process, over the bench records (target 10 µs
  and 50 µs).

Each start-up figure is the whole process, start to exit, as a shell would
time it, with Python's bytecode cached as an installed package has it: the median wall time of the processes, and their median CPU time
(user + system, from the operating system), which a busy machine inflates
far less than the wall time. The caches live in a temporary folder: the
first process of each figure fills them and is not counted.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_data import AS_OF, BENCH_POLICY, bench_table  # noqa: E402

TELECOM = Path(__file__).resolve().parent.parent / "policies" / "telecom"

DECIDE_CHILD = """
import sys, json, datetime as dt
import pol
record = json.loads(sys.argv[2])
d = pol.load(sys.argv[1]).decide(record, as_of=dt.date(2026, 11, 1))
print(d.offer_names)
"""


# Decides the same record back to back until three decisions in a row take
# under 0.1 ms (the row kernel: tens of microseconds; the reference
# evaluator: half a millisecond and more), then prints how many there were.
SERVES_CHILD = """
import sys, json, time, datetime as dt
import pol
record = json.loads(sys.argv[2])
p = pol.load(sys.argv[1])
n = fast = 0
while fast < 3:
    t0 = time.perf_counter()
    p.decide(record, as_of=dt.date(2026, 11, 1))
    fast = fast + 1 if time.perf_counter() - t0 < 0.0001 else 0
    n += 1
print(n)
"""


def _timed(cmd: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one child process, start to exit."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


# Fills the disk cache with both kernels, the row kernel for decide and the
# batch kernel for the Parquet file's schema, before any figure is taken.
WARM_CHILD = """
import sys, datetime as dt
import pol, pyarrow.parquet as pq
p = pol.load(sys.argv[1]).compile(decide=True)
p.evaluate(pq.read_table(sys.argv[2]), as_of=dt.date(2026, 11, 1), engine="kernel")
"""


def _figure(label: str, cmd: list[str], env: dict, repeat: int) -> dict:
    _timed(cmd, env)                    # fills the OS's file cache
    runs = [_timed(cmd, env) for _ in range(repeat)]
    out = {"what": label, "wall_s": statistics.median(w for w, _ in runs),
           "cpu_s": statistics.median(c for _, c in runs), "best_wall_s": min(w for w, _ in runs)}
    print(f"{label:40s} wall {out['wall_s']:.3f} s (best {out['best_wall_s']:.3f})  cpu {out['cpu_s']:.3f} s",
          flush=True)
    return out


def start_figures(repeat: int) -> list[dict]:
    import json

    import pyarrow.parquet as pq
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, POL_CACHE_DIR=str(Path(tmp) / "cache"))
        # An installed package has its bytecode: without it (this variable
        # set, as on the project's machines) every child compiles pol's
        # modules from source, 0.2-0.3 s of each figure. The uncounted first
        # process of each figure writes it.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        record = bench_table(1).to_pylist()[0]
        for k, v in record.items():
            if isinstance(v, dt.date):
                record[k] = v.isoformat()
        rows = Path(tmp) / "rows.parquet"
        pq.write_table(bench_table(10_000), rows)
        _timed([sys.executable, "-c", WARM_CHILD, str(BENCH_POLICY), str(rows)], env)
        out.append(_figure("warm start: load + first decide",
                           [sys.executable, "-c", DECIDE_CHILD, str(BENCH_POLICY), json.dumps(record)], env, repeat))
        out.append(_figure("warm start: until the row kernel serves",
                           [sys.executable, "-c", SERVES_CHILD, str(BENCH_POLICY), json.dumps(record)], env, repeat))
        pol = [sys.executable, "-m", "pol.cli.main"]
        out.append(_figure("warm start: pol run, 10,000 rows",
                           pol + ["run", str(BENCH_POLICY), "--input", str(rows), "--out", str(Path(tmp) / "out"),
                                  "--as-of", AS_OF.isoformat(), "--overwrite", "--no-progress"], env, repeat))
        out.append(_figure("pol check policies/telecom/*.pol",
                           pol + ["check", *sorted(str(p) for p in TELECOM.glob("*.pol"))], env, repeat))
    return out


def decide_latency(decisions: int) -> dict:
    """decide's p50 and p99 over the bench records, in this process, once the
    row kernel is built and a thousand decisions have warmed every path.
    Twice, each record one after the other: the call alone (the compiled path's Decision
    makes its fields at their first read, pol.api.decision) and the call with
    its offers read (which makes every field), so that neither figure hides
    what the other costs."""
    import numpy as np

    import pol
    p = pol.load(BENCH_POLICY).compile(decide=True)
    records = bench_table(5_000).to_pylist()
    for r in records[:1000]:
        p.decide(r, as_of=AS_OF).model_dump()      # every path warm, the fields made too
    calls = {"decide": lambda r: p.decide(r, as_of=AS_OF),
             "decide, offers read": lambda r: p.decide(r, as_of=AS_OF).offers}
    lat = {name: np.empty(decisions) for name in calls}
    clock = time.perf_counter_ns
    names = list(calls)
    for k in range(decisions):
        r = records[k % len(records)]
        for name in names if k % 2 else names[::-1]:      # each first half the time
            t0 = clock()
            calls[name](r)
            lat[name][k] = clock() - t0
    out = {}
    for name, ns in lat.items():
        us = ns / 1000.0
        out[name] = figure = {"what": name, "p50_us": float(np.percentile(us, 50)),
                              "p99_us": float(np.percentile(us, 99)), "p10_us": float(np.percentile(us, 10))}
        print(f"{name + ', bench policy':40s} p50 {figure['p50_us']:.2f} µs  p99 {figure['p99_us']:.2f} µs  "
              f"(p10 {figure['p10_us']:.2f})", flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=7, help="processes per start-up figure")
    ap.add_argument("--decisions", type=int, default=10_000)
    ap.add_argument("--only", choices=["start", "decide"], help="one kind of figure")
    args = ap.parse_args(argv)
    if args.only != "decide":
        start_figures(args.repeat)
    if args.only != "start":
        decide_latency(args.decisions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
