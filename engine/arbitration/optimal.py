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
the last pass's price down), which gives the same price; the kernels
that compute them are thresholds.py's, run over parts of the pairs on
every core.

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

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from pol.arbitration.arbitrate import _NO_BUDGET, Rules, global_order, walk_global
from pol.arbitration.pricing import (
    MARGIN,
    _customers_round,
    _pairs_round,
    _reduced,
    _remember,
    _reprice,
    _taken,
    banded,
)
from pol.arbitration.thresholds import (
    _bests,
    _channel_thresholds,
    _channel_thresholds1,
    _dual,
    _thresholds,
    _thresholds1,
)
from pol.compiler import ir
from pol.compiler.costs import units_of
from pol.evaluation.threads import THREADS, chunks, later, run_shared

# Passes of coordinate descent at most; the prices stop moving sooner on
# every sample measured (benchmarks/README.md).
PASSES = 30
# A pass in which no price moves by more than this share of the largest
# priority is the last: later passes moved the value by less than 1e-5 of
# itself on the samples measured (1e-6 took a third more passes for the
# same allocation), and each costs as much as the first.
SETTLED = 1e-4
# Members a part of a constraint's pairs or customers has at least, and parts
# at most: a part costs a call of its kernel with some 40 arguments.
_PART = 8_192
_PARTS = 64
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


# a round over members a..b of a constraint (`Rounds`)
OneRound = Callable[[int, int, int, int, float, float, np.ndarray], tuple[int, int]]


class Packed(NamedTuple):
    """A constraint's pairs and, in their order, what each uses of it and
    the terms of its value (`_Problem.pack`): the rounds of pricing.banded
    read them in order, where the run's arrays, indexed by pair, would be
    read at random (an offer's pairs are one in ten of the run's)."""
    js: np.ndarray
    units: np.ndarray
    prio: np.ndarray
    offer: np.ndarray
    qid: np.ndarray
    cost: np.ndarray
    dead: np.ndarray


class _Problem:
    """A run's pairs as the passes read them: each pair's constraints (its
    offer's capacity, its category's quota, its channel's capacity, its
    cost under the budget), the prices, and scratch space per thread."""

    def __init__(self, starts, cust, offer, chan, prio, rules: Rules, cost=None):
        self.offer, self.prio = offer, prio
        # read at random for each threshold: in int32, half the bytes to wait for
        wide = len(prio) > np.iinfo(np.int32).max
        self.starts, self.cust = (starts, cust) if wide else (starts.astype(np.int32), cust.astype(np.int32))
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
        # the members of a constraint's rounds (pricing.banded) and their thresholds, a
        # region per part; then the positive ones gathered: made once, as a buffer per
        # round would cost its page faults on every price
        n = len(prio) + _PARTS
        self.band = (np.empty(n, np.int64), np.empty(n, np.float64), np.empty(n, np.int64), np.empty(n, np.float64),
                     np.empty(n, np.int64))
        self.gathered = (np.empty(n, np.float64), np.empty(n, np.int64))

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

    def reprice(self, pk: Packed, red: np.ndarray) -> None:
        """The values `red` of the pairs `pk` (`pack`) at the current prices, in place."""
        parts = _parts(len(pk.js))

        def part(_r: int, i: int) -> None:
            a, b = parts[i]
            _reprice(pk.js[a:b], pk.prio[a:b], pk.offer[a:b], pk.qid[a:b], pk.cost[a:b], pk.dead[a:b], self.p_offer,
                     self.p_quota, float(self.p_budget), red)
        run_shared(part, len(parts))

    def rounds(self, n: int, one_round: OneRound) -> Rounds:
        """pricing.banded's rounds over n members (`Rounds`), split into parts."""
        return Rounds(self, _parts(n), one_round)

    def pack(self, js: np.ndarray, units: np.ndarray) -> Packed:
        """A constraint's pairs `js` with, in their order, what each uses of
        it (`units`, indexed by pair) and what its own value is made of."""
        return Packed(js, _narrow(units[js]), self.prio[js], _narrow(self.offer[js]), _narrow(self.qid[js]),
                      self.fcost[js], self.dead[js])

    def pair_rounds(self, pk: Packed, red: np.ndarray, recall: Recall, drift: np.ndarray, floor: float,
                    p_offer=None, p_quota=None, p_budget=None) -> Rounds:
        """The rounds of one constraint over its pairs (`pack`), at the
        current prices but those given (the constraint's at 0: the pairs'
        own values) and the values `red` of the customers' other pairs;
        `recall`, `drift` and `floor` as `Recall` says."""
        p_offer = self.p_offer if p_offer is None else p_offer
        p_quota = self.p_quota if p_quota is None else p_quota
        p_budget = float(self.p_budget if p_budget is None else p_budget)
        mjs, mown, munits, t, mpos = self.band
        return self.rounds(len(pk.js), lambda r, a, b, at, lo, hi, stood: _pairs_round(
            *pk, a, b, at, lo, hi, p_offer, p_quota, p_budget, self.margin, recall.known, recall.epoch, drift, floor,
            stood, mjs, mown, munits, mpos, t, self.starts, self.cust, red, self.cat, self.excl, self.hbit,
            self.p_chan, self.max_n, self.exact, self.marks[r], *self.scratch[r], *self.ranked[r]))

    def customer_rounds(self, cs: np.ndarray, h: int, red: np.ndarray, recall: Recall, drift: np.ndarray,
                        floor: float) -> Rounds:
        """The rounds of capped channel h over the customers `cs` with a
        pair through it, a unit each."""
        free = self.p_chan.copy()
        free[h] = 0.0
        mcs, _, munits, t, mpos = self.band
        return self.rounds(len(cs), lambda r, a, b, at, lo, hi, stood: _customers_round(
            cs, a, b, at, lo, hi, h, self.starts, red, self.hbit, self.max_n, self.margin, recall.known,
            recall.epoch, drift, floor, stood, mcs, munits, mpos, t, self.cat, self.excl, self.p_chan, free,
            self.exact, *self.scratch[r]))

    def thresholds(self, js: np.ndarray, own: np.ndarray, units: np.ndarray, red: np.ndarray) -> np.ndarray:
        """Each pair's threshold (`_thresholds`), the pairs split over the
        cores (each value on its own: the split changes nothing)."""
        t = np.empty(len(js), np.float64)
        parts = _parts(len(js))
        if self.max_n == 1:
            run_shared(lambda _r, i: _thresholds1(js, *parts[i], t, self.starts, self.cust, own, units, red, self.hbit,
                                                  self.p_chan), len(parts))
            return t
        run_shared(lambda r, i: _thresholds(js, *parts[i], t, self.starts, self.cust, own, units, red, self.cat,
                                            self.excl, self.hbit, self.p_chan, self.max_n, self.exact,
                                            self.max_n == 2, self.marks[r], *self.scratch[r], *self.ranked[r]),
                   len(parts))
        return t

    def channel_thresholds(self, cs: np.ndarray, h: int, red: np.ndarray) -> np.ndarray:
        free = self.p_chan.copy()
        free[h] = 0.0
        t = np.empty(len(cs), np.float64)
        parts = _parts(len(cs))
        if self.max_n == 1:
            run_shared(lambda _r, i: _channel_thresholds1(cs, *parts[i], t, h, self.starts, red, self.hbit, self.p_chan,
                                                          free), len(parts))
            return t
        run_shared(lambda r, i: _channel_thresholds(cs, *parts[i], t, h, self.starts, red, self.cat, self.excl,
                                                    self.hbit, self.p_chan, free, self.max_n, self.exact,
                                                    self.max_n == 2, *self.scratch[r]),
                   len(parts))
        return t


class Rounds:
    """pricing.banded's rounds over members split into parts: each round
    finds the members of its band (`one_round(runner, a, b, at, lo, hi,
    stood)`: members a..b, written from `at` on in the problem's band, with
    their thresholds; stand-ins counted in `stood`, pricing._pairs_round,
    _customers_round) in its parts on every core, after the earlier
    rounds', and gathers every positive threshold so far for the crossing
    (pricing._taken)."""

    def __init__(self, pb: _Problem, parts: list[tuple[int, int]], one_round: OneRound):
        self.pb, self.parts, self.one_round = pb, parts, one_round
        self.begin = np.array([a + p for p, (a, _) in enumerate(parts)], np.int64)   # a slot more each: _near_pairs
        self.used = np.zeros(len(parts), np.int64)
        self.positive = np.zeros(len(parts), np.int64)
        # per part: the stand-ins' units and lowest possible threshold (Recall)
        self.stood = np.zeros((len(parts), 2))
        self.stood[:, 1] = np.inf

    def __call__(self, lo: float, hi: float, limit: int) -> tuple[int, int, float, float]:
        def part(runner: int, p: int) -> None:
            found, self.positive[p] = self.one_round(runner, *self.parts[p], int(self.begin[p] + self.used[p]), lo, hi,
                                                     self.stood[p])
            self.used[p] += found
        run_shared(part, len(self.parts))
        band = self.pb.band
        above, x = _taken(band[3], band[2], self.begin, self.used, limit, *self.pb.gathered,
                          int(self.stood[:, 0].sum()))
        return int(self.positive.sum()), int(above), float(x), float(self.stood[:, 1].min(initial=np.inf))

    def remember(self, recall: Recall, epoch: int) -> None:
        """The thresholds these rounds computed, for the next pass's bounds."""
        band = self.pb.band
        run_shared(lambda _r, p: _remember(band[3], band[4], self.begin[p], self.used[p], recall.known, recall.epoch,
                                           epoch), len(self.parts))


class Recall:
    """The thresholds a constraint's pairs had when last computed, and at
    which prices (an epoch of `Drift`): a pass's prices differ from the
    last one's by little once they settle, and a threshold moves by at
    most `Drift` says, so it bounds the threshold now from both sides. From
    above, it leaves out of the rounds the pairs whose own value is high
    but which their customer would give up for another; from below, a pair
    sure to stay above the `floor` (a little above the last price) stands
    in the crossing at its lowest possible threshold, not computed. The
    crossing is then the one every threshold gives if it is below every
    stand-in (pricing.py says why; else the rounds are run again without
    stand-ins), so prices stay the same bit for bit."""

    def __init__(self, n: int):
        self.known = np.full(n, np.nan)
        self.epoch = np.zeros(n, np.int32)


class Drift:
    """The prices at each epoch (each time a constraint was priced) and how
    far a threshold per unit can have moved since each: 2 max times the
    largest move of a pair's value plus the largest move of a channel's
    price, plus 4 margins for the rounding of either threshold. A pair's
    value moves by at most its offer's, quota's and budget's moves (the
    last times its cost); a threshold is its own value less its channel's
    price, plus the best set of at most max - 1 others beside it, less
    the best of at most max without it: 1 + 1 + (max - 1) + max values or
    channel prices."""

    def __init__(self, pb: _Problem, epochs: int):
        self.pb = pb
        self.offer = np.zeros((epochs, len(pb.p_offer)))
        self.quota = np.zeros((epochs, len(pb.p_quota)))
        self.budget = np.zeros(epochs)
        self.chan = np.zeros((epochs, len(pb.p_chan)))
        self.drift = np.full(epochs, np.inf)
        self.n = 0
        live = ~pb.dead
        self.top_cost = float(np.abs(pb.fcost[live]).max(initial=0.0))

    def now(self) -> int:
        """The current prices as a new epoch, the drift since every earlier
        one updated; the new epoch's number."""
        pb, e = self.pb, self.n
        self.offer[e], self.quota[e], self.budget[e], self.chan[e] = pb.p_offer, pb.p_quota, pb.p_budget, pb.p_chan
        moved = (np.abs(self.offer[:e + 1] - pb.p_offer).max(axis=1, initial=0.0)
                 + np.abs(self.quota[:e + 1] - pb.p_quota).max(axis=1, initial=0.0)
                 + np.abs(self.budget[:e + 1] - pb.p_budget) * self.top_cost
                 + np.abs(self.chan[:e + 1] - pb.p_chan).max(axis=1, initial=0.0))
        self.drift[:e + 1] = 2 * pb.max_n * moved + 4 * pb.margin
        self.n += 1
        return e


def _parts(n: int) -> list[tuple[int, int]]:
    """Ranges of n members for run_shared: a few per core, so that a core
    slowed by other work leaves its share to the others (at most _PARTS)."""
    return chunks(n, parts=min(_PARTS, 2 * THREADS), minimum=_PART)


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

    # each constraint's live pairs (`_Problem.pack`; some 20 bytes a pair), packed
    # once per run: the dead ones' values are -inf whatever the prices, so
    # repricing leaves them out
    offer_packs = {k: pb.pack(live_mine[k], pb.ones) for k in range(K) if 0 <= pb.capacity[k] < len(mine[k])}
    quota_packs = [pb.pack(js, pb.ones) for js in of_quota]
    budget_pack = pb.pack(costly if pb.budget >= 0 else costly[:0], pb.cost)
    recalls = {id(pk): Recall(len(pk.js)) for pk in (*offer_packs.values(), *quota_packs, budget_pack)}
    chan_recalls = [Recall(len(cs)) for cs in of_chan]
    drift = Drift(pb, passes * (len(offer_packs) + Q + H + 1) + 1)
    last_move: dict[object, float] = {}

    def price_of(key: object, rounds: Callable[[float], Rounds], recall: Recall, limit: int, cutoff: float) -> float:
        """The price of one constraint from its current price `cutoff` down
        (pricing.banded), its rounds made by `rounds(floor)`, with stand-ins
        (`Recall`) for the members whose threshold stays above the price
        plus twice its last move."""
        epoch = drift.now()
        floor = max(cutoff, 0.0) + 2 * last_move.get(key, 0.0)
        these = rounds(floor)
        price = banded(these, limit, cutoff)
        if price is None:       # a stand-in at or below the crossing: every threshold near it computed
            these = rounds(np.inf)
            price = banded(these, limit, cutoff)
            assert price is not None
        these.remember(recall, epoch)
        last_move[key] = abs(price - cutoff)
        return price

    def pairs_price(pk: Packed, limit: int, cutoff: float, **without) -> float:
        """The price of one constraint over its pairs `pk`; `without`: its
        price at 0, for the pairs' own values."""
        recall = recalls[id(pk)]
        return price_of(id(pk), lambda floor: pb.pair_rounds(pk, red, recall, drift.drift, floor, **without), recall,
                        limit, cutoff)

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
                new = pairs_price(offer_packs[k], int(pb.capacity[k]), pb.p_offer[k], p_offer=p_offer)
            if new != pb.p_offer[k]:
                moved = moved or abs(new - pb.p_offer[k]) > settled
                pb.p_offer[k] = new
                pb.reprice(offer_packs[k], red)
        for q in range(Q):
            p_quota = pb.p_quota.copy()
            p_quota[q] = 0.0
            new = pairs_price(quota_packs[q], int(pb.quota[q]), pb.p_quota[q], p_quota=p_quota)
            if new != pb.p_quota[q]:
                moved = moved or abs(new - pb.p_quota[q]) > settled
                pb.p_quota[q] = new
                pb.reprice(quota_packs[q], red)
        for h in range(H):
            cs = of_chan[h]
            new = 0.0
            if len(cs) > pb.chan_cap[h]:
                new = price_of(("channel", h), lambda floor, h=h, cs=cs: pb.customer_rounds(
                    cs, h, red, chan_recalls[h], drift.drift, floor), chan_recalls[h], int(pb.chan_cap[h]),
                    pb.p_chan[h])
            if new != pb.p_chan[h]:
                moved = moved or abs(new - pb.p_chan[h]) > settled
                pb.p_chan[h] = new
        if pb.budget >= 0:
            new = pairs_price(budget_pack, pb.budget, pb.p_budget, p_budget=0.0)
            if new != pb.p_budget:
                moved = moved or abs(new - pb.p_budget) > settled
                pb.p_budget = new
                pb.reprice(budget_pack, red)
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
    bests = np.empty(len(starts) - 1, np.float64)
    parts = _parts(len(bests))
    run_shared(lambda r, i: _bests(starts, *parts[i], bests, red, pb.cat, pb.excl, pb.hbit, pb.p_chan, pb.max_n,
                                   pb.exact, pick, *pb.scratch[r]), len(parts))
    bound = _dual(total, bests)
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
    keys = offer.astype(np.int16) if K <= np.iinfo(np.int16).max else offer    # a radix sort: a third of the time
    idx = np.argsort(keys, kind="stable").astype(np.int64)
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

    def walk(order: np.ndarray, counts: np.ndarray) -> np.ndarray:
        accepted = np.zeros(len(rows), np.bool_)
        walk_global(order, dense, offer, chan, ctrl, room, cost, n_cust, rules, accepted, counts)
        return accepted

    if not rules.optimal:
        return walk(global_order(rows, offer, prio, rules.fallback), funnel), None
    g_counts = np.zeros_like(funnel)

    def greedy_walk() -> tuple[np.ndarray, np.ndarray]:
        order = global_order(rows, offer, prio, rules.fallback)
        return order, walk(order, g_counts)
    # the greedy order and walk (for the report; the optimal walk takes the
    # pairs left out in that order) on another core while the prices are found
    g_walk = later(greedy_walk)
    if len(rows) and float(np.abs(prio).max()) * len(rows) > OVERFLOW:
        _, g_accepted = g_walk.result()
        g_value = float(prio[g_accepted].sum())
        funnel += g_counts
        return g_accepted, Allocation(g_value, g_value, None, {}, 0)
    starts = np.append(np.flatnonzero(first), len(rows)).astype(np.int64)
    pb, pick, bound, passes = solve(starts, dense.astype(np.int64), offer.astype(np.int64), chan.astype(np.int64),
                                    prio.astype(np.float64), rules, PASSES, cost if len(cost) else None)
    greedy, g_accepted = g_walk.result()
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
