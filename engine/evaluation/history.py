"""History tables for batch runs: each history's events -> grouped once per
run -> per batch of customers, one column per aggregate (LANGUAGE.md
section 12).

The aggregates' filters read only the event's fields, and the as-of date is
the run's, so every aggregate is a function of the event key alone: it is
computed once per run for every distinct key, and a batch of customers only
looks its keys up (a hash join, `pc.index_in`) and takes the values. No
per-row Python anywhere:

* keys: each event's group, by key (`Groups`): dense int keys are their
  own group, others go through one Arrow hash pass; events need no order;
* filters: every distinct `where` is a table over the codes of the fields it
  reads, made by the vectorized evaluator (engine/evaluation/history_filters.py),
  so a filter means exactly what the same condition means anywhere else;
* aggregation: one pass over the events (engine/evaluation/history_kernel.py
  runs it, history_scan.py generates it, for a large history specialized
  for its aggregates), which looks each event's filters up in those tables.

Memory: the used columns of every event (about 8 bytes per column and event,
strings as dictionary codes), 4 bytes per event and field a filter reads
(its code; a filter evaluated over the events: 4 bytes per event), and per
distinct key 17 bytes per aggregate for the results and a block of
accumulators of at least 64 bytes (8 to 24 bytes per aggregate) while
they are computed.

    HistoryTables(program, columns, tables, as_of, paths)   # checks and groups the events
    HistoryTables.extend(batch)  -> the batch with the aggregate columns added
    HistoryTables.summary()      -> {history: {events, matched, unmatched, undated, future}}
"""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pol.compiler import ir
from pol.compiler.backend.history import Column
from pol.compiler.types import Type
from pol.errors import ArgumentError
from pol.evaluation.bind import EPOCH, _days, _float_values, _validity, _values, check_nulls, check_schema
from pol.evaluation.history_columns import dense_groups, gather
from pol.evaluation.history_events import float_row, int_row, span, valid_row, whole
from pol.evaluation.history_filters import compile_filters
from pol.evaluation.history_kernel import NO_DAY, aggregate, op_code
from pol.evaluation.history_scan import scan_for
from pol.io.columns import ARROW

_ARROW = {Type.INT: pa.int64(), Type.FLOAT: pa.float64(), Type.BOOL: pa.bool_(), Type.DATE: pa.date32()}
# the Arrow type of an aggregate's column as gather builds it (strings: their codes)
_COLUMN = {Type.INT: pa.int64(), Type.FLOAT: pa.float64(), Type.DATE: pa.date32(), Type.STRING: pa.int32()}


def used_fields(hist: ir.History, columns) -> list[ir.InputField]:
    """The fields of a history the aggregates read: key, `at`, their fields and filters."""
    names = {hist.key, hist.at}
    for c in columns:
        a = c.aggregate
        if a.field is not None:
            names.add(a.field)
        if a.where is not None:
            names.update(x.name for x in ir.walk(a.where) if isinstance(x, ir.FieldRef))
    return [f for f in hist.fields if f.name in names]


def view(hist: ir.History, fields) -> SimpleNamespace:
    """A history as an input block, for the readers and checks written for one."""
    return SimpleNamespace(input=ir.Input(hist.name, hist.key, tuple(fields)))


def as_table(data, name: str) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    try:
        import pyarrow.dataset as ds
        if isinstance(data, ds.Dataset):
            return data.to_table()
    except ImportError:         # pragma: no cover
        pass
    raise ArgumentError(f"history '{name}' must be a pyarrow Table, RecordBatch or Dataset, "
                        f"not {type(data).__name__}", argument="history")


def customer_keys(col, key_type: Type):
    """Keys of customers or events in one Arrow type, so that they can be joined."""
    col = whole(col)
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    return col.cast(pa.int64()) if key_type == Type.INT else col.cast(pa.large_string())


class Groups:
    """Event keys -> groups, and customer keys -> the group of their events (-1: none).

    Int keys that lie in a range not much wider than the events (customer
    numbers usually do) are their own group, key - lowest: no hashing, and
    a customer is found by a subtraction. Other int keys are found by binary
    search in the distinct keys sorted once; strings through Arrow's hash
    (`index_in`)."""

    def __init__(self, keys: pa.Array):
        n = len(keys)
        self.dense = self.sorted = None
        if pa.types.is_integer(keys.type) and n and not keys.null_count:
            # one compiled pass for the range, one on every core for the groups
            k = keys.to_numpy(zero_copy_only=False)
            lo, hi = span(k, _validity(keys)) or (0, 0)
            if hi - lo < 2 * n + (1 << 20):
                self.dense = lo
                # int32 groups: the scan reads an event's group on every core
                wide = np.int64 if hi - lo >= np.iinfo(np.int32).max else np.int32
                self.gid = int_row(k, _validity(keys), 0, np.empty(n, wide), lo)
                self.groups = hi - lo + 1
                return
        encoded = pc.dictionary_encode(keys)
        self.gid = encoded.indices.to_numpy(zero_copy_only=False)      # int32
        self.keys = encoded.dictionary
        self.groups = len(self.keys)
        if pa.types.is_integer(keys.type):
            distinct = self.keys.to_numpy(zero_copy_only=False)
            self.order = np.argsort(distinct, kind="stable")
            self.sorted = distinct[self.order]

    def key_values(self, groups: np.ndarray) -> pa.Array:
        """The event key of each of `groups`."""
        if self.dense is not None:
            return pa.array(groups.astype(np.int64) + self.dense, pa.int64())
        return self.keys.take(pa.array(groups, pa.int64()))

    def find(self, keys: pa.Array, seen: np.ndarray) -> np.ndarray:
        """int64[n]: each customer's group, -1 when it has no events (or no
        key); the groups found marked in `seen`."""
        if not self.groups:
            return np.full(len(keys), -1, np.int64)
        if self.dense is not None:
            return dense_groups(_values(keys), _validity(keys), self.dense, self.groups, seen)
        if self.sorted is not None:
            k = keys.to_numpy(zero_copy_only=False) if not keys.null_count else \
                keys.fill_null(0).to_numpy(zero_copy_only=False)
            pos = np.minimum(np.searchsorted(self.sorted, k), self.groups - 1)
            hit = self.sorted[pos] == k
            if keys.null_count:
                hit &= keys.is_valid().to_numpy(zero_copy_only=False)
            g = np.where(hit, self.order[pos], -1).astype(np.int64)
        else:
            idx = pc.index_in(keys, value_set=self.keys)
            g = idx.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        seen[g[g >= 0]] = True
        return g


def event_days(table: pa.Table, hist: ir.History) -> np.ndarray:
    """int64[E]: each event's day (days since 1970-01-01 of the date its `at`
    reads), NO_DAY where `at` is null."""
    if not table.num_rows:
        return np.zeros(0, np.int64)
    at = whole(table.column(hist.at))
    return int_row(_days(at), _validity(at), NO_DAY, np.empty(len(at), np.int64))


class _Grouped:
    """One history's events grouped by key, and its aggregates per key."""

    def __init__(self, hist: ir.History, columns: list[Column], table: pa.Table, key_type: Type,
                 today: int, path: str | None):
        fields = used_fields(hist, columns)
        shape = view(hist, fields)
        check_schema(shape, table.schema, path)
        for f in fields:        # an absent nullable field is all null, as in the input (section 8.1)
            if table.schema.get_field_index(f.name) < 0:
                table = table.append_column(f.name, pa.nulls(table.num_rows, ARROW[f.type]))
        table = table.select([f.name for f in fields]).combine_chunks()
        batch = table.to_batches()[0] if table.num_rows else None
        self.events = table.num_rows
        self.columns = columns
        if batch is not None:
            check_nulls(shape, batch, path)
        self.lookup = Groups(customer_keys(table.column(hist.key), key_type))
        gid, groups = self.lookup.gid, self.lookup.groups
        self.seen = np.zeros(groups, np.bool_)
        day = event_days(table, hist)

        filters, filter_rows = self._filters(hist, fields, table, columns, today)
        ivals, ivalid, fvals, value_rows, self.dictionaries = self._values(hist, table, columns)
        spec = np.zeros((len(columns), 4), np.int64)
        for k, c in enumerate(columns):
            a = c.aggregate
            is_float = a.field is not None and hist.field(a.field).type == Type.FLOAT
            spec[k] = (op_code(a.func, is_float), filter_rows[k], value_rows[k], a.within or 0)
        scan = scan_for(spec, filters.terms, self.events)
        self.ival, self.fval, self.valid, self.sizes, self.undated, self.future = aggregate(
            gid, day, today, spec, filters, ivals, ivalid, fvals, groups, scan)

    @staticmethod
    def _filters(hist, fields, table, columns, today):
        """Each distinct `where` as a table over its fields' codes, and each column's filter (or -1)."""
        wheres: list[ir.Expr] = []
        rows = []
        for c in columns:
            w = c.aggregate.where
            if w is None:
                rows.append(-1)
                continue
            if w not in wheres:
                wheres.append(w)
            rows.append(wheres.index(w))
        return compile_filters(hist, fields, table, wheres, today), rows

    def _values(self, hist, table, columns):
        """The values the aggregates read: ints, dates, bools and string codes
        as int64 rows (with validity), floats as float64 rows (NaN null)."""
        ints: list[str] = []
        floats: list[str] = []
        rows = []
        for c in columns:
            f = c.aggregate.field
            if f is None:
                rows.append(-1)
                continue
            group = floats if hist.field(f).type == Type.FLOAT else ints
            if f not in group:
                group.append(f)
            rows.append(group.index(f))
        n = self.events
        ivals = np.empty((max(len(ints), 1), n), np.int64)
        ivalid = np.zeros((max(len(ints), 1), n), np.bool_)
        fvals = np.empty((max(len(floats), 1), n))
        dictionaries = {}
        if not n:
            return ivals, ivalid, fvals, rows, {name: pa.array([], pa.string()) for name in ints}
        # The value buffers as they are, read by a compiled pass per column on
        # every core (a null's slot holds anything: the validity says which to skip).
        for r, name in enumerate(ints):
            col = whole(table.column(name))
            t = hist.field(name).type
            if t == Type.STRING:
                enc = col.dictionary_encode() if not pa.types.is_dictionary(col.type) else col
                dictionaries[name] = enc.dictionary.cast(pa.string())
                col = enc.indices
                raw = _values(col)
            elif t == Type.BOOL:
                raw = col.fill_null(False).to_numpy(zero_copy_only=False)
            else:
                raw = _days(col) if t == Type.DATE else _values(col)
                raw = raw.view(np.int64) if raw.dtype == np.uint64 else raw
            int_row(raw, _validity(col), 0, ivals[r])
            valid_row(_validity(col), ivalid[r])
        for r, name in enumerate(floats):
            col = whole(table.column(name))
            float_row(_float_values(col) if pa.types.is_floating(col.type) else _values(col), _validity(col), fvals[r])
        return ivals, ivalid, fvals, rows, dictionaries

    def columns_for(self, hist: ir.History, keys: pa.Array, key_type: Type) -> list[pa.Array]:
        """The aggregate columns of a batch of customers with these keys."""
        n = len(keys)
        gidx = self.lookup.find(customer_keys(keys, key_type), self.seen)
        out = []
        for k, c in enumerate(self.columns):
            a = c.aggregate
            # only the kind of value the aggregate has is gathered: a gather per
            # customer and aggregate is most of what a batch costs here
            values = self.fval[k] if a.type == Type.FLOAT else self.ival[k]
            zero = a.func in ("count", "sum")           # nothing counted: 0 (section 12)
            if not self.lookup.groups:
                out.append(self._array(a, np.zeros(n, values.dtype), np.full(n, zero)))
            elif a.type == Type.BOOL:
                has = gidx >= 0
                safe = np.where(has, gidx, 0)
                out.append(self._array(a, values[safe], self.valid[k][safe] & has))
            else:
                col = gather(gidx, self.valid[k], values, zero, _COLUMN[a.type])
                out.append(pa.DictionaryArray.from_arrays(col, self.dictionaries[a.field])
                           if a.type == Type.STRING else col)
        return out

    def _array(self, a: ir.Aggregate, value, valid) -> pa.Array:
        """The column of one aggregate: `value` float64 for a float, int64 for the rest."""
        mask = ~valid
        if a.type == Type.FLOAT:
            return pa.array(value, pa.float64(), mask=mask)
        if a.type == Type.STRING:
            codes = pa.array(value.astype(np.int32), pa.int32(), mask=mask)
            return pa.DictionaryArray.from_arrays(codes, self.dictionaries[a.field])
        if a.type == Type.DATE:
            return pa.array(value.astype(np.int32), pa.int32(), mask=mask).view(pa.date32())
        if a.type == Type.BOOL:
            return pa.array(value.astype(np.bool_), pa.bool_(), mask=mask)
        return pa.array(value, pa.int64(), mask=mask)

    def summary(self) -> dict:
        matched = int(self.sizes[self.seen].sum())      # the events of the groups a customer had
        return {"events": self.events, "matched": matched, "unmatched": self.events - matched,
                "undated": self.undated, "future": self.future}


def given(program: ir.Program, columns, tables) -> list[tuple[ir.History, list[Column]]]:
    """The histories a run groups (each with its aggregates): those the
    policy reads, and those given; ArgumentError for one given that the
    policy does not declare, or read and not given."""
    if not isinstance(tables, dict):
        raise ArgumentError("history must be a dict of history name -> table, not "
                            f"{type(tables).__name__}", argument="history")
    declared = {h.name for h in program.histories}
    for name in tables:
        if name not in declared:
            raise ArgumentError(f"the policy declares no history '{name}'"
                                + (f"; it declares {', '.join(sorted(declared))}" if declared else ""),
                                argument="history")
    out = []
    for h in program.histories:
        mine = [c for c in columns if c.aggregate.history == h.name]
        if not mine and h.name not in tables:
            continue
        if h.name not in tables:
            raise ArgumentError(f"the policy reads history '{h.name}' but no events were given for it "
                                f"(history={{'{h.name}': table}}, or pol run --history {h.name}=PATH)",
                                argument="history")
        out.append((h, mine))
    return out


PER_KEY = ("events", "undated", "future")      # by_key's counts per key, after the aggregates


def by_key(hist: ir.History, columns: list[Column], table: pa.Table, key_type: Type, as_of: dt.date) -> pa.RecordBatch:
    """One row per distinct event key of `table`: the key (int64 or string),
    every aggregate (named as the lowered program's fields) and the key's
    counts of events, undated and future events (PER_KEY). A Spark run
    groups each partition of events (all of a key's in one) with this, the
    local run's grouping and aggregation; its summary adds the counts up."""
    today = (as_of - EPOCH).days
    g = _Grouped(hist, columns, table, key_type, today, None)
    sizes = g.sizes
    present = np.flatnonzero(sizes)
    keys = g.lookup.key_values(present)
    if pa.types.is_large_string(keys.type):
        keys = keys.cast(pa.string())
    arrays = [keys, *g.columns_for(hist, keys, key_type)]
    day = event_days(table.select([hist.at]), hist)
    gid, groups = g.lookup.gid, g.lookup.groups
    undated = np.bincount(gid[day == NO_DAY], minlength=groups)
    future = np.bincount(gid[(day != NO_DAY) & (day > today)], minlength=groups)
    arrays += [pa.array(counts[present].astype(np.int64)) for counts in (sizes, undated, future)]
    return pa.RecordBatch.from_arrays(arrays, [hist.key, *(c.name for c in columns), *PER_KEY])


class HistoryTables:
    """Every history a run uses, grouped once; hands each batch its aggregate columns."""

    def __init__(self, program: ir.Program, columns, tables: dict, as_of: dt.date,
                 paths: dict | None = None):
        self.key = program.input.key
        self.input = program.input
        self.key_type = program.input.field(self.key).type
        today = (as_of - EPOCH).days
        self.columns = tuple(columns)
        self.groups: dict[str, _Grouped] = {}
        for h, mine in given(program, self.columns, tables):
            table = as_table(tables[h.name], h.name)
            self.groups[h.name] = _Grouped(h, mine, table, self.key_type, today, (paths or {}).get(h.name))
        self.histories = {h.name: h for h in program.histories}

    def extend(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The batch with one column per aggregate, named as the lowered program's fields."""
        if not self.columns:
            return batch
        if self.key not in batch.schema.names:
            # the input's own check names the column; the aggregates' are not its business
            from pol.evaluation.bind import check_schema
            check_schema(SimpleNamespace(input=self.input), batch.schema)
        keys = batch.column(self.key)
        arrays, names = list(batch.columns), list(batch.schema.names)
        for name, g in self.groups.items():
            if not g.columns:
                continue
            arrays += g.columns_for(self.histories[name], keys, self.key_type)
            names += [c.name for c in g.columns]
        return pa.RecordBatch.from_arrays(arrays, names)

    def summary(self) -> dict:
        return {name: g.summary() for name, g in self.groups.items()}

