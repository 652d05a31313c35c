"""`pol diff` of three versions in one pass against one `pol run`, Parquet in.

    python benchmarks/bench_diff.py                      # 1M and 2M rows
    python benchmarks/bench_diff.py --rows 1000000 --repeat 3

In: the bench policy and the inputs of bench_run.py (same cache, same
rows). The versions: the bench policy (the base); the same with
`--param 2:churn_days=45`; a copy with one rule changed (high_traffic at
25 GB instead of 20), written to a temporary folder. Every kernel is
compiled and cached for the input's schema before anything is timed.

Out: per size, the wall time of the whole `pol run` process and of the
whole `pol diff` process (best of --repeat, run alternately), rows/s,
customers changed per version, and diff / run: the figure the target
speaks of (three versions at most 1.5x one run).

Not a pytest module: it runs as a script only.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))     # the generator: benchmarks.data
from bench_data import AS_OF, BENCH_POLICY, cache_dir  # noqa: E402
from bench_run import input_file, warm_kernel  # noqa: E402

SIZES = (1_000_000, 2_000_000)
RULE = ('segment high_traffic "高流量" = data_gb >= 20', 'segment high_traffic "高流量" = data_gb >= 25')


def changed_policy(folder: Path) -> Path:
    text = BENCH_POLICY.read_text(encoding="utf-8")
    if RULE[0] not in text:
        raise SystemExit(f"the bench policy no longer has the line this benchmark changes: {RULE[0]}")
    path = folder / "retention_bench_v3.pol"
    path.write_text(text.replace(RULE[0], RULE[1]), encoding="utf-8")
    return path


def timed(args: list[str]) -> float:
    env = dict(os.environ, POL_BACKGROUND_COMPILE="0")
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "pol", *args], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"pol {args[0]} failed (exit {r.returncode}):\n{r.stderr}")
    return wall


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, action="append", help="input sizes (repeatable; default 1M and 2M)")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each command per size; the best counts")
    args = ap.parse_args(argv)
    sizes = sorted(args.rows or SIZES)
    inputs = {n: input_file(n) for n in sizes}
    results = []
    with tempfile.TemporaryDirectory(prefix="pol-bench-diff-", dir=cache_dir()) as tmp:
        tmp = Path(tmp)
        v3 = changed_policy(tmp)
        for policy in (BENCH_POLICY, v3):
            warm_kernel(policy, inputs[sizes[0]])
        for n in sizes:
            data = inputs[n]
            runs, diffs = [], []
            for k in range(args.repeat):
                out_run, out_diff = tmp / f"run_{n}_{k}", tmp / f"diff_{n}_{k}"
                runs.append(timed(["run", str(BENCH_POLICY), "--input", str(data), "--out", str(out_run),
                                   "--as-of", AS_OF.isoformat(), "--no-progress"]))
                diffs.append(timed(["diff", str(BENCH_POLICY), str(BENCH_POLICY), str(v3), "--param",
                                    "2:churn_days=45", "--input", str(data), "--out", str(out_diff),
                                    "--as-of", AS_OF.isoformat(), "--no-progress"]))
            summary = json.loads((out_diff / "summary.json").read_text(encoding="utf-8"))
            changed = [c["customers_changed"] for c in summary["changes"]]
            results.append((n, min(runs), min(diffs), changed))
            print(f"{n:>12,} rows: run {min(runs):.2f}s, diff of 3 versions {min(diffs):.2f}s", file=sys.stderr)
    rows = [["rows", "pol run s", "rows/s", "pol diff (3 versions) s", "rows/s", "changed v2", "changed v3",
             "diff / run"]]
    for n, run, diff, changed in results:
        rows.append([f"{n:,}", f"{run:.2f}", f"{n / run:,.0f}", f"{diff:.2f}", f"{n / diff:,.0f}",
                     f"{changed[0]:,}", f"{changed[1]:,}", f"{diff / run:.2f}x"])
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    print(f"pol diff (3 versions, one pass) against pol run, Parquet in, {os.cpu_count()} cores; whole processes")
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
