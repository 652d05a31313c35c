"""Optimal allocation (LANGUAGE.md section 6.7): the run's candidate pairs ->
the order the run-wide walk takes them in, so that the accepted pairs'
total priority is close to the largest the capacities allow.

The problem: choose pairs x[j] in {0, 1} to maximise sum(prio[j] x[j]) with
each offer's pairs at most its capacity and each customer's chosen pairs
allowed by the arbitrate block (max N, one per category, exclusive). The
capacities are relaxed with a price per offer (a Lagrange multiplier):
given prices, each customer on their own takes the set of candidates that
maximises sum(prio - price), and

    dual(prices) = sum(price[k] * capacity[k]) + sum over customers of that best value

is an upper bound on every allocation's total. The prices are found by
coordinate descent on the dual: for one capped offer at a time, each of its
candidates' threshold (the price at which the customer stops wanting it:
priority + best value with it - best value without it) is computed, and
the price set to the (capacity + 1)-th largest threshold, the lowest price
at which no more customers want it than it has room for. A few passes over
the capped offers settle the prices.

The allocation: each customer's best set at the final prices; an offer
wanted by more customers than its capacity (ties at the price) keeps the
ones with the highest thresholds; then the run-wide walk of section 6
(arbitrate.walk_global, the rules written once) takes these pairs first and
every other pair after them in the greedy order, accepting each that still
fits. So no capacity is ever exceeded, every candidate left out is refused
by a rule, and the funnel counts the same reasons as the greedy walk. The
greedy walk is run too: its total is reported, and if it were higher its
allocation would be kept (never seen in the tests, but cheap insurance).

Everything runs over the pairs of the whole run sorted by customer
position, in a fixed order: the result does not depend on batching.
engine/reference/optimal.py is the same algorithm in plain Python, the
oracle the tests hold this one to.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from pol.arbitration.arbitrate import Rules, global_order, walk_global
from pol.evaluation.threads import THREADS, chunks, run_parts

# Passes of coordinate descent at most; the prices stop moving sooner on
# every sample measured (benchmarks/README.md).
PASSES = 30
# A pass in which no price moves by more than this share of the largest
# priority is the last: later passes moved the bound by less than 1e-6 of
# itself on the samples measured, and each costs as much as the first.
SETTLED = 1e-6
# Priorities whose total might pass the largest float (the largest times the
# number of pairs beyond this) leave no total to compare: the greedy walk
# stands, without a bound.
OVERFLOW = 1e300


@dataclass(frozen=True)
class Allocation:
    """What optimal mode reports (summary["allocation"])."""
    value: float            # total priority of the accepted pairs
    greedy_value: float     # the same for the greedy walk of section 6.4
    dual_bound: float | None    # no allocation can exceed it; None: priorities too large to add up
    prices: dict[str, float]
    passes: int

    @property
    def gap(self) -> float | None:
        """How far below the bound the value may be, as a share of the bound."""
        if self.dual_bound is None:
            return None
        if self.dual_bound <= 0:
            return 0.0
        return max(0.0, (self.dual_bound - self.value) / self.dual_bound)

    def to_dict(self) -> dict:
        return {"mode": "optimal", "value": self.value, "greedy_value": self.greedy_value,
                "dual_bound": self.dual_bound, "gap": self.gap, "passes": self.passes,
                "prices": dict(self.prices)}


@njit(cache=True, nogil=True)
def _rank(lo, hi, red, skip, order, vals):
    """One customer's pairs lo..hi with a positive reduced value, except
    `skip` (or -1), into order/vals, highest first (equal ones in pair
    order: offer declaration order); how many."""
    m = 0
    for j in range(lo, hi):
        if j == skip or not red[j] > 0.0:
            continue
        v = red[j]
        b = m
        while b > 0 and vals[b - 1] < v:
            vals[b] = vals[b - 1]
            order[b] = order[b - 1]
            b -= 1
        vals[b] = v
        order[b] = j
        m += 1
    return m


@njit(cache=True, nogil=True)
def _choose(m, cat, excl, max_n, exact, forced, pick, order, vals, inc, keep, before):
    """The best value of a customer's m ranked pairs (`_rank`): the largest
    sum of values over a set the per-customer rules allow. `forced` (a pair
    not among them, or -1) is in the set and its own value not counted.
    Without exclusive lines (`exact` False) the allowed sets are a matroid
    and the greedy choice is the best; with them, a depth-first search
    bounded by the best remaining values. Of equal totals, the set that
    takes the earlier-ranked pairs wins. With `pick` non-empty, the chosen
    pairs are marked in it."""
    slots = max_n
    cats = np.int64(0)
    ex = np.int64(0)
    if forced >= 0:
        slots -= 1
        if cat[forced] >= 0:
            cats |= np.int64(1) << cat[forced]
        ex |= excl[forced]
    best = 0.0
    if not exact:
        for a in range(m):
            if slots == 0:
                break
            j = order[a]
            c = cat[j]
            if (c >= 0 and (cats >> c) & 1) or (ex & excl[j]) != 0:
                continue
            best += vals[a]
            slots -= 1
            if c >= 0:
                cats |= np.int64(1) << c
            ex |= excl[j]
            if pick.size:
                pick[j] = True
        return best
    for a in range(m):
        inc[a] = False
        keep[a] = False
    cur = 0.0
    a = 0
    while True:
        leaf = a >= m or slots == 0
        if not leaf:
            bound = cur
            for b in range(a, min(m, a + slots)):
                bound += vals[b]
            if bound > best:
                j = order[a]
                c = cat[j]
                if not ((c >= 0 and (cats >> c) & 1) or (ex & excl[j]) != 0):
                    inc[a] = True
                    before[a] = cur
                    cur += vals[a]
                    slots -= 1
                    if c >= 0:
                        cats |= np.int64(1) << c
                    ex |= excl[j]
                a += 1
                continue
        elif cur > best:
            best = cur
            for b in range(m):
                keep[b] = inc[b]
        # back to the last pair taken, and on without it
        a -= 1
        if a >= m:
            a = m - 1
        while a >= 0 and not inc[a]:
            a -= 1
        if a < 0:
            break
        j = order[a]
        inc[a] = False
        cur = before[a]     # not cur - vals[a]: totals are sums left to right, as the oracle adds them
        slots += 1
        if cat[j] >= 0:
            cats &= ~(np.int64(1) << cat[j])
        ex &= ~excl[j]
        a += 1
    if pick.size:
        for b in range(m):
            if keep[b]:
                pick[order[b]] = True
    return best


@njit(cache=True, nogil=True)
def _best(lo, hi, red, cat, excl, max_n, exact, pick, order, vals, inc, keep, before):
    """The best value of one customer's pairs lo..hi at reduced values `red`."""
    m = _rank(lo, hi, red, -1, order, vals)
    return _choose(m, cat, excl, max_n, exact, -1, pick, order, vals, inc, keep, before)


@njit(cache=True, nogil=True)
def _threshold(j, lo, hi, prio, red, cat, excl, max_n, exact, order, vals, inc, keep, before, none):
    """The price above which the customer of pair j no longer wants it: its
    priority plus the best value of the others alongside it, minus their
    best value without it."""
    m = _rank(lo, hi, red, j, order, vals)
    with_j = _choose(m, cat, excl, max_n, exact, j, none, order, vals, inc, keep, before)
    without = _choose(m, cat, excl, max_n, exact, -1, none, order, vals, inc, keep, before)
    return prio[j] + with_j - without


@njit(cache=True, nogil=True)
def _thresholds(js, a, b, t, starts, cust, prio, red, cat, excl, max_n, exact, order, vals, inc, keep, before):
    """t[i] = the threshold of pair js[i], for i in a..b."""
    none = np.zeros(0, np.bool_)
    for i in range(a, b):
        j = js[i]
        c = cust[j]
        t[i] = _threshold(j, starts[c], starts[c + 1], prio, red, cat, excl, max_n, exact,
                          order, vals, inc, keep, before, none)


@njit(cache=True, nogil=True)
def _dual_and_picks(starts, price, capacity, red, cat, excl, max_n, exact, pick, order, vals, inc, keep, before):
    """The dual bound at these prices (summed in one fixed order), and each
    customer's best set marked in `pick`."""
    total = 0.0
    for k in range(len(price)):
        if capacity[k] >= 0:
            total += price[k] * capacity[k]
    for c in range(len(starts) - 1):
        total += _best(starts[c], starts[c + 1], red, cat, excl, max_n, exact, pick,
                       order, vals, inc, keep, before)
    return total


class _Problem:
    """A run's pairs as the passes read them, with scratch space per thread."""

    def __init__(self, starts, cust, offer, prio, rules: Rules):
        self.starts, self.cust, self.prio = starts, cust, prio
        self.cat = rules.category[offer]
        self.excl = rules.exclusive[offer]
        self.max_n = rules.max_n
        self.exact = bool((rules.exclusive != 0).any())
        width = max(1, int(np.diff(starts).max(initial=0)))
        self.scratch = [(np.empty(width, np.int64), np.empty(width, np.float64), np.zeros(width, np.bool_),
                         np.zeros(width, np.bool_), np.zeros(width, np.float64)) for _ in range(THREADS)]

    def thresholds(self, js: np.ndarray, red: np.ndarray) -> np.ndarray:
        """Each pair's threshold at reduced values `red`, the pairs split
        over the cores (each value on its own: the split changes nothing)."""
        t = np.empty(len(js), np.float64)
        run_parts(lambda part, a, b: _thresholds(js, a, b, t, self.starts, self.cust, self.prio, red, self.cat,
                                                 self.excl, self.max_n, self.exact, *self.scratch[part]),
                  chunks(len(js)))
        return t


def solve(starts, cust, offer, prio, rules: Rules, passes: int) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Prices by coordinate descent, then each customer's best set at them
    with over-wanted offers cut to capacity. `starts`: each customer's first
    pair (pairs sorted by position, then offer), `cust` each pair's
    customer. Returns (prices, the chosen pairs, the dual bound at the final
    prices, passes run)."""
    K = len(rules.capacity)
    capacity = rules.capacity
    problem = _Problem(starts, cust, offer, prio, rules)
    by_offer, by_start = by_offer_index(offer, K)
    mine = [by_offer[by_start[k]:by_start[k + 1]] for k in range(K)]
    price = np.zeros(K, np.float64)
    red = prio.copy()
    settled = SETTLED * float(np.abs(prio).max(initial=0.0))
    done = 0
    for p in range(passes):
        moved = False
        for k in range(K):
            js = mine[k]
            if capacity[k] < 0 or len(js) <= capacity[k]:
                continue
            if capacity[k] == 0:
                # a threshold never exceeds its priority: at the highest one nobody
                # wants the offer, not even a customer with an equal alternative
                new = max(float(prio[js].max()), 0.0)
            else:
                t = np.sort(problem.thresholds(js, red))
                new = max(float(t[len(js) - 1 - capacity[k]]), 0.0)
            if new != price[k]:
                moved = moved or abs(new - price[k]) > settled
                price[k] = new
                red[js] = prio[js] - new
        done = p + 1
        if not moved:
            break
    pick = np.zeros(len(prio), np.bool_)
    bound = _dual_and_picks(starts, price, capacity, red, problem.cat, problem.excl, problem.max_n, problem.exact,
                            pick, *problem.scratch[0])
    # Ties at a price can leave an offer wanted by more than its capacity:
    # keep those with the highest thresholds (then the earlier position).
    for k in range(K):
        taken = mine[k][pick[mine[k]]]
        if capacity[k] < 0 or len(taken) <= capacity[k]:
            continue
        ranked = np.argsort(-problem.thresholds(taken, red), kind="stable")
        pick[taken[ranked[capacity[k]:]]] = False
    return price, pick, float(bound), done


def by_offer_index(offer: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of each offer, in position order, and where each offer's start."""
    idx = np.argsort(offer, kind="stable").astype(np.int64)
    start = np.zeros(K + 1, np.int64)
    np.cumsum(np.bincount(offer.astype(np.int64), minlength=K), out=start[1:])
    return idx, start


def walk_run(rows: np.ndarray, offer: np.ndarray, chan: np.ndarray, prio: np.ndarray, ctrl: np.ndarray, rules: Rules,
             names: list[str], funnel: np.ndarray) -> tuple[np.ndarray, Allocation | None]:
    """The run-wide walk of a run's candidate pairs (sorted by position, then
    offer): which are accepted, its counts added to `funnel`. Greedy (section
    6.4), or with `rules.optimal` the optimal allocation and its report."""
    first = np.ones(len(rows), np.bool_)
    first[1:] = rows[1:] != rows[:-1]
    dense = np.cumsum(first) - 1
    n_cust = int(first.sum())
    greedy = global_order(rows, offer, prio, rules.fallback)

    def walk(order: np.ndarray, counts: np.ndarray) -> np.ndarray:
        accepted = np.zeros(len(rows), np.bool_)
        walk_global(order, dense, offer, chan, ctrl, n_cust, rules, accepted, counts)
        return accepted

    if not rules.optimal:
        return walk(greedy, funnel), None
    g_counts = np.zeros_like(funnel)
    g_accepted = walk(greedy, g_counts)
    g_value = float(prio[g_accepted].sum())
    if len(rows) and float(np.abs(prio).max()) * len(rows) > OVERFLOW:
        funnel += g_counts
        return g_accepted, Allocation(g_value, g_value, None, {}, 0)
    starts = np.append(np.flatnonzero(first), len(rows)).astype(np.int64)
    K = len(names)
    price, pick, bound, passes = solve(starts, dense.astype(np.int64), offer.astype(np.int64),
                                       prio.astype(np.float64), rules, PASSES)
    o_counts = np.zeros_like(funnel)
    o_accepted = walk(np.concatenate([greedy[pick[greedy]], greedy[~pick[greedy]]]), o_counts)
    o_value = float(prio[o_accepted].sum())
    prices = {names[k]: float(price[k]) for k in range(K) if rules.capacity[k] >= 0}
    if o_value < g_value:
        funnel += g_counts
        return g_accepted, Allocation(g_value, g_value, max(bound, g_value), prices, passes)
    funnel += o_counts
    return o_accepted, Allocation(o_value, g_value, max(bound, o_value), prices, passes)
