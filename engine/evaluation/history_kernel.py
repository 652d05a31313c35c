"""The aggregation kernel: a history's events, each with its group (the
event key's position among the distinct keys) -> every aggregate of every
group, in one pass over the events (LANGUAGE.md section 12).

One compiled function for every policy: what each aggregate does travels
as numbers (an op code, the row of its filter, the row of its values, its
window), never as code (a large history's scan is specialized for its
aggregates: history_scan.py). The events need no order: each updates its
group's accumulators where it stands, and a group's events are scanned in
input order (by the one thread that owns the group), so ties between
events on one day go to the earlier (first) or later (last) row, as the
reference evaluator does.

    aggregate(gid, day, today, spec, filters, ivals, ivalid, fvals, groups)
        -> (ivalue, fvalue, valid, undated, future)

The filters come as tables over the codes of the fields they read
(engine/evaluation/history_filters.py): an event's filter is a lookup.

Cost: one accumulator block per event at a random place when the events
come in random key order; the blocks are kept to a cache line where the
aggregates fit in one (`_WORDS`), and each is prefetched a few events
before its update so that the misses overlap. With that, the scan is bound
by its instructions more than by memory (the same events sorted by bucket
of groups scan only ~10% faster), so partitioning the events into buckets
whose blocks fit the L2 cache cost more in the copy than it saved, both as
the rows copied and as records scanned one aggregate at a time
(benchmarks/README.md).
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir as llvm
from numba import njit, types
from numba.extending import intrinsic

from pol.evaluation.threads import chunks, run_parts

# op codes: the aggregate and where its values are (ints: ivals, floats: fvals)
(COUNT, DAYS_SINCE_LAST, SUM_I, SUM_F, AVG_I, AVG_F, MIN_I, MIN_F, MAX_I, MAX_F, FIRST, LAST, FIRST_F,
 LAST_F) = range(14)
NO_DAY = np.iinfo(np.int64).min          # an event without a date: never counted
_I64_MIN, _I64_MAX = np.iinfo(np.int64).min, np.iinfo(np.int64).max


def op_code(func: str, is_float: bool) -> int:
    return {"count": COUNT, "days_since_last": DAYS_SINCE_LAST, "first": FIRST_F if is_float else FIRST,
            "last": LAST_F if is_float else LAST,
            "sum": SUM_F if is_float else SUM_I, "avg": AVG_F if is_float else AVG_I,
            "min": MIN_F if is_float else MIN_I, "max": MAX_F if is_float else MAX_I}[func]


# Words of accumulator each op keeps per group (see _count...): a day held
# doubles as "anything counted" where the count itself is not the result.
_WORDS = {COUNT: 1, DAYS_SINCE_LAST: 1, FIRST: 2, LAST: 2, FIRST_F: 2, LAST_F: 2, SUM_I: 3, AVG_I: 3,
          MIN_I: 2, MAX_I: 2, SUM_F: 2, AVG_F: 2, MIN_F: 2, MAX_F: 2}
_LINE = 8               # int64 words in a 64-byte cache line
# Fewer groups than this per thread are not worth a thread's start.
_GROUPS_PER_THREAD = 1 << 16
# Events the scan sorts out at a time, and how many events ahead it asks
# for a group's block (see _select and _ahead).
_BLOCK = 1024
_AHEAD = 32


@intrinsic
def _prefetch(typingctx, arr, i):
    """Ask the CPU to bring the line of arr.flat[i] into the cache for writing,
    without waiting for it (LLVM's prefetch: no fault, no result)."""
    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        byte = llvm.IntType(8).as_pointer()
        i32 = llvm.IntType(32)
        fn = builder.module.declare_intrinsic(
            "llvm.prefetch", fnty=llvm.FunctionType(llvm.VoidType(), [byte, i32, i32, i32]))
        # rw 1 (write), locality 3 (keep in every level), cache type 1 (data)
        builder.call(fn, [builder.bitcast(builder.gep(data, [args[1]]), byte),
                          i32(1), i32(3), i32(1)])
        return context.get_dummy_value()
    return types.void(arr, i), codegen


@njit(cache=True, inline="always")
def _ix(i):
    """An index known not to be negative: numba then skips the wraparound
    of a negative index (a compare and a select per access, and no
    vectorizing), which was an eighth of the scan's time."""
    return np.uint64(i)


def block(spec) -> tuple[np.ndarray, int]:
    """Where each aggregate's accumulators start in a group's block, and
    the block's width in words. One block per group holds every
    aggregate's accumulators, each only the words its op needs: an event's
    group is anywhere, so the scan is bound by the cache lines one event
    touches, and a block of at most 8 words, aligned to a line, is one
    line. (Three words per aggregate made the bench's five aggregates two
    lines and cost 1.6x.) The block's first word counts the group's events,
    dated or not: its line is fetched for the event anyway, and the run's
    matched events are then a sum per group rather than a read per event."""
    words = [_WORDS[int(op)] for op in spec[:, 0]]
    offset = np.cumsum([1] + words[:-1]).astype(np.int64)
    width = 1 + sum(words)
    return offset, _LINE if width <= _LINE else width


def aggregate(gid, day, today, spec, filters, ivals, ivalid, fvals, groups, scan):
    """spec: int64[A, 4] (op, filter or -1, value row or -1, window days or 0;
    the op says whether the row is fvals' or ivals'); filters: a
    history_filters.Filters. Returns int64[A, G] (int results), float64[A, G]
    (float results: avg, and float sums, least, greatest, first and last;
    each row holds only its own kind, the other is left unwritten) and
    bool[A, G] (the result is not null), int64[G] (each group's events),
    and the number of events without a date and after `today` (counted by
    the scan that reads them).
    `scan`: the scan of the events (history_scan.scan_for)."""
    offset, width = block(spec)
    raw = np.empty(groups * width + _LINE, np.int64)
    skip = (-raw.ctypes.data // 8) % _LINE        # the first block starts a cache line
    acc = raw[skip:skip + groups * width].reshape(groups, width)
    accf = acc.view(np.float64)
    n_agg = spec.shape[0]
    ival = np.empty((n_agg, groups), np.int64)
    sizes = np.empty(groups, np.int64)
    fval = np.empty((n_agg, groups), np.float64)
    valid = np.empty((n_agg, groups), np.bool_)

    # A range of groups per core, each scanned by its own thread over all the
    # events: a thread updates only its own groups' blocks, so nothing is
    # shared or merged, and the random updates (the cost) are divided while
    # the sequential reads of the events are repeated (cheap).
    parts = chunks(groups, minimum=_GROUPS_PER_THREAD)
    skipped = np.zeros((len(parts), 2), np.int64)

    def part(j: int, lo: int, hi: int) -> None:
        _init(spec, offset, acc, lo, hi)
        skipped[j] = scan(gid, day, today, spec, offset, filters.codes, filters.terms, filters.tables, filters.starts,
                          ivals, ivalid, fvals, acc, accf, lo, hi, np.empty(_BLOCK, np.int64),
                          np.empty(len(filters.starts), np.bool_))
        _finish(today, spec, offset, acc, accf, lo, hi, ival, fval, valid, sizes)

    run_parts(part, parts)
    undated, future = skipped.sum(axis=0)
    return ival, fval, valid, sizes, int(undated), int(future)


@njit(cache=True, nogil=True)
def _init(spec, offset, acc, lo, hi):
    for g in range(lo, hi):
        acc[g, 0] = 0
        for a in range(spec.shape[0]):
            op = spec[a, 0]
            o = offset[a]
            if op == DAYS_SINCE_LAST:
                acc[g, o] = NO_DAY
            elif op == FIRST or op == LAST or op == FIRST_F or op == LAST_F:
                acc[g, o] = 0
                acc[g, o + 1] = NO_DAY
            elif op == SUM_I or op == AVG_I:
                acc[g, o] = 0
                acc[g, o + 1] = 0
                acc[g, o + 2] = 0
            elif op == COUNT:
                acc[g, o] = 0
            else:
                acc[g, o] = 0
                acc[g, o + 1] = 0


# ---------------------------------------------------------------- the rules of a scan
# Written once, inlined into the scans history_scan.py generates: the
# generic one, which reads each aggregate's op from `spec` per event, and
# those specialized for one history's aggregates, where the op, the offset
# and the filter's terms are constants. The scans are compiled without
# reference counting (`_nrt=False`: they make no array, the caller hands
# them their scratch): an inlined helper's array arguments are otherwise
# counted in and out on every call, atomically, which made the scan 2.5x
# slower.

@njit(cache=True, inline="always")
def _select(gid, start, stop, lo, hi, mine):
    """The events start..stop-1 of the groups lo..hi-1 into `mine`, found
    without a branch (with a thread per range, most are another thread's, at
    random); how many."""
    k = 0
    for e in range(start, stop):
        g = gid[e]
        mine[k] = e
        k += (g >= lo) & (g < hi)
    return k


@njit(cache=True, inline="always")
def _ahead(flat, gid, mine, j, k, width):
    """Ask for the block of the event _AHEAD on from j (of the first _AHEAD
    events, for j -1): the update branches on what its block holds, and
    waiting out one miss per event was 3x slower (benchmarks/README.md)."""
    if j < 0:
        for i in range(min(k, _AHEAD)):
            _prefetch(flat, gid[_ix(mine[i])] * width)
    elif j + _AHEAD < k:
        _prefetch(flat, gid[_ix(mine[j + _AHEAD])] * width)


@njit(cache=True, inline="always")
def _skipped(d, today):
    """1 for an event without a date, 2 for one after today (neither is
    counted), else 0."""
    if d == NO_DAY:
        return 1
    return 2 if d > today else 0


@njit(cache=True, inline="always")
def _hit(codes, terms, tables, starts, m, e, n_terms):
    """Whether event e passes filter m: its row in the filter's table, from
    the codes of the fields the filter reads (its first n_terms terms)."""
    at = starts[m]
    for t in range(n_terms):
        r = terms[m, t, 0]
        if r < 0:
            break
        at += codes[_ix(r), e] * terms[m, t, 1]
    return tables[_ix(at)]


@njit(cache=True, inline="always")
def _within(d, today, w):
    """Whether day d is in a window of w days up to today (w 0: no window)."""
    return w <= 0 or d > today - w


# What each op does with an event, at its accumulators flat[o...] (words
# per op, from o: COUNT [count]; DAYS_SINCE_LAST [latest day, NO_DAY:
# none]; FIRST/LAST [the event's value, its day times 2 plus 1 where the
# value is not null (NO_DAY: none)]; FIRST_F/LAST_F [the value, NaN for
# null, its day]; MIN/MAX/SUM/AVG [count, value] and for int sums and averages a
# third word, the overflow). First and last hold the value itself, not
# the event's position: looking each group's value up afterwards was a
# read at a random place per group, a fifth of the time at 10M keys.
# The events of a group are scanned in input order, so a tie between
# events of one day goes to the first one given (first) or the last one
# (last), as the reference evaluator does.
# A float value that is null, NaN or infinite is not counted (section 5.1),
# nor an int value that is null.

@njit(cache=True, inline="always")
def _count(flat, o):
    flat[_ix(o)] += 1


@njit(cache=True, inline="always")
def _latest(flat, o, d):
    if d > flat[_ix(o)]:
        flat[_ix(o)] = d


@njit(cache=True, inline="always")
def _takes(held, d, last):
    """Whether an event of day d replaces the one of day `held` (NO_DAY:
    none) that first (last 0) or last (last 1) holds: an earlier day, or a
    later or equal one (the events come in input order)."""
    if last:
        return d >= held
    return held == NO_DAY or d < held


@njit(cache=True, inline="always")
def _held(flat, o, d, v, ok, last):
    """FIRST (last 0) and LAST (last 1): the value, and its day times 2 plus
    whether it is not null (a word less: the block of the bench's five
    aggregates and the events' count is one cache line). A day's shift
    right gives it back, negative or not."""
    w = flat[_ix(o + 1)]
    if _takes(w >> 1 if w != NO_DAY else NO_DAY, d, last):
        flat[_ix(o)] = v
        flat[_ix(o + 1)] = d * 2 + ok


@njit(cache=True, inline="always")
def _fheld(flat, flatf, o, d, v, last):
    """FIRST_F and LAST_F: the value (NaN: null) and its day."""
    if _takes(flat[_ix(o + 1)], d, last):
        flatf[_ix(o)] = v
        flat[_ix(o + 1)] = d


@njit(cache=True, inline="always")
def _fsum(flat, flatf, o, v):
    """SUM_F and AVG_F: the count and the sum."""
    if np.isfinite(v):
        c = flat[_ix(o)]
        if c == 0:
            flatf[_ix(o + 1)] = v
        else:
            flatf[_ix(o + 1)] += v
        flat[_ix(o)] = c + 1


@njit(cache=True, inline="always")
def _fmost(flat, flatf, o, v, most):
    """MIN_F (most 0) and MAX_F (most 1): the count and the extreme."""
    if np.isfinite(v):
        c = flat[_ix(o)]
        if c == 0 or (v > flatf[_ix(o + 1)] if most else v < flatf[_ix(o + 1)]):
            flatf[_ix(o + 1)] = v
        flat[_ix(o)] = c + 1


@njit(cache=True, inline="always")
def _isum(flat, o, v, ok):
    """SUM_I and AVG_I: the count, the sum and whether it overflowed."""
    if ok:
        c = flat[_ix(o)]
        if c == 0:
            flat[_ix(o + 1)] = v
        elif flat[_ix(o + 2)] == 0:
            s = flat[_ix(o + 1)]
            if (v > 0 and s > _I64_MAX - v) or (v < 0 and s < _I64_MIN - v):
                flat[_ix(o + 2)] = 1
            else:
                flat[_ix(o + 1)] = s + v
        flat[_ix(o)] = c + 1


@njit(cache=True, inline="always")
def _imost(flat, o, v, ok, most):
    """MIN_I (most 0) and MAX_I (most 1): the count and the extreme."""
    if ok:
        c = flat[_ix(o)]
        if c == 0 or (v > flat[_ix(o + 1)] if most else v < flat[_ix(o + 1)]):
            flat[_ix(o + 1)] = v
        flat[_ix(o)] = c + 1


# The call of each op's helper, as the generic scan makes it (_update) and
# as history_scan.py writes it into a specialized scan.
CALLS = {
    COUNT: "_count(flat, {o})",
    DAYS_SINCE_LAST: "_latest(flat, {o}, d)",
    FIRST: "_held(flat, {o}, d, ivals[_ix({r}), e], ivalid[_ix({r}), e], 0)",
    LAST: "_held(flat, {o}, d, ivals[_ix({r}), e], ivalid[_ix({r}), e], 1)",
    FIRST_F: "_fheld(flat, flatf, {o}, d, fvals[_ix({r}), e], 0)",
    LAST_F: "_fheld(flat, flatf, {o}, d, fvals[_ix({r}), e], 1)",
    SUM_F: "_fsum(flat, flatf, {o}, fvals[_ix({r}), e])",
    AVG_F: "_fsum(flat, flatf, {o}, fvals[_ix({r}), e])",
    MIN_F: "_fmost(flat, flatf, {o}, fvals[_ix({r}), e], 0)",
    MAX_F: "_fmost(flat, flatf, {o}, fvals[_ix({r}), e], 1)",
    SUM_I: "_isum(flat, {o}, ivals[_ix({r}), e], ivalid[_ix({r}), e])",
    AVG_I: "_isum(flat, {o}, ivals[_ix({r}), e], ivalid[_ix({r}), e])",
    MIN_I: "_imost(flat, {o}, ivals[_ix({r}), e], ivalid[_ix({r}), e], 0)",
    MAX_I: "_imost(flat, {o}, ivals[_ix({r}), e], ivalid[_ix({r}), e], 1)",
}


@njit(cache=True, inline="always")
def _update(op, flat, flatf, o, d, e, r, ivals, ivalid, fvals):
    """Event e (day d) into one aggregate's accumulators at flat[o...] (its
    op, its value row r): the op's helper, as CALLS says."""
    if op == COUNT:
        _count(flat, o)
    elif op == DAYS_SINCE_LAST:
        _latest(flat, o, d)
    elif op == FIRST or op == LAST:
        _held(flat, o, d, ivals[_ix(r), e], ivalid[_ix(r), e], op == LAST)
    elif op == FIRST_F or op == LAST_F:
        _fheld(flat, flatf, o, d, fvals[_ix(r), e], op == LAST_F)
    elif op == SUM_F or op == AVG_F:
        _fsum(flat, flatf, o, fvals[_ix(r), e])
    elif op == MIN_F or op == MAX_F:
        _fmost(flat, flatf, o, fvals[_ix(r), e], op == MAX_F)
    elif op == SUM_I or op == AVG_I:
        _isum(flat, o, ivals[_ix(r), e], ivalid[_ix(r), e])
    else:
        _imost(flat, o, ivals[_ix(r), e], ivalid[_ix(r), e], op == MAX_I)


@njit(cache=True, nogil=True)
def _finish(today, spec, offset, acc, accf, lo, hi, ival, fval, valid, sizes):
    """The results of the groups lo..hi-1 from their accumulators, and
    their events."""
    n_agg = spec.shape[0]
    # a group's block once, every aggregate's results from it (the other way
    # round read all the blocks once per aggregate)
    for g in range(lo, hi):
        u = _ix(g)
        sizes[u] = acc[u, 0]
        for a in range(n_agg):
            op = spec[a, 0]
            o = offset[a]
            # Only the kind of value the op gives is written (the columns read
            # no other): the other's pages are never touched, nor faulted in.
            valid[a, u] = True
            if op == COUNT:
                ival[a, u] = acc[u, o]
                continue
            if op == DAYS_SINCE_LAST:
                valid[a, u] = acc[u, o] != NO_DAY
                ival[a, u] = today - acc[u, o] if valid[a, u] else 0
                continue
            if op == FIRST or op == LAST:
                valid[a, u] = acc[u, o + 1] != NO_DAY and acc[u, o + 1] & 1 == 1
                ival[a, u] = acc[u, o] if valid[a, u] else 0
                continue
            if op == FIRST_F or op == LAST_F:   # a value that is not finite is null (section 5.1)
                valid[a, u] = acc[u, o + 1] != NO_DAY and np.isfinite(accf[u, o])
                fval[a, u] = accf[u, o] if valid[a, u] else 0.0
                continue
            c = acc[u, o]
            if op == MIN_I or op == MAX_I:
                valid[a, u] = c > 0
                ival[a, u] = acc[u, o + 1] if c > 0 else 0
            elif op == SUM_I:
                valid[a, u] = c == 0 or acc[u, o + 2] == 0
                ival[a, u] = acc[u, o + 1] if c > 0 else 0
            elif op == SUM_F:
                fval[a, u] = accf[u, o + 1] if c > 0 else 0.0
                valid[a, u] = np.isfinite(fval[a, u])
            elif op == AVG_I:
                if c == 0 or acc[u, o + 2] != 0:
                    valid[a, u] = False
                    fval[a, u] = 0.0
                else:
                    fval[a, u] = float(acc[u, o + 1]) / c
            elif op == AVG_F:
                if c == 0:
                    valid[a, u] = False
                    fval[a, u] = 0.0
                else:
                    fval[a, u] = accf[u, o + 1] / c
                    valid[a, u] = np.isfinite(fval[a, u])
            else:                               # MIN_F, MAX_F
                valid[a, u] = c > 0
                fval[a, u] = accf[u, o + 1] if c > 0 else 0.0
