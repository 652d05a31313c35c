"""Optimal allocation (LANGUAGE.md 6.7, `maximize priority`): against the
exact optimum SciPy's HiGHS finds, against the greedy walk, under every
rule of the arbitrate block and whatever the batching. The compiled
algorithm against its plain Python oracle is tests/test_matching_compiled.py's
hypothesis test; these are the properties the oracle cannot show."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

import pol
from benchmarks.allocation import catalogue, customers, exact
from pol.cli.report import render
from pol.compiler.frontend import check_text
from pol.dsl import printer
from pol.dsl.fmt import format_text
from pol.dsl.parser import parse
from pol.dsl.source import Source
from pol.reference.interp import evaluate_row
from pol.reference.matching import match_all

AS_OF = dt.date(2026, 11, 1)


def optimal(text: str) -> pol.Policy:
    return pol.loads(text.replace("arbitrate { ", "arbitrate { maximize priority  "), name="optimal.pol")


def check_allocation(policy: pol.Policy, table: pa.Table, result) -> None:
    """No capacity exceeded, no per-customer rule broken, and the report's
    value the accepted offers' total."""
    program = policy.program
    a = result.assignments
    offers = a.column("offer").to_pylist()
    for o in program.offers:
        if o.capacity is not None:
            assert offers.count(o.name) <= o.capacity
    ids = a.column("id").to_numpy()
    assert np.bincount(ids).max(initial=0) <= program.arbitrate.max_per_customer
    if program.arbitrate.one_per_category:
        cat = {o.name: o.category for o in program.offers}
        pairs = {(i, cat[o]) for i, o in zip(ids.tolist(), offers) if cat[o] is not None}
        assert len(pairs) == sum(cat[o] is not None for o in offers)
    for line in program.arbitrate.exclusive:
        held = [i for i, o in zip(ids.tolist(), offers) if o in line]
        assert len(held) == len(set(held))
    arb = program.arbitrate
    channels = a.column("channel").to_pylist()
    for channel, cap in arb.channel_capacity:
        assert len({i for i, c in zip(ids.tolist(), channels) if c == channel}) <= cap
    category = {o.name: o.category for o in program.offers}
    for cat, n in arb.quota:
        assert sum(category[o] == cat for o in offers) <= n
    if arb.budget is not None:
        cost = dict(arb.cost)
        assert sum(cost.get(o, 0) for o in offers) <= arb.budget
    alloc = result.summary["allocation"]
    assert alloc["value"] == pytest.approx(float(np.sum(a.column("priority").to_numpy())), rel=1e-12)
    assert alloc["greedy_value"] <= alloc["value"] <= alloc["dual_bound"] * (1 + 1e-12)


def test_within_one_percent_of_the_integer_optimum():
    """max 1 per customer, half the offers capped: HiGHS solves the integer
    problem; the allocation is within 1% of it, and the bound above it."""
    text, table = catalogue(6, customers=2000), customers(2000, 6, seed=3)
    policy = optimal(text)
    result = policy.evaluate(table, as_of=AS_OF, engine="vector")
    check_allocation(policy, table, result)
    best = exact(policy, table, integral=True)
    alloc = result.summary["allocation"]
    assert best * 0.99 <= alloc["value"] <= best + 1e-6
    assert alloc["dual_bound"] >= best - 1e-6
    assert alloc["greedy_value"] < alloc["value"]         # the capacities bind: greedy wastes some


@pytest.mark.parametrize("max_n", [2, 3])
def test_within_one_percent_of_the_lp_bound_under_every_rule(max_n):
    """Categories, two exclusive lines and max N: the allocation is within 1%
    of the LP relaxation HiGHS solves (above the integer optimum)."""
    text, table = catalogue(8, max_n, rules=True, customers=5000), customers(5000, 8, seed=max_n)
    policy = optimal(text)
    result = policy.evaluate(table, as_of=AS_OF, engine="vector")
    check_allocation(policy, table, result)
    bound = exact(policy, table, integral=False)
    alloc = result.summary["allocation"]
    assert alloc["value"] >= 0.99 * bound
    assert alloc["value"] <= bound + 1e-6


def test_channel_capacities_quotas_and_the_budget_are_priced_too():
    """A capped channel, a quota and a budget besides the offers'
    capacities, max 1: within 1% of the LP relaxation HiGHS solves, each
    constraint kept, and a price on the ones that bind."""
    text = catalogue(6, customers=2000, constraints=True, seed=7)
    table = customers(2000, 6, seed=7)
    policy = optimal(text)
    result = policy.evaluate(table, as_of=AS_OF, engine="vector")
    check_allocation(policy, table, result)
    bound = exact(policy, table, integral=False)
    alloc = result.summary["allocation"]
    assert bound * 0.99 <= alloc["value"] <= bound + 1e-6
    assert alloc["value"] > alloc["greedy_value"] * 1.05
    assert set(alloc["constraint_prices"]) == {"capacity call", "quota c1", "budget"}
    assert alloc["constraint_prices"]["budget"] > 0


def test_every_constraint_and_rule_against_the_integer_optimum():
    """max 2, one per category, exclusive lines, offer and channel
    capacities, a quota and a budget: within 1% of HiGHS's integer optimum
    (the LP relaxation is looser than 1% here)."""
    text = catalogue(6, 2, rules=True, customers=800, constraints=True, seed=5)
    table = customers(800, 6, seed=5)
    policy = optimal(text)
    result = policy.evaluate(table, as_of=AS_OF, engine="vector")
    check_allocation(policy, table, result)
    best = exact(policy, table, integral=True)
    alloc = result.summary["allocation"]
    assert best * 0.99 <= alloc["value"] <= best + 1e-6
    assert alloc["dual_bound"] >= best - 1e-6
    assert alloc["constraint_prices"]["capacity call"] > 0


CHANNEL = """input customer key id { id: int  call_fit: float  sms_fit: float }
channel call "外呼"
channel sms "短信"
offer call_care { eligible when true  channels call  priority call_fit }
offer sms_care { eligible when true  channels sms  priority sms_fit  category care  attributes { cost: 1.5 } }
arbitrate { capacity call 2  maximize priority }
"""


def test_a_channel_goes_to_who_loses_most_without_it():
    """Greedy, the call centre calls customers 1 and 2 (10 each), who had
    an SMS almost as good: 22. Priced, it calls 3 and 4: 36. Customers 1
    and 2 tie at the channel's price (a call and an SMS both worth 9): the
    cut keeps the calls of the highest thresholds, 3 and 4."""
    policy = pol.loads(CHANNEL, name="t.pol")
    table = pa.table({"id": [1, 2, 3, 4], "call_fit": [10.0, 10.0, 9.0, 9.0], "sms_fit": [9.0, 9.0, 1.0, 1.0]})
    result = policy.evaluate(table, as_of=AS_OF, engine="vector")
    got = [(a["id"], a["offer"]) for a in result.assignments.to_pylist()]
    assert got == [(1, "sms_care"), (2, "sms_care"), (3, "call_care"), (4, "call_care")]
    alloc = result.summary["allocation"]
    assert (alloc["value"], alloc["greedy_value"], alloc["dual_bound"]) == (36.0, 22.0, 36.0)
    assert alloc["constraint_prices"] == {"capacity call": 1.0}
    assert result.summary["offers"]["call_care"]["lost_to_channel_capacity"] == 2
    check_allocation(policy, table, result)


def test_a_budget_binds_with_a_price_per_unit_of_money():
    """Three SMS of 1.5 under a budget of 3: two fit; the budget's price is
    per unit of money (the costs count in halves inside)."""
    text = CHANNEL.replace("capacity call 2", "budget 3 cost offer.cost").replace("call_fit: float", "call_fit: float?")
    policy = pol.loads(text, name="t.pol")
    table = pa.table({"id": [1, 2, 3], "call_fit": [None, None, None], "sms_fit": [5.0, 4.0, 3.0]},
                     schema=pa.schema([("id", pa.int64()), ("call_fit", pa.float64()), ("sms_fit", pa.float64())]))
    result = policy.evaluate(table, as_of=AS_OF, engine="vector")
    assert [(a["id"], a["offer"]) for a in result.assignments.to_pylist()] == [(1, "sms_care"), (2, "sms_care")]
    alloc = result.summary["allocation"]
    # thresholds 5/3, 4/3, 3/3 units of a half: the third in order is the price, 1.0 per half, 2.0 per unit
    assert alloc["constraint_prices"] == {"budget": 2.0}
    assert (alloc["value"], alloc["dual_bound"]) == (9.0, 9.0)


@pytest.mark.parametrize("max_n", [1, 2])
def test_the_oracle_agrees_where_every_constraint_has_a_price(max_n):
    """engine/reference/optimal.py against the compiled allocation on a
    sample where the channel, the budget and capped offers all bind (the
    hypothesis test of tests/test_matching_compiled.py draws smaller
    catalogues)."""
    text = catalogue(5, max_n, rules=max_n > 1, customers=60, constraints=True, seed=2)
    table = customers(60, 5, seed=2)
    policy = optimal(text)
    result = policy.evaluate(table, as_of=AS_OF, engine="vector")
    rows = [evaluate_row(policy.program, r, AS_OF, trace=False) for r in table.to_pylist()]
    run = match_all(policy.program, rows)
    assert [tuple(r.values())[:6] for r in result.assignments.to_pylist()] == run.assignments(
        table.column("id").to_pylist())
    got, want = result.summary["allocation"], run.allocation
    assert got["prices"] == want["prices"] and got["constraint_prices"] == want["constraint_prices"]
    assert got["passes"] == want["passes"]
    for k in ("value", "greedy_value", "dual_bound"):
        assert got[k] == pytest.approx(want[k], rel=1e-9)
    assert got["constraint_prices"]["budget"] > 0
    assert sum(v > 0 for v in got["prices"].values()) >= 1


@pytest.mark.parametrize("max_n", [1, 2, 3])
def test_the_same_whatever_the_parts(max_n, monkeypatch):
    """The rounds of a price run over parts of its pairs (or customers),
    each part's members and thresholds found on one core: cut into many
    small parts, the prices, passes and allocation are the oracle's and
    the whole's, bit for bit."""
    from pol.arbitration import optimal as opt
    from pol.evaluation.threads import chunks
    text = catalogue(5, max_n, rules=max_n > 1, customers=60, constraints=True, seed=2)
    table = customers(60, 5, seed=2)
    policy = optimal(text)
    whole = policy.evaluate(table, as_of=AS_OF, engine="vector")
    monkeypatch.setattr(opt, "_parts", lambda n: chunks(n, parts=7, minimum=1))
    split = policy.evaluate(table, as_of=AS_OF, engine="vector")
    assert split.assignments.equals(whole.assignments)
    assert split.summary["allocation"] == whole.summary["allocation"]
    rows = [evaluate_row(policy.program, r, AS_OF, trace=False) for r in table.to_pylist()]
    want = match_all(policy.program, rows).allocation
    got = split.summary["allocation"]
    assert (got["prices"], got["constraint_prices"], got["passes"]) == (want["prices"], want["constraint_prices"],
                                                                        want["passes"])


def test_thresholds_under_max_2_are_the_searchs_numbers():
    """Under `max 2 per customer` the thresholds (a pair's and a customer's
    for a capped channel) come from a closed form (`closed` in
    thresholds._thresholds and _channel_thresholds), not a search: bit for bit the same
    numbers on random customers with categories, exclusive lines, capped
    channels, ties and non-positive values; customers with a few pairs
    (read in place) and with many (ranked first, thresholds._FEW)."""
    from pol.arbitration import thresholds as opt
    rng = np.random.default_rng(5)
    for _ in range(300):
        sizes = rng.integers(0, int(rng.choice([7, 7, 3 * opt._FEW])), int(rng.integers(1, 30)))
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        pairs = int(starts[-1])
        if not pairs:
            continue
        cust = np.repeat(np.arange(len(sizes)), sizes).astype(np.int64)
        red = np.round(rng.normal(3, 3, pairs), int(rng.integers(0, 3)))
        cat = rng.integers(-1, 3, pairs).astype(np.int64)
        exact = bool(rng.random() < 0.8)
        excl = (rng.integers(0, 4, pairs) * (rng.random(pairs) < 0.5) * exact).astype(np.int64)
        hbit = np.where(exact, rng.integers(-1, 3, pairs), -1).astype(np.int64)
        hprice = np.round(rng.random(3) * 2, 1)
        js = np.sort(rng.choice(pairs, size=int(rng.integers(1, pairs + 1)), replace=False)).astype(np.int64)
        own = red[js] + rng.normal(0, 1, len(js))
        units = rng.integers(1, 4, len(js)).astype(np.float64)
        w = int(sizes.max())

        def scratch(w=w):
            return (np.empty(w, np.int64), np.empty(w), np.zeros(w, np.bool_), np.zeros(w, np.bool_), np.zeros(w),
                    np.zeros(w, np.int64))
        searched, closed = np.empty(len(js)), np.empty(len(js))
        for out, form in ((searched, False), (closed, True)):
            opt._thresholds(js, 0, len(js), out, starts, cust, own, units, red, cat, excl, hbit, hprice, 2, exact,
                            form, np.zeros(pairs, np.bool_), *scratch(), np.empty(w, np.int64), np.empty(w))
        assert searched.tobytes() == closed.tobytes()
        cs = np.unique(cust)
        for h in range(3):
            free = hprice.copy()
            free[h] = 0.0
            searched, closed = np.empty(len(cs)), np.empty(len(cs))
            for out, form in ((searched, False), (closed, True)):
                opt._channel_thresholds(cs, 0, len(cs), out, h, starts, red, cat, excl, hbit, hprice, free, 2, exact,
                                        form, *scratch())
            assert searched.tobytes() == closed.tobytes()


def _crossing_of_every(t: np.ndarray, units: np.ndarray, limit: int) -> float:
    """The price from every threshold, as the oracle takes it: highest
    first, the threshold at which the units pass the limit; 0 at least."""
    used = 0
    for i in np.argsort(-t, kind="stable"):
        used += int(units[i])
        if used > limit:
            return max(float(t[i]), 0.0)
    return 0.0


def test_a_price_from_the_pairs_near_it_is_the_price_from_every_pair():
    """pricing.banded computes the thresholds only of members whose bound
    reaches a cutoff: whatever the cutoff (0, below, at or above the
    price), the price is the one every threshold gives, with ties at it,
    thresholds equal to their bounds and limits that nothing passes."""
    from pol.arbitration.pricing import _crossing, banded
    rng = np.random.default_rng(7)
    for _ in range(300):
        n = int(rng.integers(1, 60))
        t = np.round(rng.normal(3, 3, n), int(rng.integers(0, 2)))
        bound = np.where(rng.random(n) < 0.3, t, t + np.round(rng.exponential(2, n), 1))
        units = rng.integers(1, 4, n).astype(np.int64)
        own_positive = bound > 0       # a member that can have a positive threshold has a positive bound
        t = np.where(own_positive, t, np.minimum(t, 0.0))
        limit = int(rng.integers(0, int(units.sum()) + 2))
        want = _crossing_of_every(t, units, limit)
        asked: list[int] = []

        def round_(lo, hi, limit, t=t, bound=bound, units=units, own_positive=own_positive, asked=asked):
            asked.extend(np.flatnonzero(own_positive & (bound >= lo) & (bound < hi)).tolist())
            mine = np.isin(np.arange(len(t)), asked) & (t > 0.0)
            above = int(units[mine].sum())
            x = float(_crossing(t[mine].copy(), units[mine].copy(), limit)) if above > limit else -np.inf
            return int(units[own_positive].sum()), above, x, np.inf
        for cutoff in (0.0, want - 1.5, want, want + 0.5, want + 10.0):
            asked.clear()
            assert banded(round_, limit, cutoff) == want, (cutoff, t, units, limit)
            assert len(asked) == len(set(asked))        # each threshold once


def test_stand_ins_give_the_price_or_ask_for_the_rounds_again():
    """Members sure to stay above a floor stand in for their thresholds
    (optimal.Recall): counted above every computed one, not computed. The
    price is then every threshold's, or, where a stand-in's lowest possible
    threshold is not above the crossing, None (the rounds run again without
    stand-ins); always the price when every stand-in is above it."""
    from pol.arbitration.pricing import _taken, banded
    rng = np.random.default_rng(17)
    answered = asked_again = 0
    for _ in range(500):
        n = int(rng.integers(1, 60))
        t = np.round(rng.normal(3, 3, n), int(rng.integers(0, 2)))
        bound = t + np.round(rng.exponential(2, n), 1)
        low = t - np.round(rng.exponential(1, n), 1)
        units = rng.integers(1, 4, n).astype(np.int64)
        own_positive = bound > 0
        t = np.where(own_positive, t, np.minimum(t, 0.0))
        limit = int(rng.integers(0, int(units.sum()) + 2))
        want = _crossing_of_every(t, units, limit)
        for cutoff in (0.0, want - 1.5, want, want + 0.5):
            floor = max(cutoff, 0.0) + float(rng.choice([0.0, 0.5, 2.0]))
            asked = np.zeros(n, np.bool_)
            standing = np.zeros(n, np.bool_)

            def round_(lo, hi, limit, t=t, bound=bound, low=low, units=units, own_positive=own_positive,
                       asked=asked, standing=standing, floor=floor):
                near = own_positive & (bound >= lo) & (bound < hi)
                standing |= near & (low > floor)
                asked |= near & ~(low > floor)
                mine = asked & (t > 0.0)
                idx = np.flatnonzero(mine)
                begin, used = np.zeros(1, np.int64), np.array([len(idx)], np.int64)
                above, x = _taken(t[idx], units[idx], begin, used, limit, np.empty(len(idx)),
                                  np.empty(len(idx), np.int64), int(units[standing].sum()))
                return int(units[own_positive].sum()), int(above), float(x), float(low[standing].min(initial=np.inf))
            got = banded(round_, limit, cutoff)
            assert got in (want, None), (cutoff, floor, t, low, units, limit)
            if got is None:
                assert low[standing].min() <= want
                asked_again += 1
            else:
                answered += 1
    assert answered > 100 and asked_again > 10


@pytest.mark.parametrize("max_n", [1, 2, 3])
def test_no_threshold_is_above_its_bound(max_n):
    """The bounds pricing.banded selects by: a pair's threshold is at most
    its own value per unit, a customer's for a capped channel at most the
    sum of their max best values through it (as the kernels add them up,
    within the margin), so that the pairs and customers near a positive
    threshold include its own, on random customers with every rule."""
    from pol.arbitration import thresholds as opt
    from pol.arbitration.pricing import MARGIN, _near_customers, _near_pairs, _reduced
    rng = np.random.default_rng(max_n)
    for _ in range(100):
        sizes = rng.integers(1, 7, int(rng.integers(1, 30)))
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        pairs = int(starts[-1])
        cust = np.repeat(np.arange(len(sizes)), sizes).astype(np.int64)
        prio = np.round(rng.normal(4, 3, pairs), int(rng.integers(0, 3)))
        offer = rng.integers(0, 4, pairs).astype(np.int64)
        cat = rng.integers(-1, 3, pairs).astype(np.int64)
        excl = (rng.integers(0, 4, pairs) * (rng.random(pairs) < 0.5)).astype(np.int64)
        hbit = rng.integers(-1, 3, pairs).astype(np.int64)
        hprice = np.round(rng.random(3) * 2, 1)
        cost = rng.integers(0, 4, pairs).astype(np.int64)
        p_offer, p_quota, p_budget = np.round(rng.random(4), 1), np.zeros(1), 0.5
        qid = np.zeros(pairs, np.int64)
        dead = rng.random(pairs) < 0.1
        red = np.empty(pairs)
        _reduced(np.arange(pairs), prio, offer, qid, cost.astype(np.float64), dead, p_offer, p_quota, p_budget,
                     red)
        units = np.maximum(cost, 1)
        margin = MARGIN * (max_n + 2) ** 2 * float(np.abs(prio).max())
        js = np.arange(pairs, dtype=np.int64)
        out = (np.empty(pairs, np.int64), np.empty(pairs), np.empty(pairs, np.int64))

        unknown, epoch = np.full(pairs, np.nan), np.zeros(pairs, np.int32)

        def near(lo, js=js, units=units, prio=prio, offer=offer, cost=cost, dead=dead, p_offer=p_offer, out=out,
                 margin=margin, unknown=unknown, epoch=epoch):
            n, _ = _near_pairs(js, units, prio, offer, np.zeros(len(js), np.int64), cost.astype(np.float64), dead,
                               p_offer, np.zeros(1), 0.0, lo, np.inf, margin, unknown, epoch, np.zeros(1), np.inf,
                               *out, np.empty(len(js), np.int64), np.array([0.0, np.inf]))
            return [a[:n].copy() for a in out]
        members, own, u = near(-np.inf)
        w = int(sizes.max())
        scratch = (np.empty(w, np.int64), np.empty(w), np.zeros(w, np.bool_), np.zeros(w, np.bool_), np.zeros(w),
                   np.zeros(w, np.int64))
        t = np.empty(len(members))
        opt._thresholds(members, 0, len(members), t, starts, cust, own, u, red, cat, excl, hbit, hprice, max_n, True,
                        max_n == 2, np.zeros(pairs, np.bool_), *scratch, np.empty(w, np.int64), np.empty(w))
        for j, tj in zip(members.tolist(), t.tolist()):
            assert tj <= 0 or j in near(tj)[0]
        cs = np.unique(cust)
        for h in range(3):
            free = hprice.copy()
            free[h] = 0.0
            tc = np.empty(len(cs))
            opt._channel_thresholds(cs, 0, len(cs), tc, h, starts, red, cat, excl, hbit, hprice, free, max_n, True,
                                    max_n == 2, *scratch)
            for c, tcc in zip(cs.tolist(), tc.tolist()):
                got = np.empty(len(cs), np.int64)
                m, _ = _near_customers(cs, h, starts, red, hbit, max_n, tcc, np.inf, margin, np.full(len(cs), np.nan),
                                       np.zeros(len(cs), np.int32), np.zeros(1), np.inf, got,
                                       np.empty(len(cs), np.int64), np.array([0.0, np.inf]), np.empty(max_n))
                assert tcc <= 0 or c in got[:m]


def _random_prices(rng: np.random.Generator, scale: float, base=None):
    """Prices for 4 offers, 2 quotas (and none), a budget and 3 channels:
    at random, or `base`'s moved by about `scale` (none below 0)."""
    from types import SimpleNamespace

    def near(a, n):
        if a is None:
            return np.round(rng.random(n) * 3, 2)
        return np.maximum(0.0, a + np.round(rng.normal(0, scale, n), 3))
    return SimpleNamespace(p_offer=near(None if base is None else base.p_offer, 4),
                           p_quota=np.append(near(None if base is None else base.p_quota[:2], 2), 0.0),
                           p_budget=float(near(None if base is None else np.array([base.p_budget]), 1)[0]),
                           p_chan=near(None if base is None else base.p_chan, 3))


def _every_threshold(c, p, constraint: str, max_n: int):
    """Each pair's own value, units and threshold for `constraint` (the
    budget, or offer 0's capacity) and each customer's for each capped
    channel, of the random customers `c` at prices `p`."""
    from pol.arbitration import thresholds as opt
    from pol.arbitration.pricing import _reduced
    pairs = len(c.prio)
    js = np.arange(pairs, dtype=np.int64)
    red = np.empty(pairs)
    _reduced(js, c.prio, c.offer, c.qid, c.cost, c.dead, p.p_offer, p.p_quota, p.p_budget, red)
    p_offer, p_budget = p.p_offer.copy(), p.p_budget
    if constraint == "budget":
        p_budget, units = 0.0, c.cost.astype(np.int64)
    else:
        p_offer[0], units = 0.0, np.ones(pairs, np.int64)
    own = np.empty(pairs)
    _reduced(js, c.prio, c.offer, c.qid, c.cost, c.dead, p_offer, p.p_quota, p_budget, own)
    w = int(np.diff(c.starts).max())
    scratch = (np.empty(w, np.int64), np.empty(w), np.zeros(w, np.bool_), np.zeros(w, np.bool_), np.zeros(w),
               np.zeros(w, np.int64))
    t = np.empty(pairs)
    opt._thresholds(js, 0, pairs, t, c.starts, c.cust, own, units, red, c.cat, c.excl, c.hbit, p.p_chan, max_n, True,
                    max_n == 2, np.zeros(pairs, np.bool_), *scratch, np.empty(w, np.int64), np.empty(w))
    cs = np.unique(c.cust)
    tc = []
    for h in range(3):
        free = p.p_chan.copy()
        free[h] = 0.0
        tch = np.empty(len(cs))
        opt._channel_thresholds(cs, 0, len(cs), tch, h, c.starts, red, c.cat, c.excl, c.hbit, p.p_chan, free, max_n,
                                True, max_n == 2, *scratch)
        tc.append(tch)
    return own, units, t, np.concatenate(tc)


@pytest.mark.parametrize("max_n", [1, 2, 3])
def test_a_threshold_moves_no_further_than_its_drift(max_n):
    """optimal.Drift: between two sets of prices a pair's threshold per unit
    (where its own value is positive at both) and a customer's for a capped
    channel move by at most the drift the later prices give the earlier
    epoch (per unit), on random customers with every rule: what lets the
    next pass's rounds leave pairs out and let others stand in."""
    from types import SimpleNamespace

    from pol.arbitration.optimal import Drift
    from pol.arbitration.pricing import MARGIN
    rng = np.random.default_rng(100 + max_n)
    for _ in range(200):
        sizes = rng.integers(1, 7, int(rng.integers(1, 30)))
        pairs = int(sizes.sum())
        c = SimpleNamespace(starts=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
                            cust=np.repeat(np.arange(len(sizes)), sizes).astype(np.int64),
                            prio=np.round(rng.normal(4, 3, pairs), 2),
                            offer=rng.integers(0, 4, pairs).astype(np.int64),
                            qid=rng.integers(0, 3, pairs).astype(np.int64),         # 2: no quota
                            cat=rng.integers(-1, 3, pairs).astype(np.int64),
                            excl=(rng.integers(0, 4, pairs) * (rng.random(pairs) < 0.5)).astype(np.int64),
                            hbit=rng.integers(-1, 3, pairs).astype(np.int64),
                            cost=rng.integers(1, 4, pairs).astype(np.float64),
                            dead=rng.random(pairs) < 0.1)
        scale = float(rng.choice([0.01, 0.3, 3.0]))
        first = _random_prices(rng, scale)
        second = _random_prices(rng, scale, first)
        pb = SimpleNamespace(max_n=max_n, margin=MARGIN * (max_n + 2) ** 2 * float(np.abs(c.prio).max()),
                             dead=c.dead, fcost=c.cost, **vars(first))
        drift = Drift(pb, 2)
        drift.now()
        vars(pb).update(vars(second))
        drift.now()
        moved = drift.drift[0]
        for constraint in ("budget", "offer"):
            own1, units, t1, c1 = _every_threshold(c, first, constraint, max_n)
            own2, _, t2, c2 = _every_threshold(c, second, constraint, max_n)
            both = (own1 > 0) & (own2 > 0)
            assert np.all(np.abs(t1 - t2)[both] <= (moved / units)[both]), (constraint, moved)
            assert np.all(np.abs(c1 - c2) <= moved)


@pytest.mark.parametrize("max_n,seed", [(1, 1), (2, 1), (3, 2)])
def test_what_passes_recall_changes_nothing(max_n, seed, monkeypatch):
    """The rounds leave out and let stand in what the last pass's thresholds
    and their drift allow (optimal.Recall): on samples whose prices take
    many passes, where many do, the prices, passes and allocation are
    those of the rounds without recall, bit for bit."""
    from pol.arbitration import optimal as opt
    n = 20_000
    text = catalogue(10, max_n, rules=max_n > 1, seed=seed, customers=n, constraints=True)
    table = customers(n, 10, seed)
    policy = optimal(text)
    stood: list[float] = []
    rounds_call = opt.Rounds.__call__

    def counting(self, lo, hi, limit):
        out = rounds_call(self, lo, hi, limit)
        stood.append(float(self.stood[:, 0].sum()))
        return out
    monkeypatch.setattr(opt.Rounds, "__call__", counting)
    recalled = policy.evaluate(table, as_of=AS_OF, engine="vector")
    assert recalled.summary["allocation"]["passes"] >= 5 and max(stood) > 1000
    now = opt.Drift.now

    def forgetting(self):
        e = now(self)
        self.drift[:] = np.inf      # no threshold bounds the next: every round as without recall
        return e
    monkeypatch.setattr(opt.Drift, "now", forgetting)
    stood.clear()
    plain = policy.evaluate(table, as_of=AS_OF, engine="vector")
    assert max(stood) == 0
    assert recalled.assignments.equals(plain.assignments)
    assert recalled.summary["allocation"] == plain.summary["allocation"]


def test_the_same_whatever_the_batching():
    text = catalogue(8, 2, rules=True, customers=20_000, constraints=True)
    table = customers(20_000, 8, seed=11)
    policy = optimal(text)
    whole = policy.evaluate(table, as_of=AS_OF, engine="vector")
    check_allocation(policy, table, whole)
    for size in (997, 7000):
        split = policy.evaluate(table.to_batches(max_chunksize=size), as_of=AS_OF, engine="vector")
        assert split.assignments.equals(whole.assignments)
        assert split.customers.equals(whole.customers)
        assert split.summary == whole.summary


def test_greedy_run_has_no_allocation_report():
    text, table = catalogue(4, customers=100), customers(100, 4)
    result = pol.loads(text, name="greedy.pol").evaluate(table, as_of=AS_OF, engine="vector")
    assert "allocation" not in result.summary


POLICY = """input customer key id { id: int  p: float  q: float? }
channel sms "短信"
offer paused { eligible when true  channels sms  priority p  capacity 0 }
offer capped { eligible when true  channels sms  priority p  capacity 2 }
offer open { eligible when true  channels sms  priority q }
arbitrate { maximize priority }
"""


def run(records: list[dict], text: str = POLICY):
    policy = pol.loads(text, name="t.pol")
    table = pa.Table.from_pylist(records, schema=pa.schema(
        [pa.field("id", pa.int64()), pa.field("p", pa.float64()), pa.field("q", pa.float64())]))
    return policy.evaluate(table, as_of=AS_OF, engine="vector")


def test_ties_capacity_zero_and_no_alternative():
    """Five customers who value the capped offer alike (a tie at its price):
    the two earliest without another candidate keep it; `capacity 0` gives
    nobody anything; the other customers get what is left."""
    result = run([{"id": i, "p": 5.0, "q": 1.0 if i <= 3 else None} for i in range(1, 6)])
    got = [(a["id"], a["offer"]) for a in result.assignments.to_pylist()]
    assert got == [(1, "open"), (2, "open"), (3, "open"), (4, "capped"), (5, "capped")]
    # Customers 1-3 wanted the capped offer too (at its price they were
    # indifferent) and lost it to 4 and 5: their walk comes after the chosen
    # pairs, where the capacities are used up.
    funnel = result.summary["offers"]
    assert (funnel["paused"]["accepted"], funnel["paused"]["lost_to_capacity"], funnel["paused"]["lost_to_max"]) \
        == (0, 3, 2)
    assert (funnel["capped"]["accepted"], funnel["capped"]["lost_to_capacity"]) == (2, 3)
    alloc = result.summary["allocation"]
    assert (alloc["value"], alloc["greedy_value"]) == (13.0, 11.0)
    assert alloc["prices"] == {"paused": 5.0, "capped": 4.0}


def test_negative_priorities_are_given_where_they_fit():
    result = run([{"id": 1, "p": 3.0, "q": -2.0}, {"id": 2, "p": 2.0, "q": -1.0}, {"id": 3, "p": 1.0, "q": -5.0}])
    got = [(a["id"], a["offer"]) for a in result.assignments.to_pylist()]
    assert got == [(1, "capped"), (2, "capped"), (3, "open")]
    assert result.summary["allocation"]["value"] == 0.0


def test_priorities_too_large_to_add_up_leave_the_greedy_walk():
    result = run([{"id": 1, "p": 1e300, "q": 1.0}, {"id": 2, "p": 1.0, "q": 2.0}])
    alloc = result.summary["allocation"]
    assert (alloc["dual_bound"], alloc["gap"], alloc["passes"]) == (None, None, 0)
    assert alloc["value"] == alloc["greedy_value"] == 1e300 + 2.0
    assert [a["offer"] for a in result.assignments.to_pylist()] == ["capped", "open"]


def test_no_rows_reports_an_empty_allocation():
    alloc = run([]).summary["allocation"]
    assert (alloc["value"], alloc["greedy_value"], alloc["dual_bound"], alloc["gap"]) == (0.0, 0.0, 0.0, 0.0)
    assert alloc["prices"] == {"paused": 0.0, "capped": 0.0}


def test_decide_walks_greedily():
    policy = pol.loads(POLICY, name="t.pol")
    # one customer, no capacity (6.4): the first declared of the tied offers
    assert policy.decide({"id": 1, "p": 5.0, "q": 1.0}).offer_names == ["paused"]
    assert policy.decide({"id": 1, "p": 5.0, "q": 6.0}, engine="reference").offer_names == ["open"]


def test_pol_run_prints_the_allocation():
    result = run([{"id": i, "p": 5.0, "q": 1.0} for i in range(1, 4)])
    text = render(result.summary)
    assert "Allocation: maximize priority" in text
    assert "total priority 11.00; greedy walk 11.00 (+0.00%)" in text
    assert "capped" in text.split("Allocation")[1]


# ---------------------------------------------------------------- the language

def errors(text: str) -> list[tuple[str, int, int]]:
    out = check_text(text, name="t.pol")
    return [(d.code, d.span.line, d.span.col) for d in out.diagnostics.errors]


BASE = 'input c key id { id: int  x: float }\nchannel sms "短信"\noffer o { eligible when true  channels sms }\n'


def test_maximize_twice_and_maximize_something_else():
    assert errors(BASE + "arbitrate {\n    maximize priority\n    maximize priority\n}\n") == [("E-ARB-002", 6, 5)]
    assert errors(BASE + "arbitrate { maximize x }\n") == [("E-ARB-003", 4, 22)]
    assert errors(BASE + "arbitrate { maximize o.x }\n") == [("E-ARB-003", 4, 22)]
    assert not errors(BASE + "arbitrate { maximize priority }\n")


def test_a_field_may_be_called_maximize():
    text = BASE.replace("x: float", "maximize: float") + "arbitrate { maximize priority }\n"
    assert not errors(text)


def test_printed_and_formatted():
    text = BASE + "arbitrate { max 2 per customer  maximize   priority }\n"
    tree, problems = parse(Source("t.pol", text))
    assert not problems
    printed = printer.print_file(tree)
    assert "    maximize priority\n" in printed
    assert parse(Source("t.pol", printed))[0] == tree
    out = format_text(text, "t.pol").text
    assert out is not None and "arbitrate {\n    max 2 per customer\n    maximize priority\n}" in out
