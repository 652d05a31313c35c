"""Binding Arrow data: a RecordBatch -> the kernel's arguments.

The schema is checked against the policy's `input` block before anything is
evaluated (pol.DataError names the column). Then each field the policy reads
becomes numpy views of the Arrow buffers, without copying where Arrow's layout
is already what the kernel reads: numbers and dates as they are, booleans and
validity as their bitmaps (the kernel reads bits), strings as dictionary codes
mapped into one string table per batch whose first entries are the policy's
own literals. Only float16, date64, timestamps and plain (non-dictionary)
strings are converted.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from pol.compiler import ir
from pol.compiler.backend.plan import KernelPlan
from pol.compiler.types import MICROS_PER_DAY, Type, micros
from pol.errors import DataError
from pol.evaluation import lists
from pol.evaluation.strings import lookups

EPOCH = dt.date(1970, 1, 1)
_INT_TYPES = (pa.types.is_int8, pa.types.is_int16, pa.types.is_int32, pa.types.is_int64,
              pa.types.is_uint8, pa.types.is_uint16, pa.types.is_uint32)
_ACCEPTED = {
    Type.INT: "an integer type (int8-int64, uint8-uint32)",
    Type.FLOAT: "a float, integer or decimal type",
    Type.BOOL: "bool",
    Type.STRING: "string, large_string or dictionary of string",
    Type.DATE: "date32, date64 or timestamp",
    Type.TIMESTAMP: "timestamp (any unit, with or without a time zone), date32 or date64",
    Type.LIST_INT: "list or large_list of an integer type (int8-int64, uint8-uint32)",
    Type.LIST_STRING: "list or large_list of string, large_string or dictionary of string",
}
_UNIT_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}


def _is_int(t: pa.DataType) -> bool:
    return any(f(t) for f in _INT_TYPES)


def fits(t: Type, at: pa.DataType) -> bool:
    if t.element is not None:
        return lists.fits(t.element, at)
    if t == Type.INT:
        return _is_int(at)
    if t == Type.FLOAT:
        # decimals are converted to float64 first (pol.io.columns)
        return pa.types.is_floating(at) or _is_int(at) or pa.types.is_decimal(at)
    if t == Type.BOOL:
        return pa.types.is_boolean(at)
    if t == Type.STRING:
        if pa.types.is_dictionary(at):
            at = at.value_type
        return pa.types.is_string(at) or pa.types.is_large_string(at)
    if t in (Type.DATE, Type.TIMESTAMP):
        return pa.types.is_date32(at) or pa.types.is_date64(at) or pa.types.is_timestamp(at)
    return False


def check_schema(program: ir.Program, schema: pa.Schema, path: str | None = None) -> None:
    """Every field of the input block present with a type that fits."""
    problems = []
    for f in program.input.fields:
        idx = schema.get_field_index(f.name)
        if idx < 0:
            if f.nullable:
                continue        # read as all null (pol.io.columns)
            hint = _similar(f.name, schema.names)
            problems.append(f"column '{f.name}' ({f.type}) is missing from the input{hint}")
            continue
        at = schema.field(idx).type
        if not fits(f.type, at):
            problems.append(f"column '{f.name}' has type {at}, but the policy declares it "
                            f"{f.type}: expected {_ACCEPTED[f.type]}")
    if problems:
        first = problems[0].split("'")[1]
        raise DataError("; ".join(problems), column=first, path=path)


def _similar(name: str, names: list[str]) -> str:
    import difflib
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.7)
    return f" (did you mean '{close[0]}'?)" if close else ""


def key_text(values: pa.Array, rows: np.ndarray) -> str:
    return ", ".join(str(values[int(r)].as_py()) for r in rows)


@njit(cache=True, nogil=True)
def _count_nonfinite(x):
    n = 0
    for v in x:
        if not np.isfinite(v):
            n += 1
    return n


def _float_values(arr: pa.Array) -> np.ndarray:
    if pa.types.is_float16(arr.type):
        arr = pc.cast(arr, pa.float64())
    return _values(arr)


def _values(arr: pa.Array) -> np.ndarray:
    """The value buffer of a fixed-width array as a numpy view, offset applied."""
    t = arr.type
    if pa.types.is_date32(t):
        dtype = np.int32
    elif pa.types.is_date64(t) or pa.types.is_timestamp(t):
        dtype = np.int64
    else:
        dtype = t.to_pandas_dtype()
    buf = arr.buffers()[1]
    return np.frombuffer(buf, dtype=dtype, count=arr.offset + len(arr))[arr.offset:]


def _bitmap(buf) -> np.ndarray:
    return np.frombuffer(buf, dtype=np.uint8)


def check_nulls(program: ir.Program, batch: pa.RecordBatch, path: str | None = None,
                row_base: int = 0, unscanned: frozenset = frozenset()) -> None:
    """Nulls (and, in float fields, NaN or infinities) in non-nullable fields.
    Float fields named in `unscanned` are not scanned for NaN here: a fused
    kernel counts those as it reads them (engine/evaluate.Stream)."""
    key = batch.column(program.input.key)
    for f in program.input.fields:
        if f.nullable:
            continue
        col = batch.column(f.name)
        bad = col.null_count
        what = "null"
        if not bad and f.type == Type.FLOAT and f.name not in unscanned and pa.types.is_floating(col.type):
            bad = _count_nonfinite(_float_values(col))
            what = "NaN or infinite (read as null)"
        if bad and unscanned:
            # Report the first problem in input order, scanned or not.
            check_nulls(program, batch, path, row_base)
        if bad:
            mask = pc.invert(pc.is_finite(col)) if what != "null" else pc.is_null(col)
            rows = np.flatnonzero(mask.to_numpy(zero_copy_only=False))[:5]
            if f.name == program.input.key:
                where = "rows " + ", ".join(str(row_base + r + 1) for r in rows)
                fix = "every customer needs a key: fill the gaps or drop those rows"
            else:
                where = "keys " + key_text(key, rows)
                fix = f"declare it '{f.name}: {f.type}?' or fill the gaps"
            kind = "the key" if f.name == program.input.key else "a non-nullable field"
            raise DataError(
                f"column '{f.name}' is {kind} but holds {bad} {what} value{'s' if bad != 1 else ''} "
                f"(first at {where}); {fix}",
                column=f.name, path=path)


@dataclass
class Bound:
    """One batch, ready for the kernel: every argument of the plan's layout
    that comes from the batch and the params, by name
    (compiler/backend/layout.KernelLayout.bound)."""
    n: int
    args: dict[str, object]
    strings: pa.Array           # the batch's string table


def _days(arr: pa.Array) -> np.ndarray:
    t = arr.type
    if pa.types.is_date32(t):
        return _values(arr)
    if pa.types.is_date64(t):
        return np.floor_divide(_values(arr), 86_400_000)
    if t.tz is not None:
        arr = pc.local_timestamp(arr)
    raw = _values(arr)
    return np.floor_divide(raw, _UNIT_PER_DAY[t.unit])


_MICROS_PER_UNIT = {"s": 1_000_000, "ms": 1_000, "us": 1}


def _micros(arr: pa.Array) -> np.ndarray:
    """A timestamp column as kernels hold it: microseconds of wall-clock time
    since 1970-01-01T00:00. A column with a time zone gives the wall-clock
    time in that zone; nanoseconds are floored to the microsecond; a date is
    its midnight (LANGUAGE.md section 2)."""
    t = arr.type
    if pa.types.is_date32(t) or pa.types.is_date64(t):
        return _days(arr).astype(np.int64) * MICROS_PER_DAY
    if t.tz is not None:
        arr = pc.local_timestamp(arr)
    raw = _values(arr)
    if t.unit == "ns":
        return np.floor_divide(raw, 1_000)
    return raw * _MICROS_PER_UNIT[t.unit] if t.unit != "us" else raw


def _validity(arr: pa.Array):
    buf = arr.buffers()[0]
    if buf is None or arr.null_count == 0:
        return [np.zeros(1, np.uint8), 0, False]
    return [_bitmap(buf), arr.offset, True]


def _as_dictionary(arr: pa.Array) -> pa.DictionaryArray:
    if pa.types.is_dictionary(arr.type) and arr.dictionary.null_count == 0:
        return arr
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    return pc.dictionary_encode(arr)


def param_value(t: Type, value) -> tuple[object, bool]:
    if value is None:
        return {Type.FLOAT: 0.0, Type.BOOL: False}.get(t, 0), False
    if t == Type.DATE:
        return (value - EPOCH).days, True
    if t == Type.TIMESTAMP:
        return micros(value), True
    if t == Type.FLOAT:
        return float(value), True
    return value, True


def param_args(plan: KernelPlan, params: dict, code_of: Callable[[str], int]) -> dict[str, object]:
    """Every param's (value, valid) arguments by name; `code_of` gives a
    string's code in the string table (adding it when new)."""
    args: dict[str, object] = {}
    for p, names in zip(plan.params, plan.layout.params):
        v = params[p.name]
        if p.type == Type.STRING and v is not None:
            args[names.value], args[names.valid] = code_of(v), True
        elif p.type.element is not None:
            # sorted and distinct: the kernels' runtime.member searches it
            codes = [code_of(s) for s in v] if p.type.element == Type.STRING else list(v)
            args[names.value], args[names.valid] = np.unique(np.array(codes, np.int64)), True
        else:
            args[names.value], args[names.valid] = param_value(p.type, v)
    return args


def bind(program: ir.Program, plan: KernelPlan, batch: pa.RecordBatch, params: dict) -> Bound:
    n = batch.num_rows
    strings = list(plan.literals)
    seen = {s: k for k, s in enumerate(strings)}

    def code_of(v: str) -> int:
        if v not in seen:
            seen[v] = len(strings)
            strings.append(v)
        return seen[v]

    args = param_args(plan, params, code_of)
    table = pa.array(strings, pa.string())
    for f, names in zip(plan.fields, plan.layout.fields):
        col = batch.column(f.name)
        if f.type.element is not None:
            flat, args[names.offsets] = lists.elements(col)
            if f.type.element == Type.STRING:
                flat = lists.string_elements(flat)
                fresh = pc.unique(pc.filter(flat, pc.invert(pc.is_in(flat, value_set=table))))
                if len(fresh):
                    table = pa.concat_arrays([table, fresh])
                codes = pc.index_in(flat, value_set=table)
                args[names.values] = codes.to_numpy(zero_copy_only=False).astype(np.int64)
            else:
                args[names.values] = flat.to_numpy(zero_copy_only=False).astype(np.int64)
            validity = col
        elif f.type == Type.STRING:
            col = _as_dictionary(col)
            dictionary = col.dictionary.cast(pa.string())
            fresh = pc.filter(dictionary, pc.invert(pc.is_in(dictionary, value_set=table)))
            if len(fresh):
                table = pa.concat_arrays([table, pc.unique(fresh)])
            remap = pc.index_in(dictionary, value_set=table).to_numpy(zero_copy_only=False).astype(np.int64)
            if not len(remap):          # every value null: nothing is ever looked up
                remap = np.zeros(1, np.int64)
            args[names.values], args[names.remap] = _values(col.indices), remap
            validity = col.indices
        elif f.type == Type.BOOL:
            args[names.values], args[names.bit_offset] = _bitmap(col.buffers()[1]), col.offset
            validity = col
        elif f.type == Type.DATE:
            args[names.values] = _days(col)
            validity = col
        elif f.type == Type.TIMESTAMP:
            args[names.values] = _micros(col)
            validity = col
        elif f.type == Type.FLOAT:
            args[names.values] = _float_values(col)
            validity = col
        else:
            args[names.values] = _values(col)
            validity = col
        if f.nullable:
            args[names.validity], args[names.validity_offset], args[names.has_nulls] = _validity(validity)
    if not len(table):          # lookups index the table: give them one slot
        table = pa.array([""], pa.string())
    table, luts = lookups(plan, table)
    for arr, name in zip(luts, plan.layout.luts):
        args[name] = arr
    if plan.quants:
        lists.truths(plan, args)
    return Bound(n, args, table)
