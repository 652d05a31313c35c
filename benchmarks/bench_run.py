"""`pol run` Parquet -> Parquet at growing sizes: rows/s and peak memory.

    python benchmarks/bench_run.py                        # 1M, 10M and 30M rows
    python benchmarks/bench_run.py --rows 1000000 --rows 5000000 --show-summary

In: the bench policy and inputs made by the bench customer generator,
written once as Parquet (row groups of 2^20 rows) into the benchmark data
cache (bench_data.cache_dir(), `$POL_BENCH_DATA_DIR`) and reused. A size is
generated in chunks of a million rows, chunk k with seed 7 + k and its ids
shifted, so generating 30M rows needs no more memory than 1M, and the 1M
input is exactly `generate(1_000_000, seed=7)`.

Out: a table with, per size, the input size on disk, the wall time of the
whole `pol` process (start-up, policy load, read, evaluate, write, rename),
rows/s over that wall time, rows/s as the run reports it (summary.json,
without interpreter start-up), peak resident memory of the process (its own
getrusage, through wait4) and that peak against the smallest size's. Flat
memory means that column stays near 1.0x while the rows grow 30-fold.

The codec floor, measured in the same run beside each `pol run`: a fresh
Python process that reads the policy's used columns of the same file and
writes the run's two output tables as Parquet with pyarrow's defaults,
nothing else (start-up included, as for pol). The tables it writes are
pol's own outputs, handed to it as memory-mapped Arrow files (reading them
costs nothing), so the floor holds exactly the decoding and encoding any
Parquet-to-Parquet tool must do. "x floor" is pol's wall time over it.

The fused kernel is compiled and cached for the input's schema before
anything is timed (the first timed run would otherwise use the vectorized
evaluator while the kernel compiles in the background). Not a pytest
module: it runs as a script only.
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

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_data import AS_OF, BENCH_POLICY, cache_dir, generator  # noqa: E402

SIZES = (1_000_000, 10_000_000, 30_000_000)
CHUNK = 1_000_000
SEED = 7


def input_file(n: int) -> Path:
    """The cached Parquet input of `n` rows, generated chunk by chunk if missing."""
    path = cache_dir() / f"run_input_n{n}_seed{SEED}_{AS_OF.isoformat()}.parquet"
    if path.exists():
        try:
            if pq.ParquetFile(path).metadata.num_rows == n:
                return path
        except (OSError, pa.ArrowInvalid):
            pass                    # a truncated file from a killed generation: make it again
    gen = generator()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    os.close(fd)
    t0 = time.perf_counter()
    try:
        writer = None
        for k, start in enumerate(range(0, n, CHUNK)):
            table = gen.generate(min(CHUNK, n - start), seed=SEED + k, as_of=AS_OF)
            ids = table.schema.get_field_index("id")
            table = table.set_column(ids, "id", pa.array(table["id"].to_numpy() + start))
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table, row_group_size=1 << 20)
            print(f"\rgenerating {path.name}: {start + table.num_rows:,} / {n:,} rows", end="",
                  file=sys.stderr, flush=True)
        writer.close()
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    print(f"\rgenerated {path.name} ({n:,} rows) in {time.perf_counter() - t0:.0f}s" + " " * 20,
          file=sys.stderr)
    return path


def warm_kernel(policy_path: Path, data: Path) -> None:
    """Compile the fused kernel for this input's schema and mark it ready in
    the disk cache, so that timed runs use it from their first batch."""
    import pol
    from pol.io.input_files import Input, read_batches
    policy = pol.load(policy_path)
    batch = next(read_batches(policy.program, Input(policy.program, str(data)).files[0]))
    t0 = time.perf_counter()
    policy.evaluate(batch.slice(0, 10_000), as_of=AS_OF, engine="kernel")
    print(f"kernel ready ({time.perf_counter() - t0:.1f}s)", file=sys.stderr)


def run_once(policy_path: Path, data: Path, out: Path) -> dict:
    """One `pol run` in a child process: wall seconds, peak RSS, its summary and stdout."""
    env = dict(os.environ, POL_BACKGROUND_COMPILE="0")
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        t0 = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-m", "pol", "run", str(policy_path), "--input", str(data), "--out", str(out),
             "--as-of", AS_OF.isoformat(), "--no-progress"], stdout=stdout, stderr=stderr, env=env)
        # wait4 gives this child's own peak RSS; RUSAGE_CHILDREN would be the
        # maximum over every child so far.
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - t0
        child.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        text, errors = stdout.read(), stderr.read()
    if child.returncode != 0:
        raise SystemExit(f"pol run failed (exit {child.returncode}) on {data}:\n{errors}")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    output_bytes = sum(f.stat().st_size for f in out.iterdir())
    return {"wall": wall, "peak_rss": usage.ru_maxrss * 1024, "summary": summary, "text": text,
            "output_bytes": output_bytes, "cpu": usage.ru_utime + usage.ru_stime}


FLOOR = """
import sys, pyarrow as pa, pyarrow.parquet as pq
data, columns, outs, target = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(","), sys.argv[4]
pq.read_table(data, columns=columns)
for name in outs:
    with pa.memory_map(f"{target}/{name}.arrow") as source:
        pq.write_table(pa.ipc.open_file(source).read_all(), f"{target}/{name}.parquet")
"""


def codec_floor(policy_path: Path, data: Path, out: Path, scratch: Path) -> float:
    """Wall seconds of a process that only reads the used columns of `data` and
    writes the tables in `out` (a pol run's outputs) with pyarrow's defaults."""
    import pol
    columns = [f.name for f in pol.load(policy_path).plan.fields]
    scratch.mkdir()
    names = ("customers", "assignments")
    for name in names:
        table = pq.read_table(out / f"{name}.parquet")
        with pa.OSFile(str(scratch / f"{name}.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
            w.write_table(table)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", FLOOR, str(data), ",".join(columns), ",".join(names), str(scratch)],
                   check=True)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, action="append", help="input sizes (repeatable; default 1M, 10M, 30M)")
    ap.add_argument("--policy", type=Path, default=BENCH_POLICY)
    ap.add_argument("--show-summary", action="store_true", help="print the text summary of each run")
    args = ap.parse_args(argv)
    sizes = sorted(args.rows or SIZES)
    inputs = {n: input_file(n) for n in sizes}
    warm_kernel(args.policy, inputs[sizes[0]])
    results = []
    with tempfile.TemporaryDirectory(prefix="pol-bench-run-", dir=cache_dir()) as tmp:
        for n in sizes:
            r = run_once(args.policy, inputs[n], Path(tmp) / f"out_{n}")
            if r["summary"]["rows"] != n:
                raise SystemExit(f"pol run read {r['summary']['rows']:,} rows of {n:,}")
            r["floor"] = codec_floor(args.policy, inputs[n], Path(tmp) / f"out_{n}", Path(tmp) / f"floor_{n}")
            results.append((n, r))
            if args.show_summary:
                print(r["text"])
            print(f"{n:>12,} rows: {r['wall']:.1f}s (codec floor {r['floor']:.1f}s), peak RSS {r['peak_rss'] / 2**20:,.0f} MiB", file=sys.stderr)
    base = results[0][1]["peak_rss"]
    rows = [["rows", "input MiB", "output MiB", "wall s", "floor s", "x floor", "rows/s (wall)", "rows/s (run)",
             "peak RSS MiB", "RSS vs first"]]
    for n, r in results:
        rows.append([f"{n:,}", f"{inputs[n].stat().st_size / 2**20:,.0f}", f"{r['output_bytes'] / 2**20:,.0f}",
                     f"{r['wall']:.2f}", f"{r['floor']:.2f}", f"{r['wall'] / r['floor']:.2f}", f"{n / r['wall']:,.0f}", f"{r['summary']['rows_per_second']:,}",
                     f"{r['peak_rss'] / 2**20:,.0f}", f"{r['peak_rss'] / base:.2f}x"])
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    print(f"pol run, Parquet -> Parquet, {args.policy.name}, {os.cpu_count()} cores")
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
