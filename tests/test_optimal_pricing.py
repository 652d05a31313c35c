"""engine/arbitration/pricing.py: a constraint's price from the thresholds
of only the members near it, by the bounds it selects them with (a
threshold never above its own value per unit; never further from its
value in an earlier pass than the prices' moves allow) and the rounds of
`banded`: bit for bit the price every threshold gives."""
from __future__ import annotations

import numpy as np

from pol.arbitration import optimal as opt
from pol.arbitration.pricing import MARGIN, Memory, _near_customers, _near_pairs, banded


def _crossing_of_every(t: np.ndarray, units: np.ndarray, limit: int) -> float:
    """The price from every threshold, as the oracle takes it: highest
    first, the threshold at which the units pass the limit; 0 at least."""
    used = 0
    for i in np.argsort(-t, kind="stable"):
        used += int(units[i])
        if used > limit:
            return max(float(t[i]), 0.0)
    return 0.0


def test_a_price_from_the_members_near_it_is_the_price_from_every_member():
    """Whatever the first window (from 0, below, at, above the price, wide
    or narrow) and whatever the members' bounds (their own value per unit
    above, an interval round an earlier threshold or none), the price is
    the one every threshold gives, with ties at it, thresholds at their
    bounds and limits that nothing passes; each threshold is computed at
    most once, and the memory keeps it."""
    rng = np.random.default_rng(7)
    for _ in range(400):
        n = int(rng.integers(1, 60))
        t = np.round(rng.normal(3, 3, n), int(rng.integers(0, 2)))
        top = np.where(rng.random(n) < 0.3, t, t + np.round(rng.exponential(2, n), 1))
        own_positive = top > 0       # a member that can have a positive threshold has a positive bound
        t = np.where(own_positive, t, np.minimum(t, 0.0))
        reach = np.round(rng.exponential(1, n), 1)
        known = rng.random(n) < 0.6
        last = t + np.round(rng.uniform(-1, 1, n), 2) * reach        # an earlier threshold, within reach
        units = rng.integers(1, 4, n).astype(np.int64)
        limit = int(rng.integers(0, int(units.sum()) + 2))
        want = _crossing_of_every(t, units, limit)
        for window in ((0.0, np.inf), (want - 1.5, want + 0.2), (want, np.nextafter(want, np.inf)),
                       (want + 0.5, want + 0.7), (want + 10.0, np.inf), (max(want - 0.05, 0.0), want)):
            memory = Memory.of(n)
            asked: list[int] = []

            up = np.where(known, np.minimum(top, last + reach), top)
            down = np.where(known, last - reach, -np.inf)

            def near(lo, hi, up=up, down=down, units=units, own_positive=own_positive, memory=memory):
                fresh = own_positive & (memory.ver != 0)
                sel = fresh & (up >= lo) & (down < hi)
                above = fresh & (up >= lo) & (down >= hi)
                return (np.flatnonzero(sel), (np.flatnonzero(sel),), units[sel], int(units[fresh & (up > 0)].sum()),
                        int(units[above].sum()))

            def thresholds(members, _units, t=t, asked=asked):
                asked.extend(members[0].tolist())
                return t[members[0]]
            assert banded(near, thresholds, limit, window, memory, 0) == want, (window, t, units, limit)
            assert len(asked) == len(set(asked))        # each threshold once
            assert (memory.last[asked] == t[asked]).all() and (memory.ver[asked] == 0).all()


def _customers(rng, max_n):
    """Random customers' pairs under every rule: (starts, cust, prio, offer,
    qid, cat, excl, hbit, cost, dead)."""
    sizes = rng.integers(1, 7, int(rng.integers(1, 30)))
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    pairs = int(starts[-1])
    cust = np.repeat(np.arange(len(sizes)), sizes).astype(np.int64)
    prio = np.round(rng.normal(4, 3, pairs), int(rng.integers(0, 3)))
    offer = rng.integers(0, 4, pairs).astype(np.int64)
    qid = rng.integers(0, 3, pairs).astype(np.int64)     # 2: no quota
    cat = rng.integers(-1, 3, pairs).astype(np.int64)
    excl = (rng.integers(0, 4, pairs) * (rng.random(pairs) < 0.5)).astype(np.int64)
    hbit = rng.integers(-1, 3, pairs).astype(np.int64)
    cost = rng.integers(0, 4, pairs).astype(np.int64)
    dead = rng.random(pairs) < 0.1
    return starts, cust, prio, offer, qid, cat, excl, hbit, cost, dead


def _prices(rng):
    """Random prices: offers, quotas (the last: none, 0), budget, channels."""
    p_quota = np.append(np.round(rng.random(2), 1) * (rng.random(2) < 0.7), 0.0)
    return np.round(rng.random(4), 1) * (rng.random(4) < 0.7), p_quota, float(np.round(rng.random(), 2)), \
        np.round(rng.random(3) * 2, 1)


def _moved(rng, prices):
    """The prices moved a little (some not at all), none below 0."""
    p_offer, p_quota, p_budget, p_chan = prices
    step = float(rng.choice([0.05, 0.5, 3.0]))

    def move(p):
        return np.maximum(p + np.round(rng.normal(0, step, p.shape), 2) * (rng.random(p.shape) < 0.6), 0.0)
    p_quota = move(p_quota)
    p_quota[-1] = 0.0
    return move(p_offer), p_quota, max(p_budget + round(float(rng.normal(0, step)), 2), 0.0), move(p_chan)


class _Case:
    """One random run's pairs and the kernels' arguments at some prices."""

    def __init__(self, rng, max_n):
        (self.starts, self.cust, self.prio, self.offer, self.qid, self.cat, self.excl, self.hbit, self.cost,
         self.dead) = _customers(rng, max_n)
        self.max_n = max_n
        self.fcost = self.cost.astype(np.float64)
        self.margin = MARGIN * (max_n + 2) ** 2 * float(np.abs(self.prio).max())
        w = int(np.diff(self.starts).max())
        self.scratch = (np.empty(w, np.int64), np.empty(w), np.zeros(w, np.bool_), np.zeros(w, np.bool_),
                        np.zeros(w), np.zeros(w, np.int64))
        self.ranked = (np.empty(w, np.int64), np.empty(w))

    def red(self, prices, own=None):
        """Every pair's value at `prices`, `own` ("offer", k), ("quota", q)
        or ("budget", 0) left out."""
        p_offer, p_quota, p_budget, _ = prices
        p_offer, p_quota = p_offer.copy(), p_quota.copy()
        if own is not None and own[0] == "offer":
            p_offer[own[1]] = 0.0
        if own is not None and own[0] == "quota":
            p_quota[own[1]] = 0.0
        if own is not None and own[0] == "budget":
            p_budget = 0.0
        n = len(self.prio)
        out = np.empty(n)
        opt._reduced(np.arange(n), self.prio, self.offer, self.qid, self.fcost, self.dead, p_offer, p_quota,
                     p_budget, out)
        return out

    def thresholds(self, js, units, prices, own):
        red, mine = self.red(prices), self.red(prices, own)
        t = np.empty(len(js))
        opt._thresholds(js, 0, len(js), t, self.starts, self.cust, mine[js], units[js].astype(np.float64), red,
                        self.cat, self.excl, self.hbit, prices[3], self.max_n, True, self.max_n == 2,
                        np.zeros(len(red), np.bool_), *self.scratch, *self.ranked)
        return t

    def channel_thresholds(self, cs, h, prices):
        free = prices[3].copy()
        free[h] = 0.0
        t = np.empty(len(cs))
        opt._channel_thresholds(cs, 0, len(cs), t, h, self.starts, self.red(prices), self.cat, self.excl, self.hbit,
                                prices[3], free, self.max_n, True, self.max_n == 2, *self.scratch)
        return t

    def near_pairs(self, js, units, prices, own, memory, now, lo, hi):
        """_near_pairs' positions, how many could be above 0 and how many are wholly above hi."""
        red, mine = self.red(prices), self.red(prices, own)
        p_offer, p_quota, p_budget, _ = prices
        moved = memory.distances(*prices, float(self.fcost.max()), own)
        n = len(js)
        out = (np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n), np.empty(n, np.int64))
        # the own value with the constraint's price at 0: zero it in the prices handed over
        po, pq, pb = p_offer.copy(), p_quota.copy(), p_budget
        if own[0] == "offer":
            po[own[1]] = 0.0
        elif own[0] == "quota":
            pq[own[1]] = 0.0
        else:
            pb = 0.0
        k, possible, above = _near_pairs(js, units, self.prio, self.offer, self.qid, self.fcost, self.dead, po, pq,
                                         pb, lo, hi, self.margin, red, self.starts, self.cust, self.hbit, self.max_n,
                                         memory.last, memory.ver, now, *moved, *out)
        assert np.array_equal(out[2][:k], mine[js[out[0][:k]]])
        return set(out[0][:k].tolist()), possible, above

    def near_customers(self, cs, h, prices, memory, now, lo, hi):
        moved = memory.distances(*prices, float(self.fcost.max()), None, h)
        d_offer, d_quota, d_budget, _, _, _, _, d_chans, d_every = moved
        n = len(cs)
        out_i, out = np.empty(n, np.int64), np.empty(n, np.int64)
        k, possible, above = _near_customers(cs, h, self.starts, self.red(prices), self.hbit, self.max_n, lo, hi,
                                             self.margin, out_i, out, np.empty(self.max_n), self.dead, self.offer,
                                             self.qid, self.fcost, memory.last, memory.ver, now, d_offer, d_quota,
                                             d_budget, d_chans, d_every)
        assert np.array_equal(cs[out_i[:k]], out[:k])
        return set(out_i[:k].tolist()), possible, above


def _constraints(case):
    """Each kind of constraint over the case's pairs: (members, units indexed
    by pair, own price)."""
    live = ~case.dead
    ones = np.ones(len(case.prio), np.int64)
    return [(np.flatnonzero(live & (case.offer == 1)), ones, ("offer", 1)),
            (np.flatnonzero(live & (case.qid == 0)), ones, ("quota", 0)),
            (np.flatnonzero(live & (case.cost > 0)), case.cost, ("budget", 0))]


def test_no_threshold_is_beyond_its_bounds():
    """The bounds the members are selected by: a pair's threshold at most its
    own value per unit, a customer's for a capped channel at most the sum
    of their max best values through it, and each within its reach of its
    value at earlier prices (the prices moved a little or a lot, up and
    down, as the kernels add them up, within the margin): a window at a
    positive threshold always holds its member, and the units counted as
    possibly above 0 are at least those that are."""
    rng = np.random.default_rng(3)
    for max_n in (1, 2, 3):
        for trial in range(60):
            case = _Case(rng, max_n)
            before = _prices(rng)
            after = _moved(rng, before) if trial % 4 else before
            for js, units, own in _constraints(case):
                if not len(js):
                    continue
                memory = Memory.of(len(js))
                memory.version(*before)
                if trial % 3:       # a memory of earlier thresholds, for those with a positive own value then
                    ok = case.red(before, own)[js] > 0
                    memory.last[ok] = case.thresholds(js[ok], units, before, own)
                    memory.ver[ok] = 0
                now = memory.version(*after)
                t = np.zeros(len(js))
                live = case.red(after, own)[js] > 0
                t[live] = case.thresholds(js[live], units, after, own)
                for i in np.flatnonzero(t > 0).tolist():
                    assert i in case.near_pairs(js, units, after, own, memory, now, t[i],
                                                np.nextafter(t[i], np.inf))[0], (own, i, t[i])
                _, possible, above = case.near_pairs(js, units, after, own, memory, now, 0.0, np.inf)
                assert possible >= int(units[js[t > 0]].sum()) and above == 0
            cs = np.unique(case.cust)
            for h in range(3):
                memory = Memory.of(len(cs))
                memory.version(*before)
                if trial % 3:
                    memory.last[:] = case.channel_thresholds(cs, h, before)
                    memory.ver[:] = 0
                now = memory.version(*after)
                t = case.channel_thresholds(cs, h, after)
                for i in np.flatnonzero(t > 0).tolist():
                    assert i in case.near_customers(cs, h, after, memory, now, t[i], np.nextafter(t[i], np.inf))[0]
                assert case.near_customers(cs, h, after, memory, now, 0.0, np.inf)[1] >= int((t > 0).sum())
