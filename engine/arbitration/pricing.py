"""One run-wide constraint's price (LANGUAGE.md 6.7) from the thresholds of
only the pairs (or customers) near it.

A price is the threshold at which, taken highest first, the units of the
constraint's pairs first pass its limit. A pair's threshold never exceeds
its own value per unit (the value it has with the constraint's price left
out, divided by what it uses of it): whatever goes alongside the pair, the
customer could have taken it without the pair, and at most the pair's
channel price is saved. Likewise a customer's threshold for a capped
channel never exceeds the sum of their best `max` values through it. These
bounds cost a subtraction per pair, a threshold a search of the customer's
sets, so the price is found in rounds:

* the thresholds of the pairs whose bound reaches a cutoff (the price of
  the previous pass; 0 in the first, every pair): if, among them, the
  units first pass the limit at a threshold x at or above the cutoff,
  every pair left out is below x and cannot move it, and x is the price;
* otherwise those whose bound reaches x (or 0, when they do not pass the
  limit at all), once more, and the same holds at the new cutoff.

So the price is bit for bit the one a threshold of every pair gives, at
the cost of the pairs near it: after a pass or two, a tenth of the budget's
pairs on the benchmark (benchmarks/README.md). `MARGIN` keeps the bounds
bounds in floating point, where a threshold is a sum in another order.

A round runs over parts of the constraint's pairs (customers), each part
on whichever core is free (threads.run_shared): one kernel finds the
part's members in the band and computes their thresholds at once
(`_pairs_round`, `_customers_round`), into the part's own region of
buffers made once per run, so no round copies its members (the pairs come
packed, optimal.Packed: what each uses and the terms of its value in the
pairs' order, read in order where the run's arrays would be read at
random); `_taken` then gathers the positive thresholds of every round so
far and selects the crossing in place. The members' order (which part, which round) changes
nothing: the crossing is a value of the set.

Once prices settle, a pass moves them by little, and a threshold by at
most a known drift (optimal.Drift: a few times the largest move of a
value or a channel's price). The thresholds a pass computed
(optimal.Recall) then bound the next pass's both ways:

* from above, threshold + drift where it is below the own value: a pair
  whose customer would give it up for another drops out of the rounds;
* from below, threshold - drift: a pair in the band whose lowest possible
  threshold is above a floor (the last price plus twice its last move)
  stands in, its units counted above every computed threshold, its own
  not computed. Let x be the crossing so found and L the lowest stand-in.
  At any y up to L the units at or above y are the same whether a
  stand-in counts at its true threshold or above everything (both are at
  least L). If x < L, x is the largest value at which they pass the
  limit and at L they do not, so they do at no value above L either: x
  is every threshold's crossing. Else (`banded` returns None) the rounds
  run again without stand-ins.

So every price is still bit for bit the one every threshold gives
(tests/test_optimal.py: the drift against thresholds at random prices,
and whole runs with and without recall).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numba import njit

from pol.arbitration.thresholds import _channel_thresholds, _channel_thresholds1, _thresholds, _thresholds1

# The bounds are widened by this share of (max + 2)^2 times the largest
# priority: far above the rounding of sums of a few values each at most that
# large, far below any gap between prices that matters.
MARGIN = 1e-9


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _value(j, prio, offer, qid, cost, dead, p_offer, p_quota, p_budget):
    """Pair j's priority less its offer's, its quota's and (per unit of
    cost) the budget's prices, in that order; -inf for a pair no allocation
    can give."""
    if dead[j]:
        return -np.inf
    return ((prio[j] - p_offer[offer[j]]) - p_quota[qid[j]]) - p_budget * cost[j]


@njit(cache=True, nogil=True, _nrt=False)
def _reduced(js, prio, offer, qid, cost, dead, p_offer, p_quota, p_budget, out):
    """out[i] = pair js[i]'s `_value`."""
    for i in range(len(js)):
        out[i] = _value(js[i], prio, offer, qid, cost, dead, p_offer, p_quota, p_budget)


@njit(cache=True, nogil=True, _nrt=False)
def _reprice(js, prio, offer, qid, cost, dead, p_offer, p_quota, p_budget, red):
    """red[j] = pair j's `_value`, for j = js[i]: in place, where a price
    moved (`prio` ... `dead`: in js's order, optimal.Packed)."""
    for i in range(len(js)):
        red[js[i]] = _value(i, prio, offer, qid, cost, dead, p_offer, p_quota, p_budget)


@njit(cache=True, nogil=True, _nrt=False)
def _near_pairs(js, units, prio, offer, qid, cost, dead, p_offer, p_quota, p_budget, lo, hi, margin, known, epoch,
                drift, floor, out_js, out_own, out_units, out_pos, stood):
    """The pairs of `js` with a positive own value whose bound is in [lo,
    hi), into out_* (their places in js in out_pos), in js's order; how
    many, and the units of every pair with a positive own value. The bound
    is the own value per unit plus `margin`, or, for a pair whose threshold
    `known[i]` was found at earlier prices (NaN: never), that threshold
    plus how far it can have moved since (`drift[epoch[i]]` per unit,
    optimal.Recall) where lower. A pair in the band whose threshold cannot
    be at or below `floor` either way stands in (Recall): not written, its
    units added to stood[0], its lowest possible threshold kept in stood[1]
    where lower. `units`, `prio` ... `dead`: the pairs' own, in js's order
    (`Packed`), read in order where the run's arrays would be read at
    random. Every pair is written at the next free slot, kept or not: out_*
    need a slot more than the pairs they may keep."""
    n = 0
    positive = 0
    for i in range(len(js)):      # without branches: the tests are as good as random
        j = js[i]
        own = _value(i, prio, offer, qid, cost, dead, p_offer, p_quota, p_budget)
        u = units[i]
        top = own / u + margin
        was = known[i]
        moved = drift[epoch[i]] / u
        cap = was + moved
        top = cap if cap < top else top     # NaN (never found) leaves `top`
        low = was - moved
        out_js[n] = j
        out_own[n] = own
        out_units[n] = u
        out_pos[n] = i
        yes = own > 0.0
        positive += u * yes
        near = yes & (lo <= top) & (top < hi)
        stand_in = near & (low > floor)     # False for NaN
        stood[0] += u * stand_in
        stood[1] = low if stand_in and low < stood[1] else stood[1]
        n += near & ~stand_in
    return n, positive


@njit(cache=True, nogil=True, _nrt=False)
def _near_customers(cs, h, starts, red, hbit, max_n, lo, hi, margin, known, epoch, drift, floor, out, out_pos,
                    stood, top):
    """The customers of `cs` whose bound for channel h (the sum of their
    `max_n` best positive values through it, plus `margin`, or their
    threshold found at earlier prices plus its drift where lower, as in
    `_near_pairs`) is in [lo, hi), into `out` (their places in cs in
    out_pos), in cs's order; how many, and how many have a positive value
    through h at all. One sure to stay above `floor` stands in, as in
    `_near_pairs`. `top`: scratch of max_n values."""
    n = 0
    positive = 0
    for i in range(len(cs)):
        c = cs[i]
        m = 0
        for j in range(starts[c], starts[c + 1]):
            if hbit[j] != h or not red[j] > 0.0:
                continue
            v = red[j]
            if m < max_n:
                top[m] = v
                m += 1
            else:   # replace the smallest kept, if smaller
                low = 0
                for q in range(1, m):
                    if top[q] < top[low]:
                        low = q
                if top[low] < v:
                    top[low] = v
        if m == 0:
            continue
        positive += 1
        bound = margin
        for q in range(m):
            bound += top[q]
        was = known[i]
        cap = was + drift[epoch[i]]
        bound = cap if cap < bound else bound
        if lo <= bound < hi:
            least = was - drift[epoch[i]]      # not `low`: the index of the smallest kept, above
            if least > floor:
                stood[0] += 1
                stood[1] = min(stood[1], least)
                continue
            out[n] = c
            out_pos[n] = i
            n += 1
    return n, positive


@njit(cache=True, nogil=True, _nrt=False)
def _crossing(vals, w, limit, above=0):
    """The largest threshold x with more than `limit` units at or above it
    (taken highest first, where the units first pass the limit), `above`
    units known to be above every one of them: a selection by three-way
    partitions around a pivot, no sort, in place (`vals`, their units `w`:
    scratch). The units must pass the limit, and `above` must not."""
    n = len(vals)
    while True:
        a, b, c = vals[0], vals[n // 2], vals[n - 1]
        pivot = max(min(a, b), min(max(a, b), c))       # the median of three
        n_gt = 0
        w_gt = 0
        w_eq = 0
        for i in range(n):
            if vals[i] > pivot:
                n_gt += 1
                w_gt += w[i]
            elif vals[i] == pivot:
                w_eq += w[i]
        upper = above + w_gt > limit
        if not upper:
            if above + w_gt + w_eq > limit:
                return pivot
            above += w_gt + w_eq
        k = 0       # those on the side kept, to the front, in order
        for i in range(n):
            if (vals[i] > pivot) if upper else (vals[i] < pivot):
                vals[k] = vals[i]
                w[k] = w[i]
                k += 1
        n = k


@njit(cache=True, nogil=True)
def _pairs_round(js, units, prio, offer, qid, cost, dead, a, b, at, lo, hi, p_offer, p_quota, p_budget, margin,
                 known, epoch, drift, floor, stood, mjs, mown, munits, mpos, t, starts, cust, red, cat, excl, hbit,
                 hprice, max_n, exact, inb, order, vals, inc, keep, before, usedb, order2, vals2):
    """One round of `banded` over the pairs js[a:b] (`units` ... `dead`: in
    js's order, optimal.Packed; `known` ... `stood`: `_near_pairs`, Recall):
    those whose bound is in [lo, hi) (`_near_pairs`) into mjs/mown/munits/
    mpos from `at` on, their thresholds into t there (thresholds.py); how
    many, and the units of the pairs with a positive own value. One pass
    per part over its pairs, on the core that found them."""
    n, positive = _near_pairs(js[a:b], units[a:b], prio[a:b], offer[a:b], qid[a:b], cost[a:b], dead[a:b], p_offer,
                              p_quota, p_budget, lo, hi, margin, known[a:b], epoch[a:b], drift, floor, mjs[at:],
                              mown[at:], munits[at:], mpos[at:], stood)
    mpos[at:at + n] += a
    if max_n == 1:
        _thresholds1(mjs, at, at + n, t, starts, cust, mown, munits, red, hbit, hprice)
    else:
        _thresholds(mjs, at, at + n, t, starts, cust, mown, munits, red, cat, excl, hbit, hprice, max_n, exact,
                    max_n == 2, inb, order, vals, inc, keep, before, usedb, order2, vals2)
    return n, positive


@njit(cache=True, nogil=True)
def _customers_round(cs, a, b, at, lo, hi, h, starts, red, hbit, max_n, margin, known, epoch, drift, floor, stood,
                     mcs, munits, mpos, t, cat, excl, hprice, free, exact, order, vals, inc, keep, before, usedb):
    """`_pairs_round` for capped channel h over the customers cs[a:b]
    (`_near_customers`), a unit each; `free`: the prices with h's at 0."""
    n, positive = _near_customers(cs[a:b], h, starts, red, hbit, max_n, lo, hi, margin, known[a:b], epoch[a:b],
                                  drift, floor, mcs[at:], mpos[at:], stood, vals)
    munits[at:at + n] = 1
    mpos[at:at + n] += a
    if max_n == 1:
        _channel_thresholds1(mcs, at, at + n, t, h, starts, red, hbit, hprice, free)
    else:
        _channel_thresholds(mcs, at, at + n, t, h, starts, red, cat, excl, hbit, hprice, free, max_n, exact,
                            max_n == 2, order, vals, inc, keep, before, usedb)
    return n, positive


@njit(cache=True, nogil=True, _nrt=False)
def _taken(t, units, begin, used, limit, vals, w, stood):
    """The positive thresholds of the rounds so far (part p's from begin[p],
    used[p] of them) gathered into vals/w with their units, above them
    `stood` units of stand-ins (optimal.Recall): the units, and where they
    pass `limit` their crossing (-inf otherwise; inf if it is among the
    stand-ins)."""
    k = 0
    total = 0
    for p in range(len(begin)):
        for i in range(begin[p], begin[p] + used[p]):
            if t[i] > 0.0:
                vals[k] = t[i]
                w[k] = units[i]
                total += units[i]
                k += 1
    if stood > limit:
        return total + stood, np.inf
    if total + stood > limit:
        return total + stood, _crossing(vals[:k], w[:k], limit, stood)
    return total + stood, -np.inf


@njit(cache=True, nogil=True, _nrt=False)
def _remember(t, mpos, begin, used, known, epoch, e):
    """The thresholds a part's rounds computed, from `begin`, `used` of
    them, at their members' places (`mpos`), found at epoch e
    (optimal.Recall)."""
    for i in range(begin, begin + used):
        known[mpos[i]] = t[i]
        epoch[mpos[i]] = e


# round(lo, hi, limit): the thresholds of the members whose bound is in [lo, hi)
# joined to the earlier rounds'; the units of the members that could have a
# positive threshold, the units of the positive thresholds so far, where
# these pass `limit` their crossing (`_taken`), and the lowest stand-in so
# far (optimal.Recall; inf: none)
Round = Callable[[float, float, int], tuple[int, int, float, float]]


def banded(round_: Round, limit: int, cutoff: float) -> float | None:
    """The price of one constraint, in rounds of `round_` from `cutoff`
    down, as the module says (from 0: every member at once, as in the
    first pass, where starting from the bounds alone and halving took
    longer on the benchmark). The members' order does not matter: the
    crossing is a value of the set. None where a stand-in (optimal.Recall)
    is not above the crossing: the rounds must be run without them."""
    lo, hi = cutoff, np.inf
    while True:
        positive, above, x, lowest = round_(lo, hi, limit)
        if positive <= limit:
            return 0.0
        if above > limit:
            if x >= lo:
                return x if x < lowest else None
            lo, hi = x, lo
        elif lo <= 0.0:
            return 0.0
        else:
            lo, hi = 0.0, lo
