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
the capped offers settle the prices. Only the thresholds that can reach a
price are computed (pricing.py: bounded by each pair's own value, from
the last pass's price down), which gives the same price.

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

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from pol.arbitration.arbitrate import _NO_BUDGET, Rules, global_order, walk_global
from pol.arbitration.pricing import MARGIN, _near_customers, _near_pairs, _reduced, _reprice, banded
from pol.compiler import ir
from pol.compiler.costs import units_of
from pol.evaluation.threads import THREADS, chunks, later, run_parts

# Passes of coordinate descent at most; the prices stop moving sooner on
# every sample measured (benchmarks/README.md).
PASSES = 30
# A pass in which no price moves by more than this share of the largest
# priority is the last: later passes moved the value by less than 1e-5 of
# itself on the samples measured (1e-6 took a third more passes for the
# same allocation), and each costs as much as the first.
SETTLED = 1e-4
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
    # the arbitrate block's constraints: "capacity CHANNEL", "quota CATEGORY",
    # "budget" (per unit of money)
    constraint_prices: dict[str, float] = field(default_factory=dict)

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
                "prices": dict(self.prices), "constraint_prices": dict(self.constraint_prices)}


@njit(cache=True, nogil=True)
def _rank(lo, hi, red, skip, ban, hbit, order, vals):
    """One customer's pairs lo..hi with a positive reduced value, except
    `skip` (or -1) and those through capped channel `ban` (or -1), into
    order/vals, highest first (equal ones in pair order: offer declaration
    order); how many."""
    m = 0
    for j in range(lo, hi):
        if j == skip or not red[j] > 0.0 or (ban >= 0 and hbit[j] == ban):
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
def _choose(m, cat, excl, hbit, hprice, max_n, exact, forced, pick, order, vals, inc, keep, before, usedb):
    """The best value of a customer's m ranked pairs (`_rank`): the largest
    total over a set the per-customer rules allow, a pair adding its value
    and, the first time the set uses a capped channel, minus that
    channel's price. `forced` (a pair not among them, or -1) is in the set,
    its own value and its channel's price not counted. Without exclusive
    lines and capped channels (`exact` False) the allowed sets are a matroid
    and the greedy choice is the best; otherwise a depth-first search,
    including before leaving out, bounded by the best remaining values: of
    equal totals the set it reaches first wins, and no set beats the empty
    one at 0. With `pick` non-empty, the chosen pairs are marked in it."""
    slots = max_n
    cats = np.int64(0)
    ex = np.int64(0)
    used = np.int64(0)
    if forced >= 0:
        slots -= 1
        if cat[forced] >= 0:
            cats |= np.int64(1) << cat[forced]
        ex |= excl[forced]
        if hbit[forced] >= 0:
            used |= np.int64(1) << hbit[forced]
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
                    usedb[a] = used
                    cur += vals[a]
                    h = hbit[j]
                    if h >= 0 and (used >> h) & 1 == 0:
                        cur -= hprice[h]
                        used |= np.int64(1) << h
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
        used = usedb[a]
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
def _best(lo, hi, red, ban, cat, excl, hbit, hprice, max_n, exact, pick, order, vals, inc, keep, before, usedb):
    """The best value of one customer's pairs lo..hi at reduced values `red`
    and channel prices `hprice`, without the pairs through channel `ban`."""
    m = _rank(lo, hi, red, -1, ban, hbit, order, vals)
    return _choose(m, cat, excl, hbit, hprice, max_n, exact, -1, pick, order, vals, inc, keep, before, usedb)


@njit(cache=True, nogil=True)
def _clear(inb, starts, c):
    """Customer c's marks in `inb` cleared (none: c < 0)."""
    if c >= 0:
        for q in range(starts[c], starts[c + 1]):
            inb[q] = False


@njit(cache=True, nogil=True)
def _customer(c, starts, red, cat, excl, hbit, hprice, max_n, exact, inb, order, vals, inc, keep, before, usedb):
    """Customer c's positive pairs ranked into order/vals, how many, and
    their best value, the best set marked in `inb`."""
    m = _rank(starts[c], starts[c + 1], red, -1, -1, hbit, order, vals)
    return m, _choose(m, cat, excl, hbit, hprice, max_n, exact, -1, inb, order, vals, inc, keep, before, usedb)


@njit(cache=True, nogil=True)
def _beside2(j, m, order, vals, cat, excl, hbit, hprice):
    """Under `max 2`, the best one other of the m ranked pairs beside pair
    j (0: none), as `_choose` with j forced adds it up."""
    best = 0.0
    for q in range(m):
        k = order[q]
        if k != j and _fits(j, k, cat, excl):
            v = _net(k, hbit[j], hbit, hprice, 0.0 + vals[q])
            if v > best:
                best = v
    return best


@njit(cache=True, nogil=True)
def _without2(j, m, order, vals, cat, excl, hbit, hprice, best_set):
    """Under `max 2`, the best one or two of the m ranked pairs other than
    j (0: none), summed in `_choose`'s order: ranked order, each pair's
    value then its channel's price. With `best_set` non-empty, the pairs
    of that best set are written into it (-1: none): each set's total is
    added up the same way whichever pair is left out, so for a pair not
    in the set the best without it is this best, bit for bit. (An array
    to fill, not a tuple returned: that took a sixth longer a pair.)"""
    best = 0.0
    mark = best_set.size > 0
    if mark:
        best_set[0] = -1
        best_set[1] = -1
    for q in range(m):
        k = order[q]
        if k == j:
            continue
        first = _net(k, -1, hbit, hprice, 0.0 + vals[q])
        if first > best:
            best = first
            if mark:
                best_set[0] = k
                best_set[1] = -1
        for r in range(q + 1, m):
            l = order[r]
            if l != j and _fits(k, l, cat, excl):
                v = _net(l, hbit[k], hbit, hprice, first + vals[r])
                if v > best:
                    best = v
                    if mark:
                        best_set[0] = k
                        best_set[1] = l
    return best


@njit(cache=True, nogil=True)
def _thresholds(js, a, b, t, starts, cust, own, units, red, cat, excl, hbit, hprice, max_n, exact, closed, inb,
                order, vals, inc, keep, before, usedb, order2, vals2):
    """t[i], for i in a..b: the price per unit of one constraint above which
    the customer of pair j = js[i] no longer wants it. `own[i]` is the
    pair's value without that constraint's price, `units[i]` what it uses
    of it; the customer's other pairs keep their values at `red`:
    (own - its channel's price + the best of the others alongside it - their
    best without it) / units; 0 where `own` is not positive (the threshold
    cannot be above it). `js` is sorted, so a customer's pairs come
    together: their ranking and best set are made once; the others' best
    without j is the customer's best where j is not in their best set.
    `closed` (under `max 2` only): a set is one pair or two, so the best
    beside j and the best without it come from a scan of the ranked pairs
    (`_beside2`, `_without2`) instead of a search per pair, the best
    without j the customer's best (once per customer with several pairs
    in `js`) where j is not in its set: the same numbers,
    bit for bit (the largest of the same sums, added in the same order),
    in a fraction of the time."""
    none = np.zeros(0, np.bool_)
    no_set = np.zeros(0, np.int64)
    best_set = np.full(2, -2, np.int64)     # -2: not made for this customer
    prev = -1
    m = 0
    best = 0.0
    for i in range(a, b):
        j = js[i]
        c = cust[j]
        if c != prev:
            if closed:      # the scans need the ranking only, and the best set if more pairs of c follow
                m = _rank(starts[c], starts[c + 1], red, -1, -1, hbit, order, vals)
                best_set[0] = -2
                if i + 1 < b and cust[js[i + 1]] == c:
                    best = _without2(-1, m, order, vals, cat, excl, hbit, hprice, best_set)
            else:
                _clear(inb, starts, prev)
                m, best = _customer(c, starts, red, cat, excl, hbit, hprice, max_n, exact, inb, order, vals, inc,
                                    keep, before, usedb)
            prev = c
        if not own[i] > 0.0:
            t[i] = 0.0
            continue
        if closed:
            with_j = _beside2(j, m, order, vals, cat, excl, hbit, hprice)
            if best_set[0] == -2 or j == best_set[0] or j == best_set[1]:
                without = _without2(j, m, order, vals, cat, excl, hbit, hprice, no_set)
            else:
                without = best
        else:
            m2 = 0
            for q in range(m):
                if order[q] != j:
                    order2[m2] = order[q]
                    vals2[m2] = vals[q]
                    m2 += 1
            with_j = _choose(m2, cat, excl, hbit, hprice, max_n, exact, j, none, order2, vals2, inc, keep, before,
                             usedb)
            without = best
            if inb[j]:
                without = _choose(m2, cat, excl, hbit, hprice, max_n, exact, -1, none, order2, vals2, inc, keep,
                                  before, usedb)
        charge = hprice[hbit[j]] if hbit[j] >= 0 else 0.0
        t[i] = (((own[i] - charge) + with_j) - without) / units[i]
    if not closed:
        _clear(inb, starts, prev)


@njit(cache=True, nogil=True)
def _net(j, used, hbit, hprice, v):
    """`v` (a running total plus pair j's value) less j's capped channel's
    price unless channel `used` (or -1) is j's: as `_choose` adds them up."""
    h = hbit[j]
    if h >= 0 and h != used:
        v -= hprice[h]
    return v


@njit(cache=True, nogil=True)
def _fits(j, k, cat, excl):
    """Pairs j and k may both be in a customer's set (one per category, exclusive lines)."""
    return not (cat[j] >= 0 and cat[j] == cat[k]) and (excl[j] & excl[k]) == 0


@njit(cache=True, nogil=True)
def _tops(lo, hi, red, hbit, hprice, ban):
    """Under `max 1 per customer` a set is one pair, worth its value less
    its capped channel's price (as `_choose` adds them up): the best of a
    customer's positive pairs (0: none) except those through channel `ban`,
    the pair that has it (-1: none) and the best of the others."""
    top = 0.0
    second = 0.0
    arg = -1
    for q in range(lo, hi):
        if not red[q] > 0.0 or (ban >= 0 and hbit[q] == ban):
            continue
        net = red[q]
        if hbit[q] >= 0:
            net -= hprice[hbit[q]]
        if net > top:
            second = top
            top = net
            arg = q
        elif net > second:
            second = net
    return top, arg, second


@njit(cache=True, nogil=True)
def _thresholds1(js, a, b, t, starts, cust, own, units, red, hbit, hprice):
    """`_thresholds` under `max 1 per customer`: nothing goes alongside a
    pair, and the others' best without it is the customer's best, or the
    second best where the pair has the best."""
    prev = -1
    top, arg, second = 0.0, -1, 0.0
    for i in range(a, b):
        j = js[i]
        c = cust[j]
        if c != prev:
            top, arg, second = _tops(starts[c], starts[c + 1], red, hbit, hprice, -1)
            prev = c
        if not own[i] > 0.0:
            t[i] = 0.0
            continue
        without = second if j == arg else top
        charge = hprice[hbit[j]] if hbit[j] >= 0 else 0.0
        t[i] = (((own[i] - charge) + 0.0) - without) / units[i]


@njit(cache=True, nogil=True)
def _channel_thresholds1(cs, a, b, t, h, starts, red, hbit, hprice, free):
    """`_channel_thresholds` under `max 1 per customer`."""
    for i in range(a, b):
        c = cs[i]
        t[i] = _tops(starts[c], starts[c + 1], red, hbit, free, -1)[0] - \
            _tops(starts[c], starts[c + 1], red, hbit, hprice, h)[0]


@njit(cache=True, nogil=True)
def _channel_thresholds(cs, a, b, t, h, starts, red, cat, excl, hbit, hprice, free, max_n, exact, closed,
                        order, vals, inc, keep, before, usedb):
    """t[i], for i in a..b: the price of capped channel h above which
    customer cs[i] no longer wants to be contacted through it: their best
    with the channel free (`free`: the prices with h's at 0) minus their
    best without its pairs. `closed` (under `max 2` only): each best from
    the scan of `_thresholds`, not a search."""
    none = np.zeros(0, np.bool_)
    no_set = np.zeros(0, np.int64)
    for i in range(a, b):
        c = cs[i]
        lo, hi = starts[c], starts[c + 1]
        if closed:
            m = _rank(lo, hi, red, -1, -1, hbit, order, vals)
            with_h = _without2(-1, m, order, vals, cat, excl, hbit, free, no_set)
            m = _rank(lo, hi, red, -1, h, hbit, order, vals)
            without = _without2(-1, m, order, vals, cat, excl, hbit, hprice, no_set)
        else:
            with_h = _best(lo, hi, red, -1, cat, excl, hbit, free, max_n, exact, none, order, vals, inc, keep,
                           before, usedb)
            without = _best(lo, hi, red, h, cat, excl, hbit, hprice, max_n, exact, none, order, vals, inc, keep,
                            before, usedb)
        t[i] = with_h - without


@njit(cache=True, nogil=True)
def _dual_and_picks(total, starts, red, cat, excl, hbit, hprice, max_n, exact, pick, order, vals, inc, keep, before,
                    usedb):
    """The dual bound: `total` (each price times its constraint's limit)
    plus each customer's best at the prices, summed in one fixed order;
    each customer's best set marked in `pick`."""
    for c in range(len(starts) - 1):
        total += _best(starts[c], starts[c + 1], red, -1, cat, excl, hbit, hprice, max_n, exact, pick,
                       order, vals, inc, keep, before, usedb)
    return total


@dataclass(frozen=True)
class Labels:
    """What the report calls the arbitrate block's constraints: the quotas'
    categories and the capped channels, in the block's order, and how many
    of the budget's whole units make one unit of money."""
    quotas: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    unit: int = 1

    @staticmethod
    def of(program: ir.Program) -> Labels:
        a = program.arbitrate
        u = units_of(a)
        unit = u.unit if u is not None else 1
        return Labels(tuple(c for c, _ in a.quota), tuple(c for c, _ in a.channel_capacity), unit)


class _Problem:
    """A run's pairs as the passes read them: each pair's constraints (its
    offer's capacity, its category's quota, its channel's capacity, its
    cost under the budget), the prices, and scratch space per thread."""

    def __init__(self, starts, cust, offer, chan, prio, rules: Rules, cost=None):
        self.starts, self.cust, self.offer, self.prio = starts, cust, offer, prio
        # the threshold kernels read these for every pair of a customer, at
        # random: in the narrowest type that holds them, a third of the bytes
        self.cat = _narrow(rules.category[offer])
        self.excl = _narrow(rules.exclusive[offer])
        self.max_n = rules.max_n
        self.qid = rules.quota_of[offer]
        self.hbit = _narrow(rules.chan_bit[chan] if len(chan) else np.zeros(0, np.int64))
        self.cost = rules.cost[offer] if cost is None else cost      # per pair: computed per customer (3.11)
        self.fcost = self.cost.astype(np.float64)
        self.ones = np.ones(len(prio), np.int64)
        self.margin = MARGIN * (rules.max_n + 2) ** 2 * float(np.abs(prio).max(initial=0.0))
        self.every = np.arange(len(prio), dtype=np.int64)
        self.capacity = rules.capacity
        Q = int(rules.quota_of.max(initial=-1)) + 1
        H = int(rules.chan_bit.max(initial=-1)) + 1
        self.quota = rules.quota[:Q]
        self.chan_cap = rules.chan_cap[:H]
        self.budget = int(rules.budget) if rules.budget < _NO_BUDGET else -1
        # Pairs no allocation can give (capacity, quota or channel 0; a cost
        # above the budget) are out of the search: the walk refuses them.
        quota, chan_cap = np.append(self.quota, -1), np.append(self.chan_cap, -1)     # the last: none
        self.dead = ((self.capacity[offer] == 0) | (quota[self.qid] == 0) | (chan_cap[self.hbit] == 0)
                     | ((self.budget >= 0) & (self.cost > self.budget)))
        self.exact = bool((rules.exclusive != 0).any()) or bool((self.hbit >= 0).any())
        self.p_offer = np.zeros(len(rules.capacity), np.float64)
        self.p_quota = np.zeros(Q + 1, np.float64)      # the last: a pair without a quota
        self.p_chan = np.zeros(max(H, 1), np.float64)
        self.p_budget = 0.0
        width = max(1, int(np.diff(starts).max(initial=0)))
        self.scratch = [(np.empty(width, np.int64), np.empty(width, np.float64), np.zeros(width, np.bool_),
                         np.zeros(width, np.bool_), np.zeros(width, np.float64), np.zeros(width, np.int64))
                        for _ in range(THREADS)]
        # per thread: a mark per pair (a customer's best set) and a ranking less one pair
        self.marks = [np.zeros(len(prio), np.bool_) for _ in range(THREADS)]
        self.ranked = [(np.empty(width, np.int64), np.empty(width, np.float64)) for _ in range(THREADS)]
        # what near_pairs and near_customers hand over, valid until the next call: a
        # buffer per call would cost its page faults on every price
        n = len(prio)
        self.near_out = (np.empty(n, np.int64), np.empty(n, np.float64), np.empty(n, np.int64))

    def red(self, p_offer=None, p_quota=None, p_budget=None, js=None) -> np.ndarray:
        """Each pair's priority less its offer's, its quota's and (per unit
        of cost) the budget's prices, in that order (of the pairs `js`, or
        all); those given replace the current ones (to leave one
        constraint's price out)."""
        p_offer = self.p_offer if p_offer is None else p_offer
        p_quota = self.p_quota if p_quota is None else p_quota
        p_budget = self.p_budget if p_budget is None else p_budget
        js = self.every if js is None else js
        red = np.empty(len(js), np.float64)
        _reduced(js, self.prio, self.offer, self.qid, self.fcost, self.dead, p_offer, p_quota, float(p_budget), red)
        return red

    def reprice(self, js: np.ndarray, red: np.ndarray) -> None:
        """The values `red` of the pairs `js` at the current prices, in place."""
        _reprice(js, self.prio, self.offer, self.qid, self.fcost, self.dead, self.p_offer, self.p_quota,
                 float(self.p_budget), red)

    def near_pairs(self, js: np.ndarray, units: np.ndarray, lo: float, hi: float, p_offer=None, p_quota=None,
                   p_budget=None) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray, int]:
        """The pairs of `js` whose bound is in [lo, hi) (pricing.banded) with
        their own values, at the current prices but those given; their units
        (`units` is indexed by pair); the units of those with a positive own
        value. The arrays are views of buffers the next call reuses."""
        p_offer = self.p_offer if p_offer is None else p_offer
        p_quota = self.p_quota if p_quota is None else p_quota
        p_budget = self.p_budget if p_budget is None else p_budget
        out_js, out_own, out_units = self.near_out
        n, positive = _near_pairs(js, units, self.prio, self.offer, self.qid, self.fcost, self.dead, p_offer, p_quota,
                                  float(p_budget), lo, hi, self.margin, out_js, out_own, out_units)
        return (out_js[:n], out_own[:n]), out_units[:n], int(positive)

    def near_customers(self, cs: np.ndarray, h: int, lo: float, hi: float, red: np.ndarray
                       ) -> tuple[tuple[np.ndarray], np.ndarray, int]:
        """The customers of `cs` whose bound for channel h is in [lo, hi)
        (pricing.banded), a unit each; how many have a positive value
        through h."""
        out = self.near_out[0]
        n, positive = _near_customers(cs, h, self.starts, red, self.hbit, self.max_n, lo, hi, self.margin, out,
                                      np.empty(min(self.max_n, len(self.scratch[0][1])), np.float64))
        return (out[:n],), np.ones(n, np.int64), int(positive)

    def thresholds(self, js: np.ndarray, own: np.ndarray, units: np.ndarray, red: np.ndarray) -> np.ndarray:
        """Each pair's threshold (`_thresholds`), the pairs split over the
        cores (each value on its own: the split changes nothing)."""
        t = np.empty(len(js), np.float64)
        if self.max_n == 1:
            run_parts(lambda part, a, b: _thresholds1(js, a, b, t, self.starts, self.cust, own, units, red, self.hbit,
                                                      self.p_chan), chunks(len(js)))
            return t
        run_parts(lambda part, a, b: _thresholds(js, a, b, t, self.starts, self.cust, own, units, red, self.cat,
                                                 self.excl, self.hbit, self.p_chan, self.max_n, self.exact,
                                                 self.max_n == 2, self.marks[part], *self.scratch[part],
                                                 *self.ranked[part]),
                  chunks(len(js)))
        return t

    def channel_thresholds(self, cs: np.ndarray, h: int, red: np.ndarray) -> np.ndarray:
        free = self.p_chan.copy()
        free[h] = 0.0
        t = np.empty(len(cs), np.float64)
        if self.max_n == 1:
            run_parts(lambda part, a, b: _channel_thresholds1(cs, a, b, t, h, self.starts, red, self.hbit, self.p_chan,
                                                              free), chunks(len(cs)))
            return t
        run_parts(lambda part, a, b: _channel_thresholds(cs, a, b, t, h, self.starts, red, self.cat, self.excl,
                                                         self.hbit, self.p_chan, free, self.max_n, self.exact,
                                                         self.max_n == 2,
                                                         *self.scratch[part]),
                  chunks(len(cs)))
        return t


def _narrow(values: np.ndarray) -> np.ndarray:
    """Integers in int8, int16 or int32 where they fit (int64 otherwise)."""
    lo, hi = int(values.min(initial=0)), int(values.max(initial=0))
    for t in (np.int8, np.int16, np.int32):
        if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max:
            return values.astype(t)
    return values


def _distinct(sorted_values: np.ndarray) -> np.ndarray:
    """The distinct values of a sorted array (customers of pairs in order)."""
    if len(sorted_values) == 0:
        return sorted_values
    return sorted_values[np.r_[True, sorted_values[1:] != sorted_values[:-1]]]


def solve(starts, cust, offer, chan, prio, rules: Rules, passes: int, cost=None
          ) -> tuple[_Problem, np.ndarray, float, int]:
    """Prices by coordinate descent, then each customer's best set at them
    with over-wanted offers cut to capacity. `starts`: each customer's first
    pair (pairs sorted by position, then offer), `cust` each pair's
    customer. Returns (the problem with its final prices, the chosen pairs,
    the dual bound at those prices, passes run). `cost`: each pair's cost
    in the budget's units (its offer's when left out)."""
    pb = _Problem(starts, cust, offer, chan, prio, rules, cost)
    K, Q, H = len(pb.capacity), len(pb.quota), len(pb.chan_cap)
    live = ~pb.dead
    by_offer, by_start = by_offer_index(offer, K)
    mine = [by_offer[by_start[k]:by_start[k + 1]] for k in range(K)]
    live_mine = [js[live[js]] for js in mine]
    of_quota = [np.flatnonzero(live & (pb.qid == q)) for q in range(Q)]
    of_chan = [_distinct(cust[live & (pb.hbit == h)]) for h in range(H)]
    costly = np.flatnonzero(live & (pb.cost > 0))
    settled = SETTLED * float(np.abs(prio).max(initial=0.0))
    red = pb.red()
    done = 0

    def pairs_price(js: np.ndarray, units: np.ndarray, limit: int, cutoff: float, **without) -> float:
        """The price of one constraint over its pairs `js` (`units`: what
        each pair uses of it, indexed by pair), from its current price
        `cutoff` down (pricing.banded); `without`: its price at 0, for the
        pairs' own values."""
        return banded(lambda lo, hi: pb.near_pairs(js, units, lo, hi, **without),
                      lambda near, near_units: pb.thresholds(near[0], near[1], near_units, red), limit, cutoff)

    for p in range(passes):
        moved = False
        for k in range(K):
            if pb.capacity[k] < 0 or len(mine[k]) <= pb.capacity[k]:
                continue
            if pb.capacity[k] == 0:
                # a threshold never exceeds its priority: at the highest one nobody
                # wants the offer, not even a customer with an equal alternative
                new = max(float(prio[mine[k]].max()), 0.0)
            else:
                p_offer = pb.p_offer.copy()
                p_offer[k] = 0.0
                new = pairs_price(live_mine[k], pb.ones, int(pb.capacity[k]), pb.p_offer[k], p_offer=p_offer)
            if new != pb.p_offer[k]:
                moved = moved or abs(new - pb.p_offer[k]) > settled
                pb.p_offer[k] = new
                pb.reprice(mine[k], red)
        for q in range(Q):
            p_quota = pb.p_quota.copy()
            p_quota[q] = 0.0
            new = pairs_price(of_quota[q], pb.ones, int(pb.quota[q]), pb.p_quota[q], p_quota=p_quota)
            if new != pb.p_quota[q]:
                moved = moved or abs(new - pb.p_quota[q]) > settled
                pb.p_quota[q] = new
                pb.reprice(of_quota[q], red)
        for h in range(H):
            cs = of_chan[h]
            new = 0.0
            if len(cs) > pb.chan_cap[h]:
                new = banded(lambda lo, hi, cs=cs, h=h: pb.near_customers(cs, h, lo, hi, red),
                             lambda near, units, h=h: pb.channel_thresholds(near[0], h, red),
                             int(pb.chan_cap[h]), pb.p_chan[h])
            if new != pb.p_chan[h]:
                moved = moved or abs(new - pb.p_chan[h]) > settled
                pb.p_chan[h] = new
        if pb.budget >= 0:
            new = pairs_price(costly, pb.cost, pb.budget, pb.p_budget, p_budget=0.0)
            if new != pb.p_budget:
                moved = moved or abs(new - pb.p_budget) > settled
                pb.p_budget = new
                pb.reprice(costly, red)
        done = p + 1
        if not moved:
            break
    pick = np.zeros(len(prio), np.bool_)
    total = 0.0
    for k in range(K):
        if pb.capacity[k] >= 0:
            total += float(pb.p_offer[k]) * int(pb.capacity[k])
    for q in range(Q):
        total += float(pb.p_quota[q]) * int(pb.quota[q])
    for h in range(H):
        total += float(pb.p_chan[h]) * int(pb.chan_cap[h])
    if pb.budget >= 0:
        total += pb.p_budget * pb.budget
    bound = _dual_and_picks(total, starts, red, pb.cat, pb.excl, pb.hbit, pb.p_chan, pb.max_n, pb.exact, pick,
                            *pb.scratch[0])
    # Ties at a price can leave a constraint wanted beyond its limit: keep
    # those with the highest thresholds (then the earlier position), offers,
    # quotas, channels and the budget in turn; the others walk after the
    # chosen pairs, where what is left may still take them.
    def cut(js: np.ndarray, units: np.ndarray, limit: int, **without) -> None:
        taken = js[pick[js]]
        if int(units[pick[js]].sum()) <= limit:
            return
        kept = units[pick[js]]
        t = pb.thresholds(taken, pb.red(js=taken, **without), kept, red)
        ranked = np.argsort(-t, kind="stable")
        pick[taken[ranked[np.cumsum(kept[ranked]) > limit]]] = False

    for k in range(K):
        if pb.capacity[k] >= 0:
            p_offer = pb.p_offer.copy()
            p_offer[k] = 0.0
            cut(mine[k], np.ones(len(mine[k]), np.int64), int(pb.capacity[k]), p_offer=p_offer)
    for q in range(Q):
        p_quota = pb.p_quota.copy()
        p_quota[q] = 0.0
        cut(of_quota[q], np.ones(len(of_quota[q]), np.int64), int(pb.quota[q]), p_quota=p_quota)
    for h in range(H):
        through = pick & (pb.hbit == h)
        cs = _distinct(cust[through])
        if len(cs) > pb.chan_cap[h]:
            ranked = np.argsort(-pb.channel_thresholds(cs, h, red), kind="stable")
            out = np.zeros(len(starts) - 1, np.bool_)
            out[cs[ranked[pb.chan_cap[h]:]]] = True
            pick[through & out[cust]] = False
    if pb.budget >= 0:
        cut(costly, pb.cost[costly], pb.budget, p_budget=0.0)
    return pb, pick, float(bound), done


def by_offer_index(offer: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of each offer, in position order, and where each offer's start."""
    idx = np.argsort(offer, kind="stable").astype(np.int64)
    start = np.zeros(K + 1, np.int64)
    np.cumsum(np.bincount(offer.astype(np.int64), minlength=K), out=start[1:])
    return idx, start


def walk_run(rows: np.ndarray, offer: np.ndarray, chan: np.ndarray, prio: np.ndarray, ctrl: np.ndarray,
             room: np.ndarray, cost: np.ndarray, rules: Rules, names: list[str], funnel: np.ndarray,
             labels: Labels = Labels()) -> tuple[np.ndarray, Allocation | None]:
    """The run-wide walk of a run's candidate pairs (sorted by position, then
    offer; `room` each pair's customer's room on its channel under in-run
    contact caps, empty without; `cost` each pair's cost in the budget's
    units, Rules.pair_costs): which are accepted, its counts added to
    `funnel`. Greedy (section 6.4), or with `rules.optimal` the optimal
    allocation and its report (`labels` name the arbitrate block's
    constraints in it). The allocation's search leaves the contact caps
    out (LANGUAGE.md 6.7); the walk that follows it applies them."""
    first = np.ones(len(rows), np.bool_)
    first[1:] = rows[1:] != rows[:-1]
    dense = np.cumsum(first) - 1
    n_cust = int(first.sum())
    greedy = global_order(rows, offer, prio, rules.fallback)

    def walk(order: np.ndarray, counts: np.ndarray) -> np.ndarray:
        accepted = np.zeros(len(rows), np.bool_)
        walk_global(order, dense, offer, chan, ctrl, room, cost, n_cust, rules, accepted, counts)
        return accepted

    if not rules.optimal:
        return walk(greedy, funnel), None
    g_counts = np.zeros_like(funnel)
    # the greedy walk (for the report) on another core while the prices are found
    g_walk = later(lambda: walk(greedy, g_counts))
    if len(rows) and float(np.abs(prio).max()) * len(rows) > OVERFLOW:
        g_accepted = g_walk.result()
        g_value = float(prio[g_accepted].sum())
        funnel += g_counts
        return g_accepted, Allocation(g_value, g_value, None, {}, 0)
    starts = np.append(np.flatnonzero(first), len(rows)).astype(np.int64)
    pb, pick, bound, passes = solve(starts, dense.astype(np.int64), offer.astype(np.int64), chan.astype(np.int64),
                                    prio.astype(np.float64), rules, PASSES, cost if len(cost) else None)
    g_accepted = g_walk.result()
    g_value = float(prio[g_accepted].sum())
    if rules.fallback >= 0:     # the fallback is only for who gets nothing else: it walks last, as ever
        pick &= offer != rules.fallback
    o_counts = np.zeros_like(funnel)
    o_accepted = walk(np.concatenate([greedy[pick[greedy]], greedy[~pick[greedy]]]), o_counts)
    o_value = float(prio[o_accepted].sum())
    prices = {names[k]: float(pb.p_offer[k]) for k in range(len(names)) if rules.capacity[k] >= 0}
    others = {**{f"capacity {c}": float(pb.p_chan[h]) for h, c in enumerate(labels.channels[:len(pb.chan_cap)])},
              **{f"quota {c}": float(pb.p_quota[q]) for q, c in enumerate(labels.quotas[:len(pb.quota)])},
              **({"budget": pb.p_budget * labels.unit} if pb.budget >= 0 else {})}
    if o_value < g_value:
        funnel += g_counts
        return g_accepted, Allocation(g_value, g_value, max(bound, g_value), prices, passes, others)
    funnel += o_counts
    return o_accepted, Allocation(o_value, g_value, max(bound, o_value), prices, passes, others)
