"""Input files for batch runs: a path -> its files, their schemas checked
against the policy's input block -> batches of the columns the policy reads.

A path is a Parquet, Arrow IPC/Feather or CSV file, or a folder of them
(searched recursively; names starting with '.' or '_' are skipped, as in
Spark and pyarrow.dataset output; a link to nothing is an error). Every file
is opened and its schema checked before anything runs (`Input`); then
`read_batches` goes through one file, in order, one batch read ahead on a
thread. Whatever pyarrow raises becomes one DataError naming the file and,
where it can be known, the column and line.

In CSV input an empty field, NULL or null is a null, in every column; each
column is read as the type the policy's input block declares. Quoted fields
may hold commas, doubled quotes and line ends. Every record of a CSV file
becomes one row, or the run fails naming the line: the records are counted
and the quoting checked before the file is read (csv_records.py), and the
rows read are checked against that count, for every format that knows its
rows up front. A value that does not fit, or a row with the wrong number of
fields, is reported with its line in the file (found by reading the file
again, serially: the parallel reader does not say where it failed). A name
twice in the header is an error.
"""
from __future__ import annotations

import csv
import dataclasses
import os
import queue
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pol.errors import DataError
from pol.io.columns import ARROW
from pol.io.csv_records import count_records

SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".arrow": "ipc", ".feather": "ipc", ".ipc": "ipc",
            ".csv": "csv"}
FORMAT_NAMES = {"parquet": "Parquet", "ipc": "Arrow IPC/Feather", "csv": "CSV"}
CSV_NULLS = ["", "NULL", "null"]
# Large enough that per-batch overhead vanishes, small enough that the few
# batches in flight (read ahead, evaluated, being written) stay a few hundred MB.
BATCH_ROWS = 1 << 19
MIN_BATCH_ROWS = 1 << 17


@dataclass
class InputFile:
    path: str
    fmt: str
    schema: pa.Schema
    rows: int | None                      # known up front for Parquet, IPC files and CSV
    read: Callable[..., Iterator[pa.RecordBatch]]       # (file, columns, program)
    # hive partition values from the folders' names (`province=广东/`), as the
    # input block types them; columns every row of the file holds
    partition: dict[str, pa.Scalar] = field(default_factory=dict)
    # the row groups to read (engine/io/scan.py's pruning); None: all of them
    row_groups: list[int] | None = None


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


HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


def hive_values(program, root: str, path: str) -> dict[str, pa.Scalar]:
    """The `NAME=VALUE` folders between the input folder and a file, each a
    column of the file's rows, typed as the input block declares NAME
    (a string if it does not); a value of the wrong type names the column."""
    from urllib.parse import unquote
    declared = {f.name: ARROW[f.type] for f in program.input.fields}
    out: dict[str, pa.Scalar] = {}
    for part in Path(path).relative_to(root).parts[:-1]:
        name, eq, text = part.partition("=")
        if not eq or not name:
            continue
        t = declared.get(name, pa.string())
        value = unquote(text)
        if value == HIVE_NULL:
            out[name] = pa.scalar(None, t)
            continue
        try:
            out[name] = pa.array([value]).cast(t)[0]
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise DataError(f"the partition folder '{part}' gives column '{name}' the value '{value}', "
                            f"which is not {_EXPECTED.get(program.input.field(name).type.value, 'of its type')}",
                            column=name, path=path) from None
    return out


def open_file(program, path: str, fmt: str, partition: dict[str, pa.Scalar] | None = None) -> InputFile:
    """One input file, its schema checked against the policy's input block.
    Files are closed again until read: a folder may hold thousands."""
    from pol.evaluation.bind import check_schema
    file = _open_file(program, path, fmt)
    if partition:
        clash = next((n for n in partition if n in file.schema.names), None)
        if clash is not None:
            raise DataError(f"column '{clash}' is both in the file and a partition folder's name: "
                            "keep one of them", column=clash, path=path)
        file.partition = partition
        file.schema = pa.schema([*file.schema, *(pa.field(n, v.type) for n, v in partition.items())])
    check_schema(program, file.schema, path)
    if fmt == "csv":
        file.rows = max(count_records(path) - 1, 0)         # the header is a record
    return file


def _open_file(program, path: str, fmt: str) -> InputFile:
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
    return file


# The readers go through a file once, in order, holding one batch at a time:
# pyarrow.dataset's scanner reads ahead as far as memory allows when the
# policy is slower than decoding, which it is.

def _parquet_batches(file: InputFile, columns: list[str], program) -> Iterator[pa.RecordBatch]:
    # pre_buffer keeps every byte range it has read until the file is closed:
    # memory would grow with the file (1 GiB more at 30M rows).
    with pq.ParquetFile(file.path, pre_buffer=False) as pf:
        yield from pf.iter_batches(batch_size=BATCH_ROWS, columns=columns, use_threads=True,
                                   row_groups=file.row_groups)


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
    seen: dict[str, int] = {}
    for k, name in enumerate(header, 1):
        # Columns without a name (a spreadsheet's trailing commas) cannot be
        # read by a policy, so only named ones must be unique.
        if name and name in seen:
            raise DataError(f"the header names column '{name}' twice (columns {seen[name]} and {k}): "
                            "rename one of them", column=name, path=path)
        seen.setdefault(name, k)
    for f in program.input.fields:
        if f.type.element is not None and f.name in seen:
            raise DataError(f"column '{f.name}' is {f.type}, and a CSV file cannot hold a list: write the "
                            "input as Parquet or Arrow IPC (a list column), or leave the column out of the "
                            "CSV file when the field is nullable (it reads as null)", column=f.name, path=path)
    declared = {f.name: ARROW[f.type] for f in program.input.fields if f.type.element is None}
    return pa.schema([pa.field(name, declared.get(name, pa.string())) for name in seen])


def _csv_reader(path: str, columns: list[str], program, use_threads: bool = True):
    types = {f.name: ARROW[f.type] for f in program.input.fields if f.type.element is None}
    # newlines_in_values: without it a quoted field holding a line end breaks
    # when a read block ends inside it, so a file was read or refused by its
    # size; it cost nothing measurable on the bench's CSV (1M rows, 144 MB).
    return pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 24, use_threads=use_threads),
                          parse_options=pacsv.ParseOptions(newlines_in_values=True),
                          convert_options=pacsv.ConvertOptions(
                              column_types=types, include_columns=columns, null_values=CSV_NULLS,
                              strings_can_be_null=True))


def _csv_batches(file: InputFile, columns: list[str], program) -> Iterator[pa.RecordBatch]:
    with _csv_reader(file.path, columns, program) as reader:
        yield from reader


def _csv_error_with_row(program, path: str) -> str | None:
    """The first error of a CSV file, read again serially: only a serial
    read says in which row pyarrow failed ("Row #N"). The error path only."""
    header = set(_csv_header(path) or ())
    # the columns a run reads: a nullable field the file lacks is not one
    columns = [f.name for f in program.input.fields if f.name in header]
    try:
        with _csv_reader(path, columns, program, use_threads=False) as reader:
            for _ in reader:
                pass
    except pa.ArrowException as e:
        return (str(e).strip().splitlines() or [""])[0]
    except OSError:
        return None
    return None


def read_positioned(program, file: InputFile) -> Iterator[tuple[int, pa.RecordBatch]]:
    """(the batch's first row in the file, batch) for each batch of
    read_batches: where row groups were pruned, each run of adjacent row
    groups is read on its own, so that data errors name the file's rows."""
    if file.row_groups is None:
        first = 0
        for batch in read_batches(program, file):
            yield first, batch
            first += batch.num_rows
        return
    if not file.row_groups:
        return
    with pq.ParquetFile(file.path) as pf:
        sizes = [pf.metadata.row_group(k).num_rows for k in range(pf.metadata.num_row_groups)]
    starts = [0]
    for size in sizes:
        starts.append(starts[-1] + size)
    runs: list[list[int]] = []
    for k in file.row_groups:
        if runs and runs[-1][-1] == k - 1:
            runs[-1].append(k)
        else:
            runs.append([k])
    for run in runs:
        part = dataclasses.replace(file, row_groups=run, rows=sum(sizes[k] for k in run))
        first = starts[run[0]]
        for batch in read_batches(program, part):
            yield first, batch
            first += batch.num_rows


def read_batches(program, file: InputFile) -> Iterator[pa.RecordBatch]:
    """The policy's columns of one file, in batches of at least MIN_BATCH_ROWS
    (but the last): small row groups or CSV blocks would make per-batch
    overhead count. The next batch is read while this one is evaluated."""
    # a nullable field the file lacks reads as null (pol.io.columns)
    columns = [f.name for f in program.input.fields if f.name in file.schema.names]
    stored = [c for c in columns if c not in file.partition]
    pending: list[pa.RecordBatch] = []
    n = total = 0
    with _reading(program, file.path, file.fmt):
        for batch in prefetch(file.read(file, stored, program)):
            if not batch.num_rows:
                continue
            if file.partition:
                batch = _with_partition(batch, file.partition, columns)
            pending.append(batch)
            n += batch.num_rows
            total += batch.num_rows
            if n >= MIN_BATCH_ROWS:
                yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)
                pending, n = [], 0
        # Before the last batch goes out: a run must not end on rows lost or invented.
        if file.rows is not None and total != file.rows:
            raise DataError(f"{total:,} rows were read, but the file holds {file.rows:,}; the run is "
                            "stopped rather than lose or invent rows (a reader fault: please report "
                            "it with the file)", path=file.path)
        if pending:
            yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)


def _with_partition(batch: pa.RecordBatch, partition: dict[str, pa.Scalar], columns: list[str]) -> pa.RecordBatch:
    """The batch with its partition values as columns, in the policy's order."""
    n = batch.num_rows
    cols = {name: batch.column(name) for name in batch.schema.names}
    for name, value in partition.items():
        if name in columns:
            cols[name] = pa.repeat(value, n) if value.is_valid else pa.nulls(n, value.type)
    return pa.RecordBatch.from_pydict({c: cols[c] for c in columns if c in cols})


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
             "date": "a date (YYYY-MM-DD)", "timestamp": "a timestamp (YYYY-MM-DDTHH:MM:SS, no zone)"}


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
    """The first record (blank lines before it are not records, as pyarrow reads them)."""
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
            return next((row for row in csv.reader(f) if row), None)
    except (OSError, csv.Error):
        return None


class Input:
    """A file or a folder of files, every file opened and its schema checked
    before anything is run or written."""

    def __init__(self, program, path: str, params: dict | None = None):
        self.path = path
        self.fmt, paths = list_files(path)
        values = {f: hive_values(program, path, f) for f in paths} if Path(path).is_dir() else {}
        # With the run's params, a policy's population prunes the partitions
        # that cannot hold a row of it (engine/io/scan.py) before their files
        # are opened: they are not read, so not checked. One file is opened
        # whatever happens (the first kept): the run's key type is its.
        self.listed = len(paths)
        self.partitions = len({tuple(v.items()) for v in values.values()}) if values else 0
        keep = set(paths)
        self.partition_filter: str | None = None
        if values and params is not None and program.population is not None:
            from pol.io.scan import partitions_to_read
            keep, self.partition_filter = partitions_to_read(program, params, values)
        self.partitions_skipped = (self.partitions - len({tuple(values[f].items()) for f in keep})
                                   if values else 0)
        first = next((f for f in paths if f in keep), paths[0])
        self.files = []
        for f in paths:
            if f in keep or f == first:
                file = open_file(program, f, self.fmt, values.get(f))
                if f not in keep:
                    file.row_groups, file.rows = [], 0
                self.files.append(file)
        self.files_pruned = len(paths) - len(keep)
        known = [f.rows for f in self.files]
        self.total = None if None in known else sum(known)
        if self.total == 0 and not self.files_pruned:
            raise DataError("the input holds no rows", path=path)
        self.key_type = self.files[0].schema.field(program.input.key).type
