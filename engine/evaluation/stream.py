"""Batch evaluation: Arrow data -> customers, assignments and their counts.

Batches stream through: each is checked, bound, run through the policy's
evaluator (engine/evaluation/executor.py), matched (engine/arbitration/arbitrate.py) and turned
into output Arrow batches. Without capacities each batch is matched on its
own. With capacities, a customer with no candidate of a constrained offer is
matched on its own too, at once; only the compact candidate pairs of the
others wait for the run-wide walk at the end (all customers' with
`maximize priority`), and the batch's output waits with them (customer
columns in a spill file, matched assignments in memory). No per-row Python
anywhere.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa

from pol.arbitration.arbitrate import (
    Flat,
    FlatParts,
    Kept,
    Keys,
    MatchJob,
    Rules,
    collect_candidates,
    flat_of_pairs,
    match_range,
    merge,
    take_constrained,
)
from pol.arbitration.optimal import Labels, walk_run
from pol.compiler import ir, offer_settings
from pol.compiler.backend.plan import KernelPlan
from pol.compiler.types import Type
from pol.errors import DataError
from pol.evaluation.assignment_columns import AssignmentColumns, without_carried
from pol.evaluation.assignment_columns import fields as extra_fields
from pol.evaluation.bind import EPOCH, bind, check_nulls, check_schema
from pol.evaluation.experiments import ARM_TYPE, Arms
from pol.evaluation.population import Population
from pol.evaluation.summary import Counts
from pol.evaluation.threads import chunks, run_parts
from pol.io.columns import adapt


def batches_of(data, columns: list[str], optional: bool = False) -> Iterator[pa.RecordBatch]:
    """A Table, RecordBatch, Dataset or iterable of RecordBatches, as batches
    holding only the columns the policy reads (those present: a missing one
    is an error unless `optional`; Stream checks each batch's schema)."""
    import pyarrow.dataset as ds
    if isinstance(data, pa.Table):
        yield from _select(data, columns).to_batches()
    elif isinstance(data, pa.RecordBatch):
        yield _select(data, columns)
    elif isinstance(data, ds.Dataset):
        missing = [c for c in columns if c not in data.schema.names]
        if missing and not optional:
            check_schema_names(missing)
        yield from data.to_batches(columns=[c for c in columns if c in data.schema.names])
    elif isinstance(data, Iterable) and not isinstance(data, (str, bytes, dict)):
        for b in data:
            if isinstance(b, pa.Table):
                yield from _select(b, columns).to_batches()
            elif isinstance(b, pa.RecordBatch):
                yield _select(b, columns)
            else:
                raise TypeError(f"expected pyarrow RecordBatches, got {type(b).__name__}")
    else:
        raise TypeError("data must be a pyarrow Table, RecordBatch, Dataset or an iterable of "
                        f"RecordBatches, not {type(data).__name__}")


def check_schema_names(missing: list[str]) -> None:
    raise DataError(f"column '{missing[0]}' is missing from the input", column=missing[0])


def _select(t, columns):
    present = [c for c in columns if c in t.schema.names]
    return t.select(present) if len(present) < len(columns) or t.schema.names != columns else t


def padded(rows: int, n: int, dtype) -> np.ndarray:
    """An array of `rows` rows of at least n values, each row an odd number of
    cache lines long. A kernel writes every segment (classification, score)
    of a row in turn: rows of a batch of 2^18 (one slice) lay those stores
    256 kB apart, all in one set of the L1 cache, which holds 8; a store then
    cost 5-6 ns against 0.7-0.8 (100 segments: 535 ns a row against 80).
    An odd number of lines spreads the rows over every set."""
    size = np.dtype(dtype).itemsize
    lines = -(-max(n, 1) * size // 64)
    lines += 1 - lines % 2
    return np.empty((rows, lines * 64 // size), dtype)


class BatchOut:
    """What an evaluator computes for one batch. Matching needs either the
    candidate matrices (allocated when an evaluator first asks for them) or,
    from an evaluator that matched in the same pass, `accepted`."""

    def __init__(self, plan: KernelPlan, n: int):
        self.n = n
        self.offers = len(plan.offers)
        # The kernels write these through `kernel_out` (rows padded, see
        # padded()); everything else reads the n columns of each row.
        self.kernel_out = (padded(len(plan.segments), n, np.bool_), padded(len(plan.classifies), n, np.int16),
                           padded(len(plan.scores), n, np.float64))
        self.segs = self.kernel_out[0][:, :n]         # bool[S, n]
        self.classes = self.kernel_out[1][:, :n]      # int16[C, n], -1 null
        self.scores = self.kernel_out[2][:, :n]       # float64[R, n], NaN null
        self._cprio: np.ndarray | None = None
        self._cchan: np.ndarray | None = None
        self.accepted: Flat | None = None
        # with capacities, the pairs a fused kernel handed over to the run-wide
        # walk (arbitrate.PairParts.join; rows in the batch)
        self.handed: tuple | None = None
        self.nonfinite: int | None = None   # NaN or infinities a fused kernel read in non-nullable floats

    @property
    def cprio(self) -> np.ndarray:
        """float64[n, K]: an offer's priority where it is a candidate, NaN elsewhere."""
        if self._cprio is None:
            self._cprio = np.empty((self.n, self.offers), np.float64)
        return self._cprio

    @property
    def cchan(self) -> np.ndarray:
        """int8[n, K]: the candidate's channel, or -3, -2, -1 (engine/arbitration/arbitrate.py)."""
        if self._cchan is None:
            self._cchan = np.empty((self.n, self.offers), np.int8)
        return self._cchan


def active_offers(program: ir.Program, as_of: dt.date) -> np.ndarray:
    return np.array([(o.valid_from is None or o.valid_from <= as_of) and
                     (o.valid_to is None or as_of <= o.valid_to) for o in program.offers], np.bool_)


def keys_of(col: pa.Array) -> Keys:
    if pa.types.is_integer(col.type):
        ints = col.cast(pa.int64()).to_numpy()
        return Keys(True, ints, np.zeros(1, np.int64), np.zeros(1, np.uint8))
    s = col.cast(pa.large_string()) if not pa.types.is_large_string(col.type) else col
    s = pa.concat_arrays([s]) if s.offset else s
    offsets = np.frombuffer(s.buffers()[1], np.int64, count=len(s) + 1)
    data = np.frombuffer(s.buffers()[2], np.uint8) if s.buffers()[2] is not None else np.zeros(1, np.uint8)
    return Keys(False, np.zeros(1, np.int64), offsets, data)


def output_key(col: pa.Array) -> pa.Array:
    if pa.types.is_integer(col.type):
        return col.cast(pa.int64())
    return col.cast(pa.string())


def _match_batch(out: BatchOut, job: MatchJob) -> Flat:
    """A batch's candidate matrices through the per-customer walk, one row
    range per core, into the flat layout a fused kernel writes."""
    rules, keys = job.rules, job.keys
    flat = FlatParts(out.n, rules.max_n)
    parts = chunks(out.n)
    counts = [(np.zeros_like(job.funnel), np.zeros_like(job.by_channel)) for _ in parts]
    run_parts(lambda j, a, b: match_range(
        a, b, out.cprio, out.cchan, rules.max_n, rules.fallback, rules.category, rules.exclusive, rules.holdout_bp,
        rules.holdout_state, rules.room_of, out.scores, keys.is_int, keys.ints, keys.offsets, keys.data,
        *flat.arrays(), *counts[j]), parts)
    for funnel, by_channel in counts:
        job.funnel += funnel
        job.by_channel += by_channel
    return flat.join(parts)


def _bits(mask: np.ndarray) -> pa.Buffer:
    """A bool array as an Arrow bitmap (least significant bit first)."""
    return pa.py_buffer(np.packbits(mask, bitorder="little"))


def _with_nulls(t: pa.DataType, values: np.ndarray, null: np.ndarray) -> pa.Array:
    """Values as they are (zero-copy), null where `null` holds."""
    valid = _bits(~null) if null.any() else None
    return pa.Array.from_buffers(t, len(values), [valid, pa.py_buffer(values)])


def customer_columns(program: ir.Program, plan: KernelPlan, key: pa.Array, out: BatchOut) -> dict:
    """The key and every segment, classification and score column of a batch,
    built from the evaluator's arrays without a pass per value: bitmaps
    packed by numpy, values shared with the arrays."""
    cols = {program.input.key: output_key(key)}
    seg_pos = {s: k for k, s in enumerate(plan.segments)}
    cls_pos = {c: k for k, c in enumerate(plan.classifies)}
    score_pos = {s: k for k, s in enumerate(plan.scores)}
    n = out.segs.shape[1]
    seg_bits = np.packbits(out.segs, axis=1, bitorder="little") if len(plan.segments) else None
    for name in program.outputs:
        if name in seg_pos:
            cols[name] = pa.BooleanArray.from_buffers(pa.bool_(), n, [None, pa.py_buffer(seg_bits[seg_pos[name]])])
        elif name in cls_pos:
            k = cls_pos[name]
            codes = np.ascontiguousarray(out.classes[k])
            # The codes are the evaluator's own, in range: no pass to check them.
            cols[name] = pa.DictionaryArray.from_arrays(_with_nulls(pa.int16(), codes, codes < 0),
                                                        pa.array(plan.class_values[k], pa.string()), safe=False)
        else:
            v = np.ascontiguousarray(out.scores[score_pos[name]])
            cols[name] = _with_nulls(pa.float64(), v, np.isnan(v))
    return cols


class Names:
    """A fixed list of names (offers, channels): codes -> a dictionary column
    (LANGUAGE.md section 8 lets string columns be dictionary-encoded)."""

    def __init__(self, names):
        self.dictionary = pa.array(list(names), pa.string())

    def take(self, codes: np.ndarray) -> pa.Array:
        # The codes are the engine's own, always in range: no pass to check them.
        return pa.DictionaryArray.from_arrays(pa.array(codes), self.dictionary, safe=False)


def output_batches(program: ir.Program, cols: dict, key_ints, flat: Flat, offer_names: Names,
                   channel_names: Names, extra: AssignmentColumns | None = None):
    """The customers and assignments batches of one batch of rows."""
    rows, rank, off, ch, pr, ct, offsets = (flat.rows, flat.rank, flat.offer, flat.chan, flat.prio,
                                            flat.ctrl, flat.offsets)
    more = extra.columns(off, rows, cols) if extra is not None else {}
    cols = without_carried(cols) if extra is not None and extra.carry else cols
    key = cols[program.input.key]
    offers = offer_names.take(off)
    customers = dict(cols, offers=pa.ListArray.from_arrays(pa.array(offsets), offers))
    out_key = pa.array(key_ints[rows]) if key_ints is not None else key.take(pa.array(rows))
    assignments = {
        program.input.key: out_key,
        "offer": offers,
        "rank": pa.array(rank),
        "channel": channel_names.take(ch),
        "priority": pa.array(pr),
        "control": pa.array(ct),
        **more,
    }
    return pa.RecordBatch.from_pydict(customers), pa.RecordBatch.from_pydict(assignments)


def output_schemas(program: ir.Program, plan: KernelPlan, key_type: pa.DataType):
    key_t = pa.int64() if pa.types.is_integer(key_type) else pa.string()
    fields = [pa.field(program.input.key, key_t, nullable=False)]
    for name in program.outputs:
        if name in plan.segments:
            fields.append(pa.field(name, pa.bool_()))
        elif name in plan.classifies:
            fields.append(pa.field(name, pa.dictionary(pa.int16(), pa.string())))
        else:
            fields.append(pa.field(name, pa.float64()))
    for x in program.experiments:
        fields.append(pa.field(x.name, ARM_TYPE, nullable=False))
    names = pa.dictionary(pa.int32(), pa.string())
    fields.append(pa.field("offers", pa.list_(names)))
    customers = pa.schema(fields)
    assignments = pa.schema([
        pa.field(program.input.key, key_t, nullable=False), pa.field("offer", names),
        pa.field("rank", pa.int32()), pa.field("channel", names),
        pa.field("priority", pa.float64()), pa.field("control", pa.bool_()), *extra_fields(program)])
    return customers, assignments


# Rows evaluated at once at most: 2^18 measured fastest on the bench policy
# (2^20 was 15% slower and held 0.3 GiB of intermediates at its peak).
MAX_BATCH_ROWS = 1 << 18


def _without_arms(program: ir.Program) -> ir.Program:
    """The program as the data meets it: the experiments' fields are drawn, not read."""
    if not program.experiments:
        return program
    drawn = {x.name for x in program.experiments}
    inp = program.input
    return dataclasses.replace(program, input=dataclasses.replace(
        inp, fields=tuple(f for f in inp.fields if f.name not in drawn)))


class Stream:
    """Runs batches through an evaluator and matching; hands out output batches.

    `sink(customers_batch, assignments_batch)` receives output in input order:
    batch by batch without capacities, all during `finish()` with them. With
    capacities, finished customer columns wait in a spill file and only the
    compact candidate pairs stay in memory until the run-wide walk.
    """

    def __init__(self, program: ir.Program, plan: KernelPlan, run_batch: Callable, as_of: dt.date,
                 params: dict, sink: Callable[[pa.RecordBatch, pa.RecordBatch], None],
                 path: str | None = None, history=None, spill: bool = True):
        program = offer_settings.with_params(program, params)     # capacities, holdouts, windows from params
        self.program = program
        self.arms = Arms(program)   # experiments: their arms, drawn per batch once the data is checked
        # what the data must hold: the program's input without the arms' fields
        self._given = _without_arms(program)
        self.history = history      # engine/evaluation/history.HistoryTables: aggregate columns
        self.plan = plan
        self.run_batch = run_batch
        self.params = params
        self.sink = sink
        self.path = path
        self.rules = Rules.of(program)
        self.counts = Counts.empty(plan)
        self.active = active_offers(program, as_of)
        self.today = (as_of - EPOCH).days
        self.rows = 0
        self.schema_seen: pa.Schema | None = None
        self._spill = None
        # With capacities, the finished customer columns wait for the walk in
        # a temporary file, unless the sink keeps every batch in memory anyway
        # (`evaluate`): then in a list (writing and reading them back cost a
        # tenth of the telecom library's run).
        self._spills = spill
        self._held: list[pa.RecordBatch] = []
        self._candidates: list[tuple] = []
        # With capacities (the greedy walk), the assignments of the customers
        # that have no candidate of a constrained offer, matched per batch.
        self._kept: list[Kept] = []
        self._offer_names = Names(plan.offers)
        self._channel_names = Names(plan.channels)
        # Non-nullable float fields that a fused kernel checks for NaN itself.
        self._kernel_scans = frozenset(f.name for f in plan.fields if f.type == Type.FLOAT and not f.nullable)
        # Set by `feed` while the batch's unscanned floats are not known clean.
        self._refuse: Callable[[], None] | None = None
        self.extra = AssignmentColumns(program)
        self.as_of = as_of
        self.run_id = str(uuid.uuid4())
        self.absent: list[str] = []     # nullable fields some batch lacked (read as null)
        # LANGUAGE.md 3.14: rows outside the population are dropped before evaluation
        self.population = Population(program) if program.population is not None else None
        if self.population is not None:
            self.counts.outside = 0

    def feed(self, batch: pa.RecordBatch, path: str | None = None, first_row: int | None = None) -> None:
        """One batch in. Data errors name `path` (default: the stream's) and
        count rows from `first_row`, the batch's first row in that file
        (default: its position in the whole run)."""
        path = path or self.path
        if self.history is not None:
            batch = self.history.extend(batch)
        given = self._given
        batch = adapt(given, batch, self.absent)
        if self.schema_seen is None or not batch.schema.equals(self.schema_seen):
            check_schema(given, batch.schema, path)
            self.schema_seen = batch.schema
        row_base = self.rows if first_row is None else first_row
        check_nulls(given, batch, path, row_base, unscanned=self._kernel_scans)
        if self.arms:
            batch = self.arms.extend(batch, keys_of(batch.column(self.program.input.key)))
        if self.population is not None:
            batch = self._in_population(batch)
            if not batch.num_rows:
                return
        # The floats left unscanned are checked, for the whole batch, only if
        # the evaluator did not count them or found some (`_feed_slice`).
        self._refuse = (lambda: check_nulls(given, batch, path, row_base)) if self._kernel_scans else None
        # Large batches in zero-copy slices: the intermediates stay bounded
        # (the candidates take 9 bytes per row and offer) and in cache.
        for start in range(0, batch.num_rows, MAX_BATCH_ROWS):
            self._feed_slice(batch.slice(start, MAX_BATCH_ROWS) if batch.num_rows > MAX_BATCH_ROWS else batch)

    def _in_population(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The batch's rows that are in the population; the others counted."""
        assert self.population is not None and self.counts.outside is not None
        keep = self.population.mask(batch, self.params, self.today)
        inside = int(np.count_nonzero(keep))
        self.counts.outside += batch.num_rows - inside
        return batch if inside == batch.num_rows else batch.filter(pa.array(keep))

    def _feed_slice(self, batch: pa.RecordBatch) -> None:
        n = batch.num_rows
        bound = bind(self.program, self.plan, batch, self.params)
        out = BatchOut(self.plan, n)
        key = batch.column(self.program.input.key)
        keys = keys_of(key)
        job = (None if self.rules.optimal else
               MatchJob(self.rules, keys, self.counts.funnel, self.counts.by_channel))
        self.run_batch(bound, self.active, self.today, out, job)
        if self._refuse is not None and out.nonfinite != 0:
            self._refuse()          # raises if the kernel found some
            self._refuse = None     # another evaluator ran: the batch is clean
        cols = customer_columns(self.program, self.plan, key, out)
        for x in self.program.experiments:
            cols[x.name] = batch.column(x.name)
        self.counts.add_outputs(out, [cols[s] for s in self.plan.segments])
        if self.extra.carry:
            cols.update(self.extra.carried(batch))
        if self.rules.optimal:
            # The optimal allocation weighs every customer's candidates.
            self._candidates.append(self._costed(out, collect_candidates(
                out.cprio, out.cchan, self.rows, self.rules.holdout_bp, self.rules.holdout_state,
                keys.is_int, keys.ints, keys.offsets, keys.data, self.rules.room_of, out.scores, self.counts.funnel)))
            self._hold(cols)
        elif self.rules.has_capacity:
            # Only a customer with a candidate of a constrained offer can be
            # refused by, or take from, a run-wide constraint: everyone
            # else's offers depend on that customer alone and are matched
            # now, per customer; the others' pairs wait for the run-wide walk.
            # A fused kernel did both already (executor.py: `handoff`).
            r = self.rules
            if out.accepted is not None and out.handed is not None:
                rows, *rest = out.handed
                self._candidates.append(self._costed(out, (rows + self.rows, *rest)))
                flat = out.accepted
            else:
                self._candidates.append(self._costed(out, take_constrained(
                    out.cprio, out.cchan, r.constrained, self.rows, r.holdout_bp, r.holdout_state,
                    keys.is_int, keys.ints, keys.offsets, keys.data, r.room_of, out.scores, self.counts.funnel)))
                flat = _match_batch(out, MatchJob(r, keys, self.counts.funnel, self.counts.by_channel))
            self._kept.append(flat.kept())
            self._hold(cols)
        else:
            flat = out.accepted
            if flat is None:
                flat = _match_batch(out, job)
            self._emit(cols, flat)
        self.rows += n

    def _costed(self, out: BatchOut, pairs: tuple) -> tuple:
        """A batch's pairs (rows counted from the run's first) with each
        pair's cost in the budget's units, read while the batch's scores are
        here (a computed cost is a hidden score: LANGUAGE.md 3.11)."""
        rows, offer = pairs[0], pairs[1]
        return (*pairs, self.rules.pair_costs(offer, rows - self.rows, out.scores))

    def _emit(self, cols: dict, flat: Flat) -> None:
        key = cols[self.program.input.key]
        ints = key.to_numpy() if pa.types.is_integer(key.type) else None
        self.sink(*output_batches(self.program, cols, ints, flat, self._offer_names, self._channel_names,
                                  self.extra))

    def _hold(self, cols: dict) -> None:
        batch = pa.RecordBatch.from_pydict(cols)
        if not self._spills:
            self._held.append(batch)
            return
        if self._spill is None:
            import tempfile
            f = tempfile.TemporaryFile(prefix="pol-spill-")
            self._spill = (f, pa.ipc.new_stream(f, batch.schema))
        self._spill[1].write_batch(batch)

    def _held_batches(self) -> Iterator[pa.RecordBatch]:
        """The held customer columns, batch by batch, in input order."""
        if self._spill is None:
            held, self._held = self._held, []
            yield from held
            return
        f, writer = self._spill
        writer.close()
        f.seek(0)
        yield from pa.ipc.open_stream(f)
        f.close()
        self._spill = None

    def finish(self) -> None:
        if not self._candidates:
            if self.rules.optimal:      # no rows: the report of an empty allocation
                empty = np.zeros(0, np.int64)
                _, allocation = walk_run(empty, empty.astype(np.int16), empty.astype(np.int8), empty.astype(np.float64),
                                         empty.astype(np.bool_), empty.astype(np.float64), empty, self.rules,
                                         self.plan.offers, self.counts.funnel, Labels.of(self.program))
                self.counts.allocation = allocation.to_dict() if allocation is not None else None
            return
        rows, offer, chan, prio, ctrl, room, cost = (np.concatenate([c[j] for c in self._candidates]) for j in range(7))
        self._candidates = []
        accepted, allocation = walk_run(rows, offer, chan, prio, ctrl, room, cost, self.rules, self.plan.offers,
                                        self.counts.funnel, Labels.of(self.program))
        if allocation is not None:
            self.counts.allocation = allocation.to_dict()
        base = 0
        kept = iter(self._kept)
        self._kept = []
        for batch in self._held_batches():
            n = batch.num_rows
            lo, hi = np.searchsorted(rows, [base, base + n])
            flat = flat_of_pairs(rows[lo:hi] - base, offer[lo:hi], chan[lo:hi], prio[lo:hi], ctrl[lo:hi],
                                 accepted[lo:hi], n, self.counts.by_channel)
            if not self.rules.optimal:
                flat = merge(next(kept), flat)
            self._emit(dict(zip(batch.schema.names, batch.columns)), flat)
            base += n
