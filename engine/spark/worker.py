"""The executor side: what runs inside Spark's Python workers.

A `Job` is everything a worker needs, small and picklable: the policy as
text (every file it imports, by path relative to the root file's folder),
the run's date and resolved params, and how to read input positions. Each
worker process checks and loads a policy once (keyed by the job's digest)
and keeps it; its kernel comes from the kernel cache, a folder per executor
host (POL_CACHE_DIR when the executor's environment sets it, else
pol-kernels-UID in the system's temp folder), so only the first task on a
new executor compiles it.

The partition functions take and give Arrow batches (mapInArrow):
* `customers_fn`: customers with their assignments nested (the API's
  DataFrames are both cut from it);
* `blobs_fn`: each position-contiguous run of output as Arrow IPC bytes,
  plus the partition's counts (what `pol run --engine spark` writes);
* `counts_fn`: the partition's counts alone (pol.spark.evaluate's summary);
* `candidates_fn`: the candidate pairs of customers who have a candidate for
  an offer with a capacity (the global walk's input).
"""
from __future__ import annotations

import atexit
import datetime as dt
import hashlib
import os
import pickle
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

POS = "__pol_pos"
FILE = "__pol_file"
ROW = "__pol_row"
ASSIGN = "__pol_assignments"
HISTORY_KEY = "__pol_history_key"     # the event key of events_fn's rows
# Rows of one file at most: a position is file index << 40 | row in file.
FILE_SHIFT = 40


@dataclass
class Job:
    sources: dict[str, str]        # path relative to the root file's folder -> text
    root: str                      # the root file, relative
    as_of: dt.date
    params: dict                   # resolved values
    files: list[str] | None = None     # the input files in position order (normalized), if read from files
    walked: np.ndarray | None = None   # with capacities: positions of the walked customers, sorted
    accepted: object = None            # with capacities: adapter.Candidates accepted by the walk
    digest: str = field(default="")

    def __post_init__(self):
        if not self.digest:
            h = hashlib.sha256(self.root.encode())
            for name in sorted(self.sources):
                h.update(name.encode() + b"\0" + self.sources[name].encode() + b"\0")
            self.digest = h.hexdigest()


_policies: dict[str, object] = {}
_lock = threading.Lock()


def policy_of(job: Job):
    """The job's policy, checked and loaded once per worker process."""
    with _lock:
        policy = _policies.get(job.digest)
        if policy is None:
            if "POL_CACHE_DIR" not in os.environ:
                os.environ["POL_CACHE_DIR"] = os.path.join(tempfile.gettempdir(), f"pol-kernels-{os.getuid()}")
            from pol.api.policy import load
            folder = Path(tempfile.mkdtemp(prefix="pol-policy-"))
            # the files stay while the worker may read them, and go with it
            atexit.register(shutil.rmtree, folder, True)
            for name, text in job.sources.items():
                path = folder / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
            policy = _policies[job.digest] = load(folder / job.root)
        return policy


def read_columns(policy) -> list[str]:
    """The columns the kernel reads: the input block's, and one per history
    aggregate (joined to the customers on the driver: engine/spark/history.py)."""
    return policy.columns + [c.name for c in policy.lowered.columns]


def normalized(uri: str) -> str:
    """A file's name as Spark's inputFiles() and _metadata.file_path both
    reduce to: file:/x, file:///x and /x are /x; other schemes keep theirs."""
    from urllib.parse import unquote, urlsplit
    u = urlsplit(uri)
    if u.scheme in ("", "file"):
        return unquote(u.path)
    return f"{u.scheme}://{u.netloc}{unquote(u.path)}"


def positions(batch: pa.RecordBatch, files: list[str] | None) -> np.ndarray:
    """Each row's input position (int64), from the columns the driver added
    (`files`: the input files in position order, when read from files)."""
    if FILE not in batch.schema.names:
        return batch.column(POS).to_numpy().astype(np.int64)
    import pyarrow.compute as pc
    seen = pc.dictionary_encode(batch.column(FILE))
    names = pa.array([normalized(f) for f in seen.dictionary.to_pylist()], pa.string())
    index = pc.index_in(names, value_set=pa.array(files, pa.string()))
    if index.null_count:
        raise RuntimeError("rows came from a file the driver did not list: "
                           + ", ".join(n for n, i in zip(names.to_pylist(), index.to_pylist()) if i is None))
    file_index = index.to_numpy().astype(np.int64)[seen.indices.to_numpy(zero_copy_only=False)]
    return (file_index << FILE_SHIFT) | batch.column(ROW).to_numpy().astype(np.int64)


def _runs(pos: np.ndarray) -> list[tuple[int, int]]:
    """Row ranges whose positions follow one another (a batch may join the
    end of one file split to the start of another)."""
    if len(pos) == 0:
        return []
    cuts = np.flatnonzero(np.diff(pos) != 1) + 1
    edges = [0, *cuts.tolist(), len(pos)]
    return list(zip(edges[:-1], edges[1:]))


def _evaluate(job: Job, batches: Iterator[pa.RecordBatch], contiguous: bool) -> Iterator[tuple]:
    """Every batch through the policy: (customers, assignments, positions)
    for each batch, or with `contiguous` for each run of rows whose
    positions follow one another; then (counts, customers per arm of each
    experiment)."""
    from pol.spark.adapter import Batches
    policy = policy_of(job)
    run = Batches(policy, job.as_of, job.params)
    columns = read_columns(policy)
    stream = None
    pending: list = []
    if not run.rules.has_capacity:
        stream = run.stream(lambda c, a: pending.append((c, a)))
    for batch in batches:
        pos = positions(batch, job.files)
        data = batch.select(columns)
        for a, b in _runs(pos) if contiguous else [(0, batch.num_rows)]:
            if stream is None:
                c, asg = run.finish(data.slice(a, b - a), pos[a:b], job.walked, job.accepted)
                yield c, asg, pos[a:b]
                continue
            stream.feed(data.slice(a, b - a))
            # The stream cuts large batches: its outputs follow one another.
            for c, asg in pending:
                yield c, asg, pos[a:a + c.num_rows]
                a += c.num_rows
            pending.clear()
    # customers per arm: the stream's draws, or (with capacities) the batches'
    yield (run.counts, (stream.arms if stream is not None else run.arms).counts)


def plain(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Dictionary columns as plain strings (Spark has no dictionary type)."""
    cols = []
    for col in batch.columns:
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        elif pa.types.is_list(col.type) and pa.types.is_dictionary(col.type.value_type):
            col = pa.ListArray.from_arrays(col.offsets, col.values.cast(pa.string()))
        cols.append(col)
    return pa.RecordBatch.from_arrays(cols, batch.schema.names)


def customers_fn(job: Job, with_pos: bool):
    """customers + ASSIGN (each customer's assignments, nested) [+ POS]."""
    def fn(batches):
        for item in _evaluate(job, batches, contiguous=False):
            if len(item) == 2:
                continue
            c, a = plain(item[0]), plain(item[1])
            names = nested_names(a.schema)
            nested = pa.ListArray.from_arrays(c.column("offers").offsets, pa.StructArray.from_arrays(
                [a.column(n) for n in names], names))
            cols, names = list(c.columns) + [nested], c.schema.names + [ASSIGN]
            if with_pos:
                cols.append(pa.array(item[2]))
                names.append(POS)
            yield pa.RecordBatch.from_arrays(cols, names)
    return fn


def nested_names(assignments) -> list[str]:
    """The assignment columns nested in each customer's row: all but the key
    (the first), so the fixed ones and those of LANGUAGE.md section 8.3
    (campaign, offer attributes, carried fields) as output_schemas lists them."""
    return list(assignments.names)[1:]


BLOB_SCHEMA = pa.schema([("start", pa.int64()), ("rows", pa.int64()), ("customers", pa.binary()),
                         ("assignments", pa.binary()), ("counts", pa.binary())])


# Compressed: a partition's output is one task result in the driver's JVM
# before it reaches Python (LZ4 makes it 3-4x smaller at little cost).
_IPC_OPTIONS = pa.ipc.IpcWriteOptions(compression="lz4")


def _ipc(batch: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema, options=_IPC_OPTIONS) as w:
        w.write_batch(batch)
    return sink.getvalue().to_pybytes()


def _pickled_counts(item) -> bytes:
    k, arms = item
    return pickle.dumps((k.customers, k.segments, k.classes, k.funnel, k.by_channel, arms))


def blobs_fn(job: Job):
    """Output runs as Arrow IPC bytes, keyed by their first position; then
    one row with the partition's counts (start -1)."""
    def fn(batches):
        for item in _evaluate(job, batches, contiguous=True):
            if len(item) == 2:
                row = (-1, 0, None, None, _pickled_counts(item))
            else:
                c, a, first = item
                row = (int(first[0]), c.num_rows, _ipc(c), _ipc(a), None)
            yield pa.RecordBatch.from_arrays([pa.array([v], f.type) for v, f in zip(row, BLOB_SCHEMA)],
                                             schema=BLOB_SCHEMA)
    return fn


COUNTS_SCHEMA = pa.schema([("counts", pa.binary())])


def counts_fn(job: Job):
    """Only the partition's counts, its output left unmade (the summary of
    pol.spark.evaluate): one row per partition."""
    def fn(batches):
        for item in _evaluate(job, batches, contiguous=False):
            if len(item) == 2:
                yield pa.RecordBatch.from_arrays([pa.array([_pickled_counts(item)], pa.binary())],
                                                 schema=COUNTS_SCHEMA)
    return fn


def population_fn(job: Job):
    """Only the rows in the policy's population (LANGUAGE.md 3.14), every
    column kept (positions too): the engine's own evaluator of the condition
    (engine/evaluation/population.py), so Spark runs leave out the customers
    a local run does, and every later pass sees only the population."""
    def fn(batches):
        from pol.evaluation.bind import EPOCH
        from pol.evaluation.population import Population
        policy = policy_of(job)
        population = Population(policy.lowered.program)
        today = (job.as_of - EPOCH).days
        for batch in batches:
            keep = population.mask(batch, job.params, today)
            yield batch if keep.all() else batch.filter(pa.array(keep))
    return fn


CANDIDATE_SCHEMA = pa.schema([("pos", pa.int64()), ("offer", pa.int16()), ("chan", pa.int8()),
                              ("prio", pa.float64()), ("ctrl", pa.bool_()), ("room", pa.float64()),
                              ("cost", pa.int64())])


def candidates_fn(job: Job):
    def fn(batches):
        from pol.spark.adapter import Batches
        policy = policy_of(job)
        run = Batches(policy, job.as_of, job.params)
        constrained = run.rules.constrained
        columns = read_columns(policy)
        for batch in batches:
            c = run.candidates(batch.select(columns), positions(batch, job.files), constrained)
            yield c.to_batch()
    return fn


def events_fn(job: Job, history: str, files: list[str] | None):
    """One row per event key of the partition (all of a key's events are in
    it: the driver partitioned them by key): the key, every aggregate of
    the history and the key's counts (engine/evaluation/history.by_key, the
    local run's grouping). The events are taken in input position order, so
    that `first` and `last` break ties between events of one date as a local
    run does; the partition is held whole, as a local run holds the history."""
    def fn(batches):
        from pol.spark.adapter import aggregate_by_key
        policy = policy_of(job)
        hist = policy.program.history(history)
        mine = [c for c in policy.lowered.columns if c.aggregate.history == history]
        parts = list(batches)
        if not parts or not sum(b.num_rows for b in parts):
            return
        table = pa.Table.from_batches(parts)
        pos = np.concatenate([positions(b, files) for b in parts])
        order = np.argsort(pos, kind="stable")
        names = [n for n in table.schema.names if n not in (POS, FILE, ROW)]
        table = table.select(names).take(pa.array(order))
        key_type = policy.program.input.field(policy.program.input.key).type
        rows = plain(aggregate_by_key(hist, mine, table, key_type, job.as_of))
        yield pa.RecordBatch.from_arrays(rows.columns, [HISTORY_KEY, *rows.schema.names[1:]])
    return fn
