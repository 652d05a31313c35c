"""Optimal allocation (LANGUAGE.md section 6.7) against the greedy walk and
against HiGHS: value and time.

    python benchmarks/allocation.py [--customers N] [--offers K] [--max N] [--rules] [--constraints]
                                    [--no-exact] [--milp] [--seed S]

A catalogue of K offers (every other one capped at 10-60% of its candidates),
customers eligible for each with probability 1/2 and priorities that vary
per offer and per customer, run twice through `Policy.evaluate`: greedy and
under `maximize priority`. The exact optimum is the LP relaxation solved by
SciPy's HiGHS (an upper bound on the integer optimum; equal to it with
`max 1 per customer` and no other rule, where the problem is a transportation
problem), or with `--milp` the integer problem itself. With `--constraints`
the arbitrate block's run-wide constraints join in (LANGUAGE.md 6.4): the
offers go through three channels (sms, call, app; one each, in turn), the
call centre reaches 15% of the customers, category c1 has a quota of a
tenth of the offers the run could give, and a budget covers a quarter of
what giving every customer their share would cost. The tests
(tests/test_optimal.py) use the same catalogue and model on smaller samples.
"""
from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np
import pyarrow as pa

AS_OF = dt.date(2026, 11, 1)


CHANNELS = ("sms", "call", "app")


def catalogue(offers: int, max_n: int = 1, rules: bool = False, seed: int = 0, cap_share=(0.1, 0.6),
              customers: int = 0, constraints: bool = False) -> str:
    """The policy text. With `rules`: categories (three, round the offers) under
    `one per category` and two exclusive lines. Capacities are drawn as a
    share of `customers` x `max_n` / `offers` (the room every offer would
    need to give each customer their share). With `constraints`: channels,
    a quota, costs and a budget (the module's text)."""
    rng = np.random.default_rng(seed + 1)
    lines = ["input customer key id { id: int  " + "  ".join(f"e{k}: bool  p{k}: float?" for k in range(offers)) + " }",
             'channel sms "短信"'] + (['channel call "外呼"', 'channel app "App"'] if constraints else [])
    costs = [1 + k % 4 for k in range(offers)]
    for k in range(offers):
        props = [f"eligible when e{k}", f"channels {CHANNELS[k % 3] if constraints else 'sms'}", f"priority p{k}"]
        if k % 2 == 0:
            props.append(f"capacity {int(customers * max_n / offers * rng.uniform(*cap_share))}")
        if rules or constraints:
            props.append(f"category c{k % 3}")
        if constraints:
            props.append(f"attributes {{ cost: {costs[k]} }}")
        lines.append(f"offer o{k} {{ {'  '.join(props)} }}")
    arb = [f"max {max_n} per customer"]
    if rules:
        arb += ["one per category", "exclusive o0, o1", f"exclusive o2, o{3 % offers}"]
    if constraints:
        arb += [f"capacity call {int(customers * 0.15)}", f"quota c1 {int(customers * max_n / 10)}",
                f"budget {int(customers * max_n * np.mean(costs) / 4)} cost offer.cost"]
    lines.append("arbitrate { " + "  ".join(arb) + " }")
    return "\n".join(lines) + "\n"


def customers(n: int, offers: int, seed: int = 0) -> pa.Table:
    """Eligibility with probability 1/2; a priority per offer (its base value)
    and customer (a lognormal factor), in cents."""
    rng = np.random.default_rng(seed)
    base = rng.gamma(2.0, 10.0, size=offers)
    prio = np.round(base[None, :] * rng.lognormal(0.0, 0.5, size=(n, offers)), 2)
    cols: dict[str, object] = {"id": np.arange(1, n + 1, dtype=np.int64)}
    for k in range(offers):
        cols[f"e{k}"] = rng.random(n) < 0.5
        cols[f"p{k}"] = prio[:, k]
    return pa.table(cols)


def exact(policy, table: pa.Table, integral: bool) -> float:
    """The largest total priority HiGHS finds for the policy's candidates:
    the LP relaxation (an upper bound), or with `integral` the MILP."""
    from scipy.optimize import Bounds, LinearConstraint, linprog, milp
    from scipy.sparse import coo_matrix

    program = policy.program
    names = [o.name for o in program.offers]
    a = program.arbitrate
    rows_l, offer_l, prio_l = [], [], []
    for k in range(len(program.offers)):
        e = table.column(f"e{k}").to_numpy(zero_copy_only=False)
        p = table.column(f"p{k}").to_numpy(zero_copy_only=False)
        js = np.flatnonzero(e & ~np.isnan(p))
        rows_l.append(js)
        offer_l.append(np.full(len(js), k))
        prio_l.append(p[js])
    rows, offer, prio = np.concatenate(rows_l), np.concatenate(offer_l), np.concatenate(prio_l)
    n_pairs = len(rows)
    r_idx, c_idx, vals, ub = [], [], [], []

    def row(js: np.ndarray, bound: float, coef: np.ndarray | None = None) -> None:
        r_idx.append(np.full(len(js), len(ub)))
        c_idx.append(js)
        vals.append(np.ones(len(js)) if coef is None else coef)
        ub.append(bound)

    # A capped channel: y[c] >= x[j] for each pair j of customer c through
    # it (a variable per such customer, after the pairs), sum(y) <= capacity.
    n_vars = n_pairs
    channel = np.array([program.channels.index(next(c for c in program.channels if c.name == o.channels[0]))
                        for o in program.offers])[offer]
    for name, cap in a.channel_capacity:
        h = [c.name for c in program.channels].index(name)
        js = np.flatnonzero(channel == h)
        who, ys = np.unique(rows[js], return_inverse=True)
        first = len(ub)     # one row per pair: x[j] - y[its customer] <= 0
        r_idx.append(np.repeat(np.arange(first, first + len(js)), 2))
        c_idx.append(np.column_stack([js, ys + n_vars]).ravel())
        vals.append(np.tile([1.0, -1.0], len(js)))
        ub.extend([0.0] * len(js))
        row(np.arange(n_vars, n_vars + len(who)), cap)
        n_vars += len(who)
    for cat, n in a.quota:
        mine = np.array([o.category == cat for o in program.offers])
        row(np.flatnonzero(mine[offer]), n)
    if a.budget is not None:
        cost = dict(a.cost)
        per = np.array([float(cost.get(o.name, 0)) for o in program.offers])[offer]
        js = np.flatnonzero(per > 0)
        row(js, float(a.budget), per[js])

    for k, o in enumerate(program.offers):
        if o.capacity is not None:
            row(np.flatnonzero(offer == k), o.capacity)
    groups: list[tuple[np.ndarray, int]] = [(rows, a.max_per_customer)]
    if a.one_per_category:
        cats = sorted({o.category for o in program.offers if o.category is not None})
        for c in cats:
            mine = np.array([o.category == c for o in program.offers])
            groups.append((np.where(mine[offer], rows, -1), 1))
    for line in a.exclusive:
        mine = np.array([n in line for n in names])
        groups.append((np.where(mine[offer], rows, -1), 1))
    for key, bound in groups:
        order = np.argsort(key, kind="stable")
        key_sorted = key[order]
        starts = np.flatnonzero(np.r_[True, key_sorted[1:] != key_sorted[:-1]])
        ends = np.r_[starts[1:], len(key_sorted)]
        for s, e in zip(starts, ends):
            if key_sorted[s] >= 0 and e - s > bound:
                row(order[s:e], bound)
    A = coo_matrix((np.concatenate(vals), (np.concatenate(r_idx), np.concatenate(c_idx))),
                   shape=(len(ub), n_vars)).tocsr()
    b = np.array(ub, np.float64)
    c = np.concatenate([-prio, np.zeros(n_vars - n_pairs)])
    if integral:
        res = milp(c, constraints=LinearConstraint(A, -np.inf, b), integrality=np.ones(n_vars), bounds=Bounds(0, 1))
    else:
        res = linprog(c, A_ub=A, b_ub=b, bounds=(0, 1), method="highs")
    assert res.status == 0, res.message
    return float(-res.fun)


def run(n: int, offers: int, max_n: int, rules: bool, seed: int, exact_mode: str | None,
        constraints: bool = False) -> dict:
    import pol
    table = customers(n, offers, seed)
    text = catalogue(offers, max_n, rules, seed, customers=n, constraints=constraints)
    greedy = pol.loads(text, name="greedy.pol")
    optimal = pol.loads(text.replace("arbitrate { ", "arbitrate { maximize priority  "), name="optimal.pol")
    times, cpu = {}, {}
    results = {}
    for label, policy in (("greedy", greedy), ("optimal", optimal)):
        # warm-up: Numba's caches, and the matcher's walk compiled as in a process
        # that has walked a while (the table twice over: parts too large to walk
        # as Python, compiler/backend/walk.py's PLAIN_CELLS)
        policy.evaluate(pa.concat_tables([table, table]).combine_chunks(), as_of=AS_OF, engine="vector")
        best, best_cpu = float("inf"), float("inf")
        for _ in range(3):
            t, c = time.perf_counter(), time.process_time()
            results[label] = policy.evaluate(table, as_of=AS_OF, engine="vector")
            best, best_cpu = min(best, time.perf_counter() - t), min(best_cpu, time.process_time() - c)
        times[label], cpu[label] = best, best_cpu
    alloc = results["optimal"].summary["allocation"]
    out = {"customers": n, "offers": offers, "max": max_n, "rules": rules, "constraints": constraints,
           "pairs": sum(f["candidates"] for f in results["optimal"].summary["offers"].values()),
           "greedy_value": alloc["greedy_value"], "value": alloc["value"], "dual_bound": alloc["dual_bound"],
           "gap": alloc["gap"], "passes": alloc["passes"], "prices": alloc["prices"],
           "constraint_prices": alloc["constraint_prices"],
           "greedy_s": times["greedy"], "optimal_s": times["optimal"], "ratio": times["optimal"] / times["greedy"],
           "greedy_cpu_s": cpu["greedy"], "optimal_cpu_s": cpu["optimal"],
           "cpu_ratio": cpu["optimal"] / cpu["greedy"]}
    if exact_mode is not None:
        t = time.perf_counter()
        out["highs"] = exact(optimal, table, integral=exact_mode == "milp")
        out["highs_s"] = time.perf_counter() - t
        out["below_highs"] = (out["highs"] - out["value"]) / out["highs"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--offers", type=int, default=10)
    ap.add_argument("--max", type=int, default=1)
    ap.add_argument("--rules", action="store_true", help="categories and exclusive lines")
    ap.add_argument("--constraints", action="store_true", help="channels, a quota and a budget")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-exact", action="store_true", help="skip HiGHS")
    ap.add_argument("--milp", action="store_true", help="the integer problem, not its LP relaxation")
    args = ap.parse_args()
    mode = None if args.no_exact else ("milp" if args.milp else "lp")
    r = run(args.customers, args.offers, args.max, args.rules, args.seed, mode, args.constraints)
    for k, v in r.items():
        print(f"{k:>13}: {v:,.6g}" if isinstance(v, float) else f"{k:>13}: {v}")


if __name__ == "__main__":
    main()
