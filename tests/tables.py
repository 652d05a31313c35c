"""Tables compared by their values, whatever encoding carried them."""
import pyarrow as pa


def decoded(t: pa.Table) -> pa.Table:
    """Dictionary columns as plain strings: Parquet may bring back other
    index widths, Spark has no dictionary type, and equal values are what
    count."""
    cols = []
    for f, c in zip(t.schema, t.columns):
        if pa.types.is_dictionary(f.type):
            c = c.cast(f.type.value_type)
        elif pa.types.is_list(f.type) and pa.types.is_dictionary(f.type.value_type):
            c = c.cast(pa.list_(pa.string()))
        cols.append(c)
    return pa.table(cols, names=t.column_names)
