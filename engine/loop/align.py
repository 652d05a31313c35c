"""Several versions' output streams lined up by input row.

In: each version's (customers, assignments) batches, pushed as its
Policy.stream emits them; every stream emits its customers in input order,
but not at the same time: without capacities batch by batch while the
input is fed, with capacities all at once in finish(). Out: chunks of the
same input rows from every version (`Aligner.take`), as soon as all the
versions have emitted them.

A version that runs ahead (a version without capacities while another
waits for its run-wide walk) keeps its output in memory up to SPILL_ROWS
rows, then in temporary Arrow IPC files, read back once the version has
finished: memory stays bounded however large the input, at the cost of
temporary disk (about the size of that version's output).
"""
from __future__ import annotations

import tempfile
from collections import deque

import numpy as np
import pyarrow as pa

# Two of the input readers' batches: versions that run in step never spill.
SPILL_ROWS = 1 << 20


class Outputs:
    """One version's output, in input order, until it has been compared."""

    def __init__(self, spill_rows: int | None = None):
        self.spill_rows = SPILL_ROWS if spill_rows is None else spill_rows
        self.held: deque = deque()          # (customers, assignments) batches in memory
        self.held_rows = 0
        self.files = None                   # [(file, writer)] for customers and assignments, once spilled
        self.spilled_rows = 0
        self.readers = None
        self.sealed = False
        self.front = None                   # the rest of a batch a take() cut
        self.front_rows = 0

    def push(self, customers: pa.RecordBatch, assignments: pa.RecordBatch) -> None:
        if self.files is not None:
            self._write(customers, assignments)
            return
        self.held.append((customers, assignments))
        self.held_rows += customers.num_rows
        if self.held_rows > self.spill_rows and not self.sealed:
            self._spill()

    def _spill(self) -> None:
        self.files = []
        first = self.held[0]
        for batch in first:
            f = tempfile.TemporaryFile(prefix="pol-diff-")
            self.files.append((f, pa.ipc.new_stream(f, batch.schema)))
        held, self.held, self.held_rows = self.held, deque(), 0
        for c, a in held:
            self._write(c, a)

    def _write(self, customers, assignments) -> None:
        for (_, writer), batch in zip(self.files, (customers, assignments)):
            writer.write_batch(batch)
        self.spilled_rows += customers.num_rows

    def seal(self) -> None:
        """The version has finished: what it spilled may be read back."""
        self.sealed = True
        if self.files is not None:
            self.readers = []
            for f, writer in self.files:
                writer.close()
                f.seek(0)
                self.readers.append(pa.ipc.open_stream(f))

    @property
    def available(self) -> int:
        if self.files is not None and not self.sealed:
            return 0
        return self.front_rows + self.held_rows + self.spilled_rows

    def _next(self):
        # A batch cut by the last take comes first, then the file, then memory.
        if self.front is not None:
            (c, a), self.front, self.front_rows = self.front, None, 0
            return c, a
        if self.readers is not None and self.spilled_rows:
            c, a = (r.read_next_batch() for r in self.readers)
            self.spilled_rows -= c.num_rows
            return c, a
        c, a = self.held.popleft()
        self.held_rows -= c.num_rows
        return c, a

    def take(self, n: int) -> tuple[pa.Table, pa.Table]:
        """The next n customers and their assignments."""
        cs, as_ = [], []
        got = 0
        while got < n:
            c, a = self._next()
            if got + c.num_rows > n:
                c, rest_c, a, rest_a = _split(c, a, n - got)
                self.front, self.front_rows = (rest_c, rest_a), rest_c.num_rows
            cs.append(c)
            as_.append(a)
            got += c.num_rows
        return pa.Table.from_batches(cs), pa.Table.from_batches(as_)

    def close(self) -> None:
        for f, _ in self.files or ():
            f.close()
        self.files = self.readers = None
        self.held.clear()


def _split(c: pa.RecordBatch, a: pa.RecordBatch, keep: int):
    """A customers batch cut after `keep` rows, and its assignments with it
    (they are in customer order, as many per customer as its `offers` list)."""
    lengths = c.column("offers").value_lengths().fill_null(0).to_numpy(zero_copy_only=False)
    cut = int(np.sum(lengths[:keep]))
    return c.slice(0, keep), c.slice(keep), a.slice(0, cut), a.slice(cut)


class Aligner:
    """The versions' Outputs; `ready` rows are emitted by all of them."""

    def __init__(self, n: int, spill_rows: int | None = None):
        self.outputs = [Outputs(spill_rows) for _ in range(n)]

    def sink(self, k: int, on_push):
        def push(customers, assignments):
            self.outputs[k].push(customers, assignments)
            on_push()
        return push

    @property
    def ready(self) -> int:
        return min(o.available for o in self.outputs)

    def take(self, n: int) -> list[tuple[pa.Table, pa.Table]]:
        return [o.take(n) for o in self.outputs]

    def close(self) -> None:
        for o in self.outputs:
            o.close()
