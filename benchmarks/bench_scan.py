"""Scans that skip what no rule can match: `pol run` of a policy for one
province's mid/high-end customers, with and without its population
statement (LANGUAGE.md 3.14), over a hive-partitioned folder.

    python benchmarks/bench_scan.py                  # 10M rows
    python benchmarks/bench_scan.py --rows 1000000 --show-summary

In: the bench customers (benchmarks/data/bench_customers.py), 10M rows
generated in chunks of a million (chunk k with seed 7 + k, ids shifted, as
bench_run.py does), written once into the benchmark data cache
(bench_data.cache_dir()) as a hive folder `region=<province>/part-0.parquet`:
one file per province (about 323,000 rows), sorted by this month's ARPU, in
row groups of 4,096 rows. The policy is the bench
policy (benchmarks/data/retention_bench.pol) plus

    population when region == "广东" and arpu_m1 >= MIN_ARPU

(MIN_ARPU 150 by default: about the top tenth of spend), against the bench
policy itself. Both read the same folder.

Out: per policy, the wall time of the whole `pol` process (start-up, load,
prune, read, evaluate, write), its CPU time (user + system, all threads:
the figure a loaded machine distorts least), the time the run itself
reports (summary.json, after start-up), rows read, customers written,
files and row groups skipped, peak RSS; and the speed-up of the
population run. Each
policy's fused kernel is compiled and cached for the folder's schema before
anything is timed. Not a pytest module.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_data import AS_OF, BENCH_POLICY, cache_dir, generator  # noqa: E402
from bench_run import run_once  # noqa: E402

CHUNK = 1_000_000
SEED = 7
ROW_GROUP = 4096


def hive_folder(n: int) -> Path:
    """The cached hive folder of `n` rows, generated chunk by chunk if missing:
    each chunk's rows of a province are written apart, then a province's
    parts become one file, sorted by ARPU (memory: one chunk, or one province)."""
    root = cache_dir() / f"scan_input_n{n}_seed{SEED}_{AS_OF.isoformat()}"
    done = root / "_complete"           # a name pol skips ('_'): written last
    if done.exists():
        return root
    import shutil
    shutil.rmtree(root, ignore_errors=True)
    parts = root / "_parts"
    gen = generator()
    t0 = time.perf_counter()
    names: list[str] = []
    for k, start in enumerate(range(0, n, CHUNK)):
        table = gen.generate(min(CHUNK, n - start), seed=SEED + k, as_of=AS_OF)
        ids = table.schema.get_field_index("id")
        table = table.set_column(ids, "id", pa.array(table["id"].to_numpy() + start))
        region = table["region"].combine_chunks()
        names = region.dictionary.to_pylist()
        codes = region.indices.to_numpy()
        rest = table.drop_columns(["region"])
        for c, name in enumerate(names):
            folder = parts / name
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(rest.filter(pa.array(codes == c)), folder / f"{k}.parquet")
        print(f"\rgenerating {root.name}: {start + table.num_rows:,} / {n:,} rows", end="", file=sys.stderr,
              flush=True)
    for name in names:
        province = pq.read_table(parts / name)
        province = province.take(pc.sort_indices(province["arpu_m1"]))
        (root / f"region={name}").mkdir(parents=True)
        pq.write_table(province, root / f"region={name}" / "part-0.parquet", row_group_size=ROW_GROUP)
    shutil.rmtree(parts)
    done.write_text("")
    print(f"\rgenerated {root.name} ({n:,} rows) in {time.perf_counter() - t0:.0f}s" + " " * 20, file=sys.stderr)
    return root


def warm_kernel(policy_path: Path, data: Path) -> None:
    """The fused kernel compiled for the folder's schema (the partition
    column included), so that timed runs use it from the first batch."""
    import pol
    from pol.io.input_files import Input, read_batches
    policy = pol.load(policy_path)
    batch = next(read_batches(policy.program, Input(policy.program, str(data)).files[0]))
    t0 = time.perf_counter()
    policy.evaluate(batch.slice(0, 2_000), as_of=AS_OF, engine="kernel")
    print(f"kernel of {policy_path.name} ready ({time.perf_counter() - t0:.1f}s)", file=sys.stderr)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--min-arpu", type=float, default=150.0)
    ap.add_argument("--province", default="广东")
    ap.add_argument("--show-summary", action="store_true", help="print the text summary of each run")
    args = ap.parse_args(argv)
    data = hive_folder(args.rows)
    results = []
    with tempfile.TemporaryDirectory(prefix="pol-bench-scan-", dir=cache_dir()) as tmp:
        folder = Path(tmp)
        text = BENCH_POLICY.read_text(encoding="utf-8")
        population = f'population when region == "{args.province}" and arpu_m1 >= {args.min_arpu}\n'
        policies = {"without population": folder / "all.pol", "with population": folder / "gd_mid_high.pol"}
        policies["without population"].write_text(text, encoding="utf-8")
        policies["with population"].write_text(text + "\n" + population, encoding="utf-8")
        for path in policies.values():
            warm_kernel(path, data)
        # one untimed run of each: the functions only `pol run` calls compile
        # into Numba's cache here, not in the first timed run (once per
        # installation, and again after pol's own code changes)
        for path in policies.values():
            run_once(path, data, folder / f"warm_{path.stem}")
        for label, path in policies.items():
            r = run_once(path, data, folder / f"out_{path.stem}")
            results.append((label, r))
            if args.show_summary:
                print(r["text"])
    rows = [["policy", "wall s", "CPU s", "in-run s", "rows read", "customers", "files skipped",
             "row groups skipped", "peak RSS MiB"]]
    for label, r in results:
        s = r["summary"]
        scan = s.get("scan") or {}
        rows.append([label, f"{r['wall']:.2f}", f"{r['cpu']:.2f}", f"{s['seconds']:.2f}", f"{s['rows']:,}",
                     f"{s['customers']:,}",
                     f"{scan.get('files_skipped', 0):,} of {s['files']:,}",
                     f"{scan.get('row_groups_skipped', 0):,} of {scan.get('row_groups', 0):,}" if scan else "-",
                     f"{r['peak_rss'] / 2**20:,.0f}"])
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    print(f"pol run over a hive folder of {args.rows:,} rows by region, {population.strip()!r}, "
          f"{os.cpu_count()} cores")
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
    (_, a), (_, b) = results
    print(f"speed-up with the population: {a['wall'] / b['wall']:.1f}x wall, {a['cpu'] / b['cpu']:.1f}x CPU")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
