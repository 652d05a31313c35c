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

# Passes of coordinate descent at most; the prices stop moving sooner on
# every sample measured (benchmarks/README.md).
PASSES = 30


@dataclass(frozen=True)
class Allocation:
    """What optimal mode reports (summary["allocation"])."""
    value: float            # total priority of the accepted pairs
    greedy_value: float     # the same for the greedy walk of section 6.4
    dual_bound: float       # no allocation can exceed it
    prices: dict[str, float]
    passes: int

    @property
    def gap(self) -> float:
        """How far below the bound the value may be, as a share of the bound."""
        if self.dual_bound <= 0:
            return 0.0
        return max(0.0, (self.dual_bound - self.value) / self.dual_bound)

    def to_dict(self) -> dict:
        return {"mode": "optimal", "value": self.value, "greedy_value": self.greedy_value,
                "dual_bound": self.dual_bound, "gap": self.gap, "passes": self.passes,
                "prices": dict(self.prices)}


@njit(cache=True, nogil=True)
def _best(lo, hi, red, cat, excl, max_n, exact, forced, banned, pick, order, vals, inc, keep, before):
    """The best value of one customer's pairs lo..hi at reduced values `red`:
    the largest sum of positive reduced values over a set the per-customer
    rules allow. `forced` (a pair, or -1) is in the set and its own value not
    counted; `banned` (a pair, or -1) is not. Without exclusive lines
    (`exact` False) the allowed sets are a matroid and the greedy choice is
    the best; with them, a depth-first search bounded by the best remaining
    values. With `pick` non-empty, the chosen pairs are marked in it. Ties
    go to the earlier pair (offer declaration order)."""
    m = 0
    for j in range(lo, hi):
        if j == forced or j == banned or not red[j] > 0.0:
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
def _threshold(j, lo, hi, prio, red, cat, excl, max_n, exact, order, vals, inc, keep, before):
    """The price above which the customer of pair j no longer wants it."""
    none = np.zeros(0, np.bool_)
    with_j = _best(lo, hi, red, cat, excl, max_n, exact, j, -1, none, order, vals, inc, keep, before)
    without = _best(lo, hi, red, cat, excl, max_n, exact, -1, j, none, order, vals, inc, keep, before)
    return prio[j] + with_j - without


@njit(cache=True, nogil=True)
def _dual(starts, price, capacity, red, cat, excl, max_n, exact, order, vals, inc, keep, before):
    none = np.zeros(0, np.bool_)
    total = 0.0
    for k in range(len(price)):
        if capacity[k] >= 0:
            total += price[k] * capacity[k]
    for c in range(len(starts) - 1):
        total += _best(starts[c], starts[c + 1], red, cat, excl, max_n, exact, -1, -1, none,
                       order, vals, inc, keep, before)
    return total


@njit(cache=True, nogil=True)
def solve(starts, cust, offer, prio, category, exclusive, capacity, max_n, exact, by_offer, by_offer_start,
          passes, price, pick):
    """Prices by coordinate descent, then each customer's best set at them
    with over-wanted offers cut to capacity, marked in `pick`. `starts`:
    each customer's first pair (sorted by position, then offer); `by_offer`:
    the pairs of each offer from `by_offer_start[k]`, by position. Returns
    (the lowest dual bound seen, passes run)."""
    n = len(prio)
    K = len(capacity)
    width = 1
    for c in range(len(starts) - 1):
        width = max(width, starts[c + 1] - starts[c])
    order = np.empty(width, np.int64)
    vals = np.empty(width, np.float64)
    inc = np.zeros(width, np.bool_)
    keep = np.zeros(width, np.bool_)
    before = np.zeros(width, np.float64)
    cat = np.empty(n, np.int64)
    excl = np.empty(n, np.int64)
    red = np.empty(n, np.float64)
    for j in range(n):
        cat[j] = category[offer[j]]
        excl[j] = exclusive[offer[j]]
        red[j] = prio[j]
    for k in range(K):
        price[k] = 0.0
    bound = _dual(starts, price, capacity, red, cat, excl, max_n, exact, order, vals, inc, keep, before)
    done = 0
    for p in range(passes):
        moved = False
        for k in range(K):
            size = by_offer_start[k + 1] - by_offer_start[k]
            if capacity[k] < 0 or size <= capacity[k]:
                continue
            t = np.empty(size, np.float64)
            for a in range(size):
                j = by_offer[by_offer_start[k] + a]
                c = cust[j]
                t[a] = _threshold(j, starts[c], starts[c + 1], prio, red, cat, excl, max_n, exact,
                                  order, vals, inc, keep, before)
            t.sort()
            new = max(t[size - 1 - capacity[k]], 0.0)
            if new != price[k]:
                moved = True
                price[k] = new
                for a in range(size):
                    j = by_offer[by_offer_start[k] + a]
                    red[j] = prio[j] - new
        done = p + 1
        bound = min(bound, _dual(starts, price, capacity, red, cat, excl, max_n, exact, order, vals, inc, keep, before))
        if not moved:
            break
    for c in range(len(starts) - 1):
        _best(starts[c], starts[c + 1], red, cat, excl, max_n, exact, -1, -1, pick, order, vals, inc, keep, before)
    # Ties at a price can leave an offer wanted by more than its capacity:
    # keep those with the highest thresholds (then the earlier position).
    for k in range(K):
        if capacity[k] < 0:
            continue
        lo = by_offer_start[k]
        taken = 0
        for a in range(lo, by_offer_start[k + 1]):
            if pick[by_offer[a]]:
                taken += 1
        if taken <= capacity[k]:
            continue
        js = np.empty(taken, np.int64)
        t = np.empty(taken, np.float64)
        b = 0
        for a in range(lo, by_offer_start[k + 1]):
            j = by_offer[a]
            if pick[j]:
                js[b] = j
                c = cust[j]
                t[b] = -_threshold(j, starts[c], starts[c + 1], prio, red, cat, excl, max_n, exact,
                                   order, vals, inc, keep, before)
                b += 1
        ranked = np.argsort(t, kind="mergesort")        # stable: equal thresholds keep position order
        for b in range(capacity[k], taken):
            pick[js[ranked[b]]] = False
    return bound, done


def by_offer_index(offer: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of each offer, in position order, and where each offer's start."""
    idx = np.argsort(offer, kind="stable").astype(np.int64)
    start = np.zeros(K + 1, np.int64)
    np.cumsum(np.bincount(offer.astype(np.int64), minlength=K), out=start[1:])
    return idx, start


def walk_run(rows: np.ndarray, offer: np.ndarray, prio: np.ndarray, ctrl: np.ndarray, rules: Rules,
             names: list[str], funnel: np.ndarray) -> tuple[np.ndarray, Allocation | None]:
    """The run-wide walk of a run's candidate pairs (sorted by position, then
    offer): which are accepted, its counts added to `funnel`. Greedy (section
    6.4), or with `rules.optimal` the optimal allocation and its report."""
    first = np.ones(len(rows), np.bool_)
    first[1:] = rows[1:] != rows[:-1]
    dense = np.cumsum(first) - 1
    n_cust = int(first.sum())
    greedy = global_order(rows, offer, prio)

    def walk(order: np.ndarray, counts: np.ndarray) -> np.ndarray:
        accepted = np.zeros(len(rows), np.bool_)
        walk_global(order, dense, offer, ctrl, n_cust, rules.max_n, rules.category, rules.exclusive,
                    rules.capacity, accepted, counts)
        return accepted

    if not rules.optimal:
        return walk(greedy, funnel), None
    g_counts = np.zeros_like(funnel)
    g_accepted = walk(greedy, g_counts)
    g_value = float(prio[g_accepted].sum())
    if len(rows) and not np.isfinite(prio).all():
        # An infinite priority has no finite total to maximise: the greedy walk stands.
        funnel += g_counts
        return g_accepted, Allocation(g_value, g_value, float("inf"), {}, 0)
    starts = np.flatnonzero(first).astype(np.int64)
    starts = np.append(starts, len(rows)).astype(np.int64)
    K = len(names)
    idx, idx_start = by_offer_index(offer, K)
    price = np.zeros(K, np.float64)
    pick = np.zeros(len(rows), np.bool_)
    bound, passes = solve(starts, dense.astype(np.int64), offer.astype(np.int64), prio.astype(np.float64),
                          rules.category, rules.exclusive, rules.capacity, rules.max_n,
                          bool((rules.exclusive != 0).any()), idx, idx_start, PASSES, price, pick)
    o_counts = np.zeros_like(funnel)
    o_accepted = walk(np.concatenate([greedy[pick[greedy]], greedy[~pick[greedy]]]), o_counts)
    o_value = float(prio[o_accepted].sum())
    prices = {names[k]: float(price[k]) for k in range(K) if rules.capacity[k] >= 0}
    if o_value < g_value:
        funnel += g_counts
        return g_accepted, Allocation(g_value, g_value, max(bound, g_value), prices, passes)
    funnel += o_counts
    return o_accepted, Allocation(o_value, g_value, max(bound, o_value), prices, passes)
