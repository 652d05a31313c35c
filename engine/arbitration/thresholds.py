"""A customer's best set of pairs at given values, and the thresholds the
passes of the optimal allocation (optimal.py) price by: for a pair, the
price per unit of one constraint above which its customer no longer wants
it; for a customer, the price of a capped channel above which they no
longer want to be contacted through it. Kernels on a customer's pairs,
which lie together (pairs sorted by customer position): the oracle
engine/reference/optimal.py adds up every total in the same order.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, _nrt=False)
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


@njit(cache=True, nogil=True, _nrt=False)
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


@njit(cache=True, nogil=True, _nrt=False)
def _best(lo, hi, red, ban, cat, excl, hbit, hprice, max_n, exact, pick, order, vals, inc, keep, before, usedb):
    """The best value of one customer's pairs lo..hi at reduced values `red`
    and channel prices `hprice`, without the pairs through channel `ban`."""
    m = _rank(lo, hi, red, -1, ban, hbit, order, vals)
    return _choose(m, cat, excl, hbit, hprice, max_n, exact, -1, pick, order, vals, inc, keep, before, usedb)


@njit(cache=True, nogil=True, _nrt=False)
def _clear(inb, starts, c):
    """Customer c's marks in `inb` cleared (none: c < 0)."""
    if c >= 0:
        for q in range(starts[c], starts[c + 1]):
            inb[q] = False


@njit(cache=True, nogil=True, _nrt=False)
def _customer(c, starts, red, cat, excl, hbit, hprice, max_n, exact, inb, order, vals, inc, keep, before, usedb):
    """Customer c's positive pairs ranked into order/vals, how many, and
    their best value, the best set marked in `inb`."""
    m = _rank(starts[c], starts[c + 1], red, -1, -1, hbit, order, vals)
    return m, _choose(m, cat, excl, hbit, hprice, max_n, exact, -1, inb, order, vals, inc, keep, before, usedb)


@njit(cache=True, nogil=True, _nrt=False)
def _beside2(j, m, order, vals, cat, excl, hbit, hprice):
    """Under `max 2`, the best one other of the m ranked pairs beside pair
    j (0: none), as `_choose` with j forced adds it up. A pair's total is
    at most its value (a channel's price is never negative, and rounding
    keeps the order): from the first pair no better than the best on, none
    is, and the scan stops."""
    best = 0.0
    for q in range(m):
        if vals[q] <= best:
            break
        k = order[q]
        if k != j and _fits(j, k, cat, excl):
            v = _net(k, hbit[j], hbit, hprice, 0.0 + vals[q])
            if v > best:
                best = v
    return best


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _keep(best_set, mark, k, l):
    """The best set so far, k and l (-1: none), where one is `mark`ed to be kept."""
    if mark:
        best_set[0] = k
        best_set[1] = l


@njit(cache=True, nogil=True, _nrt=False)
def _without2(j, m, order, vals, cat, excl, hbit, hprice, best_set):
    """Under `max 2`, the best one or two of the m ranked pairs other than
    j (0: none), summed in `_choose`'s order: ranked order, each pair's
    value then its channel's price. With `best_set` non-empty, the pairs
    of that best set are written into it (-1: none): each set's total is
    added up the same way whichever pair is left out, so for a pair not
    in the set the best without it is this best, bit for bit. (An array
    to fill, not a tuple returned: that took a sixth longer a pair.) As in
    `_beside2`, a set's total is at most the sum of its values: the scan
    leaves out the sets that cannot pass the best so far (those only, so
    the best and its set are the full scan's)."""
    best = 0.0
    mark = best_set.size > 0
    _keep(best_set, mark, -1, -1)
    for q in range(m):
        # every set from pair q on: at most its value and the next one's
        if (vals[q] + vals[q + 1] if q + 1 < m else vals[q]) <= best:
            break
        k = order[q]
        if k == j:
            continue
        first = _net(k, -1, hbit, hprice, 0.0 + vals[q])
        if first > best:
            best = first
            _keep(best_set, mark, k, -1)
        for r in range(q + 1, m):
            if first + vals[r] <= best:
                break
            l = order[r]
            if l != j and _fits(k, l, cat, excl):
                v = _net(l, hbit[k], hbit, hprice, first + vals[r])
                if v > best:
                    best = v
                    _keep(best_set, mark, k, l)
    return best


# Customers with at most this many pairs are read in place by the closed
# forms (`_beside2_few`, `_without2_few`); more are ranked first. Unranked,
# a lone pair of a customer of five took 60 ns against 205 (the ranking's
# branches, as good as random, were most of it); ranked, the scans stop
# early, which pays where a customer has dozens.
_FEW = 16


@njit(cache=True, nogil=True, _nrt=False)
def _beside2_few(j, lo, hi, red, cat, excl, hbit, hprice):
    """`_beside2` over a customer's pairs lo..hi in place, unranked: the
    same number (a largest value does not depend on the order it is met in)."""
    hj = hbit[j]
    best = 0.0
    for k in range(lo, hi):
        if k == j or not red[k] > 0.0 or not _fits(j, k, cat, excl):
            continue
        v = _net(k, hj, hbit, hprice, 0.0 + red[k])
        if v > best:
            best = v
    return best


@njit(cache=True, nogil=True, _nrt=False)
def _without2_few(j, ban, lo, hi, red, cat, excl, hbit, hprice, best_set):
    """`_without2` over a customer's pairs lo..hi in place, unranked,
    without those through channel `ban` (-1: none): each pair of pairs is
    added up in ranked order (the higher value first, of equal ones the
    earlier pair, as `_rank` orders them), so every set's total, and the
    largest, are `_without2`'s bit for bit. Of sets with equal totals it may
    keep another: what `_thresholds` reads of the set (whether a pair is in
    it) holds for any set with the best total."""
    best = 0.0
    mark = best_set.size > 0
    _keep(best_set, mark, -1, -1)
    for k in range(lo, hi):
        vk = red[k]
        if k == j or not vk > 0.0 or (ban >= 0 and hbit[k] == ban):
            continue
        alone = _net(k, -1, hbit, hprice, 0.0 + vk)
        if alone > best:
            best = alone
            _keep(best_set, mark, k, -1)
        for l in range(k + 1, hi):
            vl = red[l]
            if l == j or not vl > 0.0 or (ban >= 0 and hbit[l] == ban) or not _fits(k, l, cat, excl):
                continue
            if vk >= vl:
                v = _net(l, hbit[k], hbit, hprice, alone + vl)
            else:
                v = _net(k, hbit[l], hbit, hprice, _net(l, -1, hbit, hprice, 0.0 + vl) + vk)
            if v > best:
                best = v
                _keep(best_set, mark, k, l)
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
    _pair_thresholds(js, a, b, t, starts, cust, own, units, red, cat, excl, hbit, hprice, max_n, exact, closed, inb,
                     order, vals, inc, keep, before, usedb, order2, vals2, np.zeros(0, np.bool_), np.zeros(0, np.int64),
                     np.full(2, -2, np.int64))


@njit(cache=True, nogil=True, _nrt=False)
def _pair_thresholds(js, a, b, t, starts, cust, own, units, red, cat, excl, hbit, hprice, max_n, exact, closed, inb,
                     order, vals, inc, keep, before, usedb, order2, vals2, none, no_set, best_set):
    """`_thresholds`, its scratch given: compiled without reference counting,
    as are the helpers it calls, so that no array is counted in and out,
    atomically, at every call (a lone pair's threshold took two to three
    times as long). Only the smallest helpers are inlined: inlining them all
    made the first run's compile 3 s longer for no measurable gain."""
    prev = -1
    m = 0
    best = 0.0
    lo = hi = 0
    few = True
    for i in range(a, b):
        j = js[i]
        c = cust[j]
        if c != prev:
            if closed:      # the scans need the ranking only, and the best set if more pairs of c follow
                lo, hi = starts[c], starts[c + 1]
                few = hi - lo <= _FEW
                if not few:
                    m = _rank(lo, hi, red, -1, -1, hbit, order, vals)
                best_set[0] = -2
                if i + 1 < b and cust[js[i + 1]] == c:
                    best = _without2_few(-1, -1, lo, hi, red, cat, excl, hbit, hprice, best_set) if few else \
                        _without2(-1, m, order, vals, cat, excl, hbit, hprice, best_set)
            else:
                _clear(inb, starts, prev)
                m, best = _customer(c, starts, red, cat, excl, hbit, hprice, max_n, exact, inb, order, vals, inc,
                                    keep, before, usedb)
            prev = c
        if not own[i] > 0.0:
            t[i] = 0.0
            continue
        if closed:
            if few:
                with_j = _beside2_few(j, lo, hi, red, cat, excl, hbit, hprice)
            else:
                with_j = _beside2(j, m, order, vals, cat, excl, hbit, hprice)
            if best_set[0] == -2 or j == best_set[0] or j == best_set[1]:
                without = _without2_few(j, -1, lo, hi, red, cat, excl, hbit, hprice, no_set) if few else \
                    _without2(j, m, order, vals, cat, excl, hbit, hprice, no_set)
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


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _net(j, used, hbit, hprice, v):
    """`v` (a running total plus pair j's value) less j's capped channel's
    price unless channel `used` (or -1) is j's: as `_choose` adds them up."""
    h = hbit[j]
    if h >= 0 and h != used:
        v -= hprice[h]
    return v


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _fits(j, k, cat, excl):
    """Pairs j and k may both be in a customer's set (one per category, exclusive lines)."""
    return not (cat[j] >= 0 and cat[j] == cat[k]) and (excl[j] & excl[k]) == 0


@njit(cache=True, nogil=True, _nrt=False)
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


@njit(cache=True, nogil=True, _nrt=False)
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


@njit(cache=True, nogil=True, _nrt=False)
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
    _customer_thresholds(cs, a, b, t, h, starts, red, cat, excl, hbit, hprice, free, max_n, exact, closed, order,
                         vals, inc, keep, before, usedb, np.zeros(0, np.bool_), np.zeros(0, np.int64))


@njit(cache=True, nogil=True, _nrt=False)
def _customer_thresholds(cs, a, b, t, h, starts, red, cat, excl, hbit, hprice, free, max_n, exact, closed, order,
                         vals, inc, keep, before, usedb, none, no_set):
    """`_channel_thresholds`, its scratch given (as `_pair_thresholds`)."""
    for i in range(a, b):
        c = cs[i]
        lo, hi = starts[c], starts[c + 1]
        if closed and hi - lo <= _FEW:
            with_h = _without2_few(-1, -1, lo, hi, red, cat, excl, hbit, free, no_set)
            without = _without2_few(-1, h, lo, hi, red, cat, excl, hbit, hprice, no_set)
        elif closed:
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


@njit(cache=True, nogil=True, _nrt=False)
def _bests(starts, a, b, out, red, cat, excl, hbit, hprice, max_n, exact, pick, order, vals, inc, keep, before,
           usedb):
    """out[c], for customers c in a..b: their best value at the prices
    (reduced values `red`, channel prices `hprice`), their best set marked
    in `pick`."""
    for c in range(a, b):
        out[c] = _best(starts[c], starts[c + 1], red, -1, cat, excl, hbit, hprice, max_n, exact, pick,
                       order, vals, inc, keep, before, usedb)


@njit(cache=True, nogil=True, _nrt=False)
def _dual(total, bests):
    """The dual bound: `total` (each price times its constraint's limit)
    plus each customer's best, added in customer order whatever the cores
    that found them."""
    for c in range(len(bests)):
        total += bests[c]
    return total
