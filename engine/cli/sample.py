"""Synthetic customers for the telecom policy library.

`generate(n, seed, as_of)` returns an Arrow table with exactly the columns of
the `input` block of policies/telecom/customer.pol, in its order;
`write(n, path, seed)` saves one as Parquet (row groups of 1,048,576 rows) or,
for a `.csv` path, as CSV. `pol gen` and `pol demo` use them. `pol gen
--outcomes PATH --run RUN_DIR --uplift OFFER=P` writes instead the outcomes
of a run with a planted effect (engine/loop/outcomes.py), for `pol effect`.

The same (n, seed, as_of) always gives the same table. Everything is drawn
with vectorized numpy (a million rows in a couple of seconds), and the
distributions are chosen so that, run through policies/telecom/retention.pol,
every segment holds some but not all customers, every class of every
classification occurs, and every offer is given to someone:

- brand: 全球通 12%, 神州行 64%, 动感地带 24%. customer_type by brand:
  政企 18% of 全球通 and 2% of 神州行, 家庭 12-16% (5% of 动感地带), the rest
  个人. province: uniform over the 31 provinces.
- age: 动感地带 around 24 (sd 5, 15-45), except 4% aged 55-80 (cards bought
  for parents), so suitability rules have elderly heavy-data users to
  refuse; 全球通 around 42 (sd 10); 神州行 around 45 (sd 16, 16-90).
  Unknown (null) for 4%.
- tenure_months: exponential, mean 50 months (30 on 动感地带), capped at
  300; about 6% are in their first three months.
- spend: a lognormal monthly level, median 170 yuan on 全球通, 55 on
  动感地带, 45 on 神州行 (政企 x1.3), sigma 0.55; each month varies by
  about 12%. 6% are falling steadily (this month 45-85% of three months
  ago, last month in between); 5% swing (this month 40-60% or 150-200% of
  last month). Months before joining are 0, so tenure 0 and 1 have no bill
  three months ago.
- voice: lognormal minutes, median 160 (x1.5 for 政企), sigma 0.85; about a
  fifth of it long-distance (8% call mostly long-distance); roamers make
  some of it while roaming. Plans of 100-1000 minutes.
- data: plans of 5-100 GB; use is a beta share of the plan up to 130%
  (about 28% pass 80% of their plan); 2% use none. Night data
  (02:00-05:00) is a small share (beta(1.2, 12)), except for 6% of night
  owls who use about half of their data at night.
- international calls for 4% (median 70 minutes); roaming for 15% (50% of
  政企), geometric days (mean 5, at most 25; about a fifth of roamers are
  away 8 days or more).
- value-added services: Poisson(1.1) subscriptions (a third have none),
  about 8 yuan each. Broadband 30% (85% of 家庭). 和彩云 cloud storage for
  45%, of whom 12% are 90-100% full. Product lines held: voice, data,
  broadband, cloud, plus 0-2 others (1 to 6).
- complaints: Poisson(0.18) in 90 days; the last complaint within 90 days
  for those, more than 90 days ago for 15% of the others, never (null) for
  the rest. Last activity: geometric days ago (mean 7; 2% beyond 30 days),
  plus 5% silent for 31-200 days.
- handset contract for 45% (70% on 全球通), ending between 180 days ago and
  two years ahead; none (null) for the others.
- SMS opt-out 10%, call opt-out 12%, do-not-disturb 3%; marketing contacts
  in the last 30 days Poisson(1.2); app users 75% on 动感地带, 65% on
  全球通, 45% on 神州行. The contact log behind those counts is
  engine/cli/sample_contacts.py.
- birthday: `age` years and up to a year before the as-of date (unknown
  with the age), so about one customer in 52 has a birthday in the coming
  week; join_date (入网日期): `tenure_months` whole months and up to a month
  before it, unknown for 3%; the last data session (last_data_at): within
  the few days before the as-of date, between 02:00 and 05:00 for half of the night owls
  and 3% of the others, none (null) without data this month. These are
  drawn after the other columns, so a seed gives the others as before.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa

BRANDS = ["全球通", "神州行", "动感地带"]
TYPES = ["个人", "家庭", "政企"]
PROVINCES = ["北京", "天津", "河北", "山西", "内蒙古", "辽宁", "吉林", "黑龙江", "上海", "江苏", "浙江",
             "安徽", "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "广西", "海南", "重庆", "四川",
             "贵州", "云南", "西藏", "陕西", "甘肃", "青海", "宁夏", "新疆"]
PREFIXES = np.array([134, 135, 136, 137, 138, 139, 147, 150, 151, 152, 157, 158, 159, 172, 178, 182, 183,
                     184, 187, 188, 195, 197, 198])
GQT, SZX, DGDD = 0, 1, 2
PERSONAL, FAMILY, ENTERPRISE = 0, 1, 2

# The order and types of policies/telecom/customer.pol's input block.
SCHEMA = pa.schema([
    ("id", pa.int64()), ("msisdn", pa.string()),
    ("brand", pa.dictionary(pa.int8(), pa.string())),
    ("customer_type", pa.dictionary(pa.int8(), pa.string())),
    ("province", pa.dictionary(pa.int8(), pa.string())),
    ("age", pa.int32()), ("tenure_months", pa.int32()), ("birthday", pa.date32()), ("join_date", pa.date32()),
    ("arpu_m1", pa.float64()), ("arpu_m2", pa.float64()), ("arpu_m3", pa.float64()),
    ("voice_min", pa.float64()), ("ld_voice_min", pa.float64()), ("roam_voice_min", pa.float64()),
    ("plan_voice_min", pa.float64()), ("data_gb", pa.float64()), ("plan_data_gb", pa.float64()),
    ("night_data_gb", pa.float64()), ("last_data_at", pa.timestamp("us")), ("intl_call_min", pa.float64()),
    ("roaming_days", pa.int32()),
    ("vas_spend", pa.float64()), ("vas_count", pa.int32()), ("services_used", pa.int32()),
    ("broadband", pa.bool_()), ("storage_used_pct", pa.float64()), ("contract_end", pa.date32()),
    ("complaints_90d", pa.int32()), ("last_complaint", pa.date32()), ("last_active", pa.date32()),
    ("app_active", pa.bool_()), ("sms_opt_out", pa.bool_()), ("call_opt_out", pa.bool_()),
    ("do_not_disturb", pa.bool_()), ("contacts_30d", pa.int32()),
])


def _dict(codes: np.ndarray, values: list[str]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int8)), pa.array(values, pa.string()))


def _by(codes: np.ndarray, table: list) -> np.ndarray:
    """Per-row value of a per-code parameter: table[codes]."""
    return np.asarray(table)[codes]


def _pick(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One category per row from per-row probabilities (rows of probs sum to 1)."""
    return (rng.random(len(probs))[:, None] > np.cumsum(probs, axis=1)[:, :-1]).sum(axis=1)


def _dates(days: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(days.astype(np.int32), pa.int32(), mask=null).cast(pa.date32())


def generate(n: int, seed: int = 7, as_of: dt.date = dt.date(2026, 11, 1)) -> pa.Table:
    """n synthetic customers, the same for the same (n, seed, as_of)."""
    rng = np.random.default_rng(seed)
    today = (as_of - dt.date(1970, 1, 1)).days

    # Identity
    ids = np.arange(1, n + 1, dtype=np.int64)
    msisdn = pa.array(PREFIXES[rng.integers(0, len(PREFIXES), n)].astype(np.int64) * 10 ** 8
                      + rng.integers(0, 10 ** 8, n)).cast(pa.string())
    brand = rng.choice(3, n, p=[0.12, 0.64, 0.24])
    ctype = _pick(rng, _by(brand, [[0.70, 0.12, 0.18], [0.82, 0.16, 0.02], [0.95, 0.05, 0.0]]))
    province = rng.integers(0, len(PROVINCES), n)
    age = np.where(brand == DGDD, np.clip(rng.normal(24, 5, n), 15, 45),
                   np.where(brand == GQT, np.clip(rng.normal(42, 10, n), 22, 75),
                            np.clip(rng.normal(45, 16, n), 16, 90)))
    age = np.where((brand == DGDD) & (rng.random(n) < 0.04), rng.uniform(55, 80, n), age).astype(np.int32)
    age_null = rng.random(n) < 0.04
    tenure = np.minimum(rng.exponential(_by(brand, [50.0, 50.0, 30.0])), 300).astype(np.int32)

    # Spend: a level, three months around it, some falling, some swinging
    level = rng.lognormal(np.log(_by(brand, [170.0, 45.0, 55.0]) * np.where(ctype == ENTERPRISE, 1.3, 1.0)),
                          0.55)
    m1, m2, m3 = (level * rng.lognormal(0, 0.12, n) for _ in range(3))
    kind = rng.random(n)
    falling, swinging = kind < 0.06, (kind >= 0.06) & (kind < 0.11)
    drop = rng.uniform(0.45, 0.85, n)
    m1 = np.where(falling, m3 * drop, m1)
    m2 = np.where(falling, m3 * (1 + drop) / 2, m2)
    swing = np.where(rng.random(n) < 0.5, rng.uniform(0.4, 0.6, n), rng.uniform(1.5, 2.0, n))
    m1 = np.where(swinging, m2 * swing, m1)
    m2 = np.where(tenure < 1, 0.0, m2)           # no bill before joining
    m3 = np.where(tenure < 2, 0.0, m3)
    m1, m2, m3 = (np.round(m, 2) for m in (m1, m2, m3))

    # Voice
    voice = np.round(rng.lognormal(np.log(np.where(ctype == ENTERPRISE, 240.0, 160.0)), 0.85), 1)
    ld_share = np.where(rng.random(n) < 0.08, rng.beta(5, 4, n), rng.beta(1.2, 5, n))
    ld = np.round(voice * ld_share, 1)
    roaming_days = np.where(rng.random(n) < np.where(ctype == ENTERPRISE, 0.5, 0.15),
                            np.minimum(rng.geometric(0.2, n), 25), 0).astype(np.int32)
    roam = np.where(roaming_days > 0, np.round(np.minimum(voice * rng.beta(2, 5, n), voice - ld), 1), 0.0)
    plan_voice = rng.choice(np.array([100.0, 200.0, 300.0, 500.0, 1000.0]), n, p=[0.25, 0.25, 0.2, 0.2, 0.1])
    intl = np.where(rng.random(n) < 0.04, np.round(rng.lognormal(np.log(70), 0.8, n), 1), 0.0)

    # Data
    plan_data = rng.choice(np.array([5.0, 10.0, 20.0, 30.0, 50.0, 100.0]), n,
                           p=[0.15, 0.25, 0.25, 0.15, 0.12, 0.08])
    data = np.where(rng.random(n) < 0.02, 0.0, np.round(plan_data * rng.beta(2, 2.2, n) * 1.3, 2))
    night = np.round(data * np.where(rng.random(n) < 0.06, rng.beta(6, 6, n), rng.beta(1.2, 12, n)), 2)

    # Services held
    vas_count = np.minimum(rng.poisson(1.1, n), 6).astype(np.int32)
    vas_spend = np.round(vas_count * rng.lognormal(np.log(8), 0.5, n), 2)
    broadband = rng.random(n) < np.where(ctype == FAMILY, 0.85, 0.30)
    cloud = rng.random(n) < 0.45
    storage = np.round(np.where(rng.random(n) < 0.12, rng.uniform(90, 100, n), rng.beta(2, 2.5, n) * 100), 1)
    services = np.clip(1 + (data > 0) + broadband + cloud + rng.binomial(2, 0.3, n), 1, 6).astype(np.int32)
    has_contract = rng.random(n) < np.where(brand == GQT, 0.70, 0.45)
    contract_end = today + rng.integers(-180, 721, n)

    # Service experience and activity
    complaints = rng.poisson(0.18, n).astype(np.int32)
    old_complaint = rng.random(n) < 0.15
    last_complaint = np.where(complaints > 0, today - rng.integers(0, 90, n), today - rng.integers(90, 1000, n))
    never_complained = (complaints == 0) & ~old_complaint
    silent = rng.random(n) < 0.05
    last_active = today - np.where(silent, rng.integers(31, 201, n), rng.geometric(0.12, n) - 1)
    app_active = rng.random(n) < _by(brand, [0.65, 0.45, 0.75])

    # Contact permissions and pressure
    sms_opt_out = rng.random(n) < 0.10
    call_opt_out = rng.random(n) < 0.12
    dnd = rng.random(n) < 0.03
    contacts = np.minimum(rng.poisson(1.2, n), 10).astype(np.int32)

    # Dates, drawn last so that a seed gives the columns above as before.
    # Birthday: `age` years and up to a year before the as-of date, so the
    # two agree; unknown with the age. Joined `tenure_months` whole months
    # and up to a month before; lost for 3%.
    birthday = today - np.floor((age + rng.random(n)) * 365.2425).astype(np.int64)
    join_date = today - np.floor((tenure + rng.random(n)) * 30.436875).astype(np.int64)
    join_lost = rng.random(n) < 0.03
    # Last data session: within the few days before the as-of date; between 02:00 and 05:00
    # for half of the night owls (a night share of 30% or more) and 3% of
    # the others; none without data this month.
    owl = night >= 0.3 * np.maximum(data, 1e-9)
    at_night = rng.random(n) < np.where(owl, 0.5, 0.03)
    hour = np.where(at_night, rng.integers(2, 5, n), rng.integers(6, 24, n))
    session = ((today - rng.geometric(0.5, n)) * 86_400 + hour * 3_600 + rng.integers(0, 3_600, n))
    last_data_at = pa.array(session * 1_000_000, pa.int64(), mask=data <= 0).cast(pa.timestamp("us"))

    columns = {
        "id": ids, "msisdn": msisdn,
        "brand": _dict(brand, BRANDS), "customer_type": _dict(ctype, TYPES),
        "province": _dict(province, PROVINCES),
        "age": pa.array(age, pa.int32(), mask=age_null), "tenure_months": tenure,
        "birthday": _dates(birthday, age_null), "join_date": _dates(join_date, join_lost),
        "arpu_m1": m1, "arpu_m2": m2, "arpu_m3": m3,
        "voice_min": voice, "ld_voice_min": ld, "roam_voice_min": roam, "plan_voice_min": plan_voice,
        "data_gb": data, "plan_data_gb": plan_data, "night_data_gb": night, "last_data_at": last_data_at,
        "intl_call_min": intl, "roaming_days": roaming_days,
        "vas_spend": vas_spend, "vas_count": vas_count, "services_used": services,
        "broadband": broadband, "storage_used_pct": pa.array(storage, pa.float64(), mask=~cloud),
        "contract_end": _dates(contract_end, ~has_contract),
        "complaints_90d": complaints, "last_complaint": _dates(last_complaint, never_complained),
        "last_active": _dates(last_active),
        "app_active": app_active, "sms_opt_out": sms_opt_out, "call_opt_out": call_opt_out,
        "do_not_disturb": dnd, "contacts_30d": contacts,
    }
    return pa.Table.from_arrays([pa.array(columns[f.name], f.type) if not isinstance(columns[f.name], pa.Array)
                                 else columns[f.name] for f in SCHEMA], schema=SCHEMA)


def write(n: int, path: str | Path, seed: int = 7, as_of: dt.date = dt.date(2026, 11, 1)) -> Path:
    """Write n customers to `path`: Parquet with row groups of 1,048,576
    rows, or CSV when the path ends in .csv (strings plain, dates ISO)."""
    return save(generate(n, seed, as_of), path)


def save(table: pa.Table, path: str | Path) -> Path:
    """A table as Parquet (row groups of 1,048,576 rows), or as CSV for a
    path ending in .csv (strings plain, dates ISO)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        plain = pa.schema([pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type)
                           for f in table.schema])
        pacsv.write_csv(table.cast(plain), path)
    else:
        pq.write_table(table, path, row_group_size=1 << 20)
    return path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "gen", help="synthetic customers (or a run's outcomes) for trying things out",
        description="pol gen N OUT: N synthetic customers for the telecom library. "
                    "pol gen --outcomes PATH --run RUN_DIR --uplift OFFER=P: outcomes of that run's customers, "
                    "a 0/1 response with a known uplift planted for the customers treated with OFFER.")
    p.add_argument("n", type=int, nargs="?", metavar="N")
    p.add_argument("out", nargs="?", metavar="OUT")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--policy", metavar="POLICY",
                   help="customers for this policy's input block (default: the telecom library's)")
    p.add_argument("--as-of", metavar="DATE",
                   help="the date the dates are drawn around (default: today with --policy, else 2026-11-01)")
    p.add_argument("--outcomes", metavar="PATH", help="write outcomes of a run here (.parquet, or .csv) instead")
    p.add_argument("--run", metavar="RUN_DIR", help="with --outcomes: the pol run whose customers they are")
    p.add_argument("--uplift", action="append", default=[], metavar="OFFER=P",
                   help="with --outcomes: add P to the response probability of customers treated with OFFER, "
                        "or (EXPERIMENT.ARM=P) of every customer in that arm of an experiment")
    p.add_argument("--base-rate", type=float, default=0.1, metavar="P",
                   help="with --outcomes: the response probability without an offer (default 0.1)")
    p.set_defaults(fn=lambda args: _command(p, args))


def _command(parser, args) -> int:
    if args.outcomes is None:
        if args.n is None or args.out is None:
            parser.error("the following arguments are required: N, OUT")
        if args.run or args.uplift:
            parser.error("--run and --uplift go with --outcomes PATH")
        from pol.cli.main import cmd_gen
        return cmd_gen(args)
    from pol.loop.outcomes import parse_uplift, planted
    from pol.loop.outcomes import write as write_outcomes
    if args.policy is not None:
        parser.error("--policy makes customers; --outcomes makes the outcomes of a run's customers")
    if args.n is not None:
        parser.error("with --outcomes, give no N or OUT: the customers are the run's (--run RUN_DIR)")
    if args.run is None:
        parser.error("--outcomes needs --run RUN_DIR, the pol run whose customers they are")
    if not 0 <= args.base_rate <= 1:
        parser.error(f"--base-rate is a probability between 0 and 1, not {args.base_rate:g}")
    try:
        uplift = parse_uplift(args.uplift)
    except ValueError as e:
        parser.error(str(e))
    table = planted(args.run, uplift, args.base_rate, args.seed)
    path = write_outcomes(table, args.outcomes)
    offers = ", ".join(f"{o} {u * 100:+.1f} points" for o, u in uplift.items() if "." not in o)
    arms = ", ".join(f"{o} {u * 100:+.1f} points" for o, u in uplift.items() if "." in o)
    planted_text = "; ".join([f"for treated customers (controls excluded): {offers}"] * bool(offers)
                             + [f"for every customer of the arm: {arms}"] * bool(arms)) or "no uplift"
    print(f"wrote the outcomes of {table.num_rows:,} customers to {path}: response at a base rate of "
          f"{args.base_rate:.1%}; planted {planted_text}")
    return 0
