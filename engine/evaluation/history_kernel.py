"""The aggregation kernel: a history's events, each with its group (the
event key's position among the distinct keys) -> every aggregate of every
group, in one pass over the events (LANGUAGE.md section 12).

One compiled function for every policy: what each aggregate does travels
as numbers (an op code, the row of its filter, the row of its values, its
window), never as code. The events need no order: each updates its group's
accumulators where it stands, and `first`/`last` remember the position of
the event they hold, so ties between events on one day go to the earlier
(first) or later (last) row, as the reference evaluator does.

    aggregate(gid, day, today, spec, masks, ivals, ivalid, fvals, groups) -> (ivalue, fvalue, valid)
"""
from __future__ import annotations

import numpy as np
from numba import njit

# op codes: the aggregate and where its values are (ints: ivals, floats: fvals)
COUNT, DAYS_SINCE_LAST, SUM_I, SUM_F, AVG_I, AVG_F, MIN_I, MIN_F, MAX_I, MAX_F, FIRST, LAST = range(12)
NO_DAY = np.iinfo(np.int64).min          # an event without a date: never counted
_I64_MIN, _I64_MAX = np.iinfo(np.int64).min, np.iinfo(np.int64).max


def op_code(func: str, is_float: bool) -> int:
    return {"count": COUNT, "days_since_last": DAYS_SINCE_LAST, "first": FIRST, "last": LAST,
            "sum": SUM_F if is_float else SUM_I, "avg": AVG_F if is_float else AVG_I,
            "min": MIN_F if is_float else MIN_I, "max": MAX_F if is_float else MAX_I}[func]


@njit(cache=True, nogil=True)
def aggregate(gid, day, today, spec, masks, ivals, ivalid, fvals, groups):
    """spec: int64[A, 4] (op, mask row or -1, value row or -1, window days or 0).
    Returns int64[A, G] (int results, FIRST/LAST: the chosen event's position),
    float64[A, G] and bool[A, G] (the result is not null)."""
    n_agg = spec.shape[0]
    # [G, A]: the accumulators of one group lie together, so an event (whose
    # group is anywhere) touches a cache line or two, not one per aggregate
    ival = np.zeros((groups, n_agg), np.int64)
    fval = np.zeros((groups, n_agg), np.float64)
    count = np.zeros((groups, n_agg), np.int64)
    best = np.full((groups, n_agg), NO_DAY, np.int64)       # FIRST/LAST/DAYS_SINCE_LAST: the day held
    bad = np.zeros((groups, n_agg), np.bool_)               # an int sum that left 64 bits
    for e in range(gid.shape[0]):
        d = day[e]
        g = gid[e]
        if d == NO_DAY or d > today or g < 0:
            continue
        for a in range(n_agg):
            op = spec[a, 0]
            m = spec[a, 1]
            if m >= 0 and not masks[m, e]:
                continue
            w = spec[a, 3]
            if w > 0 and d <= today - w:
                continue
            r = spec[a, 2]
            if op == COUNT:
                count[g, a] += 1
            elif op == DAYS_SINCE_LAST:
                if d > best[g, a]:
                    best[g, a] = d
                count[g, a] += 1
            elif op == FIRST:
                if count[g, a] == 0 or d < best[g, a]:
                    best[g, a] = d
                    ival[g, a] = e
                count[g, a] += 1
            elif op == LAST:
                if count[g, a] == 0 or d >= best[g, a]:
                    best[g, a] = d
                    ival[g, a] = e
                count[g, a] += 1
            elif op == SUM_F or op == AVG_F or op == MIN_F or op == MAX_F:
                v = fvals[r, e]
                if not np.isfinite(v):          # null, NaN and infinities (section 5.1)
                    continue
                c = count[g, a]
                if op == MIN_F:
                    if c == 0 or v < fval[g, a]:
                        fval[g, a] = v
                elif op == MAX_F:
                    if c == 0 or v > fval[g, a]:
                        fval[g, a] = v
                else:
                    fval[g, a] += v
                count[g, a] = c + 1
            else:
                if not ivalid[r, e]:
                    continue
                v = ivals[r, e]
                c = count[g, a]
                if op == MIN_I:
                    if c == 0 or v < ival[g, a]:
                        ival[g, a] = v
                elif op == MAX_I:
                    if c == 0 or v > ival[g, a]:
                        ival[g, a] = v
                elif not bad[g, a]:
                    s = ival[g, a]
                    if (v > 0 and s > _I64_MAX - v) or (v < 0 and s < _I64_MIN - v):
                        bad[g, a] = True
                    else:
                        ival[g, a] = s + v
                count[g, a] = c + 1
    valid = np.ones((groups, n_agg), np.bool_)
    for a in range(n_agg):
        op = spec[a, 0]
        for g in range(groups):
            c = count[g, a]
            if op == COUNT:
                ival[g, a] = c
            elif op == DAYS_SINCE_LAST:
                valid[g, a] = c > 0
                ival[g, a] = today - best[g, a] if c > 0 else 0
            elif op == SUM_I:
                valid[g, a] = not bad[g, a]
            elif op == SUM_F:
                valid[g, a] = np.isfinite(fval[g, a])
            elif op == AVG_I:
                if c == 0 or bad[g, a]:
                    valid[g, a] = False
                else:
                    fval[g, a] = float(ival[g, a]) / c
            elif op == AVG_F:
                if c == 0:
                    valid[g, a] = False
                else:
                    fval[g, a] = fval[g, a] / c
                    valid[g, a] = np.isfinite(fval[g, a])
            else:
                valid[g, a] = c > 0
    return ival.T, fval.T, valid.T
