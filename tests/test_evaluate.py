"""Policy.evaluate end to end: the bench policy, both evaluators, Arrow input
forms, batching, capacities, holdouts and data errors."""
import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest
from conftest import AS_OF

import pol
from pol.reference.matching import fnv1a64

CST = dt.timezone(dt.timedelta(hours=8))


def test_bench_kernel_and_vector_agree(bench_policy, bench_table):
    k = bench_policy.evaluate(bench_table, as_of=AS_OF, engine="kernel")
    v = bench_policy.evaluate(bench_table, as_of=AS_OF, engine="vector")
    assert k.customers.equals(v.customers)
    assert k.assignments.equals(v.assignments)
    assert k.summary == v.summary


def test_bench_output_shape(bench_policy, bench_table):
    r = bench_policy.evaluate(bench_table, as_of=AS_OF, engine="kernel")
    c, a = r.customers, r.assignments
    assert c.num_rows == bench_table.num_rows
    assert c.column_names[0] == "id" and c.column_names[-1] == "offers"
    assert c.column("id").equals(bench_table.column("id"))
    assert c.schema.field("high_voice").type == pa.bool_()
    assert c.schema.field("churn_risk").type == pa.float64()
    assert a.column_names == ["id", "offer", "rank", "channel", "priority", "control"]
    assert a.schema.field("rank").type == pa.int32()
    # max 2 per customer, one per category
    lengths = pc.list_value_length(c.column("offers")).to_numpy()
    assert lengths.max() == 2 and lengths.min() == 0
    assert a.num_rows == lengths.sum()
    # the offers list is the assignments in rank order
    first = c.column("offers").to_pylist()[:200]
    by_id = {}
    for row in a.slice(0, 400).to_pylist():
        by_id.setdefault(row["id"], []).append(row["offer"])
    for i, offers in enumerate(first, start=1):
        if i in by_id:
            assert offers == by_id[i]
    assert r.summary["customers"] == 20_000
    assert r.summary["assignments"] == a.num_rows
    for _name, f in r.summary["offers"].items():
        assert f["eligible"] >= f["deliverable"] >= f["candidates"] >= f["accepted"]
        assert f["candidates"] == f["accepted"] + f["lost_to_max"] + f["lost_to_category"] \
            + f["lost_to_exclusive"] + f["lost_to_capacity"]


def test_hand_checked_rows(bench_policy):
    """A few customers whose decisions are worked out by hand from the policy."""
    base = dict(msisdn="13800000000", brand="神州行", customer_type="个人", region="北京", age=40,
                tenure_months=24, arpu_m1=80.0, arpu_m2=80.0, arpu_m3=80.0, voice_min=100.0,
                data_gb=5.0, plan_data_gb=10.0, vas_spend=0.0, night_data_gb=0.0, intl_call_min=0.0,
                roaming_days=0, complaints_90d=0, last_active=AS_OF, contract_end=None,
                storage_used_pct=None, sms_opt_out=False, contacts_30d=0, app_active=True, broadband=False)
    rows = [
        dict(base, id=1),                                         # nothing applies
        dict(base, id=2, data_gb=9.0),                            # 90% of plan -> flow_worry_free by app
        dict(base, id=3, data_gb=9.0, app_active=False),          # ... by sms
        dict(base, id=4, data_gb=9.0, app_active=False, sms_opt_out=True),  # no open channel
        dict(base, id=5, arpu_m3=0.0),                            # arpu_trend null -> no churn by trend
        dict(base, id=6, tenure_months=1, data_gb=9.0),           # welcome_gift 60 beats flow 58
    ]
    t = pa.Table.from_pylist(rows, schema=pa.schema([
        ("id", pa.int64()), *[(k, pa.string()) for k in ("msisdn", "brand", "customer_type", "region")],
        ("age", pa.int32()), ("tenure_months", pa.int32()),
        *[(k, pa.float64()) for k in ("arpu_m1", "arpu_m2", "arpu_m3", "voice_min", "data_gb", "plan_data_gb",
                                       "vas_spend", "night_data_gb", "intl_call_min")],
        ("roaming_days", pa.int32()), ("complaints_90d", pa.int32()), ("last_active", pa.date32()),
        ("contract_end", pa.date32()), ("storage_used_pct", pa.float64()), ("sms_opt_out", pa.bool_()),
        ("contacts_30d", pa.int32()), ("app_active", pa.bool_()), ("broadband", pa.bool_())]))
    for engine in ("kernel", "vector"):
        r = bench_policy.evaluate(t, as_of=AS_OF, engine=engine)
        offers = r.customers.column("offers").to_pylist()
        assert offers[0] == []
        assert offers[1] == ["flow_worry_free"]
        assert offers[3] == []
        assert offers[5] == ["welcome_gift", "flow_worry_free"] or offers[5][0] == "welcome_gift"
        a = r.assignments.to_pylist()
        by = {(x["id"], x["offer"]): x for x in a}
        assert by[(2, "flow_worry_free")]["channel"] == "app"
        assert by[(2, "flow_worry_free")]["priority"] == 40 + 20 * (9.0 / 10.0)
        assert by[(3, "flow_worry_free")]["channel"] == "sms"
        c = r.customers.to_pylist()
        assert c[0]["tier"] == "银卡" and c[0]["vad"] == "NVAD"
        assert c[4]["churn_warning"] is False
        assert c[0]["churn_risk"] == 0.0


def _variants(t: pa.Table):
    yield "table", t
    yield "record batch", t.combine_chunks().to_batches()[0]
    yield "generator", (b for b in t.to_batches(max_chunksize=3))
    yield "dataset", ds.dataset(t)
    # sliced arrays with offsets
    padded = pa.concat_tables([t.slice(0, 3), t]).combine_chunks().slice(3)
    yield "sliced", padded


SMALL = """
input c key id { id: int  x: float?  s: string?  on: bool?  d: date? }
segment big = x > 10
segment gold = s == "金卡"
segment flag = on
score age = today - d
classify k { when big and gold => "both" when big => "big" else => "small" }
"""


def _small_table():
    return pa.table({
        "id": pa.array([1, 2, 3, 4, 5, 6], pa.int64()),
        "x": [11.0, None, float("nan"), 5.0, 20.0, float("inf")],
        "s": ["金卡", None, "金卡", "x", "金卡", ""],
        "on": [True, False, None, True, None, False],
        "d": pa.array([dt.date(2026, 10, 1), None, dt.date(2026, 11, 1), dt.date(2000, 1, 1), None,
                       dt.date(2026, 10, 31)]),
    })


EXPECTED = {
    "big": [True, False, False, False, True, False],
    "gold": [True, False, True, False, True, False],
    "flag": [True, False, False, True, False, False],
    "age": [31.0, None, 0.0, float((AS_OF - dt.date(2000, 1, 1)).days), None, 1.0],
    "k": ["both", "small", "small", "small", "both", "small"],
}


@pytest.mark.parametrize("engine", ["kernel", "vector"])
def test_input_forms(engine):
    p = pol.loads(SMALL)
    for what, data in _variants(_small_table()):
        r = p.evaluate(data, as_of=AS_OF, engine=engine)
        for name, want in EXPECTED.items():
            assert r.customers.column(name).to_pylist() == want, (what, name)


@pytest.mark.parametrize("engine", ["kernel", "vector"])
def test_input_types(engine):
    """Dictionary and large strings, narrow ints and floats, date64 and timestamps."""
    p = pol.loads(SMALL)
    t = _small_table()
    variants = {
        "x": [t.column("x").cast(pa.float32()), t.column("x").cast(pa.float16())],
        "s": [t.column("s").dictionary_encode(), t.column("s").cast(pa.large_string())],
        "d": [t.column("d").cast(pa.date64()), t.column("d").cast(pa.timestamp("ms")),
              pa.array([dt.datetime(2026, 10, 1, 23, 30, tzinfo=CST), None,
                        dt.datetime(2026, 11, 1, 0, 0, tzinfo=CST), dt.datetime(2000, 1, 1, tzinfo=CST),
                        None, dt.datetime(2026, 10, 31, 12, tzinfo=CST)], pa.timestamp("us", tz="+08:00"))],
    }
    for name, cols in variants.items():
        for col in cols:
            v = t.set_column(t.schema.get_field_index(name), name, col)
            r = p.evaluate(v, as_of=AS_OF, engine=engine)
            for out, want in EXPECTED.items():
                assert r.customers.column(out).to_pylist() == want, (name, col.type, out)
    ints = pol.loads("input c key id { id: int  n: int  f: float }\nscore s = n + f\n")
    for it in (pa.int8(), pa.int16(), pa.int32(), pa.uint8(), pa.uint16(), pa.uint32()):
        t2 = pa.table({"id": pa.array([1, 2], it), "n": pa.array([3, 100], it), "f": pa.array([1, 2], it)})
        r = ints.evaluate(t2, as_of=AS_OF, engine=engine)
        assert r.customers.column("s").to_pylist() == [4.0, 102.0]
        assert r.customers.schema.field("id").type == pa.int64()


def test_timestamp_time_zone_gives_local_date():
    p = pol.loads("input c key id { id: int  t: date }\nscore dd = t - 2026-01-01\n")
    utc = dt.datetime(2026, 1, 1, 20, 0, tzinfo=dt.UTC)      # 04:00 the next day at +08:00
    t = pa.table({"id": [1], "t": pa.array([utc], pa.timestamp("s", tz="UTC")).cast(pa.timestamp("s", tz="+08:00"))})
    for engine in ("kernel", "vector"):
        assert p.evaluate(t, as_of=AS_OF, engine=engine).customers.column("dd").to_pylist() == [1.0]


def test_batching_does_not_change_the_result(bench_policy, bench_table):
    t = bench_table.slice(0, 3000)
    whole = bench_policy.evaluate(t, as_of=AS_OF, engine="kernel")
    for size in (3000 // 7 + 1, 3):
        parts = bench_policy.evaluate(t.to_batches(max_chunksize=size), as_of=AS_OF, engine="kernel")
        assert parts.customers.equals(whole.customers)
        assert parts.assignments.equals(whole.assignments)
        assert parts.summary == whole.summary


def test_large_chunks_are_evaluated_in_bounded_batches(bench_policy, bench_table, monkeypatch):
    import pyarrow.dataset as ds

    import pol.evaluation.stream
    t = bench_table.slice(0, 1000).combine_chunks()
    whole = bench_policy.evaluate(t, as_of=AS_OF, engine="kernel")
    monkeypatch.setattr(pol.evaluation.stream, "MAX_BATCH_ROWS", 64)
    seen = []
    real_feed = pol.evaluation.stream.Stream._feed_slice
    monkeypatch.setattr(pol.evaluation.stream.Stream, "_feed_slice",
                        lambda self, b: (seen.append(b.num_rows), real_feed(self, b)))
    for data in (t, t.to_batches()[0], ds.dataset(t)):
        seen.clear()
        parts = bench_policy.evaluate(data, as_of=AS_OF, engine="kernel")
        assert max(seen) == 64 and sum(seen) == 1000
        assert parts.customers.equals(whole.customers)
        assert parts.assignments.equals(whole.assignments)


CAPACITY = """
input c key id { id: int  score: float  vip: bool }
channel app
offer a { eligible when score > 0  priority score  channels app  capacity 3 }
offer b { eligible when vip  priority 50  channels app  holdout 50% }
offer z { eligible when true  priority 1  channels app  capacity 0 }
arbitrate { max 1 per customer }
"""


@pytest.mark.parametrize("engine", ["kernel", "vector"])
def test_capacity_walks_the_whole_run(engine):
    p = pol.loads(CAPACITY)
    # a: equal priorities across customers break by input position
    t = pa.table({"id": pa.array(range(1, 9), pa.int64()),
                  "score": [60.0, 60.0, 70.0, 60.0, 10.0, 0.0, 60.0, 80.0],
                  "vip": [False, False, False, True, False, True, False, False]})
    for size in (8, 3, 1):
        r = p.evaluate(t.to_batches(max_chunksize=size), as_of=AS_OF, engine=engine)
        offers = r.customers.column("offers").to_pylist()
        # walk: a/id8 (80), a/id3 (70), then the 60s by position: a/id1 takes the last place
        assert offers == [["a"], [], ["a"], ["b"], [], ["b"], [], ["a"]]
        f = r.summary["offers"]
        assert f["a"]["accepted"] == 3 and f["a"]["lost_to_capacity"] == 4
        assert f["z"]["accepted"] == 0 and f["z"]["lost_to_max"] == 5 and f["z"]["lost_to_capacity"] == 3
        controls = {row["id"]: row["control"] for row in r.assignments.to_pylist() if row["offer"] == "b"}
        for key, ctrl in controls.items():
            assert ctrl == (fnv1a64(f"b:{key}".encode()) % 10000 < 5000)


def test_string_keys_and_holdouts():
    p = pol.loads("""
input c key phone { phone: string  x: int }
channel sms
offer o { eligible when x > 0  channels sms  holdout 30% }
""")
    keys = [f"1380000{i:04d}" for i in range(200)] + ["全球通-7"]
    t = pa.table({"phone": keys, "x": [1] * len(keys)})
    for engine in ("kernel", "vector"):
        r = p.evaluate(t, as_of=AS_OF, engine=engine)
        got = r.assignments.column("control").to_pylist()
        want = [fnv1a64(f"o:{k}".encode()) % 10000 < 3000 for k in keys]
        assert got == want
        assert 30 < sum(got) < 90
        assert r.customers.schema.field("phone").type == pa.string()


def test_negative_and_extreme_int_keys_hash_as_decimal_text():
    p = pol.loads("input c key id { id: int }\nchannel sms\noffer o { eligible when true  channels sms  holdout 50% }\n")
    keys = [-1, 0, 7, -9223372036854775808, 9223372036854775807, -120]
    r = p.evaluate(pa.table({"id": pa.array(keys, pa.int64())}), as_of=AS_OF, engine="kernel")
    assert r.assignments.column("control").to_pylist() == \
        [fnv1a64(f"o:{k}".encode()) % 10000 < 5000 for k in keys]


def test_valid_window_uses_the_as_of_date():
    p = pol.loads("""
input c key id { id: int }
channel sms
offer spring { eligible when true  channels sms  valid from 2026-03-01 to 2026-05-31 }
""")
    t = pa.table({"id": [1]})
    for day, want in [(dt.date(2026, 2, 28), []), (dt.date(2026, 3, 1), ["spring"]),
                      (dt.date(2026, 5, 31), ["spring"]), (dt.date(2026, 6, 1), [])]:
        for engine in ("kernel", "vector"):
            assert p.evaluate(t, as_of=day, engine=engine).customers.column("offers").to_pylist() == [want]


def test_params_override_defaults(bench_policy, bench_table):
    t = bench_table.slice(0, 2000)
    a = bench_policy.evaluate(t, as_of=AS_OF, engine="kernel")
    b = bench_policy.evaluate(t, as_of=AS_OF, params={"churn_days": 5}, engine="kernel")
    assert pc.sum(b.customers.column("churn_warning")).as_py() > pc.sum(a.customers.column("churn_warning")).as_py()
    with pytest.raises(pol.ParamError, match="churn_dayz"):
        bench_policy.evaluate(t, as_of=AS_OF, params={"churn_dayz": 5})
    with pytest.raises(pol.ParamError, match="churn_days"):
        bench_policy.evaluate(t, as_of=AS_OF, params={"churn_days": "many"})


def test_empty_and_one_row_batches():
    p = pol.loads(SMALL)
    t = _small_table()
    for engine in ("kernel", "vector"):
        r = p.evaluate(t.slice(0, 0), as_of=AS_OF, engine=engine)
        assert r.customers.num_rows == 0 and r.assignments.num_rows == 0
        assert r.customers.column_names == ["id", "big", "gold", "flag", "age", "k", "offers"]
        r = p.evaluate(t.slice(4, 1), as_of=AS_OF, engine=engine)
        assert r.customers.column("k").to_pylist() == ["both"]


def test_summary_counts_classes_with_nulls():
    p = pol.loads('input t key id { id: int  x: int? }\n'
                  'segment pos = x > 0\nclassify c { when x > 1 => "big" when x == 1 => "one" }')
    t = pa.table({"id": [1, 2, 3, 4, 5, 6], "x": [0, 1, 2, None, 5, 7]})
    for engine in ("kernel", "vector"):
        s = p.evaluate(t, engine=engine).summary
        assert s["classifications"]["c"]["counts"] == {"big": 3, "one": 1, "null": 2}
        assert s["segments"]["pos"]["count"] == 4 and s["customers"] == 6


# ------------------------------------------------------------------ data errors

def test_missing_column_is_named():
    p = pol.loads(SMALL.replace("x: float?", "x: float"))
    with pytest.raises(pol.DataError, match="'x'.*missing") as e:
        p.evaluate(_small_table().drop_columns(["x"]), as_of=AS_OF)
    assert e.value.column == "x"


@pytest.mark.parametrize("engine", ["vector", "kernel"])
def test_an_absent_nullable_column_reads_as_null_and_the_summary_says_so(engine):
    p = pol.loads(SMALL)
    full = _small_table()
    r = p.evaluate(full.drop_columns(["x", "on"]), as_of=AS_OF, engine=engine)
    nulls = p.evaluate(full.set_column(1, "x", pa.nulls(6, pa.float64()))
                       .set_column(3, "on", pa.nulls(6, pa.bool_())), as_of=AS_OF, engine=engine)
    assert r.customers.equals(nulls.customers) and r.assignments.equals(nulls.assignments)
    assert r.customers.column("big").to_pylist() == [False] * 6
    assert r.summary["absent_fields"] == ["x", "on"] and nulls.summary["absent_fields"] == []


def test_decimal_columns_are_read_as_float64():
    import decimal
    import math
    p = pol.loads(SMALL)
    t = _small_table()
    xs = [v if v is not None and math.isfinite(v) else None for v in t.column("x").to_pylist()]  # decimals are finite
    t = t.set_column(1, "x", pa.array(xs, pa.float64()))
    as_float = p.evaluate(t, as_of=AS_OF, engine="vector")
    dec = pa.array([None if v is None else decimal.Decimal(str(v)) for v in xs], pa.decimal128(18, 4))
    r = p.evaluate(t.set_column(1, "x", dec), as_of=AS_OF, engine="vector")
    assert r.customers.equals(as_float.customers)


def test_wrong_type_is_named():
    p = pol.loads(SMALL)
    t = _small_table()
    bad = t.set_column(1, "x", pa.array(["1"] * 6))
    with pytest.raises(pol.DataError, match="'x' has type string.*float") as e:
        p.evaluate(bad, as_of=AS_OF)
    assert e.value.column == "x"
    bad = t.set_column(0, "id", pa.array(range(6), pa.uint64()))
    with pytest.raises(pol.DataError, match="'id' has type uint64"):
        p.evaluate(bad, as_of=AS_OF)


def test_nulls_in_non_nullable_field_name_the_keys():
    p = pol.loads("input c key id { id: int  x: float  n: int }\nscore s = x + n\n")
    t = pa.table({"id": [10, 11, 12, 13], "x": [1.0, None, 2.0, None], "n": [1, 2, 3, 4]})
    with pytest.raises(pol.DataError, match=r"'x'.*2 null values.*keys 11, 13"):
        p.evaluate(t, as_of=AS_OF)
    t = pa.table({"id": [10, 11, 12], "x": [1.0, float("nan"), 2.0], "n": [1, 2, 3]})
    with pytest.raises(pol.DataError, match=r"'x'.*1 NaN or infinite.*keys 11"):
        p.evaluate(t, as_of=AS_OF)
    t = pa.table({"id": [10, None, 12], "x": [1.0, 1.0, 2.0], "n": [1, 2, 3]})
    with pytest.raises(pol.DataError, match=r"'id' is the key.*1 null value.*rows 2"):
        p.evaluate(t, as_of=AS_OF)


@pytest.mark.parametrize("engine", ["kernel", "vector"])
def test_nan_in_a_non_nullable_float_is_refused_by_every_evaluator(engine):
    # A fused kernel counts NaN in the floats it reads instead of the host
    # scanning first; the error, and the first column in input order, are the same.
    p = pol.loads("input c key id { id: int  y: float  x: float  u: float }\n"
                  "channel app\noffer o { eligible when x > 0  priority x  channels app }\n")
    rows = 300_000       # more than one batch (evaluate.MAX_BATCH_ROWS)
    x = np.ones(rows)
    x[[5, 290_000]] = [np.inf, np.nan]
    t = pa.table({"id": np.arange(rows), "y": np.ones(rows), "x": x, "u": np.ones(rows)})
    seen = []
    with pytest.raises(pol.DataError, match=r"'x'.*2 NaN or infinite .*values .first at keys 5, 290000") as e:
        p.stream(lambda c, a: seen.append(c), as_of=AS_OF, engine=engine).feed(t.to_batches()[0])
    assert e.value.column == "x"
    y = t.column("y").to_numpy().copy()
    y[290_001] = np.nan       # an unread field, later in the data but earlier in the input
    with pytest.raises(pol.DataError, match=r"'y'.*1 NaN"):
        p.evaluate(t.set_column(1, "y", pa.array(y)), as_of=AS_OF, engine=engine)
    u = np.ones(rows)
    u[7] = np.nan             # unread and after x: x is reported first
    with pytest.raises(pol.DataError, match=r"'x'"):
        p.evaluate(t.set_column(3, "u", pa.array(u)), as_of=AS_OF, engine=engine)


# ------------------------------------------------------------------ policies are data

def test_strings_that_look_like_code_are_plain_data():
    src = (
        'policy p version "1\\"; import os"\n'
        'input c key id { id: int  s: string }\n'
        'segment evil "__import__(\'os\').system(\'echo pwned\')" = s == "__import__(\'os\')"\n'
        'segment quoted = s == "a\\"b\\\\c\\n"\n'
        'classify k "x\\"y" { when s == "print(1)" => "\\"); raise SystemExit(\\"" else => "def" }\n'
        'channel app "\'\'\'"\n'
        'offer o "\'\'\' + \\"" { eligible when evil channels app }\n'
    )
    p = pol.loads(src)
    t = pa.table({"id": [1, 2, 3, 4], "s": ["__import__('os')", 'a"b\\c\n', "print(1)", "x"]})
    for engine in ("kernel", "vector"):
        r = p.evaluate(t, as_of=AS_OF, engine=engine)
        assert r.customers.column("evil").to_pylist() == [True, False, False, False]
        assert r.customers.column("quoted").to_pylist() == [False, True, False, False]
        assert r.customers.column("k").to_pylist() == ["def", "def", "\"); raise SystemExit(\"", "def"]
        assert r.customers.column("offers").to_pylist() == [["o"], [], [], []]
    source = p._kernel.source
    import ast
    consts = [n.value for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Constant)]
    assert all(not isinstance(c, str) or c in ("numpy", "Generated by pol.compiler.backend.codegen; do not edit.")
               for c in consts)
    assert "import" not in source.split("def kernel")[1]


def test_python_keywords_and_builtins_as_names():
    src = """
input c key id { id: int  lambda: int  class: float?  print: bool }
let def = lambda * 2
segment import = def > 2 and print
score return = coalesce(class, 0.5) + def
"""
    p = pol.loads(src)
    t = pa.table({"id": [1, 2], "lambda": [1, 5], "class": [None, 2.0], "print": [True, True]})
    for engine in ("kernel", "vector"):
        r = p.evaluate(t, as_of=AS_OF, engine=engine)
        assert r.customers.column("import").to_pylist() == [False, True]
        assert r.customers.column("return").to_pylist() == [2.5, 12.0]


def test_a_fused_kernel_call_counts_more_rows_than_its_packed_funnel_holds(monkeypatch):
    # The fused kernel packs three funnel counts in one int64 per offer, so
    # the executor splits ranges longer than codegen.FUSED_MAX_ROWS (here
    # one range, as on a single core).
    import numpy as np

    from pol.arbitration.arbitrate import MatchJob, Rules
    from pol.compiler.backend import codegen
    from pol.evaluation.bind import bind
    from pol.evaluation.stream import BatchOut, active_offers, keys_of
    monkeypatch.setattr("pol.evaluation.executor.chunks", lambda n: [(0, n)])
    policy = pol.loads("input t key id { id: int x: int }\nchannel c\n"
                       "offer o { eligible when x > 0 priority 1 channels c }\n")
    n = codegen.FUSED_MAX_ROWS + 5
    x = np.ones(n, np.int64)
    x[0] = 0
    batch = pa.RecordBatch.from_arrays([pa.array(np.arange(n)), pa.array(x)], names=["id", "x"])
    bound = bind(policy.program, policy.plan, batch, {})
    out = BatchOut(policy.plan, n)
    job = MatchJob(Rules.of(policy.program), keys_of(batch.column("id")), np.zeros((1, 9), np.int64),
                   np.zeros((1, 1, 2), np.int64))
    policy._kernel(bound, active_offers(policy.program, AS_OF), 0, out, job)
    eligible = int(x.sum())
    assert job.funnel[0, :4].tolist() == [eligible] * 4
    assert len(out.accepted.rows) == eligible and out.accepted.offsets[-1] == eligible
    assert out.accepted.rows.tolist() == np.flatnonzero(x).tolist()
