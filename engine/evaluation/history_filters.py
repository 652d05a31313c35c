"""The aggregates' filters (`where`) as lookup tables over the codes of the
fields they read, tested by the aggregation scan per event
(engine/evaluation/history_kernel.py) instead of a pass over the events.

A filter reads only the event's fields (compiler/frontend/history.py), and
most fields a filter tests have few values: a string is one of its
dictionary's, a bool one of three, a channel number or a date one of a
short range. Each such field gets a code per event (its dictionary index,
or the value less the lowest; the last code is null), and the filter is
evaluated by the vectorized evaluator once per combination of its fields'
values, a table of a few rows, so it means exactly what the same condition
means anywhere else. The scan finds an event's row in the table from its
codes: the filter is a lookup, not a pass. No user text becomes code; the
tables are data.

A filter that reads a float, a timestamp or a field with too many values
(the product of its fields' counts over _MAX_TABLE) is evaluated over the
events by the vectorized evaluator, as before, and enters the scan as a
code of its own (0 false, 1 true) with the table [false, true].

    compile_filters(hist, fields, table, wheres, today) -> Filters
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pol.compiler import ir
from pol.compiler.backend.plan import plan as make_plan
from pol.compiler.types import Type
from pol.evaluation.bind import _days, _validity, _values, bind
from pol.evaluation.history_events import int_row, span, whole

_MAX_TABLE = 1 << 16        # rows of a filter's table: beyond, the events' own pass
_MAX_RANGE = 1 << 12        # values of an int or date field read as codes
_SLICE = 1 << 20            # events filtered at once by the fallback: bounded intermediates


@dataclass
class Filters:
    """codes int32[F, E] (a row per field read as codes, or per fallback
    filter's 0/1); terms int64[M, K, 2] (each filter's (code row, stride),
    row -1 past its last); tables bool[...] (all filters' tables one after
    the other), starts int64[M] (where each begins)."""
    codes: np.ndarray
    terms: np.ndarray
    tables: np.ndarray
    starts: np.ndarray


def compile_filters(hist: ir.History, fields, table: pa.Table, wheres: list[ir.Expr], today: int) -> Filters:
    """Each of `wheres` (distinct, in order) over the events of `table`."""
    events = table.num_rows
    read = [sorted({x.name for x in ir.walk(w) if isinstance(x, ir.FieldRef)}) for w in wheres]
    # a row per field and per filter at most; rows never written are never faulted in
    codes = np.empty((len({n for names in read for n in names}) + len(wheres), events), np.int32)
    rows = 0
    coded: dict[str, tuple[int, pa.Array]] = {}       # field -> (code row, values by code)
    wide: set[str] = set()                            # fields of too many values
    terms = np.full((len(wheres), max([len(names) for names in read] + [1]), 2), -1, np.int64)
    tables: list[np.ndarray] = []
    starts = np.zeros(len(wheres), np.int64)
    at = 0
    for m, (w, names) in enumerate(zip(wheres, read)):
        for name in names:
            if name not in coded and name not in wide and events:
                values = _field_codes(whole(table.column(name)), hist.field(name).type, codes[rows])
                if values is None:
                    wide.add(name)
                else:
                    coded[name] = (rows, values)
                    rows += 1
        sizes = [len(coded[n][1]) for n in names if n in coded]
        if events and len(sizes) == len(names) and int(np.prod(sizes, dtype=np.float64)) <= _MAX_TABLE:
            strides = np.cumprod([1] + sizes[::-1])[:-1][::-1] if sizes else []
            for k, (name, stride) in enumerate(zip(names, strides)):
                terms[m, k] = (coded[name][0], stride)
            t = _table(hist, w, [(n, coded[n][1]) for n in names], sizes, today)
        else:
            terms[m, 0] = (rows, 1)
            codes[rows] = _mask(hist, fields, table, w, today)
            rows += 1
            t = np.array([False, True])
        starts[m] = at
        at += len(t)
        tables.append(t)
    return Filters(codes[:rows], terms, np.concatenate(tables) if tables else np.zeros(1, np.bool_), starts)


def _field_codes(col: pa.Array, t: Type, out: np.ndarray) -> pa.Array | None:
    """Each event's code of the field into `out`; the field's value of each
    code (the last: null), or None where the field has too many values."""
    shift = 0
    if t == Type.STRING:
        enc = col if pa.types.is_dictionary(col.type) else col.dictionary_encode()
        values = enc.dictionary.cast(pa.string())
        raw, validity = _values(enc.indices), _validity(enc.indices)
    elif t == Type.BOOL:
        values = pa.array([False, True])
        raw, validity = col.fill_null(False).to_numpy(zero_copy_only=False), _validity(col)
    elif t in (Type.INT, Type.DATE) and not (t == Type.INT and col.type == pa.uint64()):
        raw, validity = (_days(col) if t == Type.DATE else _values(col)), _validity(col)
        found = span(raw, validity)
        if found is None or found[1] - found[0] >= _MAX_RANGE:
            return None
        shift = found[0]
        every = np.arange(found[0], found[1] + 1, dtype=np.int64)
        values = (pa.array(every.astype(np.int32), pa.int32()).view(pa.date32()) if t == Type.DATE
                  else pa.array(every, pa.int64()))
    else:
        return None
    int_row(raw, validity, len(values), out, shift)
    return pa.concat_arrays([values, pa.nulls(1, values.type)])


def _program(hist: ir.History, fields, wheres: list[ir.Expr]) -> ir.Program:
    """A program of the events' fields whose segments are the filters."""
    names = tuple(f"where:{k}" for k in range(len(wheres)))
    return ir.Program(
        name=hist.name, version=None,
        input=ir.Input(hist.name, hist.key, tuple(ir.InputField(f.name, f.type, True) for f in fields)),
        params=(), lets=(), segments=tuple(ir.Segment(n, None, w) for n, w in zip(names, wheres)),
        classifies=(), scores=(), channels=(), offers=(), arbitrate=ir.Arbitrate(), tests=(),
        order=names, outputs=names)


def _evaluate(program: ir.Program, batch: pa.RecordBatch, today: int) -> np.ndarray:
    """bool[M, n]: the program's segments over the batch (the vectorized evaluator; null: false)."""
    from pol.evaluation.stream import BatchOut
    from pol.evaluation.vector import VectorExecutor
    plan = make_plan(program)
    run = VectorExecutor(program, plan)
    out = BatchOut(plan, batch.num_rows)
    run(bind(program, plan, batch, {}), np.zeros(0, np.bool_), today, out)
    return out.segs


def _table(hist: ir.History, w: ir.Expr, coded: list[tuple[str, pa.Array]], sizes: list[int],
           today: int) -> np.ndarray:
    """bool[prod(sizes)]: the filter at every combination of its fields' values
    (the first field's code varies slowest)."""
    fields = [hist.field(n) for n, _ in coded]
    rows = int(np.prod(sizes, dtype=np.int64)) if sizes else 1
    if not coded:
        # a filter of no field (literals, `today`): one row of any field
        fields = [hist.field(hist.at)]
        coded = [(hist.at, pa.nulls(1, pa.date32()))]
        sizes = [1]
    index = np.indices(sizes).reshape(len(sizes), rows)
    arrays = [values.take(pa.array(index[k])) for k, (_, values) in enumerate(coded)]
    batch = pa.RecordBatch.from_arrays(arrays, [n for n, _ in coded])
    return _evaluate(_program(hist, fields, [w]), batch, today)[0].copy()


def _mask(hist: ir.History, fields, table: pa.Table, w: ir.Expr, today: int) -> np.ndarray:
    """bool[E]: the filter over every event (the vectorized evaluator, a slice at a time)."""
    program = _program(hist, fields, [w])
    mask = np.zeros(table.num_rows, np.bool_)
    batch = table.combine_chunks().to_batches()
    if not batch:
        return mask
    for start in range(0, table.num_rows, _SLICE):
        part = batch[0].slice(start, _SLICE)
        mask[start:start + part.num_rows] = _evaluate(program, part, today)[0]
    return mask
