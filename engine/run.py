"""Batch runs from files: `pol run POLICY --input PATH --out DIR`.

Input: Parquet, Arrow IPC/Feather or CSV, one file or a folder of them,
read with pyarrow.dataset, only the columns the policy reads. Batches stream
through the policy; output is written with streaming writers into a folder
beside DIR and renamed into place only when the run succeeded, so a failed
or killed run leaves DIR as it was.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from pol.errors import DataError, ParamError, PolicyError

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".arrow": "ipc", ".feather": "ipc", ".ipc": "ipc",
           ".csv": "csv"}
_ARROW = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "string": pa.string(),
          "date": pa.date32()}


class RunError(Exception):
    """A problem with the run's files, said in one line."""


def _format_of(path: Path) -> str:
    if path.is_dir():
        kinds = {FORMATS.get(p.suffix.lower()) for p in path.iterdir() if p.is_file()} - {None}
        if len(kinds) != 1:
            raise RunError(f"{path}: a folder of input must hold files of one format "
                           f"(.parquet, .arrow/.feather or .csv); found {sorted(kinds) or 'none'}")
        return kinds.pop()
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise RunError(f"{path}: unknown input format; use .parquet, .arrow/.feather or .csv")
    return fmt


def open_input(policy, path: str) -> ds.Dataset:
    p = Path(path)
    if not p.exists():
        raise RunError(f"{path}: no such file or folder")
    if not os.access(p, os.R_OK):
        raise RunError(f"{path}: cannot be read (permission denied)")
    fmt = _format_of(p)
    try:
        if fmt == "csv":
            types = {f.name: _ARROW[f.type.value] for f in policy.program.input.fields}
            fmt = ds.CsvFileFormat(convert_options=pacsv.ConvertOptions(column_types=types))
        files = sorted(str(f) for f in p.iterdir() if f.is_file() and FORMATS.get(f.suffix.lower())) \
            if p.is_dir() else [str(p)]
        return ds.dataset(files, format=fmt)
    except (pa.ArrowInvalid, OSError) as e:
        raise RunError(f"{path}: cannot read the input: {_arrow_message(e)}") from None


def _arrow_message(e: Exception) -> str:
    return str(e).strip().splitlines()[0]


def _batches(dataset: ds.Dataset, columns: list[str]):
    """Batches with the file each came from, so data errors can name it."""
    for fragment in dataset.get_fragments():
        path = fragment.path
        try:
            for batch in fragment.to_batches(columns=[c for c in columns if c in dataset.schema.names],
                                             batch_size=1 << 20):
                yield path, batch
        except (pa.ArrowInvalid, OSError) as e:
            raise RunError(f"{path}: cannot read the input: {_arrow_message(e)}") from None


def _total_rows(dataset: ds.Dataset) -> int | None:
    try:
        return sum(f.metadata.num_rows for f in dataset.get_fragments() if hasattr(f, "metadata"))
    except Exception:       # CSV and IPC fragments have no row count up front
        return None


class Writer:
    """Streaming writers for customers and assignments, in a staging folder."""

    def __init__(self, folder: Path, fmt: str):
        self.folder = folder
        self.fmt = fmt
        self.writers: dict[str, object] = {}

    def write(self, name: str, batch: pa.RecordBatch) -> None:
        if self.fmt == "csv":
            batch = _plain(batch)
        w = self.writers.get(name)
        if w is None:
            path = self.folder / f"{name}.{'csv' if self.fmt == 'csv' else 'parquet'}"
            w = pacsv.CSVWriter(path, batch.schema) if self.fmt == "csv" else pq.ParquetWriter(path, batch.schema)
            self.writers[name] = w
        w.write_batch(batch)

    def close(self, schemas: dict) -> None:
        for name, schema in schemas.items():
            if name not in self.writers:          # an empty input still gets its files
                self.write(name, pa.RecordBatch.from_pylist([], schema=schema))
        for w in self.writers.values():
            w.close()


def _plain(batch: pa.RecordBatch) -> pa.RecordBatch:
    """CSV for spreadsheets: dictionary columns decoded, lists joined with '|'."""
    import pyarrow.compute as pc
    cols, fields = [], []
    for f, col in zip(batch.schema, batch.columns):
        if pa.types.is_dictionary(f.type):
            col = col.cast(pa.string())
        elif pa.types.is_list(f.type):
            col = pc.binary_join(col.cast(pa.list_(pa.string())), "|")
        cols.append(col)
        fields.append(pa.field(f.name, col.type))
    return pa.RecordBatch.from_arrays(cols, schema=pa.schema(fields))


def run_command(policy: str, input: str, out: str, as_of: str | None = None, params=(),
                fmt: str = "parquet", overwrite: bool = False, progress: bool | None = None) -> int:
    from pol.cli import _parse_params
    from pol.policy import load
    started = time.perf_counter()
    out_dir = Path(out)
    staging = None
    try:
        if out_dir.exists() and not overwrite:
            raise RunError(f"{out}: the output folder exists; choose another or pass --overwrite")
        try:
            day = dt.date.fromisoformat(as_of) if as_of else dt.date.today()
        except ValueError:
            raise RunError(f"--as-of {as_of!r} is not a date (YYYY-MM-DD)") from None
        pol_ = load(policy)
        param_values = _parse_params(list(params))
        dataset = open_input(pol_, input)
        parent = out_dir.resolve().parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=parent))
        except OSError as e:
            raise RunError(f"{out}: cannot write the output folder: {e.strerror or e}") from None
        writer = Writer(staging, fmt)
        total = _total_rows(dataset)
        show = sys.stderr.isatty() if progress is None else progress
        from pol.progress import Progress
        bar = Progress(total, enabled=show)

        def sink(c, a):
            writer.write("customers", c)
            writer.write("assignments", a)

        rows = 0
        stream = None
        for path, batch in _batches(dataset, pol_.columns):
            if stream is None:
                stream = pol_.stream(sink, as_of=day, params=param_values, path=path)
            stream.path = path
            stream.feed(batch)
            rows += batch.num_rows
            bar.update(rows)
        if stream is None or rows == 0:
            raise RunError(f"{input}: the input holds no rows")
        stream.finish()
        bar.close()
        from pol.evaluate import output_schemas
        key_type = dataset.schema.field(pol_.program.input.key).type
        c_schema, a_schema = output_schemas(pol_.program, pol_.plan, key_type)
        writer.close({"customers": c_schema, "assignments": a_schema})
        elapsed = time.perf_counter() - started
        summary = {
            "policy": pol_.name, "version": pol_.version, "policy_file": policy, "input": input,
            "as_of": day.isoformat(), "params": {k: _jsonable(v) for k, v in stream.params.items()},
            "rows": rows, "seconds": round(elapsed, 3), "rows_per_second": round(rows / elapsed) if elapsed else None,
            **stream.counts.to_dict(pol_.labels()),
        }
        (staging / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
        _move_into_place(staging, out_dir)
        staging = None
        from pol.report import render
        print(render(summary))
        return 0
    except PolicyError as e:
        print(str(e), file=sys.stderr)
        return 1
    except (DataError, ParamError, RunError) as e:
        print(f"pol: error: {e}", file=sys.stderr)
        return 1
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _jsonable(v):
    return v.isoformat() if isinstance(v, dt.date) else v


def _move_into_place(staging: Path, out_dir: Path) -> None:
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        os.rename(out_dir, old)
    os.rename(staging, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def find_record(policy, input: str, key: str) -> dict:
    """One customer's record from an input file, by key (for `pol explain`)."""
    import pyarrow.compute as pc
    dataset = open_input(policy, input)
    kf = policy.program.input.field(policy.program.input.key)
    value = int(key) if kf.type.value == "int" else key
    table = dataset.to_table(columns=policy.columns, filter=pc.field(kf.name) == value)
    if table.num_rows == 0:
        raise RunError(f"{input}: no customer with {kf.name} = {key}")
    return table.slice(0, 1).to_pylist()[0]


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("run", help="run a policy over a file or folder of customers")
    p.add_argument("policy", metavar="POLICY")
    p.add_argument("--input", required=True, metavar="PATH")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--as-of", metavar="DATE", help="the run's date (default: today)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    p.add_argument("--overwrite", action="store_true", help="replace DIR if it exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(fn=main)


def main(args) -> int:
    return run_command(args.policy, args.input, args.out, args.as_of, args.param, args.format,
                       args.overwrite, False if args.no_progress else None)
