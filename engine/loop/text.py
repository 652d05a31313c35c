"""Nested change columns as text, for spreadsheets and terminals.

In: a changes batch (compare.py's columns, lists of names and of
{name, from, to} structs). Out: the same batch with every list column as
one string ("churn_warning; at_risk", "tier: 银卡 → 金卡",
"family_bundle: app #2 → store #1"), built with Arrow compute kernels,
no row loop.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

SEP = "; "
ARROW = " → "


def _null_text(a: pa.Array) -> pa.Array:
    return pc.fill_null(a.cast(pa.string()), "null")


def _joined(lists: pa.ListArray, text: pa.Array) -> pa.Array:
    offsets = pc.subtract(lists.offsets, lists.offsets[0]).cast(pa.int32())
    return pc.binary_join(pa.ListArray.from_arrays(offsets, text), SEP)


def _change_text(flat: pa.StructArray) -> pa.Array:
    name, old, new = (flat.field(k) for k in ("name", "from", "to"))
    return pc.binary_join_element_wise(name, ": ", _null_text(old), ARROW, _null_text(new), "")


def _move_text(flat: pa.StructArray) -> pa.Array:
    def side(prefix):
        control = pc.if_else(flat.field(f"{prefix}_control"), " (control)", "")
        return pc.binary_join_element_wise(_null_text(flat.field(f"{prefix}_channel")), " #",
                                           flat.field(f"{prefix}_rank").cast(pa.string()), control, "")
    return pc.binary_join_element_wise(flat.field("offer"), ": ", side("from"), ARROW, side("to"), "")


def plain_changes(batch: pa.RecordBatch) -> pa.RecordBatch:
    cols, fields = [], []
    for f, col in zip(batch.schema, batch.columns):
        if pa.types.is_list(f.type):
            flat = col.flatten()
            vt = f.type.value_type
            if pa.types.is_struct(vt):
                text = _move_text(flat) if vt.get_field_index("offer") >= 0 else _change_text(flat)
            else:
                text = flat
            col = _joined(col, text)
            f = pa.field(f.name, pa.string())
        cols.append(col)
        fields.append(f)
    return pa.RecordBatch.from_arrays(cols, schema=pa.schema(fields))
