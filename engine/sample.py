"""Synthetic customers for the telecom policies: `generate(n, seed)` -> an
Arrow table with the columns of policies/telecom/customer.pol.

Deterministic for a seed, vectorized (a million rows in a few seconds).
Distributions, chosen so every segment holds some but not all customers and
every offer finds someone:
- brand 全球通 10%, 神州行 65%, 动感地带 25%; type 个人 85%, 家庭 12%, 政企 3%;
  province uniform over the 31 provinces;
- age uniform 16-85, unknown for 3%; tenure exponential (mean 40 months,
  capped at 300);
- spend: a lognormal level around 55 yuan, each month varied by about 18%;
  8% of customers spend 20-70% less this month; 0.2% spent nothing three
  months ago;
- voice lognormal around 150 minutes; plan 5-100 GB; data a beta share of
  the plan up to 125% (1% used none); value-added spend for 40%;
- services used 1-6; night data a beta share of data; international calls
  for 4%; roaming for 15%; complaints Poisson(0.25);
- last activity geometric (most active within days, a tail up to 400 days
  ago); a handset contract for 60%, ending between 90 days ago and two years
  ahead; cloud storage for half, use uniform 0-100%;
- SMS opt-out 12%, do-not-disturb 3%, contacts Poisson(1.2), app users 55%,
  broadband 30%.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa

PREFIXES = np.array([134, 135, 136, 137, 138, 139, 147, 150, 151, 152, 157, 158, 159, 187, 188])
PROVINCES = ["北京", "天津", "河北", "山西", "内蒙古", "辽宁", "吉林", "黑龙江", "上海", "江苏", "浙江",
             "安徽", "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "广西", "海南", "重庆", "四川",
             "贵州", "云南", "西藏", "陕西", "甘肃", "青海", "宁夏", "新疆"]


def _dict(codes: np.ndarray, values: list[str]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int8)), pa.array(values))


def generate(n: int, seed: int = 7, as_of: dt.date = dt.date(2026, 11, 1)) -> pa.Table:
    rng = np.random.default_rng(seed)
    base = (as_of - dt.date(1970, 1, 1)).days
    msisdn = (PREFIXES[rng.integers(0, len(PREFIXES), n)].astype(np.int64) * 10 ** 8
              + rng.integers(0, 10 ** 8, n)).astype(str)
    level = rng.lognormal(np.log(55), 0.7, n)
    arpu = [np.round(level * rng.lognormal(0, 0.18, n), 2) for _ in range(3)]
    drop = rng.random(n) < 0.08
    arpu[0] = np.where(drop, np.round(arpu[0] * rng.uniform(0.3, 0.8, n), 2), arpu[0])
    arpu[2] = np.where(rng.random(n) < 0.002, 0.0, arpu[2])
    plan = rng.choice(np.array([5.0, 10.0, 20.0, 30.0, 50.0, 100.0]), n, p=[0.2, 0.25, 0.25, 0.15, 0.1, 0.05])
    data = np.round(plan * rng.beta(2, 2.2, n) * 1.25, 2)
    data = np.where(rng.random(n) < 0.01, 0.0, data)
    age = rng.integers(16, 86, n)
    contract_end = (base + rng.integers(-90, 720, n)).astype(np.int32)
    storage = np.round(rng.uniform(0, 100, n), 1)
    return pa.table({
        "id": np.arange(1, n + 1, dtype=np.int64),
        "msisdn": pa.array(msisdn),
        "brand": _dict(rng.choice(3, n, p=[0.10, 0.65, 0.25]), ["全球通", "神州行", "动感地带"]),
        "customer_type": _dict(rng.choice(3, n, p=[0.85, 0.12, 0.03]), ["个人", "家庭", "政企"]),
        "province": _dict(rng.integers(0, len(PROVINCES), n), PROVINCES),
        "age": pa.array(age, mask=rng.random(n) < 0.03, type=pa.int32()),
        "tenure_months": pa.array(np.minimum(rng.exponential(40, n).astype(np.int64), 300), pa.int32()),
        "arpu_m1": arpu[0], "arpu_m2": arpu[1], "arpu_m3": arpu[2],
        "voice_min": np.round(rng.lognormal(np.log(150), 0.9, n), 1),
        "data_gb": data,
        "plan_data_gb": plan,
        "vas_spend": np.round(np.where(rng.random(n) < 0.4, rng.lognormal(np.log(15), 0.8, n), 0.0), 2),
        "services_used": pa.array(rng.integers(1, 7, n), pa.int32()),
        "night_data_gb": np.round(data * rng.beta(1.2, 6, n), 2),
        "intl_call_min": np.round(np.where(rng.random(n) < 0.04, rng.lognormal(np.log(80), 0.8, n), 0.0), 1),
        "roaming_days": np.where(rng.random(n) < 0.15, rng.integers(1, 20, n), 0).astype(np.int32),
        "complaints_90d": rng.poisson(0.25, n).astype(np.int32),
        "last_active": pa.array((base - np.minimum(rng.geometric(0.12, n) - 1, 400)).astype(np.int32)).cast(pa.date32()),
        "contract_end": pa.array(contract_end, mask=rng.random(n) < 0.4).cast(pa.date32()),
        "storage_used_pct": pa.array(storage, mask=rng.random(n) < 0.5),
        "sms_opt_out": rng.random(n) < 0.12,
        "do_not_disturb": rng.random(n) < 0.03,
        "contacts_30d": rng.poisson(1.2, n).astype(np.int32),
        "app_active": rng.random(n) < 0.55,
        "broadband": rng.random(n) < 0.3,
    })


def write(n: int, path: str | Path, seed: int = 7, as_of: dt.date = dt.date(2026, 11, 1)) -> Path:
    """Write n customers as Parquet (row groups of 1M rows), or CSV for a .csv path."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = generate(n, seed, as_of)
    if path.suffix.lower() == ".csv":
        plain = table.cast(pa.schema([pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type)
                                      for f in table.schema]))
        pacsv.write_csv(plain, path)
    else:
        pq.write_table(table, path, row_group_size=1 << 20)
    return path
