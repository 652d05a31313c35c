"""The aggregates' filters as tables over their fields' codes
(engine/evaluation/history_filters.py): every kind of field and filter,
through the batch path, against the reference evaluator; which filters take
a table and which the events' own pass."""
from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pyarrow as pa
import pytest

import pol
from pol.evaluation.history import HistoryTables
from tests.test_history import assert_reference_columns

AS_OF = dt.date(2026, 11, 1)
POLICY = """
input customer key id { id: int }
history contacts key customer_id at sent_at {
    customer_id: int
    sent_at: date?
    channel: string?
    cost: float?
    units: int?
    done: bool?
    seen: timestamp?
}
let a = count(contacts where channel in ("sms", "call"))
let b = count(contacts where done)
let c = count(contacts where not done or done is null)
let e = count(contacts where units > 2 and channel != "app" within 30 days)
let f = count(contacts where cost > 1.0)
let g = count(contacts where sent_at >= 2026-10-20)
let h = count(contacts where upper(channel) == "SMS" or units is null)
let i = count(contacts where 1 == 1)
let j = sum(contacts.units where sent_at > today - 10 and coalesce(units, 0) % 2 == 0)
let k = count(contacts where hour(seen) >= 20)
let l = last(contacts.channel where length(channel) > 3)
let m = days_since_last(contacts where done and channel == "sms" and units < 0)
"""
FIELDS = {"customer_id": pa.int64(), "sent_at": pa.date32(), "channel": pa.string(), "cost": pa.float64(),
          "units": pa.int64(), "done": pa.bool_(), "seen": pa.timestamp("us")}


@pytest.fixture(scope="module")
def policy():
    return pol.loads(POLICY)


def _events(seed: int, units_range: int, n: int = 2500) -> list[dict]:
    rng = random.Random(seed)
    base = dt.datetime(2026, 10, 1)
    out = []
    for _ in range(n):
        day = rng.choice([None, AS_OF - dt.timedelta(days=rng.randrange(-3, 60))])
        out.append({
            "customer_id": rng.randrange(1, 90),
            "sent_at": day,
            "channel": rng.choice([None, "sms", "app", "call", "email"]),
            "cost": rng.choice([None, rng.uniform(-1, 3), float("nan")]),
            "units": rng.choice([None, rng.randrange(-units_range, units_range)]),
            "done": rng.choice([None, True, False]),
            "seen": rng.choice([None, base + dt.timedelta(minutes=rng.randrange(0, 40_000))]),
        })
    return out


def _table(events, dictionary: bool) -> pa.Table:
    t = pa.table({k: pa.array([e[k] for e in events], ty) for k, ty in FIELDS.items()})
    if dictionary:
        t = t.set_column(t.schema.get_field_index("channel"), "channel", t.column("channel").dictionary_encode())
    return t


@pytest.mark.parametrize("units_range, dictionary", [(6, True), (6, False), (2 ** 40, False)])
def test_every_filter_gives_the_reference_aggregates(policy, units_range, dictionary):
    """Units over a short range (their codes) and a wide one (the events'
    own pass), channels as strings and as a dictionary: every aggregate
    column equals the reference evaluator's, customer by customer."""
    events = _events(units_range, units_range)
    assert_reference_columns(policy, _table(events, dictionary), events, list(range(1, 92)), AS_OF)


def test_which_filters_are_tables(policy):
    """Strings, bools, short int and date ranges and filters of no field are
    tables over codes; a float, a timestamp or a wide int range is a 0/1
    code of its own, from the events' own pass."""
    from pol.evaluation.history import used_fields
    from pol.evaluation.history_filters import compile_filters
    hist = policy.program.histories[0]
    columns = list(policy.lowered.columns)
    wheres = [c.aggregate.where for c in columns]
    filters = compile_filters(hist, used_fields(hist, columns), _table(_events(1, 6), False), wheres, 20393)
    sizes = np.diff(np.append(filters.starts, len(filters.tables)))
    by_name = {c.name: sizes[k] for k, c in enumerate(columns)}
    assert by_name["history:0"] == 5                   # channel: 4 strings and null
    assert by_name["history:1"] == 3                   # done: false, true, null
    assert by_name["history:3"] == 13 * 5              # units -6..5 and null, by channel
    assert by_name["history:4"] == 2                   # cost: a float, the events' pass
    assert by_name["history:7"] == 1                   # 1 == 1: one row
    assert by_name["history:9"] == 2                   # hour(seen): a timestamp
    wide = compile_filters(hist, used_fields(hist, columns), _table(_events(1, 2 ** 40), False), wheres, 20393)
    assert wide.terms[3, 1, 0] == -1 and len(wide.tables) < len(filters.tables)   # units: one 0/1 code


def test_no_events(policy):
    tables = HistoryTables(policy.program, policy.lowered.columns, {"contacts": _table([], False)}, AS_OF)
    batch = tables.extend(pa.record_batch({"id": [1, 2]}))
    assert batch.column("history:0").to_pylist() == [0, 0]
    assert batch.column("history:10").to_pylist() == [None, None]


LARGE = """
input customer key id { id: int }
history contacts key customer_id at sent_at {
    customer_id: int
    sent_at: date?
    channel: string
    outcome: string?
    cost: float?
}
let sms7 = count(contacts where channel == "sms" within 7 days)
let cost30 = sum(contacts.cost within 30 days)
let refused = days_since_last(contacts where outcome == "refused")
let outcome = last(contacts.outcome)
"""


def test_many_customers_on_every_core():
    """150,001 customers and 400,000 events: the scan's thread per range of
    groups and the columns' thread per range of rows (a bitmap byte split
    between none), against the same aggregates in numpy."""
    rng = np.random.default_rng(7)
    n, e = 150_001, 400_000
    today = (AS_OF - dt.date(1970, 1, 1)).days
    key = rng.integers(0, n + 5_000, e)
    day = today - rng.integers(-2, 60, e)
    undated = rng.random(e) < 0.02
    channel = rng.integers(0, 3, e)
    outcome = rng.integers(0, 3, e)
    cost = rng.uniform(0, 2, e)
    no_cost = rng.random(e) < 0.1
    events = pa.table({
        "customer_id": key,
        "sent_at": pa.array(day.astype(np.int32), pa.int32(), mask=undated).view(pa.date32()),
        "channel": pa.DictionaryArray.from_arrays(pa.array(channel.astype(np.int32)), pa.array(["sms", "app", "call"])),
        "outcome": pa.DictionaryArray.from_arrays(pa.array(outcome.astype(np.int32), mask=outcome == 2),
                                                  pa.array(["accepted", "refused", "x"])),
        "cost": pa.array(cost, mask=no_cost)})
    policy = pol.loads(LARGE)
    tables = HistoryTables(policy.program, policy.lowered.columns, {"contacts": events}, AS_OF)
    batch = tables.extend(pa.record_batch({"id": np.arange(n)}))
    got = {name: batch.column(c.name) for name, c in zip(["sms7", "cost30", "refused", "outcome"],
                                                          policy.lowered.columns)}
    counted = ~undated & (day <= today)
    age = today - day
    mine = counted & (key < n)
    want_sms = np.bincount(key[mine & (channel == 0) & (age < 7)], minlength=n)
    want_cost = np.bincount(key[mine & (age < 30) & ~no_cost], weights=cost[mine & (age < 30) & ~no_cost], minlength=n)
    latest = np.full(n, -1)
    refused = mine & (outcome == 1)
    np.maximum.at(latest, key[refused], day[refused])
    order = np.lexsort((np.arange(e), day))               # by day, ties by position: the last wins
    last = np.full(n, -1)
    last[key[order][mine[order]]] = outcome[order][mine[order]]
    assert got["sms7"].to_pylist() == want_sms.tolist()
    assert np.allclose(got["cost30"].to_numpy(zero_copy_only=False), want_cost)
    assert got["refused"].to_pylist() == [today - v if v >= 0 else None for v in latest.tolist()]
    names = {0: "accepted", 1: "refused", 2: None, -1: None}
    assert got["outcome"].to_pylist() == [names[v] for v in last.tolist()]


@pytest.mark.parametrize("size", [0, 5, 8, 4096 + 13, 3 * 4096 + 7])
def test_the_event_rows_of_sliced_arrays_with_nulls(size):
    """The passes that read an event column's buffers (history_events.py):
    every offset into the validity bitmap, across the bytes and the chunks
    its bits are unpacked in, against Arrow's own nulls."""
    from pol.evaluation.bind import _float_values, _validity, _values
    from pol.evaluation.history_events import float_row, int_row, valid_row
    rng = np.random.default_rng(size)
    for offset in range(0, 17, 3):
        ints = pa.array(rng.integers(-50, 50, size + offset), mask=rng.random(size + offset) < 0.3).slice(offset)
        floats = pa.array(rng.random(size + offset), mask=rng.random(size + offset) < 0.3).slice(offset)
        is_null = ints.is_null().to_numpy(zero_copy_only=False)
        want = np.where(is_null, -9, ints.fill_null(0).to_numpy(zero_copy_only=False) - 4)
        assert int_row(_values(ints), _validity(ints), -9, np.empty(size, np.int64), 4).tolist() == want.tolist()
        assert valid_row(_validity(ints), np.empty(size, np.bool_)).tolist() == (~is_null).tolist()
        got = float_row(_float_values(floats), _validity(floats), np.empty(size))
        assert np.array_equal(got, floats.to_numpy(zero_copy_only=False), equal_nan=True)
