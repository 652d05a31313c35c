"""The bench policy (retention_bench.pol) written by hand in DuckDB SQL.

`run(table, as_of, params=None) -> (customers, assignments)`

- `table`: a pyarrow.Table with the columns of the policy's `input` block
  (what `benchmarks/data/bench_customers.generate` makes); extra columns are ignored.
  It is scanned in place (registered with DuckDB, not copied in).
- `as_of`: the run's date (`today` of the policy).
- `params`: overrides of `churn_days` (int) and `high_voice_min` (float).

Returns two pyarrow Tables shaped as section 8 of the language reference
says, identical in schema and content to `baseline_polars.run`:
`customers` (one row per input row, in input order: `id`, the segments,
classifications and scores in declaration order, then `offers`, the accepted
offer names in rank order) and `assignments` (`id`, `offer`, `rank`,
`channel`, `priority`, `control`, ordered by input position then rank).

SQL pitfalls the language's semantics force on this file:
- a numeric literal with a decimal point is a DECIMAL in DuckDB, and
  DECIMAL arithmetic is not float64 arithmetic: every fractional constant
  is written as a DOUBLE;
- `least`/`greatest` skip NULLs (the language's min/max are null if any
  argument is); only non-nullable fields reach them here;
- `x / 0.0` is ±inf or NaN in DuckDB, null in the language (`fin`);
- NaN compares greater than every number in DuckDB; the language reads a
  NaN input as null.
"""
from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pyarrow as pa

PARAM_TYPES = {"churn_days": int, "high_voice_min": float}
DEFAULT_PARAMS = {"churn_days": 30, "high_voice_min": 300.0}

SEGMENTS_ETC = ["high_voice", "high_traffic", "high_vas", "vad", "tier", "mid_high", "churn_warning",
                "value_loss", "unstable", "new_customer", "student", "elderly", "contract_expiring",
                "churn_risk", "value_score"]
BOOLS = {"high_voice", "high_traffic", "high_vas", "mid_high", "churn_warning", "value_loss", "unstable",
         "new_customer", "student", "elderly", "contract_expiring"}
STRINGS = {"vad", "tier"}
MAX_PER_CUSTOMER = 2

# `fin`: the language has no NaN or infinity, a non-finite float result is null.
# `seg`: segments, `when` conditions, eligibility and channel conditions read
# null as false; SQL's AND/OR are three-valued like the language's, so
# collapsing once at the top is exact.
MACROS = """
CREATE OR REPLACE TEMP MACRO fin(x) AS CASE WHEN isfinite(x) THEN x END;
CREATE OR REPLACE TEMP MACRO seg(x) AS coalesce(x, false);
"""

SCORED = """
CREATE OR REPLACE TEMP TABLE scored AS
WITH lets AS (
SELECT
    pos, id, brand, customer_type, age, tenure_months, arpu_m1, arpu_m2, data_gb,
    intl_call_min, roaming_days, complaints_90d, broadband, app_active,
    CASE WHEN NOT isnan(storage_used_pct) THEN storage_used_pct END AS storage_used_pct,
    fin((arpu_m1 + arpu_m2 + arpu_m3) / 3::DOUBLE)             AS arpu_3m,
    fin(arpu_m1 / arpu_m3) - 1                                  AS arpu_trend,
    fin(data_gb / plan_data_gb)                                 AS usage_ratio,
    fin(night_data_gb / data_gb)                                AS night_share,
    $as_of - last_active                                        AS inactive_days,
    seg(voice_min >= $high_voice_min)                           AS high_voice,
    seg(data_gb >= 20)                                          AS high_traffic,
    seg(vas_spend >= 20)                                        AS high_vas,
    seg(tenure_months < 3)                                      AS new_customer,
    seg(age IS NOT NULL AND age <= 24 AND brand = '动感地带')     AS student,
    seg(age >= 65)                                              AS elderly,
    seg(contract_end - $as_of BETWEEN 0 AND 60)                 AS contract_expiring,
    seg(app_active)                                             AS ch_app,
    seg(NOT sms_opt_out AND contacts_30d < 4)                   AS ch_sms,
    seg(contacts_30d < 2)                                       AS ch_call,
    true                                                        AS ch_store
FROM src
), classified AS (
    SELECT *,
        CASE
            WHEN high_voice AND high_traffic AND high_vas THEN 'VAD'
            WHEN high_voice AND high_traffic THEN 'VD'
            WHEN high_voice AND high_vas THEN 'VA'
            WHEN high_voice THEN 'V'
            WHEN high_traffic AND high_vas THEN 'AD'
            WHEN high_traffic THEN 'D'
            WHEN high_vas THEN 'A'
            ELSE 'NVAD'
        END AS vad,
        CASE
            WHEN brand = '全球通' AND arpu_3m >= 300 THEN '全球通'
            WHEN arpu_3m >= 200 OR (arpu_3m >= 150 AND tenure_months >= 60) THEN '钻石卡'
            WHEN arpu_3m >= 100 THEN '金卡'
            WHEN arpu_3m >= 50 THEN '银卡'
            ELSE '普通'
        END AS tier,
        -- Operation by operation as the policy writes it: the engine is
        -- checked bit for bit, so no reassociation and DOUBLE constants.
        least(greatest(
              0.35::DOUBLE * least(complaints_90d, 3) / 3
            + 0.35::DOUBLE * least(greatest(-coalesce(arpu_trend, 0::DOUBLE), 0::DOUBLE), 1::DOUBLE)
            + 0.30::DOUBLE * least(inactive_days, 90) / 90,
          0::DOUBLE), 1::DOUBLE)                                    AS churn_risk,
        arpu_3m * (1 + fin(tenure_months::DOUBLE / 120))            AS value_score
    FROM lets
), mid AS (
    SELECT *, seg(tier IN ('全球通', '钻石卡', '金卡')) AS mid_high FROM classified
)
SELECT *,
    seg(inactive_days > $churn_days OR complaints_90d >= 2 OR arpu_trend < -0.3::DOUBLE) AS churn_warning,
    seg(mid_high AND arpu_trend < -0.2::DOUBLE)                                        AS value_loss,
    seg(mid_high AND abs(arpu_m1 - arpu_m2) > 0.4::DOUBLE * arpu_3m)                   AS unstable
FROM mid;
"""

# One SELECT per offer, in declaration order (`decl` breaks priority ties):
# (name, category, channels in preference order, eligible, priority).
OFFERS = [
    ("flow_worry_free", "traffic", ("app", "sms"),
     "usage_ratio >= 0.8::DOUBLE AND NOT high_traffic", "40 + 20 * usage_ratio"),
    ("night_pack", "traffic", ("app", "sms"),
     "night_share >= 0.3::DOUBLE AND data_gb >= 2", "30 + 50 * night_share"),
    ("esports_pack", "traffic", ("app",), "student AND NOT elderly AND data_gb >= 10", "18"),
    ("intl_family", "voice", ("sms", "call"), "intl_call_min >= 60", "45"),
    ("voice_roaming", "voice", ("sms",), "roaming_days >= 5 AND high_voice", "30"),
    ("biz_travel", "voice", ("call",),
     "customer_type = '政企' OR (roaming_days >= 8 AND brand = '全球通')", "50"),
    ("cloud_expand", "new_service", ("app",), "storage_used_pct >= 90", "25"),
    ("migu_video", "new_service", ("app",), "NOT high_vas AND high_traffic", "15 + fin(data_gb / 10)"),
    ("retention_pack", "retention", ("call", "sms"),
     "mid_high AND churn_warning", "100 * churn_risk + fin(arpu_3m / 10)"),
    ("welcome_gift", "care", ("sms", "app"), "new_customer", "60"),
    ("growth_plan", "care", ("app",), "tenure_months BETWEEN 3 AND 6 AND app_active", "20"),
    ("handset_contract", "bundle", ("call", "store"),
     "contract_expiring AND mid_high AND NOT elderly", "55 + fin(value_score / 50)"),
    ("prepaid_bonus", "bundle", ("sms", "store"), "unstable", "35 + fin(value_score / 100)"),
    ("family_bundle", "bundle", ("call", "store"),
     "customer_type = '家庭' AND broadband AND NOT mid_high", "28"),
]


def _candidates_sql() -> str:
    selects = []
    for decl, (offer, category, channels, eligible, priority) in enumerate(OFFERS):
        first_open = " ".join(f"WHEN ch_{ch} THEN '{ch}'" for ch in channels)
        selects.append(f"""
    SELECT * FROM (
        SELECT pos, id, '{offer}' AS offer, '{category}' AS category, {decl} AS decl,
               CAST({priority} AS DOUBLE) AS priority,
               CASE {first_open} END AS channel
        FROM scored WHERE seg({eligible})
    ) WHERE priority IS NOT NULL AND channel IS NOT NULL""")
    return " UNION ALL".join(selects)


# Walking a customer's candidates best first, a candidate is accepted iff it
# is the best of its category and among the first `max` such bests: a later
# one of an accepted category is refused by `one per category`, and once
# `max` is reached everything after is refused.
ACCEPTED = f"""
CREATE OR REPLACE TEMP TABLE accepted AS
WITH candidates AS ({_candidates_sql()}
), category_best AS (
    SELECT * FROM candidates
    QUALIFY row_number() OVER (PARTITION BY pos, category ORDER BY priority DESC, decl) = 1
)
SELECT pos, id, offer, channel, priority,
       CAST(row_number() OVER (PARTITION BY pos ORDER BY priority DESC, decl) AS INTEGER) AS rank
FROM category_best
QUALIFY rank <= {MAX_PER_CUSTOMER};
"""

CUSTOMERS = f"""
SELECT s.id, {", ".join(f"s.{c}" for c in SEGMENTS_ETC)},
       coalesce(a.offers, []::VARCHAR[]) AS offers
FROM scored s
LEFT JOIN (SELECT pos, list(offer ORDER BY rank) AS offers FROM accepted GROUP BY pos) a USING (pos)
ORDER BY s.pos
"""

ASSIGNMENTS = """
SELECT id, offer, rank, channel, priority, false AS control
FROM accepted
ORDER BY pos, rank
"""


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


def run(table: pa.Table, as_of: dt.date, params: dict | None = None,
        con: duckdb.DuckDBPyConnection | None = None) -> tuple[pa.Table, pa.Table]:
    """`con`: a connection to run on (default: a fresh in-memory database)."""
    p = resolve_params(params)
    key_type = table.schema.field("id").type
    # Output order is input order; an explicit position column says so,
    # since a scan's order is not part of SQL's contract.
    src = table.append_column("pos", pa.array(np.arange(table.num_rows, dtype=np.int64)))
    own = con is None
    con = duckdb.connect() if own else con
    try:
        con.execute("SET enable_progress_bar = false")     # nothing on a benchmark's terminal
        con.register("src", src)
        con.execute(MACROS)
        binds = {"as_of": as_of, "churn_days": p["churn_days"], "high_voice_min": p["high_voice_min"]}
        con.execute(SCORED, binds)
        con.execute(ACCEPTED)
        customers = con.sql(CUSTOMERS).to_arrow_table()
        assignments = con.sql(ASSIGNMENTS).to_arrow_table()
        con.execute("DROP TABLE IF EXISTS accepted; DROP TABLE IF EXISTS scored")
        con.unregister("src")
    finally:
        if own:
            con.close()
    return customers.cast(customers_schema(key_type)), assignments.cast(assignments_schema(key_type))


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
    print(f"duckdb: {n} rows in {s:.3f} s, {n / s:,.0f} rows/s, {asg.num_rows} assignments")
