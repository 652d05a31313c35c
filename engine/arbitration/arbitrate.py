"""Offer matching for batches: candidate matrices -> accepted offers per row.

Input is what the vectorized evaluator and an unfused kernel produce per
batch: `cprio[n, K]` (an offer's priority where it is a candidate, NaN
elsewhere) and `cchan[n, K]` (the chosen channel index, or a candidate state
of compiler/backend/layout.py). Output: the accepted offers in the
assignments' flat layout (`Flat`: row, rank, offer, channel, priority,
control) and per offer the funnel counts (layout.FUNNEL).

Two walks implement LANGUAGE.md section 6:
* without capacities, each row is matched on its own (`match_range`, the
  walk template of compiler/backend/walk.py that the kernels paste in), so
  the result cannot depend on batching;
* with capacities or the arbitrate block's run-wide constraints (a
  channel's capacity, a quota, a budget), the (row, candidate) pairs of the
  customers that have a candidate of a constrained offer are kept in compact
  form (20 bytes a pair, 28 under a budget, about 40 during the walk) and walked once in the
  global order: priority desc, offer declaration order, row position
  (`walk_global`). Every other customer can neither take from nor be
  refused by a run-wide constraint, so its own walk is the same as the
  run-wide one: it is matched per batch like a policy without capacities
  (in the fused kernel, which hands the others over: `PairParts`; or
  `take_constrained` then `match_range`), and merged back after the walk
  (`merge`). With `maximize priority` every pair goes run-wide (the
  optimal allocation weighs all of them).

Policy-independent: these functions are compiled once (Numba's disk
cache; the two walks in the cache folder, walk.matcher) and shared by every
policy.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from numba import njit

from pol.compiler import ir
from pol.compiler.backend.layout import (
    CANDIDATES,
    DELIVERABLE,
    ELIGIBLE,
    FLAT,
    HANDOFF,
    HANDOFF_ROOM,
    KEYS,
    MATCH_RULES,
    NO_CHANNEL,
    NO_PRIORITY,
    NOT_ELIGIBLE,
    ROOM_OF,
)
from pol.compiler.backend.runtime import FNV_OFFSET, MIXED, fnv1a, held_out
from pol.compiler.backend.walk import match_range_for, matcher
from pol.compiler.costs import Units, cost_units_array, units_of

# Larger than any budget the checker lets through (compiler/frontend/constraints.py).
_NO_BUDGET = 2 ** 62


def _prefix_state(prefix: str) -> np.uint64:
    """The holdout hash's state after the bytes of "OFFER:" or "OFFER:SALT:"
    (ir.Offer.holdout_prefix, runtime.fnv1a)."""
    data = np.frombuffer(prefix.encode("utf-8"), np.uint8)
    return fnv1a(FNV_OFFSET, data, 0, len(data))


@dataclass(frozen=True)
class Rules:
    """An arbitrate block and the offers' properties, as arrays for Numba."""
    max_n: int
    category: np.ndarray        # int64[K]: category id, -1 none (ids < 64 with one per category)
    exclusive: np.ndarray       # int64[K]: bitmask of exclusive lines holding the offer
    capacity: np.ndarray        # int64[K]: -1 unlimited
    holdout_bp: np.ndarray      # int64[K]: -1 no holdout; + runtime.MIXED when salted
    holdout_state: np.ndarray   # uint64[K]: FNV-1a state after the bytes of "OFFER:[SALT:]"
    # The arbitrate block's run-wide constraints (LANGUAGE.md 6.4):
    quota_of: np.ndarray        # int64[K]: the offer's category's quota, -1 none
    quota: np.ndarray           # int64[Q]: offers each quota may give
    chan_bit: np.ndarray        # int64[H]: the channel's capacity, -1 none
    chan_cap: np.ndarray        # int64[C]: customers each capped channel may contact
    cost: np.ndarray            # int64[K]: the offer's cost in whole units of the budget's (0 without)
    budget: int                 # in those units; _NO_BUDGET without one
    # bool[K]: the offers a run-wide constraint may refuse (a customer with a
    # candidate of one goes through the run-wide walk)
    constrained: np.ndarray
    fallback: int = -1          # the fallback offer's index, -1 none
    optimal: bool = False       # `maximize priority`: engine/arbitration/optimal.py walks the run
    # int64[H]: under an in-run contact cap (LANGUAGE.md 14.1) the row of the
    # scores that holds the customers' room on the channel, -1 none (layout.ROOM_OF)
    room_of: np.ndarray = dataclasses.field(default_factory=lambda: np.full(1, -1, np.int64))
    # int64[K]: under `budget B cost EXPR` (LANGUAGE.md 3.11) the row of the
    # scores that holds the customers' cost of the offer, -1 none (`cost` then)
    cost_row: np.ndarray = dataclasses.field(default_factory=lambda: np.full(1, -1, np.int64))
    units: Units | None = None  # the budget's units (compiler/costs.py); None without a budget

    def pair_costs(self, offer: np.ndarray, rows: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Each pair's cost in the budget's units (int64): its offer's, or
        its customer's (`rows` in the batch, `scores` the batch's) when
        computed. Empty without a budget: 8 bytes a pair spared."""
        if self.units is None:
            return _NO_COST
        out = self.cost[offer.astype(np.int64)]
        if self.units.step:
            at = self.cost_row[offer.astype(np.int64)]
            mine = np.flatnonzero(at >= 0)
            out[mine] = cost_units_array(scores[at[mine], rows[mine]], self.units)
        return out

    @property
    def has_rooms(self) -> bool:
        return bool((self.room_of >= 0).any())

    @property
    def has_capacity(self) -> bool:
        """Whether a run matches all customers together: an offer has a
        capacity or the arbitrate block a constraint, or the allocation is
        optimal (section 6.7)."""
        return bool(self.constrained.any()) or self.optimal

    def walk_arguments(self) -> tuple:
        """walk_global's arguments after the pairs' and before the results."""
        return (self.max_n, self.fallback, self.category, self.exclusive, self.capacity, self.quota_of, self.quota,
                self.chan_bit, self.chan_cap, self.budget, self.room_of)

    def arguments(self, holdouts: bool = True, rooms: bool = True) -> dict[str, np.ndarray]:
        """The kernel arguments of the rules, by layout name. Without
        `holdouts` nobody is a control (a customer without a key); without
        `rooms` the kernel takes no ROOM_OF (a fused kernel of a policy
        without in-run contact caps)."""
        bp = self.holdout_bp if holdouts else np.full_like(self.holdout_bp, -1)
        out = dict(zip(MATCH_RULES, (self.category, self.exclusive, bp, self.holdout_state)))
        return {**out, ROOM_OF: self.room_of} if rooms else out

    @staticmethod
    def of(program: ir.Program) -> Rules:
        offers = program.offers
        a = program.arbitrate
        cats: dict[str, int] = {}
        category = np.full(len(offers), -1, np.int64)
        if a.one_per_category:
            for k, o in enumerate(offers):
                if o.category is not None:
                    category[k] = cats.setdefault(o.category, len(cats))
        exclusive = np.zeros(len(offers), np.int64)
        names = [o.name for o in offers]
        for g, line in enumerate(a.exclusive):
            for name in line:
                exclusive[names.index(name)] |= np.int64(1) << np.int64(g)
        if len(cats) > 63 or len(a.exclusive) > 63 or len(a.channel_capacity) > 63:
            raise ValueError("at most 63 categories, 63 exclusive lines and 63 channel capacities are supported")
        capacity = np.array([o.capacity if o.capacity is not None else -1 for o in offers], np.int64)
        quotas = [c for c, _ in a.quota]
        quota_of = np.array([quotas.index(o.category) if o.category in quotas else -1 for o in offers], np.int64)
        channels = [c.name for c in program.channels]
        capped = [c for c, _ in a.channel_capacity]
        chan_bit = np.array([capped.index(c) if c in capped else -1 for c in channels], np.int64)
        cost = np.zeros(len(offers), np.int64)
        budget = _NO_BUDGET
        units = units_of(a)
        if units is not None:
            budget = units.budget
            cost = np.array([units.fixed.get(o.name, 0) for o in offers], np.int64)
        scores = [x.name for x in program.scores]
        computed = dict(a.cost_scores)
        cost_row = np.array([scores.index(computed[o.name]) if o.name in computed else -1 for o in offers],
                            np.int64)
        constrained = ((capacity >= 0) | (quota_of >= 0) | (cost > 0) | (cost_row >= 0)
                       | np.array([any(chan_bit[channels.index(c)] >= 0 for c in o.channels) for o in offers],
                                  np.bool_))
        return Rules(
            max_n=a.max_per_customer,
            category=category,
            exclusive=exclusive,
            capacity=capacity,
            holdout_bp=np.array([-1 if o.holdout_bp is None else o.holdout_bp if o.holdout_salt is None
                                 else o.holdout_bp + MIXED for o in offers], np.int64),
            holdout_state=np.array([_prefix_state(o.holdout_prefix) for o in offers], np.uint64),
            quota_of=quota_of,
            quota=np.array([n for _, n in a.quota] or [0], np.int64),
            chan_bit=chan_bit if len(chan_bit) else np.full(1, -1, np.int64),
            chan_cap=np.array([n for _, n in a.channel_capacity] or [0], np.int64),
            cost=cost,
            budget=budget,
            constrained=constrained.astype(np.bool_),
            fallback=names.index(a.fallback) if a.fallback is not None else -1,
            optimal=a.optimal,
            room_of=_room_of(program),
            cost_row=cost_row,
            units=units,
        )


def _room_of(program: ir.Program) -> np.ndarray:
    """Per channel, the row of the scores (plan order: the program's) that
    holds the room of its in-run contact cap, -1 none; one -1 without channels."""
    scores = [x.name for x in program.scores]
    room = dict(program.arbitrate.rooms)
    return np.array([scores.index(room[c.name]) if c.name in room else -1 for c in program.channels] or [-1],
                    np.int64)


@dataclass
class Keys:
    """A batch's keys as Numba reads them for holdout hashing: int keys as
    int64, string keys as Arrow offsets and UTF-8 data."""
    is_int: bool
    ints: np.ndarray
    offsets: np.ndarray
    data: np.ndarray

    def arguments(self) -> dict[str, object]:
        """The kernel arguments of the keys, by layout name."""
        return dict(zip(KEYS, (self.is_int, self.ints, self.offsets, self.data)))

    @staticmethod
    def of_record(key: int | str) -> Keys:
        """One customer's key (not null)."""
        if isinstance(key, int):
            return Keys(True, np.array([key], np.int64), _NO_OFFSETS, _NO_DATA)
        data = key.encode("utf-8")
        return Keys(False, _NO_INTS, np.array([0, len(data)], np.int64),
                    np.frombuffer(data, np.uint8) if data else _NO_DATA)


_NO_INTS = np.zeros(1, np.int64)
_NO_ROOM = np.zeros(0, np.float64)      # the pairs' rooms without in-run contact caps
_NO_COST = np.zeros(0, np.int64)        # the pairs' costs without a budget
_NO_OFFSETS = np.zeros(1, np.int64)
_NO_DATA = np.zeros(1, np.uint8)


@dataclass
class Flat:
    """Accepted offers as the assignments table lays them out: one entry per
    assignment in (row, rank) order, and each row's span in `offsets`."""
    rows: np.ndarray      # int64: the row in the batch
    rank: np.ndarray      # int32: 1, 2, ...
    offer: np.ndarray     # int32
    chan: np.ndarray      # int32
    prio: np.ndarray      # float64
    ctrl: np.ndarray      # bool
    offsets: np.ndarray   # int32[n + 1]

    def kept(self) -> Kept:
        """What a batch's assignments must keep while they wait for the
        run-wide walk: compact copies (the columns are views into a
        FlatParts of n * max_n slots), rows and ranks left to `offsets`."""
        return Kept(self.offsets, self.offer.copy(), self.chan.copy(), self.prio.copy(), self.ctrl.copy())


@dataclass
class Kept:
    """A Flat without its rows and ranks, which its offsets imply."""
    offsets: np.ndarray   # int32[n + 1]
    offer: np.ndarray     # int32
    chan: np.ndarray      # int32
    prio: np.ndarray      # float64
    ctrl: np.ndarray      # bool


@njit(cache=True, nogil=True)
def _merge(a_off, a_offer, a_chan, a_prio, a_ctrl, b_off, b_offer, b_chan, b_prio, b_ctrl):
    n = len(a_off) - 1
    total = a_off[n] + b_off[n]
    rows = np.empty(total, np.int64)
    rank = np.empty(total, np.int32)
    offer = np.empty(total, np.int32)
    chan = np.empty(total, np.int32)
    prio = np.empty(total, np.float64)
    ctrl = np.empty(total, np.bool_)
    offsets = np.zeros(n + 1, np.int32)
    w = 0
    for i in range(n):
        first = w
        for j in range(a_off[i], a_off[i + 1]):
            rows[w] = i
            rank[w] = w - first + 1
            offer[w] = a_offer[j]
            chan[w] = a_chan[j]
            prio[w] = a_prio[j]
            ctrl[w] = a_ctrl[j]
            w += 1
        for j in range(b_off[i], b_off[i + 1]):
            rows[w] = i
            rank[w] = w - first + 1
            offer[w] = b_offer[j]
            chan[w] = b_chan[j]
            prio[w] = b_prio[j]
            ctrl[w] = b_ctrl[j]
            w += 1
        offsets[i + 1] = w
    return rows, rank, offer, chan, prio, ctrl, offsets


def merge(a: Flat | Kept, b: Flat | Kept) -> Flat:
    """Two sets of a batch's assignments over disjoint customers (matched
    per customer, and given by the run-wide walk) as one Flat, in (row,
    rank) order: one compiled pass."""
    return Flat(*_merge(a.offsets, a.offer, a.chan, a.prio, a.ctrl, b.offsets, b.offer, b.chan, b.prio, b.ctrl))


class FlatParts:
    """Where a fused kernel writes its assignments: row range [a, b) fills
    slots from a * max on, and `end[i]` is the slot after row i's last one.
    `join` closes the gaps between ranges."""

    def __init__(self, n: int, max_n: int):
        slots = n * max_n
        self.max_n = max_n
        self.rows = np.empty(slots, np.int64)
        self.rank = np.empty(slots, np.int32)
        self.offer = np.empty(slots, np.int32)
        self.chan = np.empty(slots, np.int32)
        self.prio = np.empty(slots, np.float64)
        self.ctrl = np.empty(slots, np.bool_)
        self.end = np.empty(n, np.int64)

    def arrays(self) -> tuple:
        return self.rows, self.rank, self.offer, self.chan, self.prio, self.ctrl, self.end

    def arguments(self) -> dict[str, np.ndarray]:
        """The kernel arguments it is, by layout name."""
        return dict(zip(FLAT, self.arrays()))

    def join(self, parts: list[tuple[int, int]]) -> Flat:
        """Each range's assignments moved down to follow the previous one's,
        in place (a new array per column would cost its page faults)."""
        n = len(self.end)
        offsets = np.zeros(n + 1, np.int32)
        cols = self.arrays()[:6]
        filled = 0
        for a, b in parts:
            first = a * self.max_n
            last = int(self.end[b - 1]) if b > a else first
            offsets[a + 1:b + 1] = self.end[a:b] - (first - filled)
            if first != filled and last > first:
                for c in cols:
                    c[filled:filled + last - first] = c[first:last]
            filled += last - first
        return Flat(*(c[:filled] for c in cols), offsets)


class PairParts:
    """Where a fused kernel hands over the candidates of the customers it
    does not walk (layout.HANDOFF): row range [a, b) fills slots from a * K
    on, `end[i]` is the slot after row i's last pair. Only the slots written
    are ever touched, so their n * K are address space, not memory."""

    def __init__(self, n: int, offers: int, rooms: bool = False):
        slots = n * max(offers, 1)
        self.width = max(offers, 1)
        self.rows = np.empty(slots, np.int64)
        self.offer = np.empty(slots, np.int16)
        self.chan = np.empty(slots, np.int8)
        self.prio = np.empty(slots, np.float64)
        self.end = np.empty(n, np.int64)
        self.room = np.empty(slots if rooms else 0, np.float64)     # under in-run contact caps
        self.rooms = rooms

    def arguments(self, walked: np.ndarray) -> dict[str, np.ndarray]:
        """The kernel arguments, by layout name."""
        out = dict(zip(HANDOFF, (walked, self.rows, self.offer, self.chan, self.prio, self.end)))
        return {**out, HANDOFF_ROOM[0]: self.room} if self.rooms else out

    def join(self, parts: list[tuple[int, int]], row_base: int, rules: Rules, keys: Keys) -> tuple:
        """The pairs as collect_candidates gives them (rows counted from
        `row_base`, holdout marks, rooms), each range's moved down after the previous."""
        cols = (self.rows, self.offer, self.chan, self.prio) + ((self.room,) if self.rooms else ())
        filled = 0
        for a, b in parts:
            first = a * self.width
            last = int(self.end[b - 1]) if b > a else first
            if first != filled and last > first:
                for c in cols:
                    c[filled:filled + last - first] = c[first:last]
            filled += last - first
        rows, offer, chan, prio, *room = (c[:filled].copy() for c in cols)
        ctrl = holdout_marks(rows, offer, rules.holdout_bp, rules.holdout_state, keys.is_int, keys.ints,
                             keys.offsets, keys.data)
        rows += row_base
        return rows, offer, chan, prio, ctrl, room[0] if room else _NO_ROOM


@njit(cache=True, nogil=True)
def holdout_marks(rows, offer, bp, state, is_int, ints, offsets, data):
    """Each pair's holdout mark (rows in the batch)."""
    ctrl = np.empty(len(rows), np.bool_)
    for j in range(len(rows)):
        ctrl[j] = held_out(offer[j], rows[j], bp, state, is_int, ints, offsets, data)
    return ctrl


@dataclass
class MatchJob:
    """What an evaluator needs to match a batch in the same pass (a fused
    kernel does): the rules, the batch's keys for holdouts, and the counts
    its funnel and assignments add to."""
    rules: Rules
    keys: Keys
    funnel: np.ndarray        # int64[K, len(FUNNEL)]
    by_channel: np.ndarray    # int64[K, channels, 2]


@njit(cache=True, nogil=True)
def _funnel(start, stop, cchan, counts):
    """The funnel's first three columns from candidate states."""
    K = cchan.shape[1]
    for i in range(start, stop):
        for k in range(K):
            s = cchan[i, k]
            if s != NOT_ELIGIBLE:
                counts[k, ELIGIBLE] += 1
                if s != NO_CHANNEL:
                    counts[k, DELIVERABLE] += 1
                    if s != NO_PRIORITY:
                        counts[k, CANDIDATES] += 1


def match_range(start, stop, cprio, cchan, max_n, fallback, category, exclusive, bp, state, room_of, scores, is_int,
                ints, offsets, data, a_row, a_rank, a_offer, a_chan, a_prio, a_ctrl, a_end, funnel, by_channel) -> None:
    """Rows start..stop of candidate matrices through the per-customer walk
    (compiler/backend/walk.py's template, as the kernels walk), into a
    FlatParts' arrays as a fused kernel fills them, with their funnel and
    per-channel counts; `scores` the batch's, read for in-run contact caps
    (`room_of`)."""
    walk = match_range_for((stop - start) * cprio.shape[1])
    walk(start, stop, cprio, cchan, max_n, fallback, category, exclusive, bp, state, room_of, scores, is_int, ints,
         offsets, data, a_row, a_rank, a_offer, a_chan, a_prio, a_ctrl, a_end, funnel, by_channel)


@njit(cache=True, nogil=True)
def _write_pairs(cprio, cchan, take, total, row_base, bp, state, is_int, ints, offsets, data, room_of, scores):
    """The (row, candidate) pairs of the rows in `take`, `total` of them, in
    row then offer order, each with its holdout mark and, under in-run
    contact caps (`room_of`: rows of `scores`), its customer's room on its
    channel (NaN: no cap; no rooms at all without caps)."""
    K = cprio.shape[1]
    rows = np.empty(total, np.int64)
    offer = np.empty(total, np.int16)
    chan = np.empty(total, np.int8)
    prio = np.empty(total, np.float64)
    ctrl = np.empty(total, np.bool_)
    capped = False
    for h in range(len(room_of)):
        capped = capped or room_of[h] >= 0
    room = np.empty(total if capped else 0, np.float64)
    j = 0
    for i in range(cprio.shape[0]):
        if not take[i]:
            continue
        for k in range(K):
            if cchan[i, k] >= 0:
                rows[j] = row_base + i
                offer[j] = k
                chan[j] = cchan[i, k]
                prio[j] = cprio[i, k]
                ctrl[j] = held_out(k, i, bp, state, is_int, ints, offsets, data)
                if capped:
                    r = room_of[cchan[i, k]]
                    room[j] = scores[r, i] if r >= 0 else np.nan
                j += 1
    return rows, offer, chan, prio, ctrl, room


@njit(cache=True, nogil=True)
def collect_candidates(cprio, cchan, row_base, bp, state, is_int, ints, offsets, data, room_of, scores, counts):
    """Every (row, candidate) pair of a batch, with its holdout mark (and
    room, _write_pairs), for the global walk; also counts the batch's funnel."""
    n, K = cprio.shape
    _funnel(0, n, cchan, counts)
    total = 0
    for i in range(n):
        for k in range(K):
            if cchan[i, k] >= 0:
                total += 1
    return _write_pairs(cprio, cchan, np.ones(n, np.bool_), total, row_base, bp, state, is_int, ints, offsets,
                        data, room_of, scores)


@njit(cache=True, nogil=True)
def take_constrained(cprio, cchan, constrained, row_base, bp, state, is_int, ints, offsets, data, room_of, scores,
                     counts):
    """The pairs of the customers that have a candidate of a `constrained`
    offer (only those depend on other customers), as collect_candidates
    writes them, their funnel's first columns counted; their rows are then
    blanked (NOT_ELIGIBLE) so that the per-customer walk over the batch
    (match_range) gives them nothing and counts only everyone else."""
    n, K = cprio.shape
    take = np.zeros(n, np.bool_)
    total = 0
    for i in range(n):
        pairs = 0
        hit = False
        for k in range(K):
            if cchan[i, k] >= 0:
                pairs += 1
                hit = hit or constrained[k]
        if hit:
            take[i] = True
            total += pairs
            _funnel(i, i + 1, cchan, counts)
    pairs_out = _write_pairs(cprio, cchan, take, total, row_base, bp, state, is_int, ints, offsets, data, room_of,
                             scores)
    for i in range(n):
        if take[i]:
            for k in range(K):
                cchan[i, k] = NOT_ELIGIBLE
    return pairs_out


def walk_global(order, cust, offer, chan, ctrl, room, cost, n_cust, rules: Rules, accepted, counts) -> None:
    """The run-wide walk of section 6 over pairs visited in `order`; `cust`
    numbers the customers that have candidates densely (0..n_cust-1). The
    per-customer rules are the walk template's (walk.REFUSAL); the run-wide
    constraints come after them (`cost`: each pair's, Rules.pair_costs), and
    then the in-run contact caps (`room`: each pair's customer's room on its
    channel, _write_pairs)."""
    matcher().walk_global(order, cust, offer, chan, ctrl, room, cost, n_cust, *rules.walk_arguments(), accepted,
                          counts)


def global_order(rows: np.ndarray, offer: np.ndarray, prio: np.ndarray, fallback: int = -1) -> np.ndarray:
    """Priority highest first, then offer declaration order, then row
    position; the fallback offer's pairs after all others."""
    return np.lexsort((rows, offer, -prio, offer == fallback))


def flat_of_pairs(rows, offer, chan, prio, ctrl, accepted, n: int, by_channel: np.ndarray) -> Flat:
    """A batch's accepted pairs of the global walk (rows counted from the
    batch's first) in the assignments' flat layout, each counted in
    `by_channel[offer, channel, control]`."""
    rows, offer, chan, prio, ctrl = (x[accepted] for x in (rows, offer, chan, prio, ctrl))
    order = np.lexsort((offer, -prio, rows))
    rows, offer, chan, prio, ctrl = (x[order] for x in (rows, offer, chan, prio, ctrl))
    count = np.bincount(rows, minlength=n)
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(count, out=offsets[1:])
    rank = (np.arange(len(rows)) - offsets[rows] + 1).astype(np.int32)
    np.add.at(by_channel, (offer.astype(np.int64), chan.astype(np.int64), ctrl.astype(np.int64)), 1)
    return Flat(rows.astype(np.int64), rank, offer.astype(np.int32), chan.astype(np.int32),
                prio.astype(np.float64), ctrl.astype(np.bool_), offsets)
