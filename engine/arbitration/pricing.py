"""One run-wide constraint's price (LANGUAGE.md 6.7) from the thresholds of
only the pairs (or customers) near it.

A price is the threshold at which, taken highest first, the units of the
constraint's pairs first pass its limit. Two things bound a threshold
without computing it (a search of the customer's sets):

* from above, its own value per unit (the value it has with the
  constraint's price left out, divided by what it uses of it): whatever
  goes alongside the pair, the customer could have taken it without the
  pair, and at most the pair's channel price is saved. Likewise a
  customer's threshold for a capped channel never exceeds the sum of their
  best `max` values through it;
* on both sides, its value in an earlier pass (`Memory`), widened by how
  far the prices moved since: a customer's best is the largest of sums of
  at most `max` values less at most `max` channel prices, so it moves by
  at most `max` times the largest change of one of their values (plus the
  channel prices'), and a threshold is its own value, a best beside it
  and a best without it (`_reach`). After the first passes the prices
  move little, and most thresholds are far from them.

So the price is found in rounds over a window [lo, hi) around the last
price: the thresholds of the members whose bounds meet the window; those
wholly above it count as above, those wholly below as below. If, among
them, the units first pass the limit at x in the window, x is the price
(the members not computed cannot move it); otherwise the window moves to
where x says the price is, and once more. The price is bit for bit the one
a threshold of every member gives, at the cost of the members near it.
`MARGIN` keeps the bounds bounds in floating point, where a threshold is a
sum in another order.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numba import njit

# The bounds are widened by this share of (max + 2)^2 times the largest
# priority: far above the rounding of sums of a few values each at most that
# large, far below any gap between prices that matters.
MARGIN = 1e-9
# The first window reaches this share of the price's last move beyond it.
STRIDE = 0.6


@njit(cache=True, nogil=True)
def _value(j, prio, offer, qid, cost, dead, p_offer, p_quota, p_budget):
    """Pair j's priority less its offer's, its quota's and (per unit of
    cost) the budget's prices, in that order; -inf for a pair no allocation
    can give."""
    if dead[j]:
        return -np.inf
    return ((prio[j] - p_offer[offer[j]]) - p_quota[qid[j]]) - p_budget * cost[j]


@njit(cache=True, nogil=True)
def _reduced(js, prio, offer, qid, cost, dead, p_offer, p_quota, p_budget, out):
    """out[i] = pair js[i]'s `_value`."""
    for i in range(len(js)):
        out[i] = _value(js[i], prio, offer, qid, cost, dead, p_offer, p_quota, p_budget)


@njit(cache=True, nogil=True)
def _reprice(js, prio, offer, qid, cost, dead, p_offer, p_quota, p_budget, red):
    """red[j] = pair j's `_value`, for j in js: in place, where a price moved."""
    for j in js:
        red[j] = _value(j, prio, offer, qid, cost, dead, p_offer, p_quota, p_budget)


@njit(cache=True, nogil=True)
def _moved(j, v, offer, qid, cost, d_offer, d_quota, d_budget):
    """How far pair j's value can have moved since version v of the prices
    (`d_*`: each price's distance from that version's)."""
    return (d_offer[v, offer[j]] + d_quota[v, qid[j]]) + d_budget[v] * cost[j]


@njit(cache=True, nogil=True)
def _spread(c, v, starts, red, dead, offer, qid, cost, d_offer, d_quota, d_budget, margin):
    """How far any of customer c's values, as a best counts them (not
    below 0: a set gains nothing from a pair without a positive value),
    can have moved since version v."""
    top = 0.0
    for q in range(starts[c], starts[c + 1]):
        if dead[q]:
            continue
        d = _moved(q, v, offer, qid, cost, d_offer, d_quota, d_budget)
        if red[q] + d + margin > 0.0 and d > top:
            top = d
    return top


@njit(cache=True, nogil=True)
def _reach(j, v, u, spread, offer, qid, cost, hbit, o_offer, o_quota, o_budget, d_chan, d_chans, max_n, margin):
    """How far pair j's threshold (per unit: `u`) can have moved since
    version v of the prices: its own value, its channel's price, a best
    beside it of `max_n` - 1 values and a best without it of `max_n`, each
    value moved by at most `spread` and each channel price by d_chans[v].
    d_chan's last column is 0 (no channel: hbit -1)."""
    moved = _moved(j, v, offer, qid, cost, o_offer, o_quota, o_budget) + d_chan[v, hbit[j]]
    return (moved + (2 * max_n - 1) * (spread + d_chans[v])) / u + 2.0 * margin


@njit(cache=True, nogil=True)
def _near_pairs(js, units, prio, offer, qid, cost, dead, p_offer, p_quota, p_budget, lo, hi, margin,
                red, starts, cust, hbit, max_n, last, ver, now, d_offer, d_quota, d_budget, o_offer, o_quota,
                o_budget, d_chan, d_chans, d_every, out_i, out_js, out_own, out_units):
    """The members i (pair js[i]) with a positive own value, not computed at
    version `now`, whose bounds meet [lo, hi), into out_*, in js's order;
    how many, the units of the members not computed at `now` whose bounds
    reach above 0 and of those wholly at or above hi. `last`/`ver`: each member's threshold and
    the version of the prices it was computed at (-1: none); d_*: each
    price's distance from each version's, o_* the same with this
    constraint's own price left out (it is not in the own value); d_chans:
    the largest channel price's distance, d_every the largest any pair's
    value can have moved. First with d_every for every customer's spread,
    without branches (the tests are as good as random), then the few left
    with their customer's own (`_spread`)."""
    n = 0
    possible = 0
    above = 0
    for i in range(len(js)):
        j = js[i]
        own = _value(j, prio, offer, qid, cost, dead, p_offer, p_quota, p_budget)
        u = units[j]
        v = ver[i]
        known = v >= 0
        w = max(v, 0)
        reach = _reach(j, w, u, d_every[w], offer, qid, cost, hbit, o_offer, o_quota, o_budget, d_chan, d_chans,
                       max_n, margin)
        top = own / u + margin
        t_top = last[i] + reach
        bottom = last[i] - reach
        if not known:
            t_top = np.inf
            bottom = -np.inf
        yes = own > 0.0
        up = min(top, t_top)
        possible += u * (yes & (v != now) & (up > 0.0))
        near = yes & (v != now) & (up >= lo)
        high = near & (bottom >= hi)
        above += u * high
        out_i[n] = i
        out_js[n] = j
        out_own[n] = own
        out_units[n] = u
        n += near & ~high
    k = 0
    prev, pv, spread = -1, -1, 0.0
    for q in range(n):
        i, j, own, u = out_i[q], out_js[q], out_own[q], out_units[q]
        v = ver[i]
        if v >= 0:
            c = cust[j]
            if c != prev or v != pv:
                spread = _spread(c, v, starts, red, dead, offer, qid, cost, d_offer, d_quota, d_budget, margin)
                prev, pv = c, v
            reach = _reach(j, v, u, spread, offer, qid, cost, hbit, o_offer, o_quota, o_budget, d_chan, d_chans,
                           max_n, margin)
            if min(own / u + margin, last[i] + reach) < lo:
                continue
            if last[i] - reach >= hi:
                above += u
                continue
        out_i[k], out_js[k], out_own[k], out_units[k] = i, j, own, u
        k += 1
    return k, possible, above


@njit(cache=True, nogil=True)
def _near_customers(cs, h, starts, red, hbit, max_n, lo, hi, margin, out_i, out, top,
                    dead, offer, qid, cost, last, ver, now, d_offer, d_quota, d_budget, d_chans, d_every):
    """The customers i (cs[i]) with a positive value through channel h, not
    computed at version `now`, whose bounds meet [lo, hi), into out_i and
    out, in cs's order; how many, how many not computed at `now` have
    bounds that reach above 0, and how many are wholly at or above hi. The bound from above:
    the sum of their `max_n` best positive values through h, plus
    `margin`; from the last threshold (`last`, `ver`, `d_*` as
    `_near_pairs`; d_chans the largest distance of another channel's
    price), two bests that each move by at most `max_n` values and channel
    prices. `top`: scratch of max_n values."""
    n = 0
    possible = 0
    above = 0
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
        v = ver[i]
        if m == 0 or v == now:
            continue
        bound = margin
        for q in range(m):
            bound += top[q]
        bottom = -np.inf
        if v >= 0:
            reach = 2 * max_n * (d_every[v] + d_chans[v]) + 2.0 * margin
            if last[i] + reach < lo:
                possible += last[i] + reach > 0.0
                continue
            if last[i] - reach >= hi:
                possible += 1
                above += 1
                continue
            spread = _spread(c, v, starts, red, dead, offer, qid, cost, d_offer, d_quota, d_budget, margin)
            reach = 2 * max_n * (spread + d_chans[v]) + 2.0 * margin
            bound = min(bound, last[i] + reach)
            bottom = last[i] - reach
        possible += bound > 0.0
        if bound < lo:
            continue
        if bottom >= hi:
            above += 1
            continue
        out_i[n] = i
        out[n] = c
        n += 1
    return n, possible, above


@njit(cache=True, nogil=True)
def _crossing(t, units, limit, above):
    """The largest threshold x with more than `limit` units at or above it
    (taken highest first, where the units first pass the limit), `above`
    units counting as above every threshold (inf if they pass the limit on
    their own): a selection by three-way partitions around a pivot, no
    sort. The units must pass the limit."""
    if above > limit:
        return np.inf
    vals = t.copy()
    w = units.copy()
    while True:
        n = len(vals)
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
        nv = np.empty(n, vals.dtype)
        nw = np.empty(n, w.dtype)
        k = 0
        for i in range(n):
            if (vals[i] > pivot) if upper else (vals[i] < pivot):
                nv[k] = vals[i]
                nw[k] = w[i]
                k += 1
        vals, w = nv[:k], nw[:k]


@dataclass
class Memory:
    """One constraint's thresholds from earlier passes: each member's last
    threshold, the version of the prices it was computed at (-1: none),
    and each version's prices (offers, quotas, budget, channels)."""
    last: np.ndarray
    ver: np.ndarray
    prices: list[tuple[np.ndarray, np.ndarray, float, np.ndarray]] = field(default_factory=list)
    moves: list[float] = field(default_factory=list)    # how the price moved, pass by pass

    @staticmethod
    def of(n: int) -> Memory:
        return Memory(np.zeros(n, np.float64), np.full(n, -1, np.int64))

    def version(self, p_offer, p_quota, p_budget, p_chan) -> int:
        """A new version at these prices (copied), its number."""
        self.prices.append((p_offer.copy(), p_quota.copy(), float(p_budget), p_chan.copy()))
        return len(self.prices) - 1

    def distances(self, p_offer, p_quota, p_budget, p_chan, most: float, own: tuple[str, int] | None,
                  chan: int = -1):
        """Each price's distance from each version's: (offers, quotas,
        budget, the same with this constraint's `own` price ("offer", k),
        ("quota", q) or ("budget", 0) left out, each channel, the largest of
        the channels but `chan`, the most any pair's value moved: `most`,
        the largest cost)."""
        d_offer = np.abs(np.array([p[0] for p in self.prices]) - p_offer)
        d_quota = np.abs(np.array([p[1] for p in self.prices]) - p_quota)
        d_budget = np.abs(np.array([p[2] for p in self.prices]) - p_budget)
        d_chan = np.abs(np.array([p[3] for p in self.prices]) - p_chan)
        d_chan = np.concatenate([d_chan, np.zeros((len(d_chan), 1))], axis=1)    # the last: no channel
        o_offer, o_quota, o_budget = d_offer.copy(), d_quota.copy(), d_budget.copy()
        if own is not None:
            kind, k = own
            if kind == "offer":
                o_offer[:, k] = 0.0
            elif kind == "quota":
                o_quota[:, k] = 0.0
            else:
                o_budget[:] = 0.0
        others = d_chan.copy()
        if chan >= 0:
            others[:, chan] = 0.0
        every = (d_offer.max(axis=1, initial=0.0) + d_quota.max(axis=1, initial=0.0)) + d_budget * most
        return (d_offer, d_quota, d_budget, o_offer, o_quota, o_budget, d_chan, others.max(axis=1, initial=0.0),
                every)

    def window(self, price: float, floor: float) -> tuple[float, float]:
        """Where to look for the price first: from the last `price`, in the
        direction it last moved, half as far again (the prices settle by a
        factor of about three a pass on the benchmark), at least `floor`;
        no memory: everything from the price up."""
        if not self.moves:
            return price, np.inf
        move = self.moves[-1]
        w = max(abs(move) * STRIDE, floor)
        if move < 0:
            return max(price - w, 0.0), float(np.nextafter(price, np.inf))
        return price, price + w


Members = tuple[np.ndarray, ...]      # arrays alike indexed: a pair's index and own value, or a customer
# near(lo, hi): the members' positions in the constraint's list, the members,
# their units, the units of those not yet computed that could be above 0, those wholly above hi
Near = Callable[[float, float], tuple[np.ndarray, Members, np.ndarray, int, int]]
Thresholds = Callable[[Members, np.ndarray], np.ndarray]


def banded(near: Near, thresholds: Thresholds, limit: int, window: tuple[float, float] = (0.0, np.inf),
           memory: Memory | None = None, now: int = -1) -> float:
    """The price of one constraint: `near(lo, hi)` gives the members whose
    bounds meet [lo, hi) and were not computed yet, and the units of those
    not computed yet that could have a positive threshold and of those
    wholly above hi; `thresholds(members, units)` their thresholds, kept in `memory` as
    version `now`. Rounds from `window`, as the module says: up to where
    the price is at most, down to where it is at least, or, when the
    units do not pass the limit at the window's foot, twice as far down."""
    lo, hi = window
    ts: list[np.ndarray] = []
    us: list[np.ndarray] = []
    done = 0        # units of the thresholds computed so far above 0
    while True:
        idx, members, units, possible, above = near(lo, hi)
        if possible + done <= limit:
            return 0.0
        t = thresholds(members, units)
        if memory is not None:
            memory.last[idx] = t
            memory.ver[idx] = now
        ts.append(t)
        us.append(units.copy())     # near's buffers serve the next round
        t_all, u_all = np.concatenate(ts), np.concatenate(us)
        pos = t_all > 0.0
        done = int(u_all[pos].sum())
        if done + above > limit:
            x = float(_crossing(t_all[pos], u_all[pos], limit, above))
            if x >= hi:             # nothing wholly above x is counted in
                lo, hi = hi, float(np.nextafter(x, np.inf))
            elif x >= lo:
                return x
            else:
                lo, hi = x, lo
        elif lo <= 0.0:
            return 0.0
        else:
            lo, hi = max(lo - 2.0 * (hi - lo), 0.0), lo
