"""What-if across versions: several policies over one input, in one pass.

    result = pol.diff([base, changed], table, as_of=date(2026, 11, 1))
    result.changes      # pyarrow.Table: one row per customer and version that differ from the base
    result.summary      # dict: each version's counts and their deltas against the base

In: the versions (pol.Policy objects or files; the first is the base),
the data (a pyarrow Table, RecordBatch, Dataset or iterable of batches, or
a file or folder as `pol run` reads it), as_of and params (one dict for all
versions, or one per version). The input is read once, holding the union of
the versions' input fields; each batch is fed to every version's
Policy.stream. Out: `DiffResult`, or, through `Diff` with a changes sink,
changes batches as they are found (`pol diff` writes them to Parquet).

The streams emit in input order, so outputs are lined up by input position
(align.py) and compared chunk by chunk with numpy (compare.py). With
capacities a version's results are final only at the end of the run: its
output comes in finish(), and the others' wait for it (spilled to
temporary files past a bound).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from pol.errors import DataError
from pol.loop.align import Aligner
from pol.loop.compare import Catalog, Comparison, Side
from pol.loop.deltas import diff_summary
from pol.loop.versions import UnionInput, Version, load_versions

CHUNK_ROWS = 1 << 18          # compared at once: the intermediates stay in cache-sized arrays


@dataclass(frozen=True)
class DiffResult:
    changes: pa.Table
    summary: dict
    versions: list


class Diff:
    """A what-if in progress: `feed` input batches, then `finish`; changes
    batches go to `sink` as soon as every version has produced the rows."""

    def __init__(self, versions: list[Version], as_of, sink: Callable[[pa.RecordBatch], None],
                 key_type: pa.DataType, engine: str = "auto", path: str | None = None, history=None):
        from pol.api.policy import _as_of
        self.versions = versions
        self.as_of = _as_of(as_of)
        self.sink = sink
        self.union = UnionInput(versions)
        self.catalog = Catalog([v.policy for v in versions])
        base = versions[0].policy.program.input
        self.key = base.key
        self.comparisons = [Comparison(self.catalog, v.label, base.key, key_type) for v in versions[1:]]
        self.schema = self.comparisons[0].schema if self.comparisons else None
        self.aligner = Aligner(len(versions))
        # `history`: {name: events} for every version, or a list of one such per version
        # (LANGUAGE.md 12.3); a version that reads no history is given none
        mine = history if isinstance(history, list) else [history] * len(versions)
        self.streams = [v.policy.stream(self.aligner.sink(k, self._compare_ready), as_of=as_of,
                                        params=v.params, path=path, engine=engine,
                                        history=mine[k] if v.policy.program.histories else None)
                        for k, v in enumerate(versions)]
        self.rows = 0
        self.compared = 0

    def feed(self, batch: pa.RecordBatch, path: str | None = None, first_row: int | None = None) -> None:
        """One batch holding (at least) every version's input columns."""
        names = set(batch.schema.names)
        for v, stream in zip(self.versions, self.streams):
            # A missing column is left for the stream's own check to name.
            stream.feed(batch.select([c for c in v.columns if c in names]), path=path, first_row=first_row)
        self.rows += batch.num_rows

    def _compare_ready(self) -> None:
        while self.aligner.ready:
            n = min(self.aligner.ready, CHUNK_ROWS)
            chunks = self.aligner.take(n)
            base_c, base_a = chunks[0]
            base = Side(self.catalog, base_c, base_a)
            key = base_c.column(self.key)
            found = [comparison.compare(key, base, Side(self.catalog, c, a))
                     for comparison, (c, a) in zip(self.comparisons, chunks[1:])]
            found = [(k, f) for k, f in enumerate(found) if f is not None]
            if len(found) == 1:
                self.sink(found[0][1][0])
            elif found:
                # In input order, a customer's versions side by side.
                rows = np.concatenate([f[1] for _, f in found])
                version = np.concatenate([np.full(len(f[1]), k) for k, f in found])
                merged = pa.concat_batches([f[0] for _, f in found])
                self.sink(merged.take(pa.array(np.lexsort((version, rows)))))
            self.compared += n

    def finish(self) -> dict:
        """Every version finished (those without capacities first: their
        output is complete and can be read back while the others walk);
        the summary returned."""
        try:
            order = sorted(range(len(self.streams)), key=lambda k: self.streams[k].rules.has_capacity)
            for k in order:
                self.streams[k].finish()
                self.aligner.outputs[k].seal()
                self._compare_ready()
        finally:
            self.aligner.close()
        if self.compared != self.rows:          # a stream lost or invented rows: never report half a diff
            raise DataError(f"only {self.compared:,} of {self.rows:,} rows could be compared")
        runs = [s.counts.to_dict(v.policy.labels()) for v, s in zip(self.versions, self.streams)]
        return diff_summary(self.versions, runs, [c.counts for c in self.comparisons], self.as_of)

    def close(self) -> None:
        self.aligner.close()


def diff(policies, data, as_of=None, params=None, engine: str = "auto", history=None) -> DiffResult:
    """Evaluate every version on `data` in one pass and compare each with
    the first. `data`: an Arrow table or batches, or a file or folder path;
    `history`: {history name: Arrow table of events}, as Policy.evaluate."""
    versions = load_versions(policies, params)
    changes: list[pa.RecordBatch] = []
    if isinstance(data, (str, Path)):
        run = run_files(versions, str(data), as_of, changes.append, engine=engine, history=history)
    else:
        run = _run_arrow(versions, data, as_of, changes.append, engine, history)
    schema = run.schema
    table = pa.Table.from_batches(changes, schema=schema)
    return DiffResult(table, run.summary, versions)


def _run_arrow(versions, data, as_of, sink, engine, history=None) -> Diff:
    from pol.evaluation.stream import batches_of
    union = UnionInput(versions)
    batches = iter(batches_of(data, union.columns, optional=True))   # absent nullable fields: read as null
    first = next(batches, None)
    key = versions[0].policy.program.input.key
    key_type = first.schema.field(key).type if first is not None else versions[0].policy.program_key_arrow_type()
    run = Diff(versions, as_of, sink, key_type, engine, history=history)
    try:
        if first is not None:
            run.feed(first)
        for batch in batches:
            run.feed(batch)
        run.summary = run.finish()
    finally:
        run.close()
    return run


def open_input(versions, path: str):
    """The input files, each checked against every version's input block
    before anything runs."""
    from pol.evaluation.bind import check_schema
    from pol.io.input_files import Input
    union = UnionInput(versions)
    inp = Input(union, path)
    for file in inp.files:
        for v in versions:
            check_schema(v.policy.program, file.schema, file.path)
    return union, inp


def run_files(versions, path: str, as_of, sink, engine: str = "auto", progress=None, inp=None,
              history=None) -> Diff:
    """A file or folder through every version; `progress(rows)` after each batch."""
    from pol.io.input_files import read_batches
    union, inp = inp or open_input(versions, path)
    run = Diff(versions, as_of, sink, inp.key_type, engine, history=history)
    try:
        for file in inp.files:
            file_rows = 0
            for batch in read_batches(union, file):
                run.feed(batch, path=file.path, first_row=file_rows)
                file_rows += batch.num_rows
                if progress is not None:
                    progress(run.rows)
        if run.rows == 0:
            raise DataError("the input holds no rows", path=path)
        run.summary = run.finish()
    finally:
        run.close()
    return run
