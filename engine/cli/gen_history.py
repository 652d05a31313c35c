"""Events for a policy's histories (`pol gen N OUT --policy POLICY`, LANGUAGE.md
section 12): a checked ir.Program and the customers pol gen made -> one Arrow
table of events per declared history, whose values make the aggregates'
filters true for some events and false for others.

* about 3 events per customer; 5% carry a key no customer has (a run counts
  them as unmatched);
* `at`: within twice the longest `within` window the policy uses (90 days
  without one) before the as-of date, 3% after it (never counted); null in
  about 5% of events when the field is nullable;
* every other field as pol gen draws a customer field (engine/cli/gen.py),
  around what the aggregates' `where` compares it with.

The same arguments always give the same tables.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pol.cli.gen import GENERATORS, NULL_SHARE, Hints, hints
from pol.compiler import ir
from pol.compiler.types import Type
from pol.io.columns import ARROW

EVENTS_PER_CUSTOMER = 3
UNMATCHED_SHARE = 0.05
FUTURE_SHARE = 0.03
_EPOCH = dt.date(1970, 1, 1)


def _aggregates(program: ir.Program, name: str) -> list[ir.Aggregate]:
    from pol.compiler.backend.history import lower
    return [c.aggregate for c in lower(program).columns if c.aggregate.history == name]


def _where_hints(hist: ir.History, aggs: list[ir.Aggregate], as_of: dt.date) -> dict[str, Hints]:
    """What the filters compare each event field with: the filters as the
    segments of a program over the event's fields, read as pol gen reads one."""
    wheres = [a.where for a in aggs if a.where is not None]
    names = tuple(f"where:{k}" for k in range(len(wheres)))
    mini = ir.Program(name=hist.name, version=None, input=ir.Input(hist.name, hist.key, hist.fields), params=(),
                      lets=(), segments=tuple(ir.Segment(n, None, w) for n, w in zip(names, wheres)),
                      classifies=(), scores=(), channels=(), offers=(), arbitrate=ir.Arbitrate(), tests=(),
                      order=names, outputs=names)
    return hints(mini, as_of)


def generate_events(program: ir.Program, customers: pa.Table, seed: int = 7,
                    as_of: dt.date | None = None) -> dict[str, pa.Table]:
    """history name -> its events for these customers."""
    as_of = as_of or dt.date.today()
    out = {}
    keys = customers.column(program.input.key).combine_chunks() if customers.num_rows else None
    for k, hist in enumerate(program.histories):
        rng = np.random.default_rng([seed, k])
        n = EVENTS_PER_CUSTOMER * customers.num_rows
        aggs = _aggregates(program, hist.name)
        found = _where_hints(hist, aggs, as_of)
        span = 2 * max([a.within for a in aggs if a.within] or [45])
        columns, schema = [], []
        for f in hist.fields:
            schema.append(pa.field(f.name, ARROW[f.type], nullable=f.nullable))
            if f.name == hist.key:
                col = _keys(rng, n, keys, f.type)
            elif f.name == hist.at:
                days = (as_of - _EPOCH).days - rng.integers(0, span, n)
                future = rng.random(n) < FUTURE_SHARE
                days = np.where(future, (as_of - _EPOCH).days + 1 + rng.integers(0, 30, n), days)
                col = pa.array(days.astype(np.int32), pa.int32()).cast(pa.date32())
                if f.type == Type.TIMESTAMP:        # a time of day too
                    seconds = days.astype(np.int64) * 86_400 + rng.integers(0, 86_400, n)
                    col = pa.array(seconds, pa.int64()).cast(pa.timestamp("s")).cast(ARROW[f.type])
            else:
                context = {Type.STRING: {"name": f.name}, Type.DATE: {"as_of": as_of}}.get(f.type, {})
                col = GENERATORS[f.type](rng, n, found.get(f.name, Hints()), **context)
            if f.nullable and f.name != hist.key:
                col = pc.if_else(pa.array(rng.random(n) < NULL_SHARE), pa.scalar(None, col.type), col)
            columns.append(col)
        out[hist.name] = pa.Table.from_arrays(columns, schema=pa.schema(schema))
    return out


def _keys(rng, n: int, keys: pa.Array | None, t: Type) -> pa.Array:
    """Keys of the customers, drawn at random; a few of no customer."""
    unmatched = rng.random(n) < UNMATCHED_SHARE
    if keys is None or not len(keys):
        unmatched[:] = True
    if t == Type.INT:
        have = keys.to_numpy(zero_copy_only=False) if keys is not None and len(keys) else np.zeros(1, np.int64)
        picked = have[rng.integers(0, len(have), n)]
        nobody = int(have.max()) + 1 + rng.integers(0, max(n, 1), n)
        return pa.array(np.where(unmatched, nobody, picked).astype(np.int64))
    have = keys.cast(pa.string()) if keys is not None and len(keys) else pa.array([""])
    picked = have.take(pa.array(rng.integers(0, len(have), n)))
    nobody = pa.array([f"X{j:07d}" for j in rng.integers(0, 10 ** 7, n)])
    return pc.if_else(pa.array(unmatched), nobody, picked)


def events_path(out: str, name: str) -> str:
    """Where the events of history `name` go beside the customers' OUT:
    `tryout.parquet` -> `tryout.contacts.parquet`."""
    from pathlib import Path
    p = Path(out)
    return str(p.with_name(f"{p.stem}.{name}{p.suffix}"))
