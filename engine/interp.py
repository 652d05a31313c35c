"""The reference evaluator: ir.Program + one record -> every value, row at a
time, in plain Python, written from LANGUAGE.md alone.

It is the oracle the compiled kernel and the vectorized evaluator are tested
against, and it powers `explain` and policy tests. Values are Python values;
None is null. Ints are Python ints checked against the int64 range; floats
are Python floats; dates are datetime.date.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext

from pol.compiler import ir
from pol.compiler.types import Type

I64_MIN, I64_MAX = -(2 ** 63), 2 ** 63 - 1
DATE_MIN, DATE_MAX = dt.date(1, 1, 1), dt.date(9999, 12, 31)


def _int(v):
    return v if v is not None and I64_MIN <= v <= I64_MAX else None


def _float(v):
    return v if v is not None and math.isfinite(v) else None


def _date_plus(d: dt.date, days: int):
    try:
        return d + dt.timedelta(days=days)
    except OverflowError:
        return None


def _round(x, n: int, t: Type):
    with localcontext(Context(prec=800)):
        return _round_exact(x, n, t)


def _round_exact(x, n: int, t: Type):
    if t == Type.INT:
        if n >= 0:
            return x
        q = Decimal(x).scaleb(n).quantize(Decimal(1), rounding=ROUND_HALF_UP).scaleb(-n)
        return _int(int(q))
    q = Decimal(x).quantize(Decimal(1).scaleb(-n), rounding=ROUND_HALF_UP)
    return _float(float(q))


def _floor_mod_float(a: float, b: float):
    m = math.fmod(a, b)
    if m != 0.0:
        if (b < 0.0) != (m < 0.0):
            m += b
    else:
        m = math.copysign(0.0, b)
    return _float(m)


def _pow(a: float, b: float):
    try:
        return _float(math.pow(a, b))
    except (ValueError, OverflowError, ZeroDivisionError):
        return None


def apply(op: str, t: Type, args: list):
    """One operator on already-evaluated, non-null arguments (null rules are
    the caller's)."""
    if op == "add":
        if isinstance(args[0], dt.date):
            return _date_plus(args[0], args[1])
        return _int(args[0] + args[1]) if t == Type.INT else _float(args[0] + args[1])
    if op == "sub":
        a, b = args
        if isinstance(a, dt.date):
            return (a - b).days if isinstance(b, dt.date) else _date_plus(a, -b)
        return _int(a - b) if t == Type.INT else _float(a - b)
    if op == "mul":
        return _int(args[0] * args[1]) if t == Type.INT else _float(args[0] * args[1])
    if op == "div":
        return None if args[1] == 0 else _float(args[0] / args[1])
    if op == "mod":
        a, b = args
        if b == 0:
            return None
        return _int(a % b) if t == Type.INT else _floor_mod_float(a, b)
    if op == "neg":
        return _int(-args[0]) if t == Type.INT else -args[0]
    if op == "to_float":
        return float(args[0])
    if op in ("eq", "ne", "lt", "le", "gt", "ge"):
        a, b = args
        return {"eq": a == b, "ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[op]
    if op == "between":
        return args[1] <= args[0] <= args[2]
    if op == "not":
        return not args[0]
    if op == "abs":
        return _int(abs(args[0])) if t == Type.INT else abs(args[0])
    if op == "floor":
        return args[0] if t == Type.INT else float(math.floor(args[0]))
    if op == "ceil":
        return args[0] if t == Type.INT else float(math.ceil(args[0]))
    if op == "round":
        return _round(args[0], args[1], t)
    if op == "min":
        return min(args)
    if op == "max":
        return max(args)
    if op == "clamp":
        return min(max(args[0], args[1]), args[2])
    if op == "sqrt":
        return None if args[0] < 0 else math.sqrt(args[0])
    if op == "exp":
        try:
            return _float(math.exp(args[0]))
        except OverflowError:
            return None
    if op == "log":
        return None if args[0] <= 0 else _float(math.log(args[0]))
    if op == "pow":
        return _pow(args[0], args[1])
    if op == "year":
        return args[0].year
    if op == "month":
        return args[0].month
    if op == "day":
        return args[0].day
    if op == "starts_with":
        return args[0].startswith(args[1])
    if op == "ends_with":
        return args[0].endswith(args[1])
    if op == "contains":
        return args[1] in args[0]
    if op == "length":
        return len(args[0])
    raise NotImplementedError(f"no reference rule for operator {op!r}")


@dataclass
class Env:
    fields: dict
    params: dict
    today: dt.date
    decls: dict = field(default_factory=dict)


def eval_expr(e: ir.Expr, env: Env):
    if isinstance(e, ir.Literal):
        return e.value
    if isinstance(e, ir.FieldRef):
        return env.fields.get(e.name)
    if isinstance(e, ir.ParamRef):
        return env.params.get(e.name)
    if isinstance(e, ir.DeclRef):
        return env.decls[e.name]
    if isinstance(e, ir.Today):
        return env.today
    if isinstance(e, ir.If):
        return eval_expr(e.then if eval_expr(e.cond, env) is True else e.else_, env)
    if isinstance(e, ir.IsNull):
        isnull = eval_expr(e.operand, env) is None
        return not isnull if e.negated else isnull
    if isinstance(e, ir.InSet):
        v = eval_expr(e.operand, env)
        if v is None:
            return None
        return (v not in e.values) if e.negated else (v in e.values)
    op = e.op
    if op == "and":
        a, b = eval_expr(e.args[0], env), eval_expr(e.args[1], env)
        if a is False or b is False:
            return False
        return True if a is True and b is True else None
    if op == "or":
        a, b = eval_expr(e.args[0], env), eval_expr(e.args[1], env)
        if a is True or b is True:
            return True
        return False if a is False and b is False else None
    if op == "coalesce":
        for a in e.args:
            v = eval_expr(a, env)
            if v is not None:
                return v
        return None
    args = [eval_expr(a, env) for a in e.args]
    if any(a is None for a in args):
        return None
    return apply(op, e.type, args)


def clean_record(program: ir.Program, record: dict) -> dict:
    """Input values as the language sees them: NaN and infinities are null."""
    out = {}
    for f in program.input.fields:
        v = record.get(f.name)
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        if f.type == Type.FLOAT and v is not None and not isinstance(v, bool):
            v = float(v)
        if f.type == Type.DATE and isinstance(v, dt.datetime):
            v = v.date()
        out[f.name] = v
    return out


@dataclass
class OfferState:
    in_window: bool
    eligible: bool | None
    priority: float | None
    channel: str | None        # the first open channel, in the offer's order
    candidate: bool


@dataclass
class RowResult:
    values: dict               # let, segment (collapsed), classify, score -> value
    matched: dict              # classify name -> index of the `when` that matched, -1 else, None no match
    channels: dict             # channel -> open
    offers: dict               # offer -> OfferState
    env: Env


def evaluate_row(program: ir.Program, record: dict, as_of: dt.date, params: dict) -> RowResult:
    env = Env(clean_record(program, record), params, as_of)
    index = {d.name: d for d in (*program.lets, *program.segments, *program.classifies, *program.scores)}
    matched = {}
    for name in program.order:
        d = index[name]
        if isinstance(d, ir.Segment):
            env.decls[name] = eval_expr(d.expr, env) is True
        elif isinstance(d, ir.Classify):
            env.decls[name], matched[name] = None, None
            for k, w in enumerate(d.whens):
                if eval_expr(w.cond, env) is True:
                    env.decls[name], matched[name] = w.value, k
                    break
            else:
                if d.default is not None:
                    env.decls[name], matched[name] = d.default, -1
        elif isinstance(d, ir.Score):
            v = eval_expr(d.expr, env)
            env.decls[name] = None if v is None else float(v)
        else:
            env.decls[name] = eval_expr(d.expr, env)
    channels = {c.name: c.cond is None or eval_expr(c.cond, env) is True for c in program.channels}
    offers = {}
    for o in program.offers:
        in_window = (o.valid_from is None or o.valid_from <= as_of) and (o.valid_to is None or as_of <= o.valid_to)
        eligible = eval_expr(o.eligible, env)
        prio = eval_expr(o.priority, env)
        chan = next((c for c in o.channels if channels[c]), None)
        candidate = in_window and eligible is True and prio is not None and chan is not None
        offers[o.name] = OfferState(in_window, eligible, None if prio is None else float(prio), chan, candidate)
    return RowResult(dict(env.decls), matched, channels, offers, env)
