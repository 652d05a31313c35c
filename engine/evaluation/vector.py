"""The vectorized evaluator: the typed IR run node by node with numpy over a
batch, for a policy whose fused kernel is not compiled yet.

It needs no compilation at all, so a policy never seen before gives its
first result at once; the fused kernel (compiler/backend/codegen.py) is the faster
tier once built and cached. Both fill the same `BatchOut` from the same
`Bound` batch, follow the same rules as compiler/backend/runtime.py, and are checked
against the reference evaluator by the same tests.

A value is a pair (values, valid): `valid` is a bool array, or None when the
value is never null. Invalid slots hold a harmless default.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from pol.compiler import ir
from pol.compiler.backend.plan import LOOKUPS, STRING_MAPS, KernelPlan, string_operand
from pol.compiler.backend.runtime import DATE_MAX, DATE_MIN
from pol.compiler.types import MICROS_PER_DAY, Type, micros
from pol.evaluation.bind import EPOCH as _EPOCH
from pol.evaluation.bind import Bound

I64_MIN = np.iinfo(np.int64).min
I64_MAX = np.iinfo(np.int64).max
_DTYPE = {Type.INT: np.int64, Type.FLOAT: np.float64, Type.BOOL: np.bool_,
          Type.STRING: np.int64, Type.DATE: np.int64, Type.TIMESTAMP: np.int64}


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


def _and(*ms):
    ms = [m for m in ms if m is not None]
    if not ms:
        return None
    out = ms[0]
    for m in ms[1:]:
        out = out & m
    return out


def _bits(buf: np.ndarray, offset: int, n: int) -> np.ndarray:
    return np.unpackbits(buf, bitorder="little", count=offset + n)[offset:].astype(np.bool_)


def _clean(v: np.ndarray, m):
    if m is not None:
        v = np.where(m, v, np.zeros((), v.dtype))
    return v, m


def _fin(v, *ms):
    return _clean(v, _and(np.isfinite(v), *ms))


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


class _Eval:
    def __init__(self, program: ir.Program, plan: KernelPlan, bound: Bound, today: int):
        self.program = program
        self.plan = plan
        self.n = bound.n
        self.today = today
        self.decls: dict[str, tuple] = {}
        self.fields = self._fields(bound)
        self.params = {}
        args = iter(bound.param_args)
        for p in plan.params:
            v, ok = next(args), next(args)
            self.params[p.name] = (v, ok)
        self.luts = bound.lut_args

    def _fields(self, bound: Bound) -> dict:
        out = {}
        args = iter(bound.field_args)
        n = self.n
        for f in self.plan.fields:
            x = next(args)
            if f.type == Type.BOOL:
                v = _bits(x, next(args), n)
            elif f.type == Type.STRING:
                remap = next(args)
                codes = x
                v = None
            else:
                v = x.astype(_DTYPE[f.type], copy=False)
            m = None
            if f.nullable:
                vb, vo, vh = next(args), next(args), next(args)
                if vh:
                    m = _bits(vb, vo, n)
            if f.type == Type.STRING:
                v = remap[np.where(m, codes, 0) if m is not None else codes]
            if f.type == Type.FLOAT and f.nullable:
                m = _and(m, np.isfinite(v))
            out[f.name] = _clean(v, m)
        return out

    def full(self, value, t: Type):
        return np.full(self.n, value, _DTYPE[t])

    def expr(self, e: ir.Expr):
        """(values, valid) of an expression over the batch."""
        # Operands first, on a stack of our own rather than Python's: an
        # expression may nest thousands of levels (a long sum is left-nested).
        # `todo` holds nodes to visit and, as (node,), nodes whose operands
        # are done; their results wait at the end of `done`.
        todo: list = [e]
        done: list = []
        while todo:
            x = todo.pop()
            if type(x) is tuple:
                x = x[0]
                k = len(ir.children(x))
                args = done[-k:]
                del done[-k:]
                done.append(getattr(self, "x_" + type(x).__name__)(x, args))
                continue
            kids = ir.children(x)
            if kids:
                todo.append((x,))
                todo.extend(reversed(kids))
            else:
                done.append(getattr(self, "x_" + type(x).__name__)(x))
        return done[0]

    def x_Literal(self, e: ir.Literal):
        if e.value is None:
            return self.full(0, e.type), np.zeros(self.n, np.bool_)
        if e.type == Type.STRING:
            return self.full(self.plan.literal_code(e.value), e.type), None
        if e.type == Type.DATE:
            return self.full((e.value - _EPOCH).days, e.type), None
        if e.type == Type.TIMESTAMP:
            return self.full(micros(e.value), e.type), None
        return self.full(e.value, e.type), None

    def x_FieldRef(self, e):
        return self.fields[e.name]

    def x_ParamRef(self, e):
        v, ok = self.params[e.name]
        return self.full(v, e.type), (None if ok else np.zeros(self.n, np.bool_))

    def x_DeclRef(self, e):
        return self.decls[e.name]

    def x_Today(self, e):
        return self.full(self.today, Type.DATE), None

    def x_If(self, e: ir.If, args):
        (cv, cm), (tv, tm), (fv, fm) = args
        c = _truth(cv, cm)
        m = None
        if tm is not None or fm is not None:
            m = np.where(c, tm if tm is not None else True, fm if fm is not None else True)
        return np.where(c, tv, fv), m

    def x_InSet(self, e: ir.InSet, args):
        (v, m), = args
        t = e.operand.type
        if t == Type.STRING:
            vals = [self.plan.literal_code(s) for s in e.values]
        elif t == Type.DATE:
            vals = [(d - _EPOCH).days for d in e.values]
        elif t == Type.TIMESTAMP:
            vals = [micros(d) for d in e.values]
        else:
            vals = list(e.values)
        hit = np.isin(v, np.array(vals, _DTYPE[t])) if vals else np.zeros(self.n, np.bool_)
        return (~hit if e.negated else hit), m

    def x_IsNull(self, e: ir.IsNull, args):
        (_, m), = args
        valid = np.ones(self.n, np.bool_) if m is None else m
        return (valid if e.negated else ~valid), None

    def x_Call(self, e: ir.Call, args):
        op, t = e.op, e.type
        if op in ("and", "or"):
            # a chain is one call; three-valued and/or fold pairwise
            av, am = args[0]
            for bv, bm in args[1:]:
                av, am = _logic(op, av, am, bv, bm)
            return av, am
        if op == "coalesce":
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
        vs = [a[0] for a in args]
        ms = [a[1] for a in args]
        at = [a.type for a in e.args]
        with np.errstate(all="ignore"):
            return self._call(op, t, at, vs, ms, e)

    def _call(self, op, t, at, vs, ms, e):
        cmp = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
               "gt": np.greater, "ge": np.greater_equal}
        if op in cmp:
            return cmp[op](vs[0], vs[1]), _and(*ms)
        if op == "between":
            return (vs[1] <= vs[0]) & (vs[0] <= vs[2]), _and(*ms)
        if op == "not":
            return ~vs[0], ms[0]
        if op == "to_float":
            return vs[0].astype(np.float64), ms[0]
        if op in ("add", "sub") and at[0] == Type.DATE:
            if at[1] == Type.DATE:
                return vs[0] - vs[1], _and(*ms)
            r, ok = (_add_i if op == "add" else _sub_i)(vs[0], vs[1])
            return _clean(r, _and(ok, (r >= DATE_MIN) & (r <= DATE_MAX), *ms))
        if op in ("add", "sub", "mul") and t == Type.INT:
            r, ok = {"add": _add_i, "sub": _sub_i, "mul": _mul_i}[op](vs[0], vs[1])
            return _clean(r, _and(ok, *ms))
        if op in ("add", "sub", "mul"):
            return _fin({"add": np.add, "sub": np.subtract, "mul": np.multiply}[op](vs[0], vs[1]), *ms)
        if op == "div":
            nz = vs[1] != 0.0
            return _fin(vs[0] / np.where(nz, vs[1], 1.0), nz, *ms)
        if op == "mod":
            b = vs[1]
            nz = b != 0
            if t == Type.INT:
                safe = np.where(nz & (b != -1), b, 1)
                r = np.where(b == -1, 0, np.mod(vs[0], safe))
                return _clean(r, _and(nz, *ms))
            safe = np.where(nz, b, 1.0)
            r = np.fmod(vs[0], safe)
            r = np.where(r != 0.0, np.where((safe < 0.0) != (r < 0.0), r + safe, r), np.copysign(0.0, safe))
            return _fin(r, nz, *ms)
        if op == "neg":
            if t == Type.INT:
                ok = vs[0] != I64_MIN
                return _clean(-vs[0], _and(ok, ms[0]))
            return -vs[0], ms[0]
        if op == "abs":
            if t == Type.INT:
                ok = vs[0] != I64_MIN
                return _clean(np.abs(vs[0]), _and(ok, ms[0]))
            return np.abs(vs[0]), ms[0]
        if op in ("floor", "ceil"):
            if t == Type.INT:
                return vs[0], ms[0]
            return getattr(np, op)(vs[0]), ms[0]
        if op == "round":
            n = e.args[1].value
            if t == Type.INT:
                r, ok = round_int(vs[0], n)
                return _clean(r, _and(ok, ms[0]))
            return _fin(round_float(vs[0], n), ms[0])
        if op in ("min", "max"):
            better = np.less if op == "min" else np.greater
            acc = vs[0]
            for v in vs[1:]:
                acc = np.where(better(v, acc), v, acc)
            return acc, _and(*ms)
        if op == "clamp":
            lo = np.where(vs[1] > vs[0], vs[1], vs[0])
            return np.where(vs[2] < lo, vs[2], lo), _and(*ms)
        if op == "sqrt":
            ok = vs[0] >= 0.0
            return _clean(np.sqrt(np.where(ok, vs[0], 0.0)), _and(ok, ms[0]))
        if op == "exp":
            return _fin(_libm(_EXP, _floats(vs[0], self.n), _floats(0.0, 1)), ms[0])
        if op == "log":
            ok = vs[0] > 0.0
            return _fin(_libm(_LOG, _floats(np.where(ok, vs[0], 1.0), self.n), _floats(0.0, 1)), ok, ms[0])
        if op == "pow":
            a, b = vs
            ok = ~((a == 0.0) & (b < 0.0)) & ~((a < 0.0) & (b != np.floor(b)))
            return _fin(_libm(_POW, _floats(np.where(ok, a, 1.0), self.n), _floats(b, self.n)), ok, *ms)
        if op in ("year", "month", "day"):
            d = vs[0].astype("datetime64[D]")
            if op == "year":
                r = d.astype("datetime64[Y]").astype(np.int64) + 1970
            elif op == "month":
                r = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
            else:
                r = (d - d.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
            return r, ms[0]
        if op in _CALENDAR:
            return _CALENDAR[op](vs, ms)
        if op in LOOKUPS or op in STRING_MAPS:
            i = string_operand(e)
            return self.luts[self.plan.lut_index(e)][vs[i]], ms[i]
        raise NotImplementedError(f"no vectorized rule for operator {op!r}")


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
    return _clean(_month_start(y, m) + np.where(ok, d, 1) - 1, _and(ok, *ms))


def _add_months(vs, ms):
    d, n = vs
    ok = (n >= -120000) & (n <= 120000)       # beyond: outside years 1-9999 from any date
    y, m, dd = _civil(d)
    t = y * 12 + m - 1 + np.where(ok, n, 0)
    y2, m2 = t // 12, t % 12 + 1
    ok &= (y2 >= 1) & (y2 <= 9999)
    y2 = np.where(ok, y2, 1970)
    return _clean(_month_start(y2, m2) + np.minimum(dd, _month_days(y2, m2)) - 1, _and(ok, *ms))


def _anniversary(vs, ms):
    d, today = vs
    _, m, dd = _civil(d)
    y = _civil(today)[0]
    a = _month_start(y, m) + np.minimum(dd, _month_days(y, m)) - 1
    a2 = _month_start(y + 1, m) + np.minimum(dd, _month_days(y + 1, m)) - 1
    a = np.where(a < today, a2, a)
    return _clean(a - today, _and(a <= DATE_MAX, *ms))


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


def _truth(v, m):
    return v if m is None else (v & m)


def _logic(op: str, av, am, bv, bm):
    """Three-valued `a and b` (or `a or b`): false (true) wins over null."""
    a_t, b_t = _truth(av, am), _truth(bv, bm)
    if am is None and bm is None:
        return (a_t & b_t if op == "and" else a_t | b_t), None
    am = am if am is not None else True
    bm = bm if bm is not None else True
    if op == "and":
        return a_t & b_t, (am & bm) | (am & ~av) | (bm & ~bv)
    return a_t | b_t, (am & bm) | (am & av) | (bm & bv)




def run(program: ir.Program, plan: KernelPlan, bound: Bound, active: np.ndarray, today: int, out) -> None:
    """Fill `out` (engine/evaluate.BatchOut) for one bound batch."""
    ev = _Eval(program, plan, bound, today)
    index = {d.name: d for d in (*program.lets, *program.segments, *program.classifies, *program.scores)}
    seg_pos = {s: k for k, s in enumerate(plan.segments)}
    cls_pos = {c: k for k, c in enumerate(plan.classifies)}
    score_pos = {s: k for k, s in enumerate(plan.scores)}
    n = bound.n
    for name in program.order:
        d = index[name]
        if isinstance(d, ir.Let):
            ev.decls[name] = ev.expr(d.expr)
        elif isinstance(d, ir.Segment):
            v = _truth(*ev.expr(d.expr))
            ev.decls[name] = (v, None)
            out.segs[seg_pos[name]] = v
        elif isinstance(d, ir.Score):
            v, m = ev.expr(d.expr)
            ev.decls[name] = (v, m)
            out.scores[score_pos[name]] = v if m is None else np.where(m, v, np.nan)
        else:
            values = d.values
            code = np.full(n, plan.literal_code(d.default) if d.default is not None else 0, np.int64)
            local = np.full(n, values.index(d.default) if d.default is not None else -1, np.int16)
            valid = np.full(n, d.default is not None)
            undecided = np.ones(n, np.bool_)
            for w in d.whens:
                hit = _truth(*ev.expr(w.cond)) & undecided
                code[hit] = plan.literal_code(w.value)
                local[hit] = values.index(w.value)
                valid |= hit
                undecided &= ~hit
            ev.decls[name] = (code, None if valid.all() else valid)
            out.classes[cls_pos[name]] = local
    open_ = {}
    for ch in program.channels:
        open_[ch.name] = np.ones(n, np.bool_) if ch.cond is None else _truth(*ev.expr(ch.cond))
    for k, o in enumerate(program.offers):
        eligible = _truth(*ev.expr(o.eligible)) & bool(active[k])
        pv, pm = ev.expr(o.priority)
        chan = np.full(n, -2, np.int8)
        for c in reversed(o.channels):
            chan = np.where(open_[c], np.int8(plan.channels.index(c)), chan)
        state = np.where(eligible, chan, np.int8(-3))
        if pm is not None:
            state = np.where((state >= 0) & ~pm, np.int8(-1), state)
        out.cchan[:, k] = state
        out.cprio[:, k] = np.where(state >= 0, pv, np.nan)


class VectorExecutor:
    def __init__(self, program: ir.Program, plan: KernelPlan):
        self.program = program
        self.plan = plan

    def __call__(self, bound: Bound, active, today: int, out, job=None) -> None:
        # Matching runs after, on the candidates (engine/arbitration/arbitrate.py).
        run(self.program, self.plan, bound, active, today, out)
