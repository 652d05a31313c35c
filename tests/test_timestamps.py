"""Timestamp fields (LANGUAGE.md section 2): Arrow columns of every unit,
with and without a time zone, read as wall-clock microseconds by every
evaluator; single records and params from ISO text, datetimes and dates;
bad values refused naming the field."""
import datetime as dt

import pyarrow as pa
import pytest

import pol
from pol.errors import DataError, ParamError
from pol.reference.interp import evaluate_row

POLICY = pol.loads("""
input t key id { id: int  ts: timestamp? }
param cutoff: timestamp = 2026-11-01T08:00
segment night "夜间" = hour(ts) >= 22 or hour(ts) < 6
score h = hour(ts) * 100 + minute(ts)
segment late = ts > cutoff and date(ts) == 2026-11-01
""", name="ts.pol")
AS_OF = dt.date(2026, 11, 1)
WALL = [dt.datetime(2026, 11, 1, 23, 15), dt.datetime(2026, 11, 1, 5, 59, 59, 999999), None,
        dt.datetime(1969, 12, 31, 23, 59, 59), dt.datetime(2026, 11, 1, 8, 0, 0, 1)]


def cut(v, unit):
    """v as a column of that unit holds it."""
    keep = {"s": 1_000_000, "ms": 1_000}.get(unit, 1)
    return None if v is None else v.replace(microsecond=v.microsecond // keep * keep)


def reference(values):
    outs = []
    for k, v in enumerate(values):
        row = evaluate_row(POLICY.program, {"id": k, "ts": v}, AS_OF, {}).values
        outs.append({"night": row["night"], "h": row["h"], "late": row["late"]})
    return outs


def batch(column, engine):
    table = pa.table({"id": list(range(len(column))), "ts": column})
    rows = POLICY.evaluate(table, as_of=AS_OF, engine=engine).customers.to_pylist()
    return [{"night": r["night"], "h": r["h"], "late": r["late"]} for r in rows]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_every_unit_reads_as_the_same_wall_clock_time(unit):
    values = [cut(v, unit) for v in WALL]
    column = pa.array(values, pa.timestamp("us")).cast(pa.timestamp(unit))
    want = reference(values)
    assert want[0] == {"night": True, "h": 2315.0, "late": True}
    assert batch(column, "vector") == want
    assert batch(column, "kernel") == want


def test_a_zone_gives_the_wall_clock_time_there():
    # 15:15 UTC is 23:15 in Shanghai; 21:59:59.999999 UTC the day before is 05:59:59.999999
    utc = [dt.datetime(2026, 11, 1, 15, 15), dt.datetime(2026, 10, 31, 21, 59, 59, 999999), None,
           dt.datetime(1969, 12, 31, 15, 59, 59), dt.datetime(2026, 11, 1, 0, 0, 0, 1)]
    column = pa.array([cut(v, "ms") for v in utc], pa.timestamp("us", tz="UTC")).cast(
        pa.timestamp("ms", tz="Asia/Shanghai"))
    want = reference([cut(v, "ms") for v in WALL])
    assert batch(column, "vector") == want
    assert batch(column, "kernel") == want


def test_records_read_iso_text_aware_datetimes_and_dates():
    shanghai = dt.timezone(dt.timedelta(hours=8))
    for value in ["2026-11-01T23:15", "2026-11-01 23:15:00", "2026-11-01T23:15:00+08:00", "2026-11-01T23:15:00Z",
                  dt.datetime(2026, 11, 1, 23, 15, tzinfo=shanghai), dt.datetime(2026, 11, 1, 23, 15)]:
        for engine in ("reference", "kernel"):
            d = POLICY.decide({"id": 1, "ts": value}, as_of=AS_OF, engine=engine)
            assert d.segments == {"night": True, "late": True} and d.scores == {"h": 2315.0}, (value, engine)
    d = POLICY.decide({"id": 1, "ts": dt.date(2026, 11, 1)}, as_of=AS_OF)
    assert d.scores == {"h": 0.0} and d.segments["night"]


@pytest.mark.parametrize("value", ["2026-11-01T24:00", "2026/11/01 08:00", "yesterday", 1730419200, True])
def test_a_bad_timestamp_in_a_record_names_the_field(value):
    with pytest.raises(DataError) as e:
        POLICY.decide({"id": 1, "ts": value}, as_of=AS_OF)
    assert "'ts'" in str(e.value) and "timestamp" in str(e.value)


def test_a_timestamp_param_from_text():
    d = POLICY.decide({"id": 1, "ts": "2026-11-01T09:00"}, as_of=AS_OF, params={"cutoff": "2026-11-01T10:00"})
    assert not d.segments["late"]
    with pytest.raises(ParamError):
        POLICY.decide({"id": 1}, as_of=AS_OF, params={"cutoff": "2026-11-01T25:00"})


def test_a_timestamp_field_absent_from_the_data_or_carried_into_the_assignments():
    """Columns pol makes itself (an absent nullable field, a carried field)
    take the field's type: a timestamp one is a timestamp column."""
    policy = pol.loads('''policy t version "1"
input c key id { id: int  spend: float  seen: timestamp? }
carry seen
segment night "夜间" = hour(seen) >= 22
channel sms "短信"
offer gift "礼品" { eligible when spend > 10  priority 1  channels sms }
''', name="t.pol")
    absent = policy.evaluate(pa.table({"id": [1, 2], "spend": [20.0, 5.0]}), as_of="2026-11-01")
    assert absent.summary["absent_fields"] == ["seen"]
    assert absent.assignments.column("seen").type == pa.timestamp("us")
    assert absent.assignments.column("seen").to_pylist() == [None]
    seen = pa.array([dt.datetime(2026, 11, 1, 23)], pa.timestamp("us"))
    given = policy.evaluate(pa.table({"id": [1], "spend": [20.0], "seen": seen}), as_of="2026-11-01")
    assert given.assignments.column("seen").to_pylist() == [dt.datetime(2026, 11, 1, 23)]
    assert given.customers.column("night").to_pylist() == [True]
