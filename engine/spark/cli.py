"""`pol run POLICY --engine spark [--master URL] --input PATH --out DIR`.

The same run as engine/cli/run.py, the evaluation on Spark: the input is
Parquet (a file or folder of this machine, read as `pol run` reads it, the
same files in the same order; or any path Spark reads: hdfs://, s3a://, a
table's folder); the output folder, its staging and lock, the three outputs,
the progress line and the summary are the local run's. The executors hand
back each position-contiguous run of output as Arrow IPC bytes; the driver
keeps them in a temporary folder as they come (partitions finish in any
order) and writes them in input order through the local run's writer, so
DIR holds what `pol run` writes for the same input, row for row. (Output
flows through the driver: for a base too large for one machine's disk, use
pol.spark.evaluate and Spark's own writers.)
"""
from __future__ import annotations

import datetime as dt
import os
import pickle
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pol.cli.run import (
    UsageError,
    _guard_output,
    check_history_args,
    commit_with_summary,
    parse_moment,
    parse_params,
    release,
    run_summary,
)
from pol.errors import DataError
from pol.evaluation.assignment_columns import run_metadata, with_run_metadata
from pol.io.output_files import OutputError
from pol.io.output_folder import Claim, check_paths
from pol.spark.adapter import OUTPUTS, Staging, Writer, cannot_write, list_files, output_schemas

# Rows per Arrow batch handed to the Python workers: Spark's default (10,000)
# costs a Python round trip per 10,000 rows; 2^17 keeps the batches at a few
# tens of MB.
ARROW_BATCH_ROWS = 1 << 17
# Input bytes per partition: each partition's output reaches the driver as
# one task result, so partitions are kept smaller than Spark's 128 MB.
PARTITION_BYTES = 32 << 20


class SparkJobError(OutputError):
    """The Spark job failed, so nothing was written: exit status 1, one line
    (Spark's first line, not its JVM stack trace)."""


def session(master: str | None):
    """The active SparkSession, or one for `master` (default local[*])."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession
    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active, False
    spark = (SparkSession.builder.master(master or "local[*]").appName("pol run")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(ARROW_BATCH_ROWS))
             .config("spark.sql.files.maxPartitionBytes", str(PARTITION_BYTES))
             .config("spark.driver.memory", os.environ.get("POL_SPARK_DRIVER_MEMORY", "2g"))
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark, active is None


def read_input(spark, program, path: str):
    """(DataFrame, files, total rows or None, format name)."""
    if "://" not in path or path.startswith("file:"):
        local = path[len("file:"):] if path.startswith("file:") else path
        fmt, files = list_files(local)
        if fmt != "parquet":
            raise UsageError(f"--engine spark reads Parquet; '{path}' holds {fmt.upper()} files "
                             f"(convert them, or run without --engine spark)")
        total = 0
        for f in files:
            try:
                total += pq.ParquetFile(f).metadata.num_rows
            except (OSError, pa.ArrowException) as e:
                raise DataError(f"cannot be read as Parquet ({e})", path=f) from None
        return spark.read.parquet(*[os.path.abspath(f) for f in files]), files, total
    return spark.read.option("recursiveFileLookup", "true").parquet(path), None, None


def run(policy: str, input: str, out: str, as_of: str | None = None, params=(), fmt: str = "parquet",
        overwrite: bool = False, progress: bool | None = None, master: str | None = None, history=()) -> dict:
    """`history`: ['NAME=PATH', ...], the events of the policy's histories
    (Parquet, read as --input is; engine/spark/history.py)."""
    from pol.api.policy import load
    from pol.cli.progress import Progress
    from pol.io.history_files import parse_history_args
    from pol.spark.dataframes import Prepared, add_partition, worker_errors
    from pol.spark.history import in_position_order
    from pol.spark.worker import BLOB_SCHEMA, blobs_fn
    started = time.perf_counter()
    started_at = dt.datetime.now().astimezone()
    moment = parse_moment(as_of)
    day = moment.date() if isinstance(moment, dt.datetime) else moment
    raw_params = parse_params(params)
    try:
        history_paths = parse_history_args(history)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if fmt not in ("parquet", "csv"):
        raise UsageError(f"--format must be parquet or csv, not '{fmt}'")
    check_paths(out, policy, input)
    claim = Claim(out, Path(os.path.abspath(out)), overwrite)
    staging = bar = writer = None
    spark, owned = None, False
    cached: list = []
    try:
        pol_ = load(policy)
        program = pol_.program
        check_history_args(pol_, history_paths)
        spark, owned = session(master)
        df, files, total = read_input(spark, program, input)
        events = {name: read_input(spark, program, path)[0] for name, path in history_paths.items()}
        prepared = Prepared(pol_, df, moment, raw_params, events, None, path=input, history_paths=history_paths)
        for h in prepared.histories:      # read by the counts, the walk and the pass: aggregated once
            cached.append(h.rows.persist())
        history_counts = prepared.history_counts()
        prepared.walk()
        run_id = str(uuid.uuid4())
        meta = run_metadata(program, day, run_id)
        schemas = {name: with_run_metadata(s, meta) for name, s in
                   zip(OUTPUTS, output_schemas(program, pol_.plan, prepared.schema.field(program.input.key).type))}
        staging = Staging(claim)
        bar = Progress(total, enabled=progress)
        counts, arms = prepared.counts()
        from pyspark.sql.pandas.types import from_arrow_schema
        data = prepared.input.data
        if prepared.histories:      # the join moved the customers: runs of positions again
            data = in_position_order(data, prepared.input.files is not None, df.rdd.getNumPartitions())
        blobs = data.mapInArrow(blobs_fn(prepared.job), from_arrow_schema(BLOB_SCHEMA))
        rows = 0
        with tempfile.TemporaryDirectory(prefix="pol-spark-") as spill, worker_errors():
            for r in blobs.toLocalIterator(prefetchPartitions=True):
                if r["start"] < 0:
                    add_partition(counts, arms, pickle.loads(r["counts"]))
                    continue
                # Named by position, zero-padded: sorted names are input order.
                with open(os.path.join(spill, f"{r['start']:020d}"), "wb") as f:
                    f.write(len(r["customers"]).to_bytes(8, "little") + r["customers"] + r["assignments"])
                rows += r["rows"]
                bar.update(rows)
            if rows == 0:
                raise DataError("the input holds no rows", path=input)
            bar.phase("writing")
            try:
                writer = Writer(staging.path, fmt, schemas)
            except OSError as e:
                raise cannot_write(out, e, "the output folder") from None
            write = _guard_output(writer.write, out)
            for name in sorted(os.listdir(spill)):
                data = Path(spill, name).read_bytes()
                cut = 8 + int.from_bytes(data[:8], "little")
                write(_batch(data[8:cut]), _batch(data[cut:]))
        try:
            writer.close()
        except OSError as e:
            raise cannot_write(out, e) from None
        writer = None
        bar.close()
        prepared.count_outside(counts, total)
        summary = run_summary(
            pol_, run_id, policy, input, out, files=len(files) if files is not None else len(df.inputFiles()),
            input_format="parquet", fmt=fmt, day=day, params=prepared.job.params, started_at=started_at,
            seconds=time.perf_counter() - started, rows=rows, counts=counts, absent=prepared.absent)
        if prepared.histories:
            summary["history"] = {name: dict(counts, path=history_paths.get(name))
                                  for name, counts in history_counts.items()}
        if arms:
            summary["experiments"] = arms.summary()
        commit_with_summary(staging, out, summary)
        return summary
    except Exception as e:
        if type(e).__module__.startswith(("py4j", "pyspark")):
            lines = [line.strip() for line in str(e).splitlines() if line.strip()]
            causes = [line[len("Caused by: "):] for line in lines if line.startswith("Caused by: ")]
            why = causes[-1] if causes else lines[0] if lines else type(e).__name__
            raise SparkJobError(f"the Spark job failed, nothing was written: {why[:300]}") from None
        raise
    finally:
        release(claim, staging, writer, bar)
        for frame in cached:
            frame.unpersist()
        if owned:
            spark.stop()


def _batch(data: bytes) -> pa.RecordBatch:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_next_batch()
