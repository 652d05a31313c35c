"""Policies as large as an operator's catalogue, over the bench input.

`large_policy(offers, segments, seed=1) -> str` is deterministic: the same
arguments give the same text. It reads the input block of
benchmarks/data/retention_bench.pol (the columns bench_customers.py
generates) and is built as a catalogue grows:

- shared lets (three-month spend, trend, data use, inactivity) that most
  segments read, and one derived let per five segments (a spend or usage
  figure scaled per group), so lets are shared between segments;
- segments that read several fields each: a brand or customer type, a
  spend band, a usage or voice threshold, a region list, now and then a
  date or a null test, and from the tenth on one earlier segment;
- one classification per twenty segments (four tiers from its segments);
- offers whose eligibility combines two to four segments (`and`, `or`,
  `not`), a classification's tier now and then, priorities that read lets
  and fields, each on one or two of four channels, in eight categories.

    python -m benchmarks.data.large_policy 50 300 > big.pol
"""
from __future__ import annotations

import random
import sys

INPUT = """input customer key id {
    id: int
    msisdn: string
    brand: string
    customer_type: string
    region: string
    age: int?
    tenure_months: int
    arpu_m1: float
    arpu_m2: float
    arpu_m3: float
    voice_min: float
    data_gb: float
    plan_data_gb: float
    vas_spend: float
    night_data_gb: float
    intl_call_min: float
    roaming_days: int
    complaints_90d: int
    last_active: date
    contract_end: date?
    storage_used_pct: float?
    sms_opt_out: bool
    contacts_30d: int
    app_active: bool
    broadband: bool
}
"""

SHARED = """let arpu_3m = (arpu_m1 + arpu_m2 + arpu_m3) / 3
let arpu_trend = arpu_m1 / arpu_m3 - 1
let usage_ratio = data_gb / plan_data_gb
let night_share = night_data_gb / data_gb
let inactive_days = days_since(last_active)

channel app "APP推送" when app_active
channel sms "短信" when not sms_opt_out and contacts_30d < 4
channel call "外呼" when contacts_30d < 2
channel store "营业厅"
"""

BRANDS = ("全球通", "神州行", "动感地带")
TYPES = ("个人", "家庭", "政企")
PROVINCES = ("北京", "上海", "广东", "江苏", "浙江", "山东", "四川", "湖北", "河南", "福建")
CHANNELS = ("app", "sms", "call", "store")
TIERS = ("钻石", "金", "银", "普通")


def _let(g: int, rng: random.Random) -> str:
    kind = g % 4
    a = rng.choice((0.8, 0.9, 1.1, 1.2, 1.5))
    if kind == 0:
        return f"let g{g} = arpu_3m * {a} + vas_spend / {g % 7 + 2}"
    if kind == 1:
        return f"let g{g} = usage_ratio * {a} - night_share / {g % 5 + 2}"
    if kind == 2:
        return f"let g{g} = voice_min / 60 * {a} + intl_call_min / {g % 3 + 1}"
    return f"let g{g} = coalesce(arpu_trend, 0) * {a} + tenure_months / {g % 11 + 12}"


def _segment(j: int, rng: random.Random) -> str:
    g = j // 5
    kind = g % 4
    parts = []
    if rng.random() < 0.6:
        parts.append(f'brand == "{rng.choice(BRANDS)}"')
    else:
        parts.append(f'customer_type != "{rng.choice(TYPES)}"')
    if kind == 0:
        parts.append(f"g{g} >= {rng.randint(20, 200)}")
    elif kind == 1:
        parts.append(f"g{g} between {rng.randint(2, 6) / 10} and {rng.randint(8, 14) / 10}")
    elif kind == 2:
        parts.append(f"g{g} > {rng.randint(1, 8)}")
    else:
        parts.append(f"g{g} < {rng.randint(0, 20) / 10}")
    pick = rng.random()
    if pick < 0.3:
        regions = ", ".join(f'"{p}"' for p in rng.sample(PROVINCES, 3))
        parts.append(f"region in ({regions})")
    elif pick < 0.5:
        parts.append(f"inactive_days <= {rng.randint(3, 60)}")
    elif pick < 0.65:
        parts.append(f"age is not null and age < {rng.randint(25, 70)}")
    elif pick < 0.8:
        parts.append(f"days_until(contract_end) between 0 and {rng.randint(30, 180)}")
    else:
        parts.append(f"complaints_90d < {rng.randint(1, 3)}")
    text = " and ".join(parts)
    if j >= 10 and rng.random() < 0.4:
        text = f"({text}) or s{rng.randrange(j - 10, j)} and data_gb >= {rng.randint(1, 30)}"
    return f'segment s{j} "分群{j}" = {text}'


def _classify(c: int, rng: random.Random, segments: int) -> str:
    lo = c * 20
    pool = list(range(lo, min(lo + 20, segments)))
    a, b, d = rng.sample(pool, 3)
    return (f'classify c{c} "等级{c}" {{\n'
            f'    when s{a} and s{b} => "{TIERS[0]}"\n'
            f'    when s{a} or arpu_3m >= {rng.randint(150, 300)} => "{TIERS[1]}"\n'
            f'    when s{d} => "{TIERS[2]}"\n'
            f'    else => "{TIERS[3]}"\n}}')


def _offer(k: int, rng: random.Random, segments: int, classes: int) -> str:
    s = [f"s{x}" for x in rng.sample(range(segments), min(4, segments))]
    n = rng.choice((2, 3, 4))
    if n == 2:
        cond = f"{s[0]} and not {s[1]}"
    elif n == 3:
        cond = f"{s[0]} and ({s[1]} or {s[2]})"
    else:
        cond = f"({s[0]} or {s[1]}) and {s[2]} and not {s[3]}"
    if classes and rng.random() < 0.3:
        cond += f' and c{rng.randrange(classes)} in ("{TIERS[0]}", "{TIERS[1]}")'
    prio = rng.choice((f"{rng.randint(10, 90)}",
                       f"{rng.randint(10, 50)} + 20 * usage_ratio",
                       f"{rng.randint(10, 50)} + arpu_3m / {rng.randint(5, 20)}",
                       f"{rng.randint(10, 50)} + g{rng.randrange(max(segments // 5, 1))} / 10"))
    chans = ", ".join(rng.sample(CHANNELS, rng.choice((1, 2))))
    return (f'offer o{k} "权益{k}" {{\n    category cat{k % 8}\n    eligible when {cond}\n'
            f"    priority {prio}\n    channels {chans}\n}}")


def large_policy(offers: int, segments: int, seed: int = 1) -> str:
    rng = random.Random(seed * 1_000_003 + offers * 1009 + segments)
    groups = (segments + 4) // 5
    classes = segments // 20
    out = [f'policy large_{offers}x{segments} version "1"', "", INPUT, SHARED]
    out += [_let(g, rng) for g in range(groups)]
    out += [_segment(j, rng) for j in range(segments)]
    out += [_classify(c, rng, segments) for c in range(classes)]
    out += [_offer(k, rng, segments, classes) for k in range(offers)]
    out.append("arbitrate {\n    max 2 per customer\n    one per category\n}")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(large_policy(int(sys.argv[1]), int(sys.argv[2])))
