"""Batch runs from files: `pol run POLICY --input PATH --out DIR`.

In: a policy file; a Parquet, Arrow IPC/Feather or CSV file, or a folder of
them (searched recursively; names starting with '.' or '_' are skipped, as
in Spark and pyarrow.dataset output; a link to nothing is an error); the
as-of date; params as NAME=VALUE text; the output format. Out:
DIR/customers.parquet, DIR/assignments.parquet (or .csv) and
DIR/summary.json, the summary as text on stdout, and the exit status: 0
success, 1 a policy or data error (one message naming the file and, where
there is one, the column or line), 2 a usage error (a malformed --as-of or
--param, DIR already there without --overwrite, an input inside the DIR
that --overwrite would replace).

Every file is opened and its schema checked before anything runs; then
file by file, only the columns the policy reads are loaded, one batch read
ahead. Batches stream through the policy (all cores) and out through
streaming writers (Parquet or CSV), so memory stays flat as the input
grows (with capacities, Policy.stream keeps compact candidates until the
run-wide walk). Output is written into a staging folder beside DIR and moved
into place only when the run has succeeded, so a failed or killed run leaves
DIR as it was (a failed run also removes the folders above DIR it created);
the staging folder of a killed run is removed by the next run that writes
beside it.

In CSV input an empty field, NULL or null is a null, in every column; each
column is read as the type the policy's input block declares. A value that
does not fit, or a row with the wrong number of fields, is reported with
its line in the file (found by reading the file again, serially: the
parallel reader does not say where it failed).
"""
from __future__ import annotations

import csv
import ctypes
import datetime as dt
import errno
import json
import os
import queue
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pol.errors import DataError, ParamError, PolicyError

SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".arrow": "ipc", ".feather": "ipc", ".ipc": "ipc",
            ".csv": "csv"}
FORMAT_NAMES = {"parquet": "Parquet", "ipc": "Arrow IPC/Feather", "csv": "CSV"}
ARROW_TYPES = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "string": pa.string(),
               "date": pa.date32()}
CSV_NULLS = ["", "NULL", "null"]
# Large enough that per-batch overhead vanishes, small enough that the few
# batches in flight (read ahead, evaluated, being written) stay a few hundred MB.
BATCH_ROWS = 1 << 19
MIN_BATCH_ROWS = 1 << 17
OUTPUTS = ("customers", "assignments")


class UsageError(Exception):
    """A malformed argument or a refused request; exit status 2."""


class OutputError(Exception):
    """The output folder cannot be written; exit status 1."""


# ---------------------------------------------------------------- input

@dataclass
class InputFile:
    path: str
    fmt: str
    schema: pa.Schema
    rows: int | None                      # known up front for Parquet and IPC files
    read: Callable[..., Iterator[pa.RecordBatch]]       # (file, columns, program)


_BROKEN_LINK = "cannot be read: a link to a file that does not exist (or a loop of links)"


def list_files(path: str) -> tuple[str, list[str]]:
    """(format, files) for a file or a folder of files of one format."""
    p = Path(path)
    try:
        if not p.exists():
            raise DataError(_BROKEN_LINK if p.is_symlink() else "no such file or folder", path=path)
        if p.is_dir():
            # A link to nothing counts: it is a file the user meant to give, and is missing.
            files = sorted(f for f in p.rglob("*") if (f.is_file() or f.is_symlink() and not f.exists())
                           and f.suffix.lower() in SUFFIXES
                           and not any(part.startswith((".", "_")) for part in f.relative_to(p).parts))
            for f in files:
                if not f.exists():
                    raise DataError(_BROKEN_LINK, path=str(f))
            if not files:
                raise DataError("the folder holds no .parquet, .arrow/.feather/.ipc or .csv files: "
                                "the input is empty", path=path)
            kinds = {SUFFIXES[f.suffix.lower()] for f in files}
            if len(kinds) > 1:
                raise DataError("the folder mixes formats (" + ", ".join(FORMAT_NAMES[k] for k in sorted(kinds))
                                + "); give it files of one format", path=path)
            paths = [str(f) for f in files]
        else:
            if p.suffix.lower() not in SUFFIXES:
                raise DataError("unknown input format: name the file .parquet, .arrow/.feather/.ipc or .csv",
                                path=path)
            paths = [path]
        for f in paths:
            if not os.access(f, os.R_OK):
                raise DataError("cannot be read (permission denied)", path=f)
    except OSError as e:
        raise DataError(f"cannot be read ({e.strerror or e})", path=path) from None
    return SUFFIXES[Path(paths[0]).suffix.lower()], paths


def open_file(program, path: str, fmt: str) -> InputFile:
    """One input file, its schema checked against the policy's input block.
    Files are closed again until read: a folder may hold thousands."""
    from pol.bind import check_schema
    with _reading(program, path, fmt):
        if fmt == "parquet":
            with pq.ParquetFile(path) as pf:
                file = InputFile(path, fmt, pf.schema_arrow, pf.metadata.num_rows, _parquet_batches)
        elif fmt == "ipc":
            with pa.memory_map(path) as source:
                try:
                    reader = pa.ipc.open_file(source)
                    file = InputFile(path, fmt, reader.schema, reader.count_rows(), _ipc_file_batches)
                except pa.ArrowInvalid as e:
                    if "Not an Arrow file" not in str(e):
                        raise
                    # .arrow is often the IPC stream format, which has no footer.
                    source.seek(0)
                    file = InputFile(path, fmt, pa.ipc.open_stream(source).schema, None, _ipc_stream_batches)
        else:
            file = InputFile(path, fmt, _csv_schema(program, path), None, _csv_batches)
    check_schema(program, file.schema, path)
    return file


# The readers go through a file once, in order, holding one batch at a time:
# pyarrow.dataset's scanner reads ahead as far as memory allows when the
# policy is slower than decoding, which it is.

def _parquet_batches(file: InputFile, columns: list[str], program) -> Iterator[pa.RecordBatch]:
    # pre_buffer keeps every byte range it has read until the file is closed:
    # memory would grow with the file (1 GiB more at 30M rows).
    with pq.ParquetFile(file.path, pre_buffer=False) as pf:
        yield from pf.iter_batches(batch_size=BATCH_ROWS, columns=columns, use_threads=True)


def _ipc_file_batches(file: InputFile, columns: list[str], program) -> Iterator[pa.RecordBatch]:
    with pa.OSFile(file.path) as source:
        reader = pa.ipc.open_file(source)
        for i in range(reader.num_record_batches):
            yield reader.get_batch(i).select(columns)


def _ipc_stream_batches(file: InputFile, columns: list[str], program) -> Iterator[pa.RecordBatch]:
    with pa.OSFile(file.path) as source:
        for batch in pa.ipc.open_stream(source):
            yield batch.select(columns)


def _csv_schema(program, path: str) -> pa.Schema:
    """The header's names, with the declared types: CSV columns are read as
    the input block declares them, so only names can be missing."""
    header = _csv_header(path)
    if header is None:
        raise DataError("the file is empty (not even a header line): the input is empty", path=path)
    declared = {f.name: ARROW_TYPES[f.type.value] for f in program.input.fields}
    return pa.schema([pa.field(name, declared.get(name, pa.string())) for name in dict.fromkeys(header)])


def _csv_reader(path: str, columns: list[str], program, use_threads: bool = True):
    types = {f.name: ARROW_TYPES[f.type.value] for f in program.input.fields}
    return pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 24, use_threads=use_threads),
                          convert_options=pacsv.ConvertOptions(
                              column_types=types, include_columns=columns, null_values=CSV_NULLS,
                              strings_can_be_null=True))


def _csv_batches(file: InputFile, columns: list[str], program) -> Iterator[pa.RecordBatch]:
    with _csv_reader(file.path, columns, program) as reader:
        yield from reader


def _csv_error_with_row(program, path: str) -> str | None:
    """The first error of a CSV file, read again serially: only a serial
    read says in which row pyarrow failed ("Row #N"). The error path only."""
    try:
        with _csv_reader(path, [f.name for f in program.input.fields], program, use_threads=False) as reader:
            for _ in reader:
                pass
    except pa.ArrowException as e:
        return (str(e).strip().splitlines() or [""])[0]
    except OSError:
        return None
    return None


def read_batches(program, file: InputFile) -> Iterator[pa.RecordBatch]:
    """The policy's columns of one file, in batches of at least MIN_BATCH_ROWS
    (but the last): small row groups or CSV blocks would make per-batch
    overhead count. The next batch is read while this one is evaluated."""
    columns = [f.name for f in program.input.fields]
    pending: list[pa.RecordBatch] = []
    n = 0
    with _reading(program, file.path, file.fmt):
        for batch in prefetch(file.read(file, columns, program)):
            if not batch.num_rows:
                continue
            pending.append(batch)
            n += batch.num_rows
            if n >= MIN_BATCH_ROWS:
                yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)
                pending, n = [], 0
        if pending:
            yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)


def prefetch(batches: Iterator, depth: int = 1) -> Iterator:
    """`batches`, produced by a thread up to `depth` items ahead (decoding
    releases the GIL, so reading overlaps evaluating); its errors re-raised here."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for b in batches:
                if not put((True, b)):
                    return
            put((False, None))
        except BaseException as e:          # handed to the consumer, which raises it
            put((False, e))
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    threading.Thread(target=work, name="pol-read", daemon=True).start()
    try:
        while True:
            more, item = q.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stop.set()


class _reading:
    """Turns what pyarrow raises while opening or reading a file into one
    DataError naming the file and, where pyarrow says, the column and line."""

    def __init__(self, program, path: str, fmt: str):
        self.program, self.path, self.fmt = program, path, fmt

    def __enter__(self):
        return self

    def __exit__(self, kind, e, tb):
        if e is None or isinstance(e, DataError) or not isinstance(e, (pa.ArrowException, OSError)):
            return False
        message, column = arrow_reason(self.program, self.path, self.fmt, e)
        raise DataError(message, column=column, path=self.path) from None


_NOISE = (re.compile(r"^Error creating dataset\. Could not read schema from '.*?'\. Is this a '\w+' file\?: "),
          re.compile(r"^Could not open [\w ]+ input source '.*?': "),
          re.compile(r"^(Invalid|IOError|Corrupt data): "))
_CSV_CONVERT = re.compile(r"In CSV column #(\d+): Row #(\d+): CSV conversion error to [\w\[\]]+: invalid value '(.*)'")
_CSV_FIELDS = re.compile(r"Row #(\d+): Expected (\d+) columns, got (\d+)(?:: (.*))?")
_EXPECTED = {"int": "an int", "float": "a number", "bool": "true or false", "string": "a string",
             "date": "a date (YYYY-MM-DD)"}


def arrow_reason(program, path: str, fmt: str, e: Exception) -> tuple[str, str | None]:
    """(message, column) for an error pyarrow raised reading `path`."""
    if isinstance(e, OSError) and not isinstance(e, pa.ArrowException) and e.strerror:
        return f"cannot be read ({e.strerror})", None
    text = (str(e).strip().splitlines() or [type(e).__name__])[0]
    for noise in _NOISE:
        text = noise.sub("", text)
    if fmt == "csv" and "Row #" not in text and ("CSV conversion error" in text or "CSV parse error" in text):
        text = _csv_error_with_row(program, path) or text
        for noise in _NOISE:
            text = noise.sub("", text)
    if fmt == "csv":
        m = _CSV_CONVERT.search(text)
        if m:
            header = _csv_header(path) or []
            column = header[int(m[1])] if int(m[1]) < len(header) else None
            declared = program.input.field(column).type.value if column else None
            what = f"is not {_EXPECTED[declared]}" if declared else "cannot be read"
            line = _csv_line(path, int(m[2]))
            return (f"column '{column}', {line}: '{m[3]}' {what}", column) if column else \
                (f"{line}: '{m[3]}' {what}", None)
        m = _CSV_FIELDS.search(text)
        if m:
            row = f": {m[4][:80]}" if m[4] else ""
            return f"{_csv_line(path, int(m[1]))} has {m[3]} fields, but the header has {m[2]}{row}", None
        if "Empty CSV file" in text:
            return "the file is empty (not even a header line): the input is empty", None
    if fmt == "parquet":
        return f"corrupt or truncated Parquet file ({text.rstrip('.')})", None
    if fmt == "ipc":
        if _starts_with(path, b"FEA1"):
            return ("a Feather version 1 file, which is not read: write it again as Feather version 2 "
                    "(pyarrow.feather.write_feather's default) or Parquet"), None
        return f"corrupt or truncated Arrow IPC/Feather file ({text.rstrip('.')})", None
    return f"cannot read the {FORMAT_NAMES[fmt]} file ({text.rstrip('.')})", None


def _starts_with(path: str, magic: bytes) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(magic)) == magic
    except OSError:
        return False


def _csv_line(path: str, record: int) -> str:
    """'line L' where the `record`-th record of a CSV file starts (the header
    is record 1, blank lines are not records, as pyarrow counts them); a
    quoted field may hold newlines, so records and lines can differ."""
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
            reader = csv.reader(f)
            seen, before = 0, 0
            for row in reader:
                if row:
                    seen += 1
                    if seen == record:
                        return f"line {before + 1}"
                before = reader.line_num
    except (OSError, csv.Error):
        pass
    return f"record {record} (the header is record 1)"


def _csv_header(path: str) -> list[str] | None:
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
            return next(csv.reader(f), None)
    except OSError:
        return None


class Input:
    """A file or a folder of files, every file opened and its schema checked
    before anything is run or written."""

    def __init__(self, program, path: str):
        self.path = path
        self.fmt, paths = list_files(path)
        self.files = [open_file(program, f, self.fmt) for f in paths]
        known = [f.rows for f in self.files]
        self.total = None if None in known else sum(known)
        if self.total == 0:
            raise DataError("the input holds no rows", path=path)
        self.key_type = self.files[0].schema.field(program.input.key).type


# ---------------------------------------------------------------- output

class Writer:
    """Streaming writers for customers and assignments in the staging folder.

    Encoding Parquet costs more than evaluating the policy, and pyarrow
    releases the GIL while it encodes, so batches are written on a thread of
    their own, at most two behind the run. A write error is raised by the
    next write() or by close()."""

    def __init__(self, folder: Path, fmt: str, schemas: dict[str, pa.Schema]):
        self.fmt = fmt
        self.schemas = schemas
        self.writers = {}
        for name, schema in schemas.items():
            path = folder / f"{name}.{'csv' if fmt == 'csv' else 'parquet'}"
            self.writers[name] = pacsv.CSVWriter(path, plain_schema(schema)) if fmt == "csv" \
                else pq.ParquetWriter(path, schema)
        self._queue: queue.Queue = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="pol-write", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is None:
                try:
                    self._write(*item)
                except BaseException as e:          # raised in the run's thread
                    self._error = e

    def _write(self, customers: pa.RecordBatch, assignments: pa.RecordBatch) -> None:
        for name, batch in zip(OUTPUTS, (customers, assignments)):
            schema = self.schemas[name]
            if batch.schema != schema:
                batch = batch.cast(schema)
            if self.fmt == "csv":
                batch = plain(batch)
            self.writers[name].write_batch(batch)

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, customers: pa.RecordBatch, assignments: pa.RecordBatch) -> None:
        self._raise()
        self._queue.put((customers, assignments))

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def close(self) -> None:
        """Every batch written and the files closed; the first write error raised."""
        self._stop()
        self._raise()
        for w in self.writers.values():
            w.close()

    def abort(self) -> None:
        """Stop writing (the run failed): the files are left to be removed."""
        self._stop()
        for w in self.writers.values():
            try:
                w.close()
            except Exception:
                pass


def plain_schema(schema: pa.Schema) -> pa.Schema:
    """CSV for spreadsheets: names instead of dictionary codes, lists as text."""
    return pa.schema([pa.field(f.name, pa.string() if pa.types.is_dictionary(f.type) or pa.types.is_list(f.type)
                               else f.type, f.nullable) for f in schema])


def plain(batch: pa.RecordBatch) -> pa.RecordBatch:
    import pyarrow.compute as pc
    cols = []
    for f, col in zip(batch.schema, batch.columns):
        if pa.types.is_dictionary(f.type):
            col = col.cast(pa.string())
        elif pa.types.is_list(f.type):
            col = pc.binary_join(col.cast(pa.list_(pa.string())), "|")
        cols.append(col)
    return pa.RecordBatch.from_arrays(cols, schema=plain_schema(batch.schema))


class Staging:
    """A folder beside DIR that becomes DIR only at commit()."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.prefix = f".{out_dir.name}.pol-"
        parent = out_dir.parent
        # The folders above DIR that this run creates, deepest first: removed
        # again if it fails, so that a failed run leaves nothing behind.
        self.made = [d for d in (parent, *parent.parents) if not d.exists() and not d.is_symlink()]
        self.committed = False
        try:
            parent.mkdir(parents=True, exist_ok=True)
            sweep(out_dir, self.prefix)
            self.path = Path(tempfile.mkdtemp(prefix=f"{self.prefix}{os.getpid()}-", dir=parent))
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(self.path, 0o777 & ~mask)      # mkdtemp's 0700 is for secrets, not results
        except OSError as e:
            why = "a part of its path is a file, not a folder" if e.errno in (errno.ENOTDIR, errno.EEXIST) \
                else e.strerror or str(e)
            raise OutputError(f"{out_dir}: cannot write the output folder ({why})") from None

    def commit(self) -> None:
        """Files synced, then DIR replaced in one step where the system can."""
        for f in self.path.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        if self.out_dir.exists() and exchange(self.path, self.out_dir):
            pass                                    # the staging path now holds the old DIR
        elif self.out_dir.exists():
            os.rename(self.out_dir, self.out_dir.with_name(f"{self.prefix}{os.getpid()}-old"))
            os.rename(self.path, self.out_dir)
            self.path = self.out_dir.with_name(f"{self.prefix}{os.getpid()}-old")
        else:
            os.rename(self.path, self.out_dir)
            self.path = None
        _fsync_dir(self.out_dir.parent)
        self.committed = True
        self.discard()

    def discard(self) -> None:
        if self.path is not None:
            _remove(self.path)
            self.path = None
        if not self.committed:
            for d in self.made:
                try:
                    d.rmdir()
                except OSError:
                    break
            self.made = []


def _remove(path: Path) -> None:
    """A folder, or a link (an old DIR that was a link to a folder: the
    link goes, not what it points at)."""
    if path.is_symlink():
        try:
            path.unlink()
        except OSError:
            pass
    else:
        shutil.rmtree(path, ignore_errors=True)


def sweep(out_dir: Path, prefix: str) -> None:
    """Remove what killed runs left beside DIR: staging folders, and put back
    a DIR moved aside when the kill came between two renames."""
    for p in out_dir.parent.glob(prefix + "*"):
        m = re.fullmatch(re.escape(prefix) + r"(\d+)-(.*)", p.name)
        if not m or _alive(int(m[1])):
            continue
        if m[2] == "old" and not out_dir.exists():
            os.rename(p, out_dir)
        else:
            _remove(p)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def exchange(a: Path, b: Path) -> bool:
    """Swap two folders atomically (Linux renameat2 RENAME_EXCHANGE); False
    where the system or filesystem cannot."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------- the command

def parse_params(items) -> dict[str, str]:
    out = {}
    for item in items or ():
        name, eq, value = item.partition("=")
        if not eq or not name.strip():
            raise UsageError(f"--param needs NAME=VALUE, got '{item}'")
        out[name.strip()] = value
    return out


def parse_date(text: str | None) -> dt.date:
    if text is None:
        return dt.date.today()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        try:
            return dt.date.fromisoformat(text.strip())
        except ValueError:
            raise UsageError(f"--as-of '{text}' is not a date: there is no such day") from None
    raise UsageError(f"--as-of '{text}' is not a date written YYYY-MM-DD (e.g. 2026-11-01)")


def run_command(policy: str, input: str, out: str, as_of: str | None = None, params=(),
                fmt: str = "parquet", overwrite: bool = False, progress: bool | None = None) -> int:
    """`pol run`: the exit status; the summary on stdout, one error message on stderr."""
    try:
        with _sigterm_as_interrupt():
            summary = run(policy, input, out, as_of, params, fmt, overwrite, progress)
    except UsageError as e:
        print(f"pol: error: {e}", file=sys.stderr)
        return 2
    except PolicyError as e:
        print(str(e), file=sys.stderr)
        return 1
    except (DataError, ParamError, OutputError) as e:
        print(f"pol: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("pol: interrupted; nothing was written", file=sys.stderr)
        return 130
    from pol.report import render
    print(render(summary))
    return 0


def run(policy: str, input: str, out: str, as_of: str | None = None, params=(), fmt: str = "parquet",
        overwrite: bool = False, progress: bool | None = None) -> dict:
    """The run itself: the summary dict, or an exception for run_command to report."""
    from pol.evaluate import output_schemas
    from pol.params import resolve_params
    from pol.policy import load
    from pol.progress import Progress
    started = time.perf_counter()
    started_at = dt.datetime.now().astimezone()
    day = parse_date(as_of)
    raw_params = parse_params(params)
    if fmt not in ("parquet", "csv"):
        raise UsageError(f"--format must be parquet or csv, not '{fmt}'")
    out_dir = Path(out)
    if out_dir.exists() or out_dir.is_symlink():
        if not out_dir.is_dir():
            raise OutputError(f"{out}: exists and is not a folder")
        if not overwrite:
            raise UsageError(f"{out}: the output folder exists; choose another or pass --overwrite")
        inside = Path(input).resolve()
        if inside == out_dir.resolve() or out_dir.resolve() in inside.parents:
            raise UsageError(f"{out}: the input {input} is inside the output folder, which --overwrite "
                             "would replace; write the output somewhere else")
    pol_ = load(policy)
    program = pol_.program
    values = resolve_params(program, raw_params)
    inp = Input(program, input)
    schemas = dict(zip(OUTPUTS, output_schemas(program, pol_.plan, inp.key_type)))
    staging = Staging(out_dir)
    bar = Progress(inp.total, enabled=progress)
    writer = None
    try:
        try:
            writer = Writer(staging.path, fmt, schemas)
        except OSError as e:
            raise OutputError(f"{out}: cannot write the output folder ({e.strerror or e})") from None
        stream = pol_.stream(_guard_output(writer.write, out), as_of=day, params=values)
        rows = 0
        for file in inp.files:
            file_rows = 0
            for batch in read_batches(program, file):
                _feed(stream, batch, file.path, program, file_rows)
                rows += batch.num_rows
                file_rows += batch.num_rows
                bar.update(rows)
        if rows == 0:
            raise DataError("the input holds no rows", path=input)
        bar.phase("writing" if not stream.rules.has_capacity else "matching capacities and writing")
        _feed(stream, None, input)
        try:
            writer.close()
        except OSError as e:
            raise OutputError(f"{out}: cannot write the output ({e.strerror or e})") from None
        writer = None
        bar.close()
        elapsed = time.perf_counter() - started
        summary = {
            "policy": pol_.name, "version": pol_.version, "policy_file": str(policy),
            "input": str(input), "files": len(inp.files), "input_format": inp.fmt,
            "output": str(out), "output_format": fmt,
            "as_of": day.isoformat(), "params": {k: _jsonable(v) for k, v in values.items()},
            "started_at": started_at.isoformat(timespec="seconds"),
            "seconds": round(elapsed, 3), "rows": rows,
            "rows_per_second": round(rows / elapsed) if elapsed > 0 else None,
            **stream.counts.to_dict(pol_.labels()),
            "channel_labels": {c.name: c.label for c in program.channels},
        }
        try:
            (staging.path / "summary.json").write_text(
                json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
            staging.commit()
        except OSError as e:
            raise OutputError(f"{out}: cannot write the output ({e.strerror or e})") from None
        return summary
    finally:
        bar.close()
        if writer is not None:
            writer.abort()
        staging.discard()


def _feed(stream, batch: pa.RecordBatch | None, path: str, program=None, file_rows: int = 0) -> None:
    """One batch in (None: finish), with data errors naming `path`; rows
    (of nulls in the key) are counted from the start of that file, not of
    the run."""
    from pol.bind import check_nulls
    try:
        stream.feed(batch) if batch is not None else stream.finish()
    except DataError as e:
        if batch is not None and program is not None:
            check_nulls(program, batch, path, file_rows)      # raises the same error, in the file's rows
        if e.path is None:
            raise DataError(str(e), column=e.column, path=path) from None
        raise


def _guard_output(write, out: str):
    """Write errors (disk full) raised inside the stream's sink, said as such."""
    def sink(customers, assignments):
        try:
            write(customers, assignments)
        except OSError as e:
            raise OutputError(f"{out}: cannot write the output ({e.strerror or e})") from None
    return sink


class _sigterm_as_interrupt:
    """A scheduler's SIGTERM ends the run as Ctrl-C does: staging removed,
    nothing written. Only the main thread can install signal handlers."""

    def __enter__(self):
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._raise)
        return self

    @staticmethod
    def _raise(signum, frame):
        raise KeyboardInterrupt

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        return False


def _jsonable(v):
    return v.isoformat() if isinstance(v, dt.date) else v


def find_record(policy, input: str, key: str) -> dict:
    """One customer's record from an input file or folder, by key (for `pol explain`)."""
    import pyarrow.compute as pc
    program = policy.program
    inp = Input(program, input)
    kf = program.input.field(program.input.key)
    try:
        value = int(key) if kf.type.value == "int" else key
    except ValueError:
        raise DataError(f"the key '{kf.name}' is an int; '{key}' is not", column=kf.name) from None
    for file in inp.files:
        for batch in read_batches(program, file):
            hits = batch.filter(pc.equal(batch.column(kf.name), value))
            if hits.num_rows:
                return hits.slice(0, 1).to_pylist()[0]
    raise DataError(f"no customer with {kf.name} = {key}", column=kf.name, path=input)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "run", help="run a policy over a file or folder of customers",
        description="Run a policy over customers in Parquet, Arrow IPC/Feather or CSV (a file or a folder "
                    "of them); write DIR/customers, DIR/assignments and DIR/summary.json.")
    p.add_argument("policy", metavar="POLICY")
    p.add_argument("--input", required=True, metavar="PATH", help="a file or a folder of files")
    p.add_argument("--out", required=True, metavar="DIR", help="the output folder (refused if it exists, unless --overwrite)")
    p.add_argument("--as-of", metavar="DATE", help="the run's date, YYYY-MM-DD (default: today)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="override a declared param (repeatable)")
    p.add_argument("--format", choices=["parquet", "csv"], default="parquet",
                   help="output format (default parquet; csv for spreadsheets)")
    p.add_argument("--overwrite", action="store_true", help="replace DIR if it exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bar, even on a terminal")
    p.set_defaults(fn=main)


def main(args) -> int:
    return run_command(args.policy, args.input, args.out, args.as_of, args.param, args.format,
                       args.overwrite, False if args.no_progress else None)
