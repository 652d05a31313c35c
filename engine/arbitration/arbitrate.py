"""Offer matching for batches: candidate matrices -> accepted offers per row.

Input is what every evaluator produces per batch: `cprio[n, K]` (an offer's
priority where it is a candidate, NaN elsewhere) and `cchan[n, K]` (the
chosen channel index, or -3 not eligible, -2 eligible but no channel open,
-1 priority null). Output: for each row up to `max` accepted offers in rank
order (offer, channel, priority, control) and per offer a funnel of counts.

Two walks implement LANGUAGE.md section 6:
* without capacities, each row is matched on its own (`match_range`), so the
  result cannot depend on batching;
* with capacities, every (row, candidate) pair of the run is kept in compact
  form (20 bytes a pair, about 40 during the walk) and walked once in the
  global order: priority desc, offer declaration order, row position
  (`walk_global`).

Policy-independent: these functions are compiled once per installation
(Numba's disk cache) and shared by every policy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from pol.compiler import ir
from pol.compiler.backend.runtime import FNV_OFFSET, FNV_PRIME, held_out

# Funnel columns, per offer.
FUNNEL = ("eligible", "deliverable", "candidates", "accepted", "controls",
          "lost_to_max", "lost_to_category", "lost_to_exclusive", "lost_to_capacity")
ELIGIBLE, DELIVERABLE, CANDIDATES, ACCEPTED, CONTROLS, LOST_MAX, LOST_CAT, LOST_EXCL, LOST_CAP = range(9)


def fnv1a64(data: bytes, h: int = int(FNV_OFFSET)) -> int:
    for b in data:
        h = ((h ^ b) * int(FNV_PRIME)) & 0xFFFFFFFFFFFFFFFF
    return h


@dataclass(frozen=True)
class Rules:
    """An arbitrate block and the offers' properties, as arrays for Numba."""
    max_n: int
    category: np.ndarray        # int64[K]: category id, -1 none (ids < 64 with one per category)
    exclusive: np.ndarray       # int64[K]: bitmask of exclusive lines holding the offer
    capacity: np.ndarray        # int64[K]: -1 unlimited
    holdout_bp: np.ndarray      # int64[K]: -1 no holdout
    holdout_state: np.ndarray   # uint64[K]: FNV-1a state after the bytes of "OFFER:"

    @property
    def has_capacity(self) -> bool:
        return bool((self.capacity >= 0).any())

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
        if len(cats) > 63 or len(a.exclusive) > 63:
            raise ValueError("at most 63 categories and 63 exclusive lines are supported")
        return Rules(
            max_n=a.max_per_customer,
            category=category,
            exclusive=exclusive,
            capacity=np.array([o.capacity if o.capacity is not None else -1 for o in offers], np.int64),
            holdout_bp=np.array([o.holdout_bp if o.holdout_bp is not None else -1 for o in offers], np.int64),
            holdout_state=np.array([fnv1a64((o.name + ":").encode("utf-8")) for o in offers], np.uint64),
        )


@dataclass
class Keys:
    """A batch's keys as Numba reads them for holdout hashing: int keys as
    int64, string keys as Arrow offsets and UTF-8 data."""
    is_int: bool
    ints: np.ndarray
    offsets: np.ndarray
    data: np.ndarray


@dataclass
class Accepted:
    """Accepted offers per row, in rank order: `count[i]` of them."""
    offer: np.ndarray     # int16[n, max]
    chan: np.ndarray      # int8[n, max]
    prio: np.ndarray      # float64[n, max]
    ctrl: np.ndarray      # bool[n, max]
    count: np.ndarray     # int64[n]

    @staticmethod
    def empty(n: int, max_n: int) -> Accepted:
        return Accepted(np.full((n, max_n), -1, np.int16), np.full((n, max_n), -1, np.int8),
                        np.zeros((n, max_n), np.float64), np.zeros((n, max_n), np.bool_),
                        np.zeros(n, np.int64))


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


@njit(cache=True, nogil=True)
def _flatten(offer, chan, prio, ctrl, count, by_channel):
    n = len(count)
    offsets = np.empty(n + 1, np.int32)
    offsets[0] = 0
    total = 0
    for i in range(n):
        total += count[i]
        offsets[i + 1] = total
    rows = np.empty(total, np.int64)
    rank = np.empty(total, np.int32)
    off = np.empty(total, np.int32)
    ch = np.empty(total, np.int32)
    pr = np.empty(total, np.float64)
    ct = np.empty(total, np.bool_)
    j = 0
    for i in range(n):
        for r in range(count[i]):
            o = offer[i, r]
            c = chan[i, r]
            t = ctrl[i, r]
            rows[j] = i
            rank[j] = r + 1
            off[j] = o
            ch[j] = c
            pr[j] = prio[i, r]
            ct[j] = t
            by_channel[o, c, 1 if t else 0] += 1
            j += 1
    return rows, rank, off, ch, pr, ct, offsets


def flatten(acc: Accepted, by_channel: np.ndarray) -> Flat:
    """Accepted offers per row -> the flat layout, counting each assignment
    in `by_channel[offer, channel, control]`."""
    return Flat(*_flatten(acc.offer, acc.chan, acc.prio, acc.ctrl, acc.count, by_channel))


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
    K = cchan.shape[1]
    for i in range(start, stop):
        for k in range(K):
            s = cchan[i, k]
            if s != -3:
                counts[k, 0] += 1
                if s >= -1:
                    counts[k, 1] += 1
                    if s >= 0:
                        counts[k, 2] += 1


@njit(cache=True, nogil=True)
def match_range(start, stop, cprio, cchan, max_n, category, exclusive, bp, state,
                is_int, ints, offsets, data,
                acc_offer, acc_chan, acc_prio, acc_ctrl, nacc, counts):
    """The per-customer walk of section 6 for rows start..stop, and the
    funnel counts of those rows, in one pass."""
    K = cprio.shape[1]
    order = np.empty(K, np.int64)
    ranked = np.empty(K, np.float64)
    # Counted in a local array, added to `counts` once: LLVM can keep a local
    # in cache lines no other array may alias (a third faster on the bench).
    local = np.zeros((K, counts.shape[1]), np.int64)
    for i in range(start, stop):
        # Candidates in rank order: priority desc, then declaration order
        # (insertion sort: a customer has a handful).
        m = 0
        for k in range(K):
            s = cchan[i, k]
            if s == -3:
                continue
            local[k, 0] += 1
            if s < -1:
                continue
            local[k, 1] += 1
            if s < 0:
                continue
            local[k, 2] += 1
            p = cprio[i, k]
            j = m
            while j > 0 and ranked[j - 1] < p:
                order[j] = order[j - 1]
                ranked[j] = ranked[j - 1]
                j -= 1
            order[j] = k
            ranked[j] = p
            m += 1
        taken = 0
        cats = np.int64(0)
        excl = np.int64(0)
        for j in range(m):
            k = order[j]
            c = category[k]
            if taken >= max_n:
                local[k, 5] += 1
            elif c >= 0 and (cats >> c) & 1:
                local[k, 6] += 1
            elif (excl & exclusive[k]) != 0:
                local[k, 7] += 1
            else:
                acc_offer[i, taken] = k
                acc_chan[i, taken] = cchan[i, k]
                acc_prio[i, taken] = ranked[j]
                ctrl = held_out(k, i, bp, state, is_int, ints, offsets, data)
                acc_ctrl[i, taken] = ctrl
                local[k, 3] += 1
                if ctrl:
                    local[k, 4] += 1
                taken += 1
                if c >= 0:
                    cats |= np.int64(1) << c
                excl |= exclusive[k]
        nacc[i] = taken
    counts += local


@njit(cache=True, nogil=True)
def collect_candidates(cprio, cchan, row_base, bp, state, is_int, ints, offsets, data, counts):
    """Every (row, candidate) pair of a batch, with its holdout mark, for the
    global walk; also counts the batch's funnel."""
    n, K = cprio.shape
    _funnel(0, n, cchan, counts)
    total = 0
    for i in range(n):
        for k in range(K):
            if cchan[i, k] >= 0:
                total += 1
    rows = np.empty(total, np.int64)
    offer = np.empty(total, np.int16)
    chan = np.empty(total, np.int8)
    prio = np.empty(total, np.float64)
    ctrl = np.empty(total, np.bool_)
    j = 0
    for i in range(n):
        for k in range(K):
            if cchan[i, k] >= 0:
                rows[j] = row_base + i
                offer[j] = k
                chan[j] = cchan[i, k]
                prio[j] = cprio[i, k]
                ctrl[j] = held_out(k, i, bp, state, is_int, ints, offsets, data)
                j += 1
    return rows, offer, chan, prio, ctrl


@njit(cache=True, nogil=True)
def walk_global(order, cust, offer, ctrl, n_cust, max_n, category, exclusive, capacity,
                accepted, counts):
    """The run-wide walk of section 6 over pairs visited in `order`; `cust`
    numbers the customers that have candidates densely (0..n_cust-1)."""
    left = capacity.copy()
    taken = np.zeros(n_cust, np.int64)
    cats = np.zeros(n_cust, np.int64)
    excl = np.zeros(n_cust, np.int64)
    for j in order:
        i = cust[j]
        k = offer[j]
        c = category[k]
        if taken[i] >= max_n:
            counts[k, 5] += 1
        elif c >= 0 and (cats[i] >> c) & 1:
            counts[k, 6] += 1
        elif (excl[i] & exclusive[k]) != 0:
            counts[k, 7] += 1
        elif left[k] == 0:
            counts[k, 8] += 1
        else:
            if left[k] > 0:
                left[k] -= 1
            accepted[j] = True
            taken[i] += 1
            counts[k, 3] += 1
            if ctrl[j]:
                counts[k, 4] += 1
            if c >= 0:
                cats[i] |= np.int64(1) << c
            excl[i] |= exclusive[k]


def global_order(rows: np.ndarray, offer: np.ndarray, prio: np.ndarray) -> np.ndarray:
    """Priority highest first, then offer declaration order, then row position."""
    return np.lexsort((rows, offer, -prio))
