"""The bench input: a synthetic mobile-operator customer table whose columns
are the input block of benchmarks/data/retention_bench.pol.

`generate(n, seed=7, as_of=2026-11-01) -> pyarrow.Table` is deterministic:
the same arguments give the same table, row for row, on every machine
(numpy's PCG64 stream, drawn in a fixed order: adding a column means adding
its draws after all the others, or every later column changes).

    python -m benchmarks.data.bench_customers N OUT.parquet [--seed S] [--as-of DATE]

What the columns hold (shares are of all customers):
- brand 全球通 10%, 神州行 65%, 动感地带 25%; customer_type 个人 85%,
  家庭 12%, 政企 3%; region uniform over 31 provinces (all dictionary-encoded);
- age uniform 16-85, null for 3%; tenure exponential (mean 40 months, at most 300);
- three months of spend around a lognormal level (median 55 yuan); 8% see this
  month fall to 30-80%; 0.2% have 0 spend three months ago (trend divisions by zero);
- voice lognormal (median 150 minutes); plans of 5-100 GB, used at a beta
  share up to 125% (1% use none); night data a beta share of the data;
- value-added spend for 40%, international calls for 4%, roaming 1-19 days for 15%;
- complaints Poisson(0.25); last active a geometric number of days ago (at most 400);
- contract end between 90 days ago and 720 days ahead, null for 40%; cloud
  storage use uniform 0-100%, null for 50%;
- SMS opt-out 12%, marketing contacts Poisson(1.2), app users 55%, broadband 30%.
"""
from __future__ import annotations

import argparse
import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

AS_OF = dt.date(2026, 11, 1)
MOBILE_PREFIXES = np.array([134, 135, 136, 137, 138, 139, 147, 150, 151, 152, 157, 158, 159, 187, 188])
PROVINCES = ("北京", "天津", "河北", "山西", "内蒙古", "辽宁", "吉林", "黑龙江", "上海", "江苏", "浙江",
             "安徽", "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "广西", "海南", "重庆", "四川",
             "贵州", "云南", "西藏", "陕西", "甘肃", "青海", "宁夏", "新疆")


def _categories(codes: np.ndarray, names) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int8)), pa.array(list(names)))


def _days(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(values.astype(np.int32), mask=mask, type=pa.int32()).cast(pa.date32())


def generate(n: int, seed: int = 7, as_of: dt.date = AS_OF) -> pa.Table:
    """`n` customers with ids 1..n. Every draw below happens in this order."""
    rng = np.random.default_rng(seed)
    today = (as_of - dt.date(1970, 1, 1)).days

    prefix = MOBILE_PREFIXES[rng.integers(0, len(MOBILE_PREFIXES), n)].astype(np.int64)
    msisdn = (prefix * 10**8 + rng.integers(0, 10**8, n)).astype(str)
    brand = rng.choice(3, n, p=[0.10, 0.65, 0.25])
    customer_type = rng.choice(3, n, p=[0.85, 0.12, 0.03])
    region = rng.integers(0, len(PROVINCES), n)
    age = rng.integers(16, 86, n)
    age_unknown = rng.random(n) < 0.03
    tenure = np.minimum(rng.exponential(40, n).astype(np.int64), 300)

    spend_level = rng.lognormal(np.log(55), 0.7, n)
    arpu = [np.round(spend_level * rng.lognormal(0, 0.18, n), 2) for _ in range(3)]
    falling = rng.random(n) < 0.08
    arpu[0] = np.where(falling, np.round(arpu[0] * rng.uniform(0.3, 0.8, n), 2), arpu[0])
    no_spend_m3 = rng.random(n) < 0.002
    arpu[2] = np.where(no_spend_m3, 0.0, arpu[2])

    voice = np.round(rng.lognormal(np.log(150), 0.9, n), 1)
    plan = rng.choice(np.array([5.0, 10.0, 20.0, 30.0, 50.0, 100.0]), n, p=[0.2, 0.25, 0.25, 0.15, 0.1, 0.05])
    data = np.round(plan * rng.beta(2, 2.2, n) * 1.25, 2)
    data = np.where(rng.random(n) < 0.01, 0.0, data)
    vas = np.round(np.where(rng.random(n) < 0.4, rng.lognormal(np.log(15), 0.8, n), 0.0), 2)
    night = np.round(data * rng.beta(1.2, 6, n), 2)
    intl = np.round(np.where(rng.random(n) < 0.04, rng.lognormal(np.log(80), 0.8, n), 0.0), 1)
    roaming = np.where(rng.random(n) < 0.15, rng.integers(1, 20, n), 0).astype(np.int32)
    complaints = rng.poisson(0.25, n).astype(np.int32)
    last_active = today - np.minimum(rng.geometric(0.12, n) - 1, 400)
    contract_end = today + rng.integers(-90, 720, n)
    no_contract = rng.random(n) < 0.4
    storage = np.round(rng.uniform(0, 100, n), 1)
    no_storage = rng.random(n) < 0.5
    sms_opt_out = rng.random(n) < 0.12
    contacts = rng.poisson(1.2, n).astype(np.int32)
    app_active = rng.random(n) < 0.55
    broadband = rng.random(n) < 0.3

    return pa.table({
        "id": np.arange(1, n + 1, dtype=np.int64),
        "msisdn": pa.array(msisdn),
        "brand": _categories(brand, ("全球通", "神州行", "动感地带")),
        "customer_type": _categories(customer_type, ("个人", "家庭", "政企")),
        "region": _categories(region, PROVINCES),
        "age": pa.array(age, mask=age_unknown, type=pa.int32()),
        "tenure_months": pa.array(tenure, type=pa.int32()),
        "arpu_m1": arpu[0], "arpu_m2": arpu[1], "arpu_m3": arpu[2],
        "voice_min": voice,
        "data_gb": data,
        "plan_data_gb": plan,
        "vas_spend": vas,
        "night_data_gb": night,
        "intl_call_min": intl,
        "roaming_days": roaming,
        "complaints_90d": complaints,
        "last_active": _days(last_active),
        "contract_end": _days(contract_end, no_contract),
        "storage_used_pct": pa.array(storage, mask=no_storage),
        "sms_opt_out": sms_opt_out,
        "contacts_30d": contacts,
        "app_active": app_active,
        "broadband": broadband,
    })


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Write the bench customers as Parquet.")
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--as-of", default=AS_OF.isoformat())
    args = ap.parse_args(argv)
    table = generate(args.n, args.seed, dt.date.fromisoformat(args.as_of))
    pq.write_table(table, args.out, row_group_size=1 << 20)
    print(f"{table.num_rows:,} rows, {table.nbytes / 2**20:.0f} MiB in memory")


if __name__ == "__main__":
    main()
