"""The driver's checks and types: a Spark DataFrame's schema against the
policy's input block, its values against the non-nullable fields, and the
Spark types of the outputs.

The rules are the engine's (adapter.check_schema, adapter.check_nulls): the
Spark schema is turned into the Arrow schema the executors will receive and
checked by the same function as a local run. For values, one aggregation in
the JVM says whether any non-nullable field holds a null (or, in a float
field, NaN or an infinity); only then is the slice of input from the first
such row fetched and given to the engine's check, which raises the same
pol.DataError as a local run, naming the column, the file and the rows.
"""
from __future__ import annotations

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import from_arrow_type, to_arrow_type

from pol.errors import DataError
from pol.spark.adapter import check_nulls, check_schema, output_schemas
from pol.spark.worker import ASSIGN, FILE, POS, ROW, nested_names, normalized

# Rows fetched from the first bad one to build the error message.
ERROR_SLICE = 1 << 16


def col(name: str):
    """A column by its exact name (dots and backticks are not paths here)."""
    return F.col("`" + name.replace("`", "``") + "`")


def arrow_schema(df: DataFrame, names: list[str]) -> pa.Schema:
    """The Arrow schema mapInArrow will hand the executors, for `names`
    (those present)."""
    fields = []
    by_name = {f.name: f for f in df.schema.fields}
    for name in names:
        f = by_name.get(name)
        if f is None:
            continue
        try:
            t = to_arrow_type(f.dataType)
        except Exception:   # a Spark type Arrow cannot carry: the check names it
            t = pa.null()
        fields.append(pa.field(name, t))
    return pa.schema(fields)


def check_columns(program, df: DataFrame, path: str | None) -> pa.Schema:
    """Every field of the input block present with a type that fits (the
    engine's check, on the driver, before any job)."""
    schema = arrow_schema(df, [f.name for f in program.input.fields])
    check_schema(program, schema, path)
    return schema


def _bad(program, schema: pa.Schema):
    """Per non-nullable field, the condition that check_nulls refuses."""
    out = []
    for f in program.input.fields:
        if f.nullable:
            continue
        c = col(f.name)
        cond = c.isNull()
        if pa.types.is_floating(schema.field(f.name).type):
            cond = cond | F.isnan(c) | (c == float("inf")) | (c == float("-inf"))
        out.append(cond)
    return out


def check_values(program, data: DataFrame, schema: pa.Schema, files: list[str] | None) -> None:
    """Nulls in non-nullable fields: pol.DataError from the engine's check."""
    conds = _bad(program, schema)
    if not conds:
        return
    bad = conds[0]
    for c in conds[1:]:
        bad = bad | c
    columns = [f.name for f in program.input.fields]
    if files is not None:
        firsts = data.where(bad).groupBy(FILE).agg(F.min(ROW).alias("row")).collect()
        if not firsts:
            return
        order = {f: k for k, f in enumerate(files)}
        raw, row = min(((r[FILE], r["row"]) for r in firsts), key=lambda x: (order[normalized(x[0])], x[1]))
        part = data.where((col(FILE) == raw) & (col(ROW) >= row) & (col(ROW) < row + ERROR_SLICE)).orderBy(ROW)
        path, row_base = normalized(raw), row
    else:
        first = data.where(bad).agg(F.min(POS)).collect()[0][0]
        if first is None:
            return
        part = data.where(col(POS) >= first).orderBy(POS).limit(ERROR_SLICE)
        path, row_base = None, 0
    table = part.select(*[col(c) for c in columns]).toArrow()
    batch = table.combine_chunks().to_batches()[0]
    check_nulls(program, batch, path, row_base)
    raise DataError("a non-nullable field holds nulls, NaN or infinities")   # check_nulls agrees, so unreached


def spark_type(t: pa.DataType) -> T.DataType:
    if pa.types.is_dictionary(t):
        return T.StringType()
    if pa.types.is_list(t):
        return T.ArrayType(spark_type(t.value_type))
    return from_arrow_type(t)


def output_types(program, plan, key_type: pa.DataType) -> tuple[T.StructType, T.StructType]:
    """customers and assignments as Spark types: Policy.evaluate's schemas
    with dictionary columns as strings (Spark has no dictionary type)."""
    pair = output_schemas(program, plan, key_type)
    return tuple(T.StructType([T.StructField(f.name, spark_type(f.type), f.nullable) for f in s]) for s in pair)


def packed_type(customers: T.StructType, assignments: T.StructType, with_pos: bool) -> T.StructType:
    """What the executors emit: customers, each one's assignments nested."""
    nested = T.ArrayType(T.StructType([assignments[n] for n in nested_names(assignments)]))
    fields = list(customers.fields) + [T.StructField(ASSIGN, nested)]
    if with_pos:
        fields.append(T.StructField(POS, T.LongType(), False))
    return T.StructType(fields)
