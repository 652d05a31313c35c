"""History aggregates (LANGUAGE.md section 12): pol against the same windows
written in Polars and DuckDB, on one in-memory Arrow table of customers and
one of events.

    python benchmarks/bench_history.py                  # 1M customers, 5M events
    python benchmarks/bench_history.py --customers 2000000 --events 10000000
    python benchmarks/bench_history.py --sorted         # the events sorted by customer

Five aggregates, as a contact policy would write them: SMS in the last 7
days, contacts in 30 days, the cost of 30 days, days since the last
refusal, the last outcome. pol is timed as `evaluate` with the fused kernel
(warm) with the history, and the same customers with an empty history (the
customers alone); the difference is what the events cost, reported per
event. Polars and DuckDB compute the same five columns per customer (left
join, nothing for customers without events); the script checks that their
counts and sums agree with pol's.
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401 (pa.compute)

AS_OF = dt.date(2026, 11, 1)
POLICY = """
input customer key id { id: int  arpu: float }
history contacts key customer_id at sent_at {
    customer_id: int
    sent_at: date
    channel: string
    outcome: string?
    cost: float?
}
let sms7 = count(contacts where channel == "sms" within 7 days)
let n30 = count(contacts within 30 days)
let cost30 = sum(contacts.cost within 30 days)
let refused = days_since_last(contacts where outcome == "refused")
let outcome = last(contacts.outcome)
segment capped = sms7 >= 2
segment quiet = n30 == 0 and (refused is null or refused > 90)
score spend = cost30
classify last_answer { when outcome == "accepted" => "yes"  when outcome == "refused" => "no"  else => "none" }
"""


def make_data(customers: int, events: int, seed: int = 14):
    rng = np.random.default_rng(seed)
    cust = pa.table({"id": np.arange(customers, dtype=np.int64), "arpu": rng.gamma(2.0, 40.0, customers)})
    as_of = (AS_OF - dt.date(1970, 1, 1)).days
    # a tenth of the events belong to nobody in the table; dates over 180 days, a few in the future
    key = rng.integers(0, int(customers * 1.1), events)
    day = as_of - rng.integers(-3, 180, events)
    channel = pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, 3, events).astype(np.int32)),
                                             pa.array(["sms", "app", "call"]))
    outcome_codes = rng.integers(0, 3, events).astype(np.int32)
    outcome = pa.DictionaryArray.from_arrays(
        pa.array(outcome_codes, mask=outcome_codes == 2), pa.array(["accepted", "refused", "none"]))
    cost = rng.uniform(0, 2, events)
    ev = pa.table({"customer_id": key, "sent_at": pa.array(day.astype(np.int32), pa.int32()).view(pa.date32()),
                   "channel": channel, "outcome": outcome,
                   "cost": pa.array(cost, mask=rng.random(events) < 0.1)})
    return cust, ev


CPU: dict = {}


def best(fn, repeat: int = 3) -> float:
    """The median wall time of `repeat` runs after a warm-up; the median CPU
    time (all threads of the process) goes to CPU[fn]: on a shared machine
    the wall time says more about the neighbours than about the code."""
    fn()        # warm-up: compile, caches
    times, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    CPU[fn] = statistics.median(cpu)
    return statistics.median(times)


def run_pol(cust, ev):
    import pol
    policy = pol.loads(POLICY)
    empty = ev.slice(0, 0)
    out = {}
    out["result"] = policy.evaluate(cust, as_of=AS_OF, history={"contacts": ev}, engine="kernel")
    def with_history():
        return policy.evaluate(cust, as_of=AS_OF, history={"contacts": ev}, engine="kernel")

    def alone():
        return policy.evaluate(cust, as_of=AS_OF, history={"contacts": empty}, engine="kernel")
    out["with"], out["alone"] = best(with_history), best(alone)
    out["cpu_with"], out["cpu_alone"] = CPU[with_history], CPU[alone]
    return out


def run_polars(cust, ev):
    import polars as pl
    as_of = AS_OF

    def go():
        e = pl.from_arrow(ev).filter(pl.col("sent_at") <= as_of)
        age = (pl.lit(as_of) - pl.col("sent_at")).dt.total_days()
        agg = e.group_by("customer_id").agg(
            ((pl.col("channel") == "sms") & (age < 7)).sum().alias("sms7"),
            (age < 30).sum().alias("n30"),
            pl.col("cost").filter(age < 30).sum().alias("cost30"),
            age.filter(pl.col("outcome") == "refused").min().alias("refused"),
            pl.col("outcome").sort_by(pl.col("sent_at")).last().alias("outcome"))
        c = pl.from_arrow(cust).join(agg, left_on="id", right_on="customer_id", how="left")
        return c.with_columns(pl.col("sms7").fill_null(0), pl.col("n30").fill_null(0),
                              pl.col("cost30").fill_null(0.0))
    return go(), best(go), CPU[go]


def run_duckdb(cust, ev):
    import duckdb
    con = duckdb.connect()
    con.register("customers", cust)
    con.register("events", ev)
    sql = f"""
        WITH e AS (SELECT *, DATE '{AS_OF}' - sent_at AS age FROM events WHERE sent_at <= DATE '{AS_OF}'),
        a AS (SELECT customer_id,
                     count(*) FILTER (WHERE channel = 'sms' AND age < 7) AS sms7,
                     count(*) FILTER (WHERE age < 30) AS n30,
                     coalesce(sum(cost) FILTER (WHERE age < 30), 0) AS cost30,
                     min(age) FILTER (WHERE outcome = 'refused') AS refused,
                     arg_max(outcome, sent_at) AS outcome
              FROM e GROUP BY customer_id)
        SELECT c.id, coalesce(a.sms7, 0) AS sms7, coalesce(a.n30, 0) AS n30, coalesce(a.cost30, 0) AS cost30,
               a.refused, a.outcome
        FROM customers c LEFT JOIN a ON a.customer_id = c.id ORDER BY c.id"""

    def go():
        return con.sql(sql).to_arrow_table()
    return go(), best(go), CPU[go]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=5_000_000)
    ap.add_argument("--sorted", action="store_true",
                    help="the events sorted by customer (as many event exports are), not in random order")
    args = ap.parse_args()
    cust, ev = make_data(args.customers, args.events)
    if args.sorted:
        ev = ev.take(pa.compute.sort_indices(ev, [("customer_id", "ascending")]))
    p = run_pol(cust, ev)
    pl_out, pl_t, pl_c = run_polars(cust, ev)
    dd_out, dd_t, dd_c = run_duckdb(cust, ev)
    # the segments agree with what Polars counted
    capped = p["result"].customers.column("capped").to_numpy(zero_copy_only=False)
    pl_capped = (pl_out.sort("id")["sms7"].to_numpy() >= 2)
    dd_capped = np.asarray(dd_out.column("sms7").to_numpy() >= 2)
    assert (capped == pl_capped).all() and (capped == dd_capped).all(), "the contenders disagree"
    spend = p["result"].customers.column("spend").to_numpy(zero_copy_only=False)
    assert np.allclose(spend, pl_out.sort("id")["cost30"].to_numpy()), "the sums disagree"
    beyond = p["with"] - p["alone"]
    n, e = args.customers, args.events
    print(f"{n:,} customers, {e:,} events ({'sorted by customer' if args.sorted else 'in random order'}), "
          f"as of {AS_OF}")
    cpu_beyond = p["cpu_with"] - p["cpu_alone"]
    print("| contender | seconds | time / pol | CPU seconds |")
    print("| --- | --- | --- | --- |")
    print(f"| pol `evaluate` with the history (fused kernel) | {p['with']:.3f} | 1.0 | {p['cpu_with']:.3f} |")
    print(f"| pol, the customers alone (empty history) | {p['alone']:.3f} | | {p['cpu_alone']:.3f} |")
    print(f"| Polars (the five columns, joined) | {pl_t:.3f} | {pl_t / p['with']:.1f} | {pl_c:.3f} |")
    print(f"| DuckDB (the five columns, joined) | {dd_t:.3f} | {dd_t / p['with']:.1f} | {dd_c:.3f} |")
    print(f"history cost: {beyond:.3f} s beyond the customers alone, {beyond / e * 1e9:.1f} ns per event "
          f"({cpu_beyond / e * 1e9:.1f} ns of CPU)")


if __name__ == "__main__":
    main()
