"""The vectorized evaluator's operator rules (engine/evaluation/vector.py):
an operator of signatures.OPS, its operands' (values, valid) arrays -> the result's,
following the same rules as compiler/backend/runtime.py. `RULES` holds one
rule per operator; `rule(op)` finds it (signatures.rule_table checks the table
when this module is imported).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from pol.compiler import ir, signatures
from pol.compiler.backend.plan import string_operand
from pol.compiler.backend.runtime import DATE_MAX, DATE_MIN
from pol.compiler.types import MICROS_PER_DAY, Type

if TYPE_CHECKING:
    from pol.evaluation.vector import _Eval

I64_MIN = np.iinfo(np.int64).min
I64_MAX = np.iinfo(np.int64).max

_EXP, _LOG, _POW = range(3)


@njit(cache=True, nogil=True)
def _libm(op, a, b):
    """exp, log or pow of each element through the C library, as the kernel
    and the reference evaluator compute them: numpy's own SIMD versions may
    differ in the last bit."""
    out = np.empty_like(a)
    for i in range(len(a)):
        if op == _EXP:
            out[i] = math.exp(a[i])
        elif op == _LOG:
            out[i] = math.log(a[i])
        else:
            out[i] = math.pow(a[i], b[i])
    return out


def _floats(x, n: int) -> np.ndarray:
    return np.ascontiguousarray(np.broadcast_to(np.asarray(x, np.float64), (n,)))


def all_valid(*ms):
    ms = [m for m in ms if m is not None]
    if not ms:
        return None
    out = ms[0]
    for m in ms[1:]:
        out = out & m
    return out


def clean(v: np.ndarray, m):
    if m is not None:
        v = np.where(m, v, np.zeros((), v.dtype))
    return v, m


def _fin(v, *ms):
    return clean(v, all_valid(np.isfinite(v), *ms))


def _two_prod(a, b):
    p = a * b
    c = 134217729.0 * a
    ah = c - (c - a)
    al = a - ah
    c = 134217729.0 * b
    bh = c - (c - b)
    bl = b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def round_float(x: np.ndarray, n: int) -> np.ndarray:
    """compiler/runtime.round_f, vectorized."""
    ax = np.abs(x)
    if n >= 0:
        p = 10.0 ** n
        y, e = _two_prod(ax, p)
        r = np.floor(y + 0.5)
        r = np.where((y - (r - 0.5)) + e < 0.0, r - 1.0, np.where((y - (r + 0.5)) + e >= 0.0, r + 1.0, r))
        out = np.where(y >= 4503599627370496.0, ax, r / p)
    else:
        p = 10.0 ** (-n)
        rem = np.fmod(ax, p)
        base = ax - rem
        out = np.where(2.0 * rem >= p, base + p, base)
    return np.copysign(out, x)


def round_int(a: np.ndarray, n: int):
    """compiler/runtime.round_i, vectorized."""
    if n >= 0:
        return a, None
    if n <= -19:
        return np.zeros_like(a), np.abs(a.astype(np.float64)) < 5e18
    p = np.int64(10) ** np.int64(-n)
    is_min = a == I64_MIN
    m = np.where(is_min, I64_MAX, np.abs(np.where(is_min, 0, a)))
    q = m // p
    rem = m - q * p + is_min.astype(np.int64)
    carry = rem >= p
    q = np.where(carry, q + 1, q)
    rem = np.where(carry, rem - p, rem)
    q = np.where(rem >= p // 2, q + 1, q)
    return _mul_i(np.where(a < 0, -q, q), np.full_like(q, p))


def _add_i(a, b):
    r = a + b
    return r, ((a ^ r) & (b ^ r)) >= 0


def _sub_i(a, b):
    r = a - b
    return r, ((a ^ b) & (a ^ r)) >= 0


def _mul_i(a, b):
    r = a * b
    safe = np.where(a == 0, 1, a)
    ok = (a == 0) | (r // safe == b)
    ok &= ~(((a == -1) & (b == I64_MIN)) | ((b == -1) & (a == I64_MIN)))
    return r, ok


# ------------------------------------------------------------ operator rules

# Each takes the evaluator, the call and its operands' (values, valid) pairs.

def _chain(ev: _Eval, e: ir.Call, args):
    # a chain is one call; three-valued and/or fold pairwise
    av, am = args[0]
    for bv, bm in args[1:]:
        av, am = _logic(e.op, av, am, bv, bm)
    return av, am


def _coalesce(ev: _Eval, e: ir.Call, args):
    v, m = args[-1]
    v = v.copy()
    m = None if m is None else m.copy()
    for xv, xm in reversed(args[:-1]):
        if xm is None:
            v, m = xv, None
        else:
            v = np.where(xm, xv, v)
            m = None if m is None else (xm | m)
    return v, m


_CMP = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater,
        "ge": np.greater_equal}


def _compare(ev: _Eval, e: ir.Call, args):
    (a, am), (b, bm) = args
    return _CMP[e.op](a, b), all_valid(am, bm)


def _between(ev: _Eval, e: ir.Call, args):
    vs, ms = zip(*args)
    return (vs[1] <= vs[0]) & (vs[0] <= vs[2]), all_valid(*ms)


def _not(ev: _Eval, e: ir.Call, args):
    (v, m), = args
    return ~v, m


def _member(ev: _Eval, e: ir.Call, args):
    # the list's values as bind packed them: ints, or strings' codes in the batch's table
    (v, m), (values, _) = args
    return np.isin(v, values), m


def _list_has(ev: _Eval, e: ir.Call, args):
    # a list field's elements (engine/evaluation/lists.py): x among its row's
    (v, m), (col, lm) = args
    rows = col.rows()
    hit = np.zeros(ev.n, np.bool_)
    hit[rows[col.values == v[rows]]] = True
    return hit, all_valid(m, lm)


def _list_count(ev: _Eval, e: ir.Call, args):
    (col, m), = args
    return np.diff(col.offsets), m


def _to_float(ev: _Eval, e: ir.Call, args):
    (v, m), = args
    return v.astype(np.float64), m


def _arith(ev: _Eval, e: ir.Call, args):
    op, t, at = e.op, e.type, [a.type for a in e.args]
    (a, am), (b, bm) = args
    if op in ("add", "sub") and at[0] == Type.DATE:
        if at[1] == Type.DATE:
            return a - b, all_valid(am, bm)
        r, ok = (_add_i if op == "add" else _sub_i)(a, b)
        return clean(r, all_valid(ok, (r >= DATE_MIN) & (r <= DATE_MAX), am, bm))
    if t == Type.INT:
        r, ok = {"add": _add_i, "sub": _sub_i, "mul": _mul_i}[op](a, b)
        return clean(r, all_valid(ok, am, bm))
    if op == "div":
        nz = b != 0.0
        return _fin(a / np.where(nz, b, 1.0), nz, am, bm)
    return _fin({"add": np.add, "sub": np.subtract, "mul": np.multiply}[op](a, b), am, bm)


def _mod(ev: _Eval, e: ir.Call, args):
    (a, am), (b, bm) = args
    nz = b != 0
    if e.type == Type.INT:
        safe = np.where(nz & (b != -1), b, 1)
        r = np.where(b == -1, 0, np.mod(a, safe))
        return clean(r, all_valid(nz, am, bm))
    safe = np.where(nz, b, 1.0)
    r = np.fmod(a, safe)
    r = np.where(r != 0.0, np.where((safe < 0.0) != (r < 0.0), r + safe, r), np.copysign(0.0, safe))
    return _fin(r, nz, am, bm)


def _neg(ev: _Eval, e: ir.Call, args):
    (v, m), = args
    if e.type == Type.INT:
        return clean(-v, all_valid(v != I64_MIN, m))
    return -v, m


def _abs(ev: _Eval, e: ir.Call, args):
    (v, m), = args
    if e.type == Type.INT:
        return clean(np.abs(v), all_valid(v != I64_MIN, m))
    return np.abs(v), m


def _floor_ceil(ev: _Eval, e: ir.Call, args):
    (v, m), = args
    if e.type == Type.INT:
        return v, m
    return getattr(np, e.op)(v), m


def _round(ev: _Eval, e: ir.Call, args):
    (v, m), _ = args
    n = e.args[1].value
    if e.type == Type.INT:
        r, ok = round_int(v, n)
        return clean(r, all_valid(ok, m))
    return _fin(round_float(v, n), m)


def _min_max(ev: _Eval, e: ir.Call, args):
    vs, ms = zip(*args)
    better = np.less if e.op == "min" else np.greater
    acc = vs[0]
    for v in vs[1:]:
        acc = np.where(better(v, acc), v, acc)
    return acc, all_valid(*ms)


def _clamp(ev: _Eval, e: ir.Call, args):
    vs, ms = zip(*args)
    lo = np.where(vs[1] > vs[0], vs[1], vs[0])
    return np.where(vs[2] < lo, vs[2], lo), all_valid(*ms)


def _sqrt(ev: _Eval, e: ir.Call, args):
    (v, m), = args
    ok = v >= 0.0
    return clean(np.sqrt(np.where(ok, v, 0.0)), all_valid(ok, m))


def _exp(ev: _Eval, e: ir.Call, args):
    (v, m), = args
    return _fin(_libm(_EXP, _floats(v, ev.n), _floats(0.0, 1)), m)


def _log(ev: _Eval, e: ir.Call, args):
    (v, m), = args
    ok = v > 0.0
    return _fin(_libm(_LOG, _floats(np.where(ok, v, 1.0), ev.n), _floats(0.0, 1)), ok, m)


def _pow(ev: _Eval, e: ir.Call, args):
    (a, am), (b, bm) = args
    ok = ~((a == 0.0) & (b < 0.0)) & ~((a < 0.0) & (b != np.floor(b)))
    return _fin(_libm(_POW, _floats(np.where(ok, a, 1.0), ev.n), _floats(b, ev.n)), ok, am, bm)


def _date_part(ev: _Eval, e: ir.Call, args):
    (v, m), = args
    d = v.astype("datetime64[D]")
    if e.op == "year":
        r = d.astype("datetime64[Y]").astype(np.int64) + 1970
    elif e.op == "month":
        r = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    else:
        r = (d - d.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    return r, m


def _string_function(ev: _Eval, e: ir.Call, args):
    # the host-computed table per string code (engine/evaluation/strings.py); a
    # string-valued function's gives the result's code
    v, m = args[string_operand(e)]
    return ev.luts[ev.plan.lut_index(e)][v], m


# ------------------------------------------------------------ calendar
# Days since 1970-01-01 as int64 arrays; numpy's datetime64 does the
# calendar (proleptic Gregorian, like compiler/backend/runtime.civil).

def _civil(d):
    """days -> (year, month, day) arrays."""
    x = d.astype("datetime64[D]")
    mon = x.astype("datetime64[M]")
    return (x.astype("datetime64[Y]").astype(np.int64) + 1970, mon.astype(np.int64) % 12 + 1,
            (x - mon.astype("datetime64[D]")).astype(np.int64) + 1)


def _month_start(y, m):
    return ((y - 1970) * 12 + m - 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


def _month_days(y, m):
    return _month_start(y + (m == 12), m % 12 + 1) - _month_start(y, m)


def _make_date(vs, ms):
    y, m, d = vs
    ok = (y >= 1) & (y <= 9999) & (m >= 1) & (m <= 12)
    y, m = np.where(ok, y, 1970), np.where(ok, m, 1)
    ok &= (d >= 1) & (d <= _month_days(y, m))
    return clean(_month_start(y, m) + np.where(ok, d, 1) - 1, all_valid(ok, *ms))


def _add_months(vs, ms):
    d, n = vs
    ok = (n >= -120000) & (n <= 120000)       # beyond: outside years 1-9999 from any date
    y, m, dd = _civil(d)
    t = y * 12 + m - 1 + np.where(ok, n, 0)
    y2, m2 = t // 12, t % 12 + 1
    ok &= (y2 >= 1) & (y2 <= 9999)
    y2 = np.where(ok, y2, 1970)
    return clean(_month_start(y2, m2) + np.minimum(dd, _month_days(y2, m2)) - 1, all_valid(ok, *ms))


def _anniversary(vs, ms):
    d, today = vs
    _, m, dd = _civil(d)
    y = _civil(today)[0]
    a = _month_start(y, m) + np.minimum(dd, _month_days(y, m)) - 1
    a2 = _month_start(y + 1, m) + np.minimum(dd, _month_days(y + 1, m)) - 1
    a = np.where(a < today, a2, a)
    return clean(a - today, all_valid(a <= DATE_MAX, *ms))


_CALENDAR = {
    "make_date": _make_date,
    "add_months": _add_months,
    "weekday": lambda vs, ms: ((vs[0] + 3) % 7 + 1, ms[0]),
    "day_of_year": lambda vs, ms: (vs[0] - _month_start(_civil(vs[0])[0], 1) + 1, ms[0]),
    "anniversary": _anniversary,
    "hour": lambda vs, ms: (vs[0] // 3_600_000_000 % 24, ms[0]),
    "minute": lambda vs, ms: (vs[0] // 60_000_000 % 60, ms[0]),
    "ts_date": lambda vs, ms: (vs[0] // MICROS_PER_DAY, ms[0]),
}


def _calendar(ev: _Eval, e: ir.Call, args):
    return _CALENDAR[e.op]([a[0] for a in args], [a[1] for a in args])


RULES = {
    "add": _arith, "sub": _arith, "mul": _arith, "div": _arith, "mod": _mod, "neg": _neg,
    "to_float": _to_float,
    "eq": _compare, "ne": _compare, "lt": _compare, "le": _compare, "gt": _compare, "ge": _compare,
    "between": _between, "and": _chain, "or": _chain, "not": _not,
    "abs": _abs, "floor": _floor_ceil, "ceil": _floor_ceil, "round": _round, "min": _min_max,
    "max": _min_max, "clamp": _clamp, "sqrt": _sqrt, "exp": _exp, "log": _log, "pow": _pow,
    "coalesce": _coalesce, "year": _date_part, "month": _date_part, "day": _date_part,
    "starts_with": _string_function, "ends_with": _string_function, "contains": _string_function,
    "length": _string_function, "channel_rank": _string_function,
    "make_date": _calendar, "add_months": _calendar, "weekday": _calendar, "day_of_year": _calendar,
    "anniversary": _calendar, "hour": _calendar, "minute": _calendar, "ts_date": _calendar,
    "upper": _string_function, "lower": _string_function, "trim": _string_function,
    "substring": _string_function, "concat": _string_function,
    "member": _member,
    "list_has": _list_has, "list_count": _list_count,
}
rule = signatures.rule_table("the vectorized evaluator", RULES)


def truth(v, m):
    return v if m is None else (v & m)


def _logic(op: str, av, am, bv, bm):
    """Three-valued `a and b` (or `a or b`): false (true) wins over null."""
    a_t, b_t = truth(av, am), truth(bv, bm)
    if am is None and bm is None:
        return (a_t & b_t if op == "and" else a_t | b_t), None
    am = am if am is not None else True
    bm = bm if bm is not None else True
    if op == "and":
        return a_t & b_t, (am & bm) | (am & ~av) | (bm & ~bv)
    return a_t | b_t, (am & bm) | (am & av) | (bm & bv)
