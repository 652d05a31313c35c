"""The bench policy (retention_bench.pol) written by hand in Polars.

`run(table, as_of, params=None) -> (customers, assignments)`

- `table`: a pyarrow.Table with the columns of the policy's `input` block
  (what `benchmarks/data/bench_customers.generate` makes); extra columns are ignored.
- `as_of`: the run's date (`today` of the policy).
- `params`: overrides of `churn_days` (int) and `high_voice_min` (float).

Returns two pyarrow Tables shaped as section 8 of the language reference
says: `customers` (one row per input row, in input order: `id`, the
segments, classifications and scores in declaration order, then `offers`,
the accepted offer names in rank order) and `assignments` (`id`, `offer`,
`rank`, `channel`, `priority`, `control`, ordered by input position then
rank). This is what a data engineer would write instead of the policy; the
engine is checked against it row for row, so the null rules of the
language (section 5) are followed exactly.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pyarrow as pa

PARAM_TYPES = {"churn_days": int, "high_voice_min": float}
DEFAULT_PARAMS = {"churn_days": 30, "high_voice_min": 300.0}

SEGMENTS_ETC = ["high_voice", "high_traffic", "high_vas", "vad", "tier", "mid_high", "churn_warning",
                "value_loss", "unstable", "new_customer", "student", "elderly", "contract_expiring",
                "churn_risk", "value_score"]
BOOLS = {"high_voice", "high_traffic", "high_vas", "mid_high", "churn_warning", "value_loss", "unstable",
         "new_customer", "student", "elderly", "contract_expiring"}
STRINGS = {"vad", "tier"}

# (offer, category, channels in preference order), in declaration order:
# the position in this list breaks priority ties.
OFFERS = [
    ("flow_worry_free", "traffic", ("app", "sms")),
    ("night_pack", "traffic", ("app", "sms")),
    ("esports_pack", "traffic", ("app",)),
    ("intl_family", "voice", ("sms", "call")),
    ("voice_roaming", "voice", ("sms",)),
    ("biz_travel", "voice", ("call",)),
    ("cloud_expand", "new_service", ("app",)),
    ("migu_video", "new_service", ("app",)),
    ("retention_pack", "retention", ("call", "sms")),
    ("welcome_gift", "care", ("sms", "app")),
    ("growth_plan", "care", ("app",)),
    ("handset_contract", "bundle", ("call", "store")),
    ("prepaid_bonus", "bundle", ("sms", "store")),
    ("family_bundle", "bundle", ("call", "store")),
]
MAX_PER_CUSTOMER = 2


def customers_schema(key_type: pa.DataType = pa.int64()) -> pa.Schema:
    # Nullability as the engine declares it: only the key is marked non-null
    # (the segment columns hold no nulls all the same).
    fields = [pa.field("id", key_type, nullable=False)]
    for name in SEGMENTS_ETC:
        t = pa.bool_() if name in BOOLS else pa.string() if name in STRINGS else pa.float64()
        fields.append(pa.field(name, t))
    fields.append(pa.field("offers", pa.list_(pa.string())))
    return pa.schema(fields)


def assignments_schema(key_type: pa.DataType = pa.int64()) -> pa.Schema:
    return pa.schema([pa.field("id", key_type, nullable=False), ("offer", pa.string()), ("rank", pa.int32()),
                      ("channel", pa.string()), ("priority", pa.float64()), ("control", pa.bool_())])


def resolve_params(params: dict | None) -> dict:
    out = dict(DEFAULT_PARAMS)
    for name, value in (params or {}).items():
        if name not in PARAM_TYPES:
            raise ValueError(f"unknown param {name!r}; the policy declares {sorted(PARAM_TYPES)}")
        want = PARAM_TYPES[name]
        try:
            converted = want(value)
        except (TypeError, ValueError):
            raise ValueError(f"param {name}: cannot convert {value!r} to {want.__name__}") from None
        if want is int and isinstance(value, float) and converted != value:
            raise ValueError(f"param {name}: {value!r} is not an int")
        out[name] = converted
    return out


def _div(a: pl.Expr, b: pl.Expr | float) -> pl.Expr:
    # Polars divides by a scalar as a multiplication by its reciprocal
    # (pola-rs/polars#23741, #27753): `x / 3` is then off by an ulp for a
    # third of all x, and the language wants IEEE division. numpy's divide
    # is exact (and keeps nulls; it runs as a Python UDF, on one thread);
    # column by column division in Polars is exact too.
    q = np.divide(a, b) if isinstance(b, (int, float)) else a / b
    # The language has no NaN or infinity: a quotient that is not finite
    # (x / 0, 0 / 0) is null.
    return pl.when(q.is_finite()).then(q)


def _seg(expr: pl.Expr) -> pl.Expr:
    # Segments, `when` conditions, eligibility and channel conditions treat
    # null as false. `&`/`|` are Kleene in Polars, like the language's
    # `and`/`or`, so collapsing once at the top is exact.
    return expr.fill_null(False)


def _min(*args: pl.Expr | int | float) -> pl.Expr:
    # min_horizontal skips nulls; the language's min() is null if any
    # argument is.
    exprs = [a if isinstance(a, pl.Expr) else pl.lit(a) for a in args]
    any_null = pl.any_horizontal(*[e.is_null() for e in exprs])
    return pl.when(~any_null).then(pl.min_horizontal(*exprs))


def _first_open(channels: tuple[str, ...]) -> pl.Expr:
    expr = pl.when(pl.col(f"ch_{channels[0]}")).then(pl.lit(channels[0]))
    for ch in channels[1:]:
        expr = expr.when(pl.col(f"ch_{ch}")).then(pl.lit(ch))
    return expr


def _eligibility_and_priority() -> dict[str, tuple[pl.Expr, pl.Expr]]:
    c = pl.col
    return {
        "flow_worry_free": ((c("usage_ratio") >= 0.8) & ~c("high_traffic"), 40 + 20 * c("usage_ratio")),
        "night_pack": ((c("night_share") >= 0.3) & (c("data_gb") >= 2), 30 + 50 * c("night_share")),
        "esports_pack": (c("student") & ~c("elderly") & (c("data_gb") >= 10), pl.lit(18.0)),
        "intl_family": (c("intl_call_min") >= 60, pl.lit(45.0)),
        "voice_roaming": ((c("roaming_days") >= 5) & c("high_voice"), pl.lit(30.0)),
        "biz_travel": ((c("customer_type") == "政企") | ((c("roaming_days") >= 8) & (c("brand") == "全球通")),
                       pl.lit(50.0)),
        "cloud_expand": (c("storage_used_pct") >= 90, pl.lit(25.0)),
        "migu_video": (~c("high_vas") & c("high_traffic"), 15 + _div(c("data_gb"), 10)),
        "retention_pack": (c("mid_high") & c("churn_warning"),
                           100 * c("churn_risk") + _div(c("arpu_3m"), 10)),
        "welcome_gift": (c("new_customer"), pl.lit(60.0)),
        "growth_plan": (c("tenure_months").is_between(3, 6) & c("app_active"), pl.lit(20.0)),
        "handset_contract": (c("contract_expiring") & c("mid_high") & ~c("elderly"),
                             55 + _div(c("value_score"), 50)),
        "prepaid_bonus": (c("unstable"), 35 + _div(c("value_score"), 100)),
        "family_bundle": ((c("customer_type") == "家庭") & c("broadband") & ~c("mid_high"), pl.lit(28.0)),
    }


def _scored(table: pa.Table, as_of: dt.date, p: dict) -> pl.DataFrame:
    c = pl.col
    today = pl.lit(as_of, dtype=pl.Date)
    lf = pl.from_arrow(table).lazy().with_row_index("pos")
    # Inputs: NaN reads as null. Only the nullable float field can carry
    # one legitimately (a NaN in a non-nullable field is a data error the
    # engine refuses), so only it is cleaned.
    lf = lf.with_columns(c("storage_used_pct").fill_nan(None))
    lf = lf.with_columns(
        arpu_3m=_div(c("arpu_m1") + c("arpu_m2") + c("arpu_m3"), 3),
        arpu_trend=_div(c("arpu_m1"), c("arpu_m3")) - 1,
        usage_ratio=_div(c("data_gb"), c("plan_data_gb")),
        night_share=_div(c("night_data_gb"), c("data_gb")),
        inactive_days=(today - c("last_active")).dt.total_days(),
        high_voice=_seg(c("voice_min") >= p["high_voice_min"]),
        high_traffic=_seg(c("data_gb") >= 20),
        high_vas=_seg(c("vas_spend") >= 20),
        new_customer=_seg(c("tenure_months") < 3),
        student=_seg(c("age").is_not_null() & (c("age") <= 24) & (c("brand") == "动感地带")),
        elderly=_seg(c("age") >= 65),
        contract_expiring=_seg((c("contract_end") - today).dt.total_days().is_between(0, 60)),
        ch_app=_seg(c("app_active")),
        ch_sms=_seg(~c("sms_opt_out") & (c("contacts_30d") < 4)),
        ch_call=_seg(c("contacts_30d") < 2),
        ch_store=pl.lit(True),
    )
    hv, ht, hs = c("high_voice"), c("high_traffic"), c("high_vas")
    lf = lf.with_columns(
        vad=pl.when(hv & ht & hs).then(pl.lit("VAD"))
        .when(hv & ht).then(pl.lit("VD"))
        .when(hv & hs).then(pl.lit("VA"))
        .when(hv).then(pl.lit("V"))
        .when(ht & hs).then(pl.lit("AD"))
        .when(ht).then(pl.lit("D"))
        .when(hs).then(pl.lit("A"))
        .otherwise(pl.lit("NVAD")),
        tier=pl.when(_seg((c("brand") == "全球通") & (c("arpu_3m") >= 300))).then(pl.lit("全球通"))
        .when(_seg((c("arpu_3m") >= 200) | ((c("arpu_3m") >= 150) & (c("tenure_months") >= 60))))
        .then(pl.lit("钻石卡"))
        .when(_seg(c("arpu_3m") >= 100)).then(pl.lit("金卡"))
        .when(_seg(c("arpu_3m") >= 50)).then(pl.lit("银卡"))
        .otherwise(pl.lit("普通")),
        # Written as the policy writes it, operation by operation: float
        # results must match the engine bit for bit, so no reassociation.
        churn_risk=(_div(0.35 * _min(c("complaints_90d"), 3), 3)
                    + 0.35 * (-pl.coalesce(c("arpu_trend"), pl.lit(0.0))).clip(0, 1)
                    + _div(0.30 * _min(c("inactive_days"), 90), 90)).clip(0, 1),
        value_score=c("arpu_3m") * (1 + _div(c("tenure_months"), 120)),
    )
    lf = lf.with_columns(mid_high=_seg(c("tier").is_in(["全球通", "钻石卡", "金卡"])))
    lf = lf.with_columns(
        churn_warning=_seg((c("inactive_days") > p["churn_days"]) | (c("complaints_90d") >= 2)
                           | (c("arpu_trend") < -0.3)),
        value_loss=_seg(c("mid_high") & (c("arpu_trend") < -0.2)),
        unstable=_seg(c("mid_high") & ((c("arpu_m1") - c("arpu_m2")).abs() > 0.4 * c("arpu_3m"))),
    )
    return lf.collect()


def _candidates(scored: pl.DataFrame) -> pl.LazyFrame:
    """Long form: one row per (customer, offer) that is a candidate."""
    rules = _eligibility_and_priority()
    parts = []
    for decl, (offer, category, channels) in enumerate(OFFERS):
        eligible, priority = rules[offer]
        parts.append(
            scored.lazy()
            .select("pos", "id", priority=priority.cast(pl.Float64), channel=_first_open(channels),
                    eligible=_seg(eligible))
            .filter(pl.col("eligible"), pl.col("priority").is_not_null(), pl.col("channel").is_not_null())
            .select("pos", "id", "priority", "channel", offer=pl.lit(offer), category=pl.lit(category),
                    decl=pl.lit(decl, dtype=pl.Int32))
        )
    return pl.concat(parts)


def _arbitrate(candidates: pl.LazyFrame) -> pl.DataFrame:
    """One row per customer with an accepted offer, in input order: `pos`,
    `id`, and the lists `offer`, `channel`, `priority` in rank order."""
    # Walking a customer's candidates best first, a candidate is accepted iff
    # it is the best of its category and among the first `max` such bests:
    # a later one of an accepted category is refused by `one per category`,
    # and once `max` is reached everything after is refused.
    # (unique + group_by().head() rather than cumulative counts with
    # `.over()`: the same result, and over() windows take twice as long.)
    return (
        candidates
        .sort(["pos", "priority", "decl"], descending=[False, True, False])
        .unique(subset=["pos", "category"], keep="first", maintain_order=True)
        .group_by("pos", maintain_order=True)
        .agg(pl.col("id").first(), pl.col("offer", "channel", "priority").head(MAX_PER_CUSTOMER))
        .collect()
    )


def run(table: pa.Table, as_of: dt.date, params: dict | None = None) -> tuple[pa.Table, pa.Table]:
    p = resolve_params(params)
    key_type = table.schema.field("id").type
    scored = _scored(table, as_of, p)
    accepted = _arbitrate(_candidates(scored))

    customers = (
        scored.lazy()
        .select("pos", "id", *SEGMENTS_ETC)
        .join(accepted.lazy().select("pos", "offer"), on="pos", how="left", maintain_order="left")
        .with_columns(pl.col("offer").fill_null(pl.lit([], dtype=pl.List(pl.String))).alias("offers"))
        .drop("pos", "offer")
        .collect()
    )
    assignments = (
        accepted.lazy()
        .with_columns(rank=pl.int_ranges(1, pl.col("offer").list.len() + 1, dtype=pl.Int32))
        .explode("offer", "channel", "priority", "rank")
        .select("id", "offer", "rank", "channel", "priority", control=pl.lit(False))
        .collect()
    )
    return (customers.to_arrow().cast(customers_schema(key_type)),
            assignments.to_arrow().cast(assignments_schema(key_type)))


if __name__ == "__main__":
    import sys
    import time
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_data import AS_OF, bench_table

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    t = bench_table(n)
    run(t.slice(0, 1000), AS_OF)
    t0 = time.perf_counter()
    cust, asg = run(t, AS_OF)
    s = time.perf_counter() - t0
    print(f"polars: {n} rows in {s:.3f} s, {n / s:,.0f} rows/s, {asg.num_rows} assignments")
