"""History files for `pol run --history NAME=PATH` (LANGUAGE.md section 12):
a file or folder in any format `--input` takes -> one Arrow table of the
columns the policy's aggregates read.

A history is read whole before the first customer (its events are grouped
by key once per run, engine/evaluation/history.py), through the readers of
engine/io/input_files.py: the same formats, the same schema checks (each
declared field present with a type that fits) and the same errors, naming
the file, column and line.
"""
from __future__ import annotations

import pyarrow as pa

from pol.compiler import ir
from pol.errors import DataError
from pol.evaluation.history import used_fields, view
from pol.io.input_files import Input, read_batches


def parse_history_args(items) -> dict[str, str]:
    """['contacts=PATH', ...] -> {'contacts': 'PATH'}; ValueError names a malformed one."""
    out: dict[str, str] = {}
    for item in items or ():
        name, eq, path = item.partition("=")
        name = name.strip()
        if not eq or not name or not path:
            raise ValueError(f"--history needs NAME=PATH, got '{item}'")
        if name in out:
            raise ValueError(f"--history gives '{name}' twice")
        out[name] = path
    return out


def declared_history(program: ir.Program, name: str, path: str) -> ir.History:
    """The history --history names; a DataError when the policy declares none of that name."""
    declared = {h.name: h for h in program.histories}
    if name not in declared:
        known = ", ".join(sorted(declared)) or "none"
        raise DataError(f"--history names '{name}', but the policy declares no such history "
                        f"(its histories: {known})", path=path)
    return declared[name]


def read_history(program: ir.Program, columns, name: str, path: str) -> pa.Table:
    """The events of history `name` from `path`: the used columns, every file."""
    hist = declared_history(program, name, path)
    shape = view(hist, used_fields(hist, [c for c in columns if c.aggregate.history == name]))
    try:
        inp = Input(shape, path)
    except DataError as e:
        if "holds no rows" not in str(e):
            raise
        # a history without events is a history: nobody has any
        return pa.Table.from_pylist([], schema=_empty_schema(shape))
    batches = [b for f in inp.files for b in read_batches(shape, f)]
    if not batches:
        return pa.Table.from_pylist([], schema=_empty_schema(shape))
    return pa.Table.from_batches(batches)


def customer_events(policy, paths: dict[str, str], record) -> dict[str, list[dict]]:
    """`pol explain --history`: one customer's events of each history, as records."""
    import pyarrow.compute as pc

    from pol.api.records import read_record
    key = read_record(policy.program, record, extra="ignore")[policy.program.input.key]
    out = {}
    for name, path in paths.items():
        events = read_history(policy.program, policy.lowered.columns, name, path)
        hist = policy.program.history(name)
        column = events.column(hist.key)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        mine = events.filter(pc.equal(column, pa.scalar(key, column.type)))
        out[name] = mine.to_pylist()
    return out


def _empty_schema(shape) -> pa.Schema:
    from pol.io.columns import ARROW
    return pa.schema([pa.field(f.name, ARROW[f.type]) for f in shape.input.fields])
