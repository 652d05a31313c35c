"""The hand-written Polars and DuckDB baselines of the bench policy.

Both must give what retention_bench.pol means, row for row, since the engine
is checked against them. Checked here:
- on 20,000 generated customers (seed 7, as of 2026-11-01) the two agree
  exactly, schemas included, and a plain-Python evaluation of the policy,
  one row at a time, agrees with them;
- hand-built customers whose outputs are worked out by hand in the tests:
  null rules, channel fallback, category and max arbitration, priority ties,
  inclusive bounds, params.

Floats are compared exactly, not to a tolerance: the language fixes float64
arithmetic in the written order, and all three implementations do exactly
that operation by operation (Polars needs care for division by a constant,
see `baseline_polars._div`), so any difference at all is a bug.
"""
from __future__ import annotations

import datetime as dt
import math
import sys
from pathlib import Path

import pytest

pytest.importorskip("polars")
pytest.importorskip("duckdb")

import pyarrow as pa  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import baseline_duckdb, baseline_polars  # noqa: E402
from benchmarks.bench_data import bench_table  # noqa: E402

AS_OF = dt.date(2026, 11, 1)
BASELINES = {"polars": baseline_polars.run, "duckdb": baseline_duckdb.run}


@pytest.fixture(scope="module")
def sample() -> pa.Table:
    return bench_table(20_000, seed=7, as_of=AS_OF)


@pytest.fixture(scope="module")
def results(sample):
    return {name: run(sample, AS_OF) for name, run in BASELINES.items()}


def _first_difference(a: pa.Table, b: pa.Table) -> str:
    if a.schema != b.schema:
        return f"schemas differ:\n{a.schema}\n---\n{b.schema}"
    if a.num_rows != b.num_rows:
        return f"{a.num_rows} rows against {b.num_rows}"
    for name in a.column_names:
        x, y = a[name].to_pylist(), b[name].to_pylist()
        for i, (u, v) in enumerate(zip(x, y)):
            if u != v or type(u) is not type(v):
                return f"column {name}, row {i}: {u!r} against {v!r}"
    return "no difference"


# --- the two baselines agree --------------------------------------------------

def test_schemas(results):
    customers, assignments = results["polars"]
    assert customers.column_names == ["id", "high_voice", "high_traffic", "high_vas", "vad", "tier", "mid_high",
                                      "churn_warning", "value_loss", "unstable", "new_customer", "student",
                                      "elderly", "contract_expiring", "churn_risk", "value_score", "offers"]
    assert customers.schema.field("offers").type == pa.list_(pa.string())
    assert customers.schema.field("churn_risk").type == pa.float64()
    assert customers.schema.field("tier").type == pa.string()
    assert customers.schema.field("student").type == pa.bool_()
    assert assignments.schema == pa.schema([pa.field("id", pa.int64(), nullable=False), ("offer", pa.string()),
                                            ("rank", pa.int32()), ("channel", pa.string()),
                                            ("priority", pa.float64()), ("control", pa.bool_())])


def test_customers_agree(results):
    a, b = results["polars"][0], results["duckdb"][0]
    assert a.equals(b), _first_difference(a, b)


def test_assignments_agree(results):
    a, b = results["polars"][1], results["duckdb"][1]
    assert a.num_rows > 5_000
    assert a.equals(b), _first_difference(a, b)


@pytest.mark.parametrize("name", BASELINES)
def test_shape_and_order(results, sample, name):
    customers, assignments = results[name]
    assert customers["id"].to_pylist() == sample["id"].to_pylist()
    for name_ in customers.column_names:
        if customers.schema.field(name_).type == pa.bool_():
            assert customers[name_].null_count == 0, name_
    position = {k: i for i, k in enumerate(sample["id"].to_pylist())}
    rows = assignments.to_pylist()
    order = [(position[r["id"]], r["rank"]) for r in rows]
    assert order == sorted(order) and len(set(order)) == len(order)
    by_customer: dict[int, list[str]] = {}
    for r in rows:
        by_customer.setdefault(r["id"], []).append(r["offer"])
        assert r["rank"] == len(by_customer[r["id"]])
        assert r["control"] is False
    offers = dict(zip(customers["id"].to_pylist(), customers["offers"].to_pylist()))
    assert all(offers[k] == by_customer.get(k, []) for k in offers)
    assert max(map(len, offers.values())) == 2


# --- a plain-Python evaluation of the policy, one row at a time ---------------

OFFER_TABLE = [  # name, category, channels, in declaration order
    ("flow_worry_free", "traffic", ("app", "sms")), ("night_pack", "traffic", ("app", "sms")),
    ("esports_pack", "traffic", ("app",)), ("intl_family", "voice", ("sms", "call")),
    ("voice_roaming", "voice", ("sms",)), ("biz_travel", "voice", ("call",)),
    ("cloud_expand", "new_service", ("app",)), ("migu_video", "new_service", ("app",)),
    ("retention_pack", "retention", ("call", "sms")), ("welcome_gift", "care", ("sms", "app")),
    ("growth_plan", "care", ("app",)), ("handset_contract", "bundle", ("call", "store")),
    ("prepaid_bonus", "bundle", ("sms", "store")), ("family_bundle", "bundle", ("call", "store")),
]


def _div(a, b):
    if a is None or b is None or b == 0:
        return None
    q = a / b
    return q if math.isfinite(q) else None


def _cmp(a, op, b):
    return None if a is None or b is None else op(a, b)


def evaluate_row(r: dict, as_of: dt.date, churn_days: int = 30, high_voice_min: float = 300.0):
    """(customer output row without `offers`, [(offer, channel, priority)] accepted in rank order).

    Only `and`/`or` of collapsed parts and `not` of never-null values occur in
    the policy, so collapsing every comparison to a bool where it is made is
    exact here.
    """
    import operator as op

    def yes(x):
        return x is True

    storage = r["storage_used_pct"]
    storage = None if storage is None or math.isnan(storage) else storage
    arpu_3m = _div(r["arpu_m1"] + r["arpu_m2"] + r["arpu_m3"], 3)
    q = _div(r["arpu_m1"], r["arpu_m3"])
    arpu_trend = None if q is None else q - 1
    usage_ratio = _div(r["data_gb"], r["plan_data_gb"])
    night_share = _div(r["night_data_gb"], r["data_gb"])
    inactive_days = (as_of - r["last_active"]).days
    age = r["age"]

    hv, ht, hs = r["voice_min"] >= high_voice_min, r["data_gb"] >= 20, r["vas_spend"] >= 20
    vad = ("VAD" if hv and ht and hs else "VD" if hv and ht else "VA" if hv and hs else "V" if hv
           else "AD" if ht and hs else "D" if ht else "A" if hs else "NVAD")
    if r["brand"] == "全球通" and arpu_3m >= 300:
        tier = "全球通"
    elif arpu_3m >= 200 or (arpu_3m >= 150 and r["tenure_months"] >= 60):
        tier = "钻石卡"
    elif arpu_3m >= 100:
        tier = "金卡"
    elif arpu_3m >= 50:
        tier = "银卡"
    else:
        tier = "普通"
    mid_high = tier in ("全球通", "钻石卡", "金卡")
    churn_warning = (inactive_days > churn_days or r["complaints_90d"] >= 2
                     or yes(_cmp(arpu_trend, op.lt, -0.3)))
    value_loss = mid_high and yes(_cmp(arpu_trend, op.lt, -0.2))
    unstable = mid_high and abs(r["arpu_m1"] - r["arpu_m2"]) > 0.4 * arpu_3m
    new_customer = r["tenure_months"] < 3
    student = age is not None and age <= 24 and r["brand"] == "动感地带"
    elderly = yes(_cmp(age, op.ge, 65))
    until = None if r["contract_end"] is None else (r["contract_end"] - as_of).days
    contract_expiring = until is not None and 0 <= until <= 60
    churn_risk = min(max(
        0.35 * min(r["complaints_90d"], 3) / 3
        + 0.35 * min(max(-(0.0 if arpu_trend is None else arpu_trend), 0), 1)
        + 0.30 * min(inactive_days, 90) / 90, 0), 1)
    value_score = arpu_3m * (1 + r["tenure_months"] / 120)
    row = dict(id=r["id"], high_voice=hv, high_traffic=ht, high_vas=hs, vad=vad, tier=tier, mid_high=mid_high,
               churn_warning=churn_warning, value_loss=value_loss, unstable=unstable,
               new_customer=new_customer, student=student, elderly=elderly,
               contract_expiring=contract_expiring, churn_risk=churn_risk, value_score=value_score)

    open_ = {"app": r["app_active"], "sms": not r["sms_opt_out"] and r["contacts_30d"] < 4,
             "call": r["contacts_30d"] < 2, "store": True}
    ctype, brand = r["customer_type"], r["brand"]
    rules = {
        "flow_worry_free": (yes(_cmp(usage_ratio, op.ge, 0.8)) and not ht,
                            None if usage_ratio is None else 40 + 20 * usage_ratio),
        "night_pack": (yes(_cmp(night_share, op.ge, 0.3)) and r["data_gb"] >= 2,
                       None if night_share is None else 30 + 50 * night_share),
        "esports_pack": (student and not elderly and r["data_gb"] >= 10, 18.0),
        "intl_family": (r["intl_call_min"] >= 60, 45.0),
        "voice_roaming": (r["roaming_days"] >= 5 and hv, 30.0),
        "biz_travel": (ctype == "政企" or (r["roaming_days"] >= 8 and brand == "全球通"), 50.0),
        "cloud_expand": (yes(_cmp(storage, op.ge, 90)), 25.0),
        "migu_video": (not hs and ht, 15 + r["data_gb"] / 10),
        "retention_pack": (mid_high and churn_warning, 100 * churn_risk + arpu_3m / 10),
        "welcome_gift": (new_customer, 60.0),
        "growth_plan": (3 <= r["tenure_months"] <= 6 and r["app_active"], 20.0),
        "handset_contract": (contract_expiring and mid_high and not elderly, 55 + value_score / 50),
        "prepaid_bonus": (unstable, 35 + value_score / 100),
        "family_bundle": (ctype == "家庭" and r["broadband"] and not mid_high, 28.0),
    }
    candidates = []
    for decl, (name, category, channels) in enumerate(OFFER_TABLE):
        eligible, priority = rules[name]
        channel = next((c for c in channels if open_[c]), None)
        if eligible and priority is not None and channel is not None:
            candidates.append((-priority, decl, name, category, channel, priority))
    accepted, categories = [], set()
    for *_, name, category, channel, priority in sorted(candidates):
        if len(accepted) < 2 and category not in categories:
            accepted.append((name, channel, priority))
            categories.add(category)
    return row, accepted


def test_row_by_row_against_plain_python(results, sample):
    customers, assignments = results["polars"]
    got_rows = customers.to_pylist()
    got_offers: dict[int, list] = {}
    for a in assignments.to_pylist():
        got_offers.setdefault(a["id"], []).append((a["offer"], a["channel"], a["priority"]))
    for r, got in zip(sample.to_pylist(), got_rows):
        want, accepted = evaluate_row(r, AS_OF)
        offers = got.pop("offers")
        assert got == want, r["id"]
        assert got_offers.get(r["id"], []) == accepted, r["id"]
        assert offers == [a[0] for a in accepted]


# --- hand-built customers -----------------------------------------------------

BASE = dict(  # in no segment but 普通, eligible for nothing
    id=1, msisdn="13800000000", brand="神州行", customer_type="个人", region="北京", age=40, tenure_months=24,
    arpu_m1=30.0, arpu_m2=30.0, arpu_m3=30.0, voice_min=100.0, data_gb=1.0, plan_data_gb=10.0, vas_spend=0.0,
    night_data_gb=0.0, intl_call_min=0.0, roaming_days=0, complaints_90d=0,
    last_active=AS_OF - dt.timedelta(days=5), contract_end=None, storage_used_pct=None, sms_opt_out=False,
    contacts_30d=0, app_active=False, broadband=False)


def _table(sample: pa.Table, *overrides: dict) -> pa.Table:
    rows = [dict(BASE, id=i + 1, **o) for i, o in enumerate(overrides)]
    return pa.Table.from_pylist(rows, schema=sample.schema)


@pytest.fixture(params=list(BASELINES))
def run(request):
    return BASELINES[request.param]


def _decide(run, sample, *overrides, params=None):
    customers, assignments = run(_table(sample, *overrides), AS_OF, params)
    rows = customers.to_pylist()
    for a in assignments.to_pylist():
        rows[a["id"] - 1].setdefault("assigned", []).append((a["offer"], a["rank"], a["channel"], a["priority"]))
    return rows


def test_base_customer(run, sample):
    (c,) = _decide(run, sample, {})
    assert c["tier"] == "普通" and c["vad"] == "NVAD" and c["offers"] == [] and "assigned" not in c
    # arpu_trend is 30/30 - 1 = 0; -0.0 clamps to a zero term.
    assert c["churn_risk"] == 0.30 * 5 / 90
    assert c["value_score"] == 30.0 * (1 + 24 / 120)


def test_arpu_m3_zero_makes_trend_null(run, sample):
    # arpu_trend = 50 / 0 - 1 is null: no churn warning from the trend even
    # though spend fell, coalesce gives a zero trend term in churn_risk.
    c, d = _decide(run, sample,
                   dict(arpu_m1=50.0, arpu_m2=300.0, arpu_m3=0.0, complaints_90d=1, tenure_months=120),
                   dict(arpu_m1=0.0, arpu_m2=300.0, arpu_m3=0.0))
    assert c["tier"] == "金卡" and c["mid_high"]            # arpu_3m = 350 / 3
    assert not c["churn_warning"] and not c["value_loss"]
    assert c["churn_risk"] == 0.35 * 1 / 3 + 0.35 * 0.0 + 0.30 * 5 / 90
    assert c["unstable"]                                    # |50 - 300| > 0.4 * 116.67
    assert c["value_score"] == (350.0 / 3) * (1 + 120 / 120)
    assert not d["churn_warning"]                           # 0 / 0 is null too
    assert d["churn_risk"] == 0.30 * 5 / 90


def test_data_zero_makes_night_share_null(run, sample):
    (c,) = _decide(run, sample, dict(data_gb=0.0, night_data_gb=0.0, app_active=True))
    assert c["offers"] == []


def test_null_age_is_neither_student_nor_elderly(run, sample):
    a, b, c = _decide(run, sample, dict(age=None, brand="动感地带"), dict(age=24, brand="动感地带"),
                      dict(age=65))
    assert (a["student"], a["elderly"]) == (False, False)
    assert (b["student"], b["elderly"]) == (True, False)
    assert (c["student"], c["elderly"]) == (False, True)


def test_contract_window_is_inclusive_and_null_is_out(run, sample):
    ends = [None, AS_OF - dt.timedelta(days=1), AS_OF, AS_OF + dt.timedelta(days=60),
            AS_OF + dt.timedelta(days=61)]
    rows = _decide(run, sample, *[dict(contract_end=e) for e in ends])
    assert [r["contract_expiring"] for r in rows] == [False, False, True, True, False]


def test_storage_nan_reads_as_null(run, sample):
    rows = _decide(run, sample, *[dict(storage_used_pct=s, app_active=True) for s in (None, math.nan, 90.0, 89.9)])
    assert [r["offers"] for r in rows] == [[], [], ["cloud_expand"], []]


def test_one_per_category_before_max(run, sample):
    # Candidates: biz_travel 50 (voice), intl_family 45 (voice), cloud_expand
    # 25 (new_service). intl_family loses to the category rule, which leaves
    # room for cloud_expand.
    (c,) = _decide(run, sample, dict(customer_type="政企", intl_call_min=100.0, storage_used_pct=95.0,
                                     app_active=True))
    assert c["assigned"] == [("biz_travel", 1, "call", 50.0), ("cloud_expand", 2, "app", 25.0)]


def test_at_most_two_and_channel_order(run, sample):
    # welcome_gift 60 (care), biz_travel 50 (voice), cloud_expand 25: the
    # third is cut by max 2. Opted out of SMS: welcome_gift falls back to app.
    a, b = _decide(run, sample,
                   dict(tenure_months=1, customer_type="政企", storage_used_pct=95.0, app_active=True,
                        sms_opt_out=True),
                   dict(tenure_months=1, customer_type="政企", contacts_30d=2, sms_opt_out=True))
    assert a["assigned"] == [("welcome_gift", 1, "app", 60.0), ("biz_travel", 2, "call", 50.0)]
    # No channel open for welcome_gift (SMS opted out, app inactive), the
    # call channel closed for biz_travel by two contacts: no candidates.
    assert b["offers"] == []


def test_priority_tie_keeps_declaration_order(run, sample):
    # A student with 30 GB and no VAS: esports_pack 18 and migu_video
    # 15 + 30 / 10 = 18 tie; esports_pack is declared first. With
    # welcome_gift 60 first, only one of the two fits.
    a, b = _decide(run, sample,
                   dict(age=20, brand="动感地带", data_gb=30.0, plan_data_gb=100.0, app_active=True),
                   dict(age=20, brand="动感地带", data_gb=30.0, plan_data_gb=100.0, app_active=True,
                        tenure_months=1))
    assert a["offers"] == ["esports_pack", "migu_video"]
    assert [x[3] for x in a["assigned"]] == [18.0, 18.0]
    assert b["offers"] == ["welcome_gift", "esports_pack"]


def test_priority_tie_within_a_category(run, sample):
    # flow_worry_free 40 + 20 * 8 / 8 = 60, night_pack 30 + 50 * 4.8 / 8 = 60
    # (both traffic) and welcome_gift 60 (care) all tie: declaration order
    # picks flow_worry_free for traffic, then welcome_gift.
    (c,) = _decide(run, sample, dict(data_gb=8.0, plan_data_gb=8.0, night_data_gb=4.8, tenure_months=1,
                                     app_active=True))
    assert c["assigned"] == [("flow_worry_free", 1, "app", 60.0), ("welcome_gift", 2, "sms", 60.0)]


def test_retention_pack_priority(run, sample):
    # 金卡 (arpu_3m 120), trend 60 / 150 - 1 = -0.6, 40 days inactive, 2 complaints.
    (c,) = _decide(run, sample, dict(arpu_m1=60.0, arpu_m2=150.0, arpu_m3=150.0, complaints_90d=2,
                                     last_active=AS_OF - dt.timedelta(days=40)))
    trend = 60.0 / 150.0 - 1
    risk = 0.35 * 2 / 3 + 0.35 * min(max(-trend, 0), 1) + 0.30 * 40 / 90
    assert c["tier"] == "金卡" and c["churn_warning"] and c["value_loss"] and c["unstable"]
    assert c["churn_risk"] == risk
    value = 120.0 * (1 + 24 / 120)
    assert c["value_score"] == value
    assert c["assigned"] == [("retention_pack", 1, "call", 100 * risk + 120.0 / 10),
                             ("prepaid_bonus", 2, "sms", 35 + value / 100)]


def test_params(run, sample):
    rows = _decide(run, sample, dict(last_active=AS_OF - dt.timedelta(days=40), voice_min=250.0),
                   params={"churn_days": 45, "high_voice_min": "200"})
    assert not rows[0]["churn_warning"] and rows[0]["high_voice"]
    (c,) = _decide(run, sample, dict(last_active=AS_OF - dt.timedelta(days=40)))
    assert c["churn_warning"]
    with pytest.raises(ValueError, match="unknown param"):
        run(_table(sample, {}), AS_OF, {"churn_dayz": 1})
    with pytest.raises(ValueError, match="churn_days"):
        run(_table(sample, {}), AS_OF, {"churn_days": 4.5})
