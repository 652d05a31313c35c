"""History aggregates on the reference evaluator: one customer's events
(records read as pol.api.records reads a customer) -> an aggregate's value,
in plain Python, straight from LANGUAGE.md section 12. The oracle of
engine/evaluation/history.py.

    read_events(program, history, events, key) -> [{field: value}, ...]
    aggregate_value(agg, events, today)        -> value, None for null
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

from pol.compiler import ir
from pol.errors import DataError

I64_MIN, I64_MAX = -(2 ** 63), 2 ** 63 - 1


def read_events(program: ir.Program, name: str, events, key) -> list[dict]:
    """A customer's events of one history, each read and checked like a
    record; an event may leave the key out, and must not name another customer."""
    from types import SimpleNamespace

    from pol.api.records import RecordReader
    hist = program.history(name)
    if isinstance(events, Mapping) or isinstance(events, (str, bytes)) or not hasattr(events, "__iter__"):
        raise DataError(f"the events of history '{name}' are a list of records, not {type(events).__name__}",
                        column=name)
    reader = RecordReader(SimpleNamespace(input=ir.Input(name, hist.key, hist.fields)))
    out = []
    for k, e in enumerate(events):
        if isinstance(e, Mapping) and e.get(hist.key) is None:
            e = dict(e, **{hist.key: key})
        try:
            values = reader.read(e)
        except DataError as err:
            raise DataError(f"event {k + 1} of history '{name}': {err}", column=err.column) from None
        if values[hist.key] != key:
            raise DataError(f"event {k + 1} of history '{name}' belongs to {hist.key} {values[hist.key]!r}, "
                            f"not to this customer ({key!r})", column=hist.key)
        out.append(values)
    return out


def aggregate_value(agg: ir.Aggregate, hist: ir.History, events: list[dict], today: dt.date, where):
    """The value of `agg` over one customer's events. `where(event)` is the
    filter's value for an event (the caller's expression evaluator)."""
    chosen = []
    for pos, e in enumerate(events):
        day = e.get(hist.at)
        if isinstance(day, dt.datetime):
            day = day.date()            # a timestamp places the event on its date (section 12.1)
        if day is None or day > today:
            continue                    # undated, or after the as-of date: not happened yet
        if agg.within is not None and (today - day).days >= agg.within:
            continue                    # the window: the as-of date and the within-1 days before
        if agg.where is not None and where(e) is not True:
            continue
        chosen.append((pos, day, e))
    func = agg.func
    if func == "count":
        return len(chosen)
    if func == "days_since_last":
        return (today - max(d for _, d, _ in chosen)).days if chosen else None
    if func in ("first", "last"):
        if not chosen:
            return None
        if func == "first":
            pick = min(chosen, key=lambda c: (c[1], c[0]))
        else:
            pick = max(chosen, key=lambda c: (c[1], c[0]))
        return _clean(pick[2].get(agg.field))
    values = [v for v in (_clean(e.get(agg.field)) for _, _, e in chosen) if v is not None]
    is_float = hist.field(agg.field).type == ir.Type.FLOAT
    if func == "sum":
        if is_float:
            s = 0.0
            for v in values:
                s += v
            return s if math.isfinite(s) else None
        s = 0
        for v in values:
            s += v
            if not I64_MIN <= s <= I64_MAX:
                return None             # the kernel's sum stops at the first overflow
        return s
    if func == "avg":
        if not values:
            return None
        if is_float:
            s = 0.0
            for v in values:
                s += v
            r = s / len(values)
        else:
            s = 0
            for v in values:
                s += v
                if not I64_MIN <= s <= I64_MAX:
                    return None
            r = float(s) / len(values)
        return r if math.isfinite(r) else None
    if not values:
        return None
    return min(values) if func == "min" else max(values)


def column_values(program: ir.Program, columns, history, key, today: dt.date) -> list:
    """The values of the lowered program's aggregate fields for one customer
    (the row kernel reads them as input fields)."""
    from pol.reference.expr import Env, eval_expr
    from pol.reference.interp import _events
    events, histories = _events(program, history, key)
    out = []
    for c in columns:
        a = c.aggregate

        def where(event, a=a):
            return eval_expr(a.where, Env(event, today=today))
        out.append(aggregate_value(a, histories[a.history], events.get(a.history, []), today, where))
    return out


def _clean(v):
    """A float that is NaN or infinite reads as null (LANGUAGE.md section 5.1)."""
    if type(v) is float and not math.isfinite(v):
        return None
    return v
