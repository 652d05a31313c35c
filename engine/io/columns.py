"""Input columns as the policy reads them (LANGUAGE.md section 8.1): a
nullable field the data leaves out reads as all null, and a decimal column
(decimal128/256) given for a `float` field is converted to float64.

The conversion rounds each decimal to the nearest float64 (about 15-17
significant digits): exact for money in yuan and fen up to 10^13, never
exact for values that need more digits.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from pol.compiler import ir
from pol.compiler.types import Type

# Each field type as an Arrow column: how pol builds the columns it makes
# (absent fields, carried fields and attributes, CSV and record input,
# generated data). Every reader and writer takes the type from here.
ARROW = {Type.INT: pa.int64(), Type.FLOAT: pa.float64(), Type.BOOL: pa.bool_(), Type.STRING: pa.string(),
         Type.DATE: pa.date32(), Type.TIMESTAMP: pa.timestamp("us"),
         Type.LIST_INT: pa.list_(pa.int64()), Type.LIST_STRING: pa.list_(pa.string())}


def is_decimal(t: pa.DataType) -> bool:
    return pa.types.is_decimal(t)


def absent_fields(program: ir.Program, names) -> list[str]:
    """The nullable fields of the input block that a schema's `names` lack."""
    have = set(names)
    return [f.name for f in program.input.fields if f.nullable and f.name not in have]


def adapt(program: ir.Program, batch: pa.RecordBatch, absent: list[str]) -> pa.RecordBatch:
    """The batch with a null column for each absent nullable field and its
    decimal float fields as float64; the absent fields are added to `absent`
    (once each, in input-block order)."""
    names = batch.schema.names
    have = set(names)
    extra: list[tuple[str, pa.Array]] = []
    cast: dict[str, pa.Array] = {}
    for f in program.input.fields:
        if f.name not in have:
            if f.nullable:
                extra.append((f.name, pa.nulls(batch.num_rows, ARROW[f.type])))
                if f.name not in absent:
                    absent.append(f.name)
        elif f.type == Type.FLOAT and is_decimal(batch.schema.field(f.name).type):
            cast[f.name] = pc.cast(batch.column(f.name), pa.float64(), safe=False)
    if not extra and not cast:
        return batch
    arrays = [cast.get(n, batch.column(k)) for k, n in enumerate(names)] + [a for _, a in extra]
    return pa.RecordBatch.from_arrays(arrays, names=list(names) + [n for n, _ in extra])
