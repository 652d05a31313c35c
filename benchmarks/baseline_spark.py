"""The bench policy (retention_bench.pol) written by hand in Spark SQL, as a
data engineer would write it for a Spark cluster.

`run(spark, df, as_of, params=None) -> (customers, assignments)`: Spark
DataFrames with the columns of `pol.spark.evaluate`'s (the key, segments,
classifications and scores in declaration order, `offers` in rank order;
assignments `id, offer, rank, channel, priority, control`). Nothing is
ordered: Spark gives no order without a sort, and pol.spark does not sort
either. The translation follows baseline_duckdb.py; what Spark changes:
- ANSI mode (Spark 4's default) raises on a division by zero: every
  division the language makes null when not finite is `fin(try_divide(...))`;
- a literal with a decimal point is a DECIMAL: fractional constants are
  written as doubles (`0.35D`);
- no QUALIFY: ranks are filtered in an outer query;
- dates: `datediff`; list of offers: collect_list of (rank, offer), sorted.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession

PARAM_TYPES = {"churn_days": int, "high_voice_min": float}
DEFAULT_PARAMS = {"churn_days": 30, "high_voice_min": 300.0}
SEGMENTS_ETC = ["high_voice", "high_traffic", "high_vas", "vad", "tier", "mid_high", "churn_warning",
                "value_loss", "unstable", "new_customer", "student", "elderly", "contract_expiring",
                "churn_risk", "value_score"]
MAX_PER_CUSTOMER = 2


def fin(x: str) -> str:
    """The language's float result: null when not finite."""
    return f"(CASE WHEN isnan({x}) OR abs({x}) = double('inf') THEN NULL ELSE {x} END)"


def div(a: str, b: str) -> str:
    return fin(f"try_divide({a}, {b})")


def scored_sql(as_of: dt.date, churn_days: int, high_voice_min: float) -> str:
    day = f"DATE'{as_of.isoformat()}'"
    return f"""
WITH lets AS (
SELECT
    id, brand, customer_type, age, tenure_months, arpu_m1, arpu_m2, data_gb,
    intl_call_min, roaming_days, complaints_90d, broadband, app_active,
    CASE WHEN NOT isnan(storage_used_pct) THEN storage_used_pct END AS storage_used_pct,
    {div("arpu_m1 + arpu_m2 + arpu_m3", "3D")}                 AS arpu_3m,
    {div("arpu_m1", "arpu_m3")} - 1                             AS arpu_trend,
    {div("data_gb", "plan_data_gb")}                            AS usage_ratio,
    {div("night_data_gb", "data_gb")}                           AS night_share,
    datediff({day}, last_active)                                AS inactive_days,
    coalesce(voice_min >= {float(high_voice_min)}D, false)      AS high_voice,
    coalesce(data_gb >= 20, false)                              AS high_traffic,
    coalesce(vas_spend >= 20, false)                            AS high_vas,
    coalesce(tenure_months < 3, false)                          AS new_customer,
    coalesce(age IS NOT NULL AND age <= 24 AND brand = '动感地带', false) AS student,
    coalesce(age >= 65, false)                                  AS elderly,
    coalesce(datediff(contract_end, {day}) BETWEEN 0 AND 60, false) AS contract_expiring,
    coalesce(app_active, false)                                 AS ch_app,
    coalesce(NOT sms_opt_out AND contacts_30d < 4, false)       AS ch_sms,
    coalesce(contacts_30d < 2, false)                           AS ch_call,
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
        least(greatest(
              0.35D * least(complaints_90d, 3) / 3
            + 0.35D * least(greatest(-coalesce(arpu_trend, 0D), 0D), 1D)
            + 0.30D * least(inactive_days, 90) / 90,
          0D), 1D)                                                  AS churn_risk,
        arpu_3m * (1 + {div("CAST(tenure_months AS DOUBLE)", "120D")}) AS value_score
    FROM lets
), mid AS (
    SELECT *, coalesce(tier IN ('全球通', '钻石卡', '金卡'), false) AS mid_high FROM classified
)
SELECT *,
    coalesce(inactive_days > {int(churn_days)} OR complaints_90d >= 2 OR arpu_trend < -0.3D, false) AS churn_warning,
    coalesce(mid_high AND arpu_trend < -0.2D, false)                                           AS value_loss,
    coalesce(mid_high AND abs(arpu_m1 - arpu_m2) > 0.4D * arpu_3m, false)                      AS unstable
FROM mid
"""


OFFERS = [
    ("flow_worry_free", "traffic", ("app", "sms"), "usage_ratio >= 0.8D AND NOT high_traffic",
     "40 + 20 * usage_ratio"),
    ("night_pack", "traffic", ("app", "sms"), "night_share >= 0.3D AND data_gb >= 2", "30 + 50 * night_share"),
    ("esports_pack", "traffic", ("app",), "student AND NOT elderly AND data_gb >= 10", "18"),
    ("intl_family", "voice", ("sms", "call"), "intl_call_min >= 60", "45"),
    ("voice_roaming", "voice", ("sms",), "roaming_days >= 5 AND high_voice", "30"),
    ("biz_travel", "voice", ("call",), "customer_type = '政企' OR (roaming_days >= 8 AND brand = '全球通')", "50"),
    ("cloud_expand", "new_service", ("app",), "storage_used_pct >= 90", "25"),
    ("migu_video", "new_service", ("app",), "NOT high_vas AND high_traffic", f"15 + {div('data_gb', '10D')}"),
    ("retention_pack", "retention", ("call", "sms"), "mid_high AND churn_warning",
     f"100 * churn_risk + {div('arpu_3m', '10D')}"),
    ("welcome_gift", "care", ("sms", "app"), "new_customer", "60"),
    ("growth_plan", "care", ("app",), "tenure_months BETWEEN 3 AND 6 AND app_active", "20"),
    ("handset_contract", "bundle", ("call", "store"), "contract_expiring AND mid_high AND NOT elderly",
     f"55 + {div('value_score', '50D')}"),
    ("prepaid_bonus", "bundle", ("sms", "store"), "unstable", f"35 + {div('value_score', '100D')}"),
    ("family_bundle", "bundle", ("call", "store"), "customer_type = '家庭' AND broadband AND NOT mid_high", "28"),
]


def accepted_sql() -> str:
    selects = []
    for decl, (offer, category, channels, eligible, priority) in enumerate(OFFERS):
        first_open = " ".join(f"WHEN ch_{ch} THEN '{ch}'" for ch in channels)
        selects.append(f"""
    SELECT * FROM (
        SELECT id, '{offer}' AS offer, '{category}' AS category, {decl} AS decl,
               CAST({priority} AS DOUBLE) AS priority, CASE {first_open} END AS channel
        FROM scored WHERE coalesce({eligible}, false)
    ) WHERE priority IS NOT NULL AND channel IS NOT NULL""")
    # A candidate is accepted iff it is the best of its category and among
    # the first `max` such bests (baseline_duckdb.py says why).
    return f"""
WITH candidates AS ({" UNION ALL".join(selects)}
), best AS (
    SELECT * FROM (
        SELECT *, row_number() OVER (PARTITION BY id, category ORDER BY priority DESC, decl) AS r
        FROM candidates) WHERE r = 1
), ranked AS (
    SELECT id, offer, channel, priority,
           CAST(row_number() OVER (PARTITION BY id ORDER BY priority DESC, decl) AS INT) AS rank
    FROM best
)
SELECT * FROM ranked WHERE rank <= {MAX_PER_CUSTOMER}
"""


def run(spark: SparkSession, df: DataFrame, as_of: dt.date, params: dict | None = None):
    p = dict(DEFAULT_PARAMS, **(params or {}))
    df.createOrReplaceTempView("src")
    scored = spark.sql(scored_sql(as_of, p["churn_days"], p["high_voice_min"]))
    scored.createOrReplaceTempView("scored")
    accepted = spark.sql(accepted_sql())
    accepted.createOrReplaceTempView("accepted")
    customers = spark.sql(f"""
        SELECT s.id, {", ".join(f"s.{c}" for c in SEGMENTS_ETC)},
               coalesce(a.offers, array()) AS offers
        FROM scored s LEFT JOIN (
            SELECT id, transform(array_sort(collect_list(struct(rank, offer))), x -> x.offer) AS offers
            FROM accepted GROUP BY id) a ON s.id = a.id""")
    assignments = spark.sql("SELECT id, offer, rank, channel, priority, false AS control FROM accepted")
    return customers, assignments
