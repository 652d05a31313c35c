"""Scalar helpers that generated kernels call, one per operator with a rule
that does not fit on one line: int overflow, floored remainder, exact
rounding, calendar dates.

Every helper takes and returns plain numbers. Validity travels beside the
value: a helper that can fail returns `(value, ok)`. All are `njit` with
`cache=True` and inlined by LLVM into the kernels, so they cost nothing at
run time. The kernel cache key includes this file's source, so a change here
recompiles every kernel.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

I64_MAX = np.int64(9223372036854775807)
I64_MIN = np.int64(-9223372036854775808)
# Days since 1970-01-01 of 0001-01-01 and 9999-12-31: date results outside
# this range are null (LANGUAGE.md section 9).
DATE_MIN = -719162
DATE_MAX = 2932896
NAN = np.nan
# FNV-1a 64-bit, the holdout hash (LANGUAGE.md section 6).
FNV_OFFSET = np.uint64(14695981039346656037)
FNV_PRIME = np.uint64(1099511628211)
# A salted holdout's basis points carry this flag: its hash goes through
# `mix` (LANGUAGE.md 6.5). An unsalted one keeps the plain FNV-1a of before.
MIXED = np.int64(1 << 32)

_jit = njit(cache=True, nogil=True, error_model="numpy")


@_jit
def add_i(a, b):
    if b > 0:
        ok = a <= I64_MAX - b
    else:
        ok = a >= I64_MIN - b
    return (a + b) if ok else np.int64(0), ok


@_jit
def sub_i(a, b):
    if b < 0:
        ok = a <= I64_MAX + b
    else:
        ok = a >= I64_MIN + b
    return (a - b) if ok else np.int64(0), ok


@_jit
def mul_i(a, b):
    # Numba's integer multiply may be optimized as if it never overflowed, so
    # the check must not multiply first and look afterwards: compare the
    # magnitudes by division, and multiply only when the product fits.
    if a == 0 or b == 0:
        return np.int64(0), True
    if a == 1:
        return b, True
    if b == 1:
        return a, True
    if a == -1 or b == -1:
        other = b if a == -1 else a
        return (-other, True) if other != I64_MIN else (np.int64(0), False)
    if a == I64_MIN or b == I64_MIN:
        return np.int64(0), False
    ua = a if a > 0 else -a
    ub = b if b > 0 else -b
    limit = I64_MAX // ub
    if (a < 0) != (b < 0) and I64_MAX % ub == ub - 1:
        limit += 1                    # a negative product may reach -2**63
    if ua > limit:
        return np.int64(0), False
    if ua == limit and (a < 0) != (b < 0) and I64_MAX % ub == ub - 1:
        return I64_MIN, True
    return a * b, True


@_jit
def neg_i(a):
    ok = a != I64_MIN
    return (-a) if ok else np.int64(0), ok


@_jit
def abs_i(a):
    ok = a != I64_MIN
    return (abs(a)) if ok else np.int64(0), ok


@_jit
def mod_i(a, b):
    if b == 0:
        return np.int64(0), False
    if b == -1:                       # I64_MIN % -1 traps in hardware
        return np.int64(0), True
    return a % b, True                # Numba's % on ints is floored, as Python's


@_jit
def mod_f(a, b):
    if b == 0.0:
        return 0.0, False
    m = np.fmod(a, b)
    if m != 0.0:
        if (b < 0.0) != (m < 0.0):
            m += b
    else:
        m = math.copysign(0.0, b)
    return m, math.isfinite(m)


@_jit
def _two_prod(a, b):
    # Dekker's exact product without fused multiply-add: a*b == p + e exactly.
    p = a * b
    c = 134217729.0 * a
    ah = c - (c - a)
    al = a - ah
    c = 134217729.0 * b
    bh = c - (c - b)
    bl = b - bh
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, e


@_jit
def round_f(x, n):
    """Half away from zero on the exact binary value of x, to n decimals.

    The checker keeps n within -15..15, so 10**|n| is an exact double."""
    if x != x or not math.isfinite(x):
        return 0.0, False
    ax = abs(x)
    if n >= 0:
        p = 10.0 ** n
        y, e = _two_prod(ax, p)
        if y >= 4503599627370496.0:   # 2**52: no fractional part left to round
            return x, True
        r = math.floor(y + 0.5)
        # The exact product is y + e; move r until r - 0.5 <= y + e < r + 0.5.
        if (y - (r - 0.5)) + e < 0.0:
            r -= 1.0
        elif (y - (r + 0.5)) + e >= 0.0:
            r += 1.0
        out = r / p
    else:
        p = 10.0 ** (-n)
        rem = np.fmod(ax, p)
        base = ax - rem
        out = base + p if 2.0 * rem >= p else base
    out = math.copysign(out, x)
    return out, math.isfinite(out)


@_jit
def round_i(a, n):
    if n >= 0:
        return a, True
    if n <= -19:
        return np.int64(0), abs(float(a)) < 5e18
    p = np.int64(1)
    for _ in range(-n):
        p *= 10
    # |a| without overflow: the most negative int64 is one more than I64_MAX.
    m = I64_MAX if a == I64_MIN else (-a if a < 0 else a)
    q = m // p
    rem = m - q * p + (1 if a == I64_MIN else 0)
    if rem >= p:
        q += 1
        rem -= p
    if rem >= p // 2:
        q += 1
    return mul_i(-q if a < 0 else q, p)


@_jit
def _finite(x):
    """A float result is valid only when finite (LANGUAGE.md section 5)."""
    return x, math.isfinite(x)


@_jit
def sqrt_f(x):
    if x < 0.0:
        return 0.0, False
    return math.sqrt(x), True


@_jit
def exp_f(x):
    if x > 709.782712893384:
        return 0.0, False
    return _finite(math.exp(x))


@_jit
def log_f(x):
    if x <= 0.0:
        return 0.0, False
    return _finite(math.log(x))


@_jit
def pow_f(a, b):
    # Python raises where C's pow gives inf or nan; both are null here.
    if a == 0.0 and b < 0.0:
        return 0.0, False
    if a < 0.0 and b != math.floor(b):
        return 0.0, False
    return _finite(math.pow(a, b))


@_jit
def date_ok(d):
    return d, DATE_MIN <= d <= DATE_MAX


@_jit
def civil(d):
    """Days since 1970-01-01 -> (year, month, day), proleptic Gregorian
    (Howard Hinnant's days_from_civil inverse)."""
    z = d + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    dd = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, dd


@_jit
def year_of(d):
    return civil(d)[0]


@_jit
def month_of(d):
    return civil(d)[1]


@_jit
def day_of(d):
    return civil(d)[2]


@_jit
def days_from_civil(y, m, d):
    """(year, month, day) -> days since 1970-01-01, the inverse of civil."""
    y = y - 1 if m <= 2 else y
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


@_jit
def month_days(y, m):
    if m == 2:
        return 29 if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) else 28
    return 30 if m == 4 or m == 6 or m == 9 or m == 11 else 31


@_jit
def make_date(y, m, d):
    if y < 1 or y > 9999 or m < 1 or m > 12 or d < 1 or d > month_days(y, m):
        return np.int64(0), False
    return np.int64(days_from_civil(y, m, d)), True


@_jit
def add_months(d, n):
    """n months after day d; the day clamped to the month's last."""
    if n > 120000 or n < -120000:     # leaves years 1-9999 from any date; keeps y * 12 + n small
        return np.int64(0), False
    y, m, dd = civil(d)
    t = y * 12 + m - 1 + n
    y2 = t // 12
    m2 = t - y2 * 12 + 1
    if y2 < 1 or y2 > 9999:
        return np.int64(0), False
    return np.int64(days_from_civil(y2, m2, min(dd, month_days(y2, m2)))), True


@_jit
def weekday_of(d):
    return (d + 3) % 7 + 1            # 1970-01-01 was a Thursday, 4


@_jit
def day_of_year(d):
    return d - days_from_civil(civil(d)[0], 1, 1) + 1


@_jit
def anniversary(d, today):
    """Days from today to the next anniversary of d (today included); 29
    February falls on 28 February in a common year. Null past 9999."""
    _, m, dd = civil(d)
    y = civil(today)[0]
    a = days_from_civil(y, m, min(dd, month_days(y, m)))
    if a < today:
        a = days_from_civil(y + 1, m, min(dd, month_days(y + 1, m)))
    return np.int64(a - today), a <= DATE_MAX


@_jit
def hour_of(t):
    """Microseconds since 1970-01-01T00:00 -> the hour, 0 to 23 (floored: before 1970 too)."""
    return (t // 3_600_000_000) % 24


@_jit
def minute_of(t):
    return (t // 60_000_000) % 60


@_jit
def ts_date(t):
    return t // 86_400_000_000


@_jit
def member(x, values):
    """`x in LIST` (LANGUAGE.md 4.5): x among a list param's values, ints or
    strings' codes in the batch's table, sorted by the host (bind): a
    binary search, so a list of thousands of product codes costs a few
    comparisons per row."""
    lo, hi = 0, len(values)
    while lo < hi:
        mid = (lo + hi) >> 1
        if values[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo < len(values) and values[lo] == x


@_jit
def list_has(values, start, stop, x):
    """`x in FIELD` (LANGUAGE.md 4.9): x among a list field's elements of
    one row, values[start:stop] (ints, or strings' codes): a scan, a
    customer's tags being few."""
    for j in range(start, stop):
        if values[j] == x:
            return True
    return False


@_jit
def quantify(truth, start, stop, every):
    """`any`/`all` of one row (LANGUAGE.md 4.9): its elements' truths,
    truth[start:stop] (0 false, 1 true, 2 null, computed by the host) ->
    (value, known): any is true at the first true, all false at the first
    false; otherwise a null among them leaves it unknown."""
    unknown = False
    for j in range(start, stop):
        t = truth[j]
        if t == 2:
            unknown = True
        elif (t == 1) != every:
            return not every, True
    return every, not unknown


@_jit
def bit(buf, i):
    """Bit i of an Arrow bitmap (least significant bit first)."""
    return (buf[i >> 3] >> (i & 7)) & 1 == 1


@_jit
def pick(c, a, b):
    """`a if c else b` for kernels, whose own code has no branches (codegen):
    LLVM inlines it as a select."""
    return a if c else b


@_jit
def float_ok(x):
    """Input floats: NaN and infinities read as null."""
    return math.isfinite(x)


@_jit
def hash_key(h, i, is_int, ints, offsets, data):
    if is_int:
        v = ints[i]
        if v < 0:
            h = (h ^ np.uint64(45)) * FNV_PRIME          # '-'
        # The magnitude as uint64 so that the most negative int64 works too;
        # digits from the most significant, with no array to allocate per key.
        u = np.uint64(-(v + 1)) + np.uint64(1) if v < 0 else np.uint64(v)
        p = np.uint64(1)
        while u // p >= np.uint64(10):
            p *= np.uint64(10)
        while p > np.uint64(0):
            h = (h ^ (np.uint64(48) + (u // p) % np.uint64(10))) * FNV_PRIME
            p //= np.uint64(10)
        return h
    return fnv1a(h, data, offsets[i], offsets[i + 1])


@_jit
def fnv1a(h, data, lo, hi):
    """FNV-1a 64 from state h over the bytes data[lo:hi]: the holdout hash of
    every compiled path (engine/reference/matching.py has the oracle's)."""
    for j in range(lo, hi):
        h = (h ^ np.uint64(data[j])) * FNV_PRIME
    return h


@_jit
def mix(h):
    """MurmurHash3's 64-bit finalizer: every bit of h moves every bit of the
    result. FNV-1a alone leaves the hashes of one key under two prefixes
    measurably related (a chi-square of 200 on a million keys for "a:" and
    "b:"), so experiments and salted holdouts, which must draw
    independently, mix it (LANGUAGE.md 6.5 and 13.2)."""
    h = (h ^ (h >> np.uint64(33))) * np.uint64(0xFF51AFD7ED558CCD)
    h = (h ^ (h >> np.uint64(33))) * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


@_jit
def held_out(k, i, bp, state, is_int, ints, offsets, data):
    """Whether row i is in offer k's holdout: the FNV-1a hash of "OFFER:KEY"
    (`state` has hashed "OFFER:" already) below its share of 10,000; for
    a salted holdout (bp flagged MIXED) of "OFFER:SALT:KEY", mixed."""
    b = bp[k]
    if b < 0:
        return False
    h = hash_key(state[k], i, is_int, ints, offsets, data)
    if b >= MIXED:
        h = mix(h)
        b -= MIXED
    return h % np.uint64(10000) < np.uint64(b)


@_jit
def draw_arms(state, bounds, is_int, ints, offsets, data, n, out):
    """Each row's arm of an experiment (LANGUAGE.md section 13): the FNV-1a
    hash of "NAME:[SALT:]KEY" (`state` has hashed the prefix), mixed, mod 10,000,
    the first arm whose running share `bounds` exceeds it; len(bounds) is
    the control group."""
    for i in range(n):
        h = mix(hash_key(state, i, is_int, ints, offsets, data)) % np.uint64(10000)
        k = 0
        while k < len(bounds) and h >= np.uint64(bounds[k]):
            k += 1
        out[i] = k
