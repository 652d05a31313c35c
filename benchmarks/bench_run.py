"""`pol run` Parquet -> Parquet at growing sizes: rows/s and peak memory.

    python benchmarks/bench_run.py                        # 1M, 10M and 30M rows
    python benchmarks/bench_run.py --rows 5000000 --rows 10000000 --repeat 3    # against the floor
    python benchmarks/bench_run.py --rows 10000000 --rows 100000000 --no-floor  # flat memory (3.3 GB input)

In: the bench policy and inputs made by the bench customer generator,
written once as Parquet (row groups of 2^20 rows) into the benchmark data
cache (bench_data.cache_dir(), `$POL_BENCH_DATA_DIR`) and reused. A size is
generated in chunks of a million rows, chunk k with seed 7 + k and its ids
shifted, so generating 30M rows needs no more memory than 1M, and the 1M
input is exactly `generate(1_000_000, seed=7)`.

Out: a table with, per size, the input size on disk, the wall time of the
whole `pol` process (start-up, policy load, read, evaluate, write, rename),
its CPU seconds (all threads), rows/s over that wall time, rows/s as the
run reports it (summary.json, without interpreter start-up), peak resident
memory of the process (its own getrusage, through wait4; this process stays
small, see in_child) and that peak against the smallest size's. Flat memory
means that column stays near 1.0x while the rows grow 10- to 100-fold. The
inputs need about 33 bytes a row on disk (100M rows: 3.3 GB, generated in
about 10 minutes on two cores), checked against the free space first.

The codec floor, measured in the same run beside each `pol run`: a fresh
Python process that reads the policy's used columns of the same file and
writes the run's two output tables as Parquet with pyarrow's defaults,
nothing else (start-up included, as for pol); with `--repeat K` the two
alternate K times and medians are reported, with each pair's ratio (the
machine may be shared: compare within one run). The tables it writes are
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
import shutil
import statistics
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
# About what the generated input takes on disk per row (33 bytes), with room for pol's output (25).
INPUT_BYTES_PER_ROW = 60
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


def in_child(fn: str, *args: str) -> None:
    """This module's function `fn` run in a child process. Linux gives a child
    the peak resident memory of its parent at the fork as its own starting
    peak (`ru_maxrss` is kept across exec), so this process stays small:
    anything that loads Numba or whole tables runs in a child of its own."""
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_run; bench_run.{fn}(*sys.argv[1:])"
    subprocess.run([sys.executable, "-c", code, *args], check=True)


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


def run_once(policy_path: Path, data: Path, out: Path, extra: tuple[str, ...] = ()) -> dict:
    """One `pol run` in a child process: wall and CPU seconds, peak RSS, its summary and stdout."""
    env = dict(os.environ, POL_BACKGROUND_COMPILE="0")
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        t0 = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-m", "pol", "run", str(policy_path), "--input", str(data), "--out", str(out),
             "--as-of", AS_OF.isoformat(), "--no-progress", "--overwrite", *extra], stdout=stdout, stderr=stderr,
            env=env)
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
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak_rss": usage.ru_maxrss * 1024,
            "summary": summary, "text": text, "output_bytes": output_bytes}


FLOOR = """
import sys, pyarrow as pa, pyarrow.parquet as pq
data, columns, outs, target = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(","), sys.argv[4]
pq.read_table(data, columns=columns)
for name in outs:
    with pa.memory_map(f"{target}/{name}.arrow") as source:
        pq.write_table(pa.ipc.open_file(source).read_all(), f"{target}/{name}.parquet")
"""


def floor_inputs(out: Path, scratch: Path) -> None:
    """A pol run's two output tables as Arrow IPC files for the floor to write."""
    out, scratch = Path(out), Path(scratch)
    scratch.mkdir(exist_ok=True)
    for name in OUTPUTS:
        table = pq.read_table(out / f"{name}.parquet")
        with pa.OSFile(str(scratch / f"{name}.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
            w.write_table(table)


def codec_floor(policy_path: Path, data: Path, scratch: Path) -> tuple[float, float]:
    """Wall and CPU seconds of a process that only reads the used columns of
    `data` and writes the tables in `scratch` (a pol run's outputs, see
    floor_inputs) with pyarrow's defaults."""
    columns = policy_columns(policy_path)
    t0 = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", FLOOR, str(data), ",".join(columns), ",".join(OUTPUTS),
                              str(scratch)])
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the codec floor failed on {data}")
    return time.perf_counter() - t0, usage.ru_utime + usage.ru_stime


OUTPUTS = ("customers", "assignments")


def policy_columns(policy_path: Path) -> list[str]:
    """The input columns the policy reads (the front end alone: no Numba in this process)."""
    from pol.compiler.frontend import compile_path
    return [f.name for f in compile_path(policy_path).input.fields]
# Above this, the floor (which holds the whole input's columns in memory, as
# pq.read_table does) is not run: 100M rows would need about 10 GiB.
FLOOR_MAX_ROWS = 30_000_000


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, action="append", help="input sizes (repeatable; default 1M, 10M, 30M)")
    ap.add_argument("--policy", type=Path, default=BENCH_POLICY)
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of pol and of the floor per size, alternated (medians are reported)")
    ap.add_argument("--no-floor", action="store_true", help="pol run alone")
    ap.add_argument("--pol-args", default="", help="more arguments for pol run, e.g. '--compression none'")
    ap.add_argument("--show-summary", action="store_true", help="print the text summary of each run")
    args = ap.parse_args(argv)
    sizes = sorted(args.rows or SIZES)
    free = shutil.disk_usage(cache_dir()).free
    need = sum(n * INPUT_BYTES_PER_ROW for n in sizes) * 1.5
    if need > free:
        raise SystemExit(f"the inputs and outputs need about {need / 2**30:.0f} GiB in {cache_dir()} and "
                         f"{free / 2**30:.0f} GiB are free: choose fewer --rows or set POL_BENCH_DATA_DIR")
    inputs = {n: input_file(n) for n in sizes}
    in_child("warm_kernel", str(args.policy), str(inputs[sizes[0]]))
    extra = tuple(args.pol_args.split())
    results = []
    with tempfile.TemporaryDirectory(prefix="pol-bench-run-", dir=cache_dir()) as tmp:
        for n in sizes:
            out, scratch = Path(tmp) / f"out_{n}", Path(tmp) / f"floor_{n}"
            floor = not args.no_floor and n <= FLOOR_MAX_ROWS
            runs, floors = [], []
            for k in range(args.repeat):
                r = run_once(args.policy, inputs[n], out, extra)
                if r["summary"]["rows"] != n:
                    raise SystemExit(f"pol run read {r['summary']['rows']:,} rows of {n:,}")
                runs.append(r)
                if floor:
                    if k == 0:
                        in_child("floor_inputs", str(out), str(scratch))
                    floors.append(codec_floor(args.policy, inputs[n], scratch))
                line = f"{n:>12,} rows, run {k + 1}: pol {r['wall']:.2f}s ({r['cpu']:.2f}s CPU)"
                if floor:
                    line += f", codec floor {floors[-1][0]:.2f}s ({floors[-1][1]:.2f}s CPU)"
                print(line + f", peak RSS {r['peak_rss'] / 2**20:,.0f} MiB", file=sys.stderr, flush=True)
                if args.show_summary:
                    print(r["text"])
            results.append((n, runs, floors))
            shutil.rmtree(scratch, ignore_errors=True)
            shutil.rmtree(out, ignore_errors=True)
    base = max(r["peak_rss"] for r in results[0][1])
    rows = [["rows", "input MiB", "output MiB", "wall s", "CPU s", "floor s", "floor CPU s", "x floor",
             "x floor (pairs)", "rows/s (wall)", "rows/s (run)", "peak RSS MiB", "RSS vs first"]]
    med = statistics.median
    for n, runs, floors in results:
        wall, cpu_s = med(r["wall"] for r in runs), med(r["cpu"] for r in runs)
        rss = max(r["peak_rss"] for r in runs)
        fw = med(f[0] for f in floors) if floors else None
        fc = med(f[1] for f in floors) if floors else None
        pairs = " ".join(f"{r['wall'] / f[0]:.2f}" for r, f in zip(runs, floors))
        rows.append([f"{n:,}", f"{inputs[n].stat().st_size / 2**20:,.0f}",
                     f"{med(r['output_bytes'] for r in runs) / 2**20:,.0f}", f"{wall:.2f}", f"{cpu_s:.2f}",
                     f"{fw:.2f}" if fw else "-", f"{fc:.2f}" if fc else "-", f"{wall / fw:.2f}" if fw else "-",
                     pairs or "-", f"{n / wall:,.0f}", f"{med(r['summary']['rows_per_second'] for r in runs):,.0f}",
                     f"{rss / 2**20:,.0f}", f"{rss / base:.2f}x"])
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    print(f"pol run, Parquet -> Parquet, {args.policy.name}, {os.cpu_count()} cores, median of {args.repeat} "
          f"(pol and floor alternated), load average {os.getloadavg()[0]:.1f} at the end")
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
