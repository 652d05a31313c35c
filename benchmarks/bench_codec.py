"""What each Parquet output choice costs, column by column (the codec floor pushed down).

    python benchmarks/bench_codec.py                 # 2M rows of the bench policy's output
    python benchmarks/bench_codec.py --rows 5000000 --repeat 5

In: the bench policy run over the bench input (benchmarks/bench_run.py's
Parquet file of that size), its customers and assignments kept in memory as
the batches `pol run` writes (2^18 rows each, one row group per batch).
Out: per output column and per writer setting, the CPU seconds of writing
that column alone (the process's CPU time, median of `--repeat`, settings
interleaved) and the bytes it takes on disk; then the same for whole tables
with pyarrow's defaults against pol's settings (engine/io/output_files.py).
Writing is single-threaded in pyarrow, so CPU seconds are wall seconds on
an idle core; the machine is shared, so compare figures within one run.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_data import AS_OF, BENCH_POLICY  # noqa: E402
from bench_run import input_file  # noqa: E402


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def outputs(rows: int):
    """pol's customers and assignments batches for `rows` bench customers."""
    import pol
    from pol.io.input_files import Input, read_batches
    policy = pol.load(BENCH_POLICY)
    inp = Input(policy.program, str(input_file(rows)))
    got: list[tuple[pa.RecordBatch, pa.RecordBatch]] = []
    stream = policy.stream(lambda c, a: got.append((c, a)), as_of=AS_OF)
    for file in inp.files:
        for batch in read_batches(policy.program, file):
            stream.feed(batch)
    stream.finish()
    return [c for c, _ in got], [a for _, a in got]


def settings_for(field: pa.Field) -> dict[str, dict]:
    """The writer settings worth trying on a column of this type."""
    t = field.type
    leaf = t.value_type if pa.types.is_list(t) else t
    out: dict[str, dict] = {
        "pyarrow default (dictionary, snappy, statistics)": {},
        "no dictionary": {"use_dictionary": False},
        "no dictionary, no statistics": {"use_dictionary": False, "write_statistics": False},
        "no dictionary, no compression": {"use_dictionary": False, "compression": "none"},
        "no dictionary, lz4": {"use_dictionary": False, "compression": "lz4"},
        "no dictionary, zstd": {"use_dictionary": False, "compression": "zstd"},
        "no dictionary, 8 MiB pages": {"use_dictionary": False, "data_page_size": 8 << 20},
    }
    if pa.types.is_dictionary(leaf):
        out["dictionary, no statistics"] = {"write_statistics": False}
        out["dictionary, no compression"] = {"compression": "none"}
        out["dictionary, no compression, no statistics"] = {"compression": "none", "write_statistics": False}
    if pa.types.is_floating(leaf):
        out["BYTE_STREAM_SPLIT"] = {"use_dictionary": False, "column_encoding": "BYTE_STREAM_SPLIT"}
        out["BYTE_STREAM_SPLIT, no compression"] = {"use_dictionary": False, "compression": "none",
                                                    "column_encoding": "BYTE_STREAM_SPLIT"}
    if pa.types.is_integer(leaf):
        out["DELTA_BINARY_PACKED"] = {"use_dictionary": False, "column_encoding": "DELTA_BINARY_PACKED"}
        out["DELTA_BINARY_PACKED, no compression"] = {"use_dictionary": False, "compression": "none",
                                                      "column_encoding": "DELTA_BINARY_PACKED"}
    if pa.types.is_boolean(leaf):
        out["RLE"] = {"use_dictionary": False, "column_encoding": "RLE"}
        out["RLE, no compression"] = {"use_dictionary": False, "compression": "none", "column_encoding": "RLE"}
    return out


def write(batches: list[pa.RecordBatch], path: Path, **kw) -> tuple[float, int]:
    c0 = cpu()
    with pq.ParquetWriter(path, batches[0].schema, **kw) as w:
        for b in batches:
            w.write_batch(b)
    return cpu() - c0, path.stat().st_size


def measure(batches, path: Path, variants: dict[str, dict], repeat: int) -> dict[str, tuple[float, int]]:
    times: dict[str, list[float]] = {k: [] for k in variants}
    sizes: dict[str, int] = {}
    for _ in range(repeat):
        for name, kw in variants.items():
            s, sizes[name] = write(batches, path, **kw)
            times[name].append(s)
    return {k: (statistics.median(v), sizes[k]) for k, v in times.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--columns", help="only these output columns (comma-separated)")
    args = ap.parse_args(argv)
    from pol.io.output_files import COMPRESSIONS, writer_options
    customers, assignments = outputs(args.rows)
    only = set(args.columns.split(",")) if args.columns else None
    per_m = 1e6 / args.rows
    print(f"Parquet output of the bench policy, {args.rows:,} customers, {sum(a.num_rows for a in assignments):,} "
          f"assignments; CPU ms per million rows written (median of {args.repeat}), MiB on disk")
    with tempfile.TemporaryDirectory(prefix="pol-bench-codec-") as tmp:
        path = Path(tmp) / "c.parquet"
        for table, batches in (("customers", customers), ("assignments", assignments)):
            for field in batches[0].schema:
                if only and field.name not in only:
                    continue
                cols = [b.select([field.name]) for b in batches]
                res = measure(cols, path, settings_for(field), args.repeat)
                base = next(iter(res.values()))[0]
                print(f"\n{table}.{field.name} ({field.type})")
                for name, (s, size) in res.items():
                    print(f"  {name:50s} {s * per_m * 1e3:7.1f} ms  {s / base:5.2f}x  {size / 2**20:7.2f} MiB")
        print("\nwhole tables")
        for table, batches in (("customers", customers), ("assignments", assignments)):
            variants = {"pyarrow default": {}, **{f"pol run's settings, {c}": writer_options(batches[0].schema, c)
                                                  for c in COMPRESSIONS}}
            for name, (s, size) in measure(batches, path, variants, args.repeat).items():
                print(f"  {table:12s} {name:32s} {s * per_m * 1e3:7.1f} ms  {size / 2**20:7.2f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
