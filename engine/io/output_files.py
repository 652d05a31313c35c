"""Output files for batch runs, written aside and moved into place.

`Writer` streams customers and assignments (Parquet; CSV for
spreadsheets; Arrow IPC for pipelines that read Arrow) into a `Staging` folder beside DIR, which becomes DIR in one
step only when the run has succeeded, with the marker file that lets a
later --overwrite replace it: a failed or killed run leaves DIR as it was,
and the staging folder of a killed run is removed by the next run on DIR
(output_folder.sweep). Which DIR may be written, and the lock held on it
meanwhile, are output_folder.py's.
"""
from __future__ import annotations

import ctypes
import errno
import json
import os
import queue
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pol.io.output_folder import MARKER, marker_text, staging_prefix

OUTPUTS = ("customers", "assignments")
# The output formats and their files' suffixes. Arrow IPC (the file format,
# uncompressed) is the batches as they are in memory: no encoding at all, for
# a pipeline whose next step reads Arrow (pyarrow, Polars, DuckDB, Spark).
SUFFIX = {"parquet": "parquet", "csv": "csv", "arrow": "arrow"}


class OutputError(Exception):
    """The output folder cannot be written; exit status 1."""


def cannot_write(out, e: OSError, what: str = "the output") -> OutputError:
    """One line for a write that failed, in the system's words for its errno
    ("No space left on device"), not pyarrow's wrapping of them."""
    if e.errno in (errno.ENOTDIR, errno.EEXIST):
        why = "a part of its path is a file, not a folder"
    else:
        why = os.strerror(e.errno) if e.errno else (e.strerror or str(e))
    return OutputError(f"{out}: cannot write {what} ({why})")


class Writer:
    """Streaming writers for customers and assignments in the staging folder.

    Encoding Parquet costs more than evaluating the policy, and pyarrow
    releases the GIL while it encodes, so each output is written on a thread
    of its own (customers cost about three times assignments; on one thread
    the two were the run's longest path), at most two batches behind the
    run. A write error is raised by the next write() or by close()."""

    def __init__(self, folder: Path, fmt: str, schemas: dict[str, pa.Schema], compression: str = "snappy"):
        self.fmt = fmt
        self.schemas = schemas
        self.writers = {}
        for name, schema in schemas.items():
            self.writers[name] = _open(folder / f"{name}.{SUFFIX[fmt]}", fmt, schema, compression)
        self._error: BaseException | None = None
        self._lanes = {name: _Lane(self, name) for name in schemas}

    def _write(self, name: str, batch: pa.RecordBatch) -> None:
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
        for name, batch in zip(OUTPUTS, (customers, assignments)):
            self._lanes[name].queue.put(batch)

    def _stop(self) -> None:
        for lane in self._lanes.values():
            lane.stop()

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


class _Lane:
    """One output's queue and writing thread. After the first error of any
    lane, every lane drops what it is given, so the run stops as soon as it
    next writes."""

    def __init__(self, writer: Writer, name: str):
        self.writer, self.name = writer, name
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.thread = threading.Thread(target=self._work, name=f"pol-write-{name}", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        w = self.writer
        while True:
            batch = self.queue.get()
            if batch is None:
                return
            if w._error is None:
                try:
                    w._write(self.name, batch)
                except BaseException as e:          # raised in the run's thread
                    if w._error is None:
                        w._error = e

    def stop(self) -> None:
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()


# --compression: Parquet's codecs as pyarrow names them. snappy is the
# default (pyarrow's and Spark's): every reader has it, and on pol's
# outputs it costs a fifth of the encoding (benchmarks/README.md).
COMPRESSIONS = ("snappy", "lz4", "zstd", "none")


def _open(path: Path, fmt: str, schema: pa.Schema, compression: str = "snappy"):
    if fmt == "csv":
        return pacsv.CSVWriter(path, plain_schema(schema))
    if fmt == "arrow":
        return pa.ipc.new_file(path, schema)
    return pq.ParquetWriter(path, schema, **writer_options(schema, compression))


def writer_options(schema: pa.Schema, compression: str = "snappy") -> dict:
    """pol run's Parquet settings for an output schema, chosen column by
    column type on the bench outputs (benchmarks/bench_codec.py, figures in
    benchmarks/README.md):

    - names (offers, channels, classes) dictionary-encoded, nothing else;
    - integers (keys, ranks) DELTA_BINARY_PACKED: half the time of PLAIN and
      a fraction of its size (keys come sorted or nearly so);
    - no statistics on flags, names and the offers list: min/max of a flag
      or of a handful of names prunes no row group (each holds every value),
      and they cost 15-40% of those columns' time. Keys, ranks and scores
      keep theirs, for readers that filter on them.
    """
    def names(t: pa.DataType) -> bool:
        return pa.types.is_dictionary(t) or pa.types.is_string(t) or pa.types.is_large_string(t)

    stats = [f.name for f in schema if not (pa.types.is_boolean(f.type) or names(f.type)
                                            or pa.types.is_list(f.type) or pa.types.is_large_list(f.type))]
    delta = {f.name: "DELTA_BINARY_PACKED" for f in schema if pa.types.is_integer(f.type)}
    return {"use_dictionary": dictionary_columns(schema), "column_encoding": delta or None,
            "write_statistics": stats, "compression": compression}


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """The columns worth Parquet's dictionary encoding: the names (offers,
    channels, classes). Trying it on flags, scores and keys, as pyarrow does
    by default, made writing the bench's customers 40% slower and the file
    10% larger."""
    def names(t: pa.DataType) -> bool:
        return pa.types.is_dictionary(t) or pa.types.is_string(t)

    # Parquet names a list's values by their leaf path (the compliant form).
    return [f.name for f in schema if names(f.type)] + \
        [f"{f.name}.list.element" for f in schema if pa.types.is_list(f.type) and names(f.type.value_type)]


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
    """A folder beside DIR that becomes DIR only at commit(), for a run that
    holds DIR (`claim`, an output_folder.Claim)."""

    def __init__(self, claim):
        self.claim = claim
        self.out, self.out_dir = out, out_dir = claim.out, claim.out_dir
        self.prefix = staging_prefix(out_dir)
        self.committed = False
        try:
            self.path = Path(tempfile.mkdtemp(prefix=f"{self.prefix}{os.getpid()}-", dir=out_dir.parent))
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(self.path, 0o777 & ~mask)      # mkdtemp's 0700 is for secrets, not results
        except OSError as e:
            raise cannot_write(out, e, "the output folder") from None

    def commit(self) -> None:
        """The marker written, files synced, then DIR replaced in one step
        where the system can. The folder replaced is checked again first (a
        person may have put a file in it while the run ran), and only the
        files its marker lists are removed from it."""
        (self.path / MARKER).write_text(marker_text([f.name for f in self.path.iterdir()]), encoding="utf-8")
        for f in self.path.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        old = None
        self.claim.check()
        if self.out_dir.exists() or self.out_dir.is_symlink():
            if exchange(self.path, self.out_dir):
                old = self.path                     # the staging path now holds the old DIR
            else:
                old = self.out_dir.with_name(f"{self.prefix}{os.getpid()}-old")
                os.rename(self.out_dir, old)
                try:
                    os.rename(self.path, self.out_dir)
                except OSError:
                    os.rename(old, self.out_dir)    # DIR as it was; a kill here is undone by sweep
                    raise
        else:
            os.rename(self.path, self.out_dir)
        self.path = None
        _fsync_dir(self.out_dir.parent)
        self.committed = True
        if old is not None:
            _remove_replaced(old, self.out_dir)

    def discard(self) -> None:
        if self.path is not None:
            remove(self.path)
            self.path = None


def _remove_replaced(old: Path, out_dir: Path) -> None:
    """The DIR a run replaced: a link goes (not what it points at); a folder
    loses the files its marker lists, and is kept under a visible name if
    anything else appeared in it after the check."""
    if old.is_symlink():
        remove(old)
        return
    try:
        listed = set(json.loads((old / MARKER).read_text(encoding="utf-8"))["files"])
    except (OSError, ValueError, KeyError, TypeError):
        listed = set()
    for name in (*listed, MARKER):
        if "/" not in name and name not in (".", ".."):
            try:
                os.unlink(old / name)
            except OSError:
                pass
    try:
        os.rmdir(old)
    except OSError:
        try:
            os.rename(old, out_dir.with_name(f"{out_dir.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}"))
        except OSError:
            pass


def remove(path: Path) -> None:
    """A folder, or a link (the link goes, not what it points at)."""
    if path.is_symlink():
        try:
            path.unlink()
        except OSError:
            pass
    else:
        shutil.rmtree(path, ignore_errors=True)


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
