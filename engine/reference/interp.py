"""The reference evaluator: a checked ir.Program and one customer record ->
every value the policy computes for that customer (RowResult), with a trace
that says why conditions failed.

Written from LANGUAGE.md (sections 4, 5 and 9), one plain Python rule per
operator, so that it can serve as the oracle the compiled kernels are
measured against. Speed is not a goal; being obviously right is.

Values are Python values: int, float, bool, str, datetime.date, and None for
null. Every rule of section 5 is applied in one place, `_fit`: a float result
that is not finite, an int result outside int64 and a date outside years
1-9999 all become null.

    eval_expr(expr, env)                            -> value
    evaluate_row(program, record, as_of, params)    -> RowResult
    why_not(expr, env, want=True)                   -> culprits: why expr is not `want`
    null_sources(expr, env)                         -> culprits: where a null comes from
    values_behind(expr, env)                        -> (name or sub-expression, value) pairs
    render(expr)                                    -> the expression as policy text
"""
from __future__ import annotations

import datetime as dt
import decimal
import math
import operator
from dataclasses import dataclass, field
from typing import Callable, Mapping

from pol.compiler import ir
from pol.compiler.types import Type
from pol.errors import DataError
from pol.api.params import resolve_params

I64_MIN, I64_MAX = -(2 ** 63), 2 ** 63 - 1
_ORD_MIN, _ORD_MAX = dt.date.min.toordinal(), dt.date.max.toordinal()   # years 1 and 9999


# ---------------------------------------------------------------- environment

@dataclass
class Env:
    """What an expression reads: input fields, params, the as-of date, and the
    values of the lets, segments, classifications and scores computed so far.
    `exprs` (name -> expression of each let and segment) lets the tracer look
    through them; evaluation does not need it."""
    fields: Mapping[str, object]
    params: Mapping[str, object] = field(default_factory=dict)
    today: dt.date = dt.date(1970, 1, 1)
    decls: Mapping[str, object] = field(default_factory=dict)
    exprs: Mapping[str, ir.Expr] = field(default_factory=dict)


def _fit(t: Type, v):
    """Section 5 in one place: what a result of type t may be."""
    if v is None:
        return None
    if t == Type.FLOAT:
        return v if math.isfinite(v) else None
    if t == Type.INT:
        return v if I64_MIN <= v <= I64_MAX else None
    return v


# ---------------------------------------------------------------- operators

def _date_plus(d: dt.date, days: int):
    o = d.toordinal() + days
    return dt.date.fromordinal(o) if _ORD_MIN <= o <= _ORD_MAX else None


def _add(a, b):
    return _date_plus(a, b) if isinstance(a, dt.date) else a + b


def _sub(a, b):
    if isinstance(a, dt.date):
        return a.toordinal() - b.toordinal() if isinstance(b, dt.date) else _date_plus(a, -b)
    return a - b


def _div(a: float, b: float):
    return None if b == 0 else a / b


def _mod(a, b):
    if b == 0:
        return None
    if isinstance(a, int):
        return a % b            # Python's int % is the floored remainder, any size
    r = math.fmod(a, b)
    if r != 0 and (r < 0) != (b < 0):
        r += b                  # fmod takes the dividend's sign; move it to the divisor's
    return r


def _round(x, n: int):
    """Half away from zero, on the exact binary value of a float."""
    if isinstance(x, int):
        if n >= 0:
            return x
        q = 10 ** min(-n, 40)   # beyond 10**40 every int64 rounds to 0 anyway
        r = (abs(x) + q // 2) // q * q
        return r if x >= 0 else -r
    # A double has at most 1074 digits after the point and 309 before it: past
    # those bounds rounding is the identity, or gives zero.
    n = max(min(n, 1100), -400)
    ctx = decimal.Context(prec=2000, rounding=decimal.ROUND_HALF_UP,
                          Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)
    q = decimal.Decimal(x).quantize(decimal.Decimal((0, (1,), -n)), context=ctx)
    return float(q)


def _floor(x):
    return x if isinstance(x, int) else float(math.floor(x))


def _ceil(x):
    return x if isinstance(x, int) else float(math.ceil(x))


def _sqrt(x):
    return None if x < 0 else math.sqrt(x)


def _log(x):
    return None if x <= 0 else math.log(x)


def _and(*args):
    if any(a is False for a in args):
        return False
    return None if any(a is None for a in args) else True


def _or(*args):
    if any(a is True for a in args):
        return True
    return None if any(a is None for a in args) else False


def _coalesce(*args):
    return next((a for a in args if a is not None), None)


# op -> rule on argument values. Rules not in _NULL_AWARE never see a null:
# a null argument makes the result null before the rule runs. math.exp and
# math.pow raise on overflow or outside their domain (pow(0, -1),
# pow(-8, 1/3)); those become null as well.
RULES: dict[str, Callable] = {
    "add": _add,
    "sub": _sub,
    "mul": operator.mul,
    "div": _div,
    "mod": _mod,
    "neg": operator.neg,
    "to_float": float,
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
    "between": lambda x, lo, hi: lo <= x <= hi,
    "and": _and,
    "or": _or,
    "not": operator.not_,
    "abs": abs,
    "floor": _floor,
    "ceil": _ceil,
    "round": _round,
    "min": lambda *a: min(a),
    "max": lambda *a: max(a),
    "clamp": lambda x, lo, hi: min(max(x, lo), hi),
    "sqrt": _sqrt,
    "exp": math.exp,
    "log": _log,
    "pow": math.pow,
    "coalesce": _coalesce,
    "year": lambda d: d.year,
    "month": lambda d: d.month,
    "day": lambda d: d.day,
    "starts_with": lambda s, lit: s.startswith(lit),
    "ends_with": lambda s, lit: s.endswith(lit),
    "contains": lambda s, lit: lit in s,
    "length": len,
}
_NULL_AWARE = frozenset({"and", "or", "coalesce"})


def apply_op(op: str, result_type: Type, args: list):
    """An operator of ir.OPS on argument values (None for null) -> its value."""
    if op not in _NULL_AWARE and any(a is None for a in args):
        return None
    try:
        v = RULES[op](*args)
    except (OverflowError, ValueError, ZeroDivisionError):
        return None
    return _fit(result_type, v)


# ---------------------------------------------------------------- expressions

def read_field(t: Type, v):
    """An input value as the language sees it: NaN and infinities read as null."""
    if t == Type.FLOAT and v is not None:
        v = float(v)
        return v if math.isfinite(v) else None
    return v


def eval_expr(expr: ir.Expr, env: Env):
    """The value of an expression for one customer: a Python value, None for null."""
    # An expression may nest thousands of levels (a long sum is left-nested),
    # so it is walked on a stack of its own, not Python's: `todo` holds
    # nodes to visit and, as (node,), nodes whose operands are done, whose
    # values wait at the end of `values`.
    todo: list = [expr]
    values: list = []
    while todo:
        e = todo.pop()
        if type(e) is tuple:
            e = e[0]
            if isinstance(e, ir.Call):
                n = len(e.args)
                args = values[-n:]
                del values[-n:]
                values.append(apply_op(e.op, e.type, args))
            elif isinstance(e, ir.If):
                # only a true condition takes `then`; false and null take `else`
                todo.append(e.then if values.pop() is True else e.else_)
            elif isinstance(e, ir.InSet):
                v = values.pop()
                values.append(None if v is None else (v in e.values) != e.negated)
            else:
                values.append((values.pop() is None) != e.negated)      # IsNull
        elif isinstance(e, ir.Call):
            todo.append((e,))
            todo.extend(reversed(e.args))
        elif isinstance(e, ir.FieldRef):
            values.append(read_field(e.type, env.fields.get(e.name)))
        elif isinstance(e, ir.Literal):
            values.append(_fit(e.type, e.value))
        elif isinstance(e, ir.ParamRef):
            values.append(env.params[e.name])
        elif isinstance(e, ir.DeclRef):
            values.append(env.decls[e.name])
        elif isinstance(e, ir.Today):
            values.append(env.today)
        elif isinstance(e, ir.If):
            todo.append((e,))
            todo.append(e.cond)
        elif isinstance(e, (ir.InSet, ir.IsNull)):
            todo.append((e,))
            todo.append(e.operand)
        else:
            raise TypeError(f"not an IR expression: {type(e).__name__}")
    return values[0]


# ---------------------------------------------------------------- rendering

_BINARY = {"add": ("+", 6), "sub": ("-", 6), "mul": ("*", 7), "div": ("/", 7), "mod": ("%", 7),
           "eq": ("==", 5), "ne": ("!=", 5), "lt": ("<", 5), "le": ("<=", 5), "gt": (">", 5),
           "ge": (">=", 5), "and": ("and", 3), "or": ("or", 2)}


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}


def _literal_text(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + "".join(_ESCAPES.get(ch) or (f"\\u{ord(ch):04x}" if ord(ch) < 0x20 else ch) for ch in v) + '"'
    if isinstance(v, dt.date):
        return v.isoformat()
    return repr(v)


def value_text(v) -> str:
    """A value as a policy author would write it (floats exactly: repr)."""
    return _literal_text(v)


def _level(e: ir.Expr) -> int:
    if isinstance(e, ir.If):
        return 1
    if isinstance(e, ir.Call):
        if e.op in _BINARY:
            return _BINARY[e.op][1]
        if e.op == "not":
            return 4
        if e.op == "between":
            return 5
        if e.op == "neg":
            return 8
        if e.op == "to_float":
            return _level(e.args[0])
    if isinstance(e, (ir.InSet, ir.IsNull)):
        return 5
    if isinstance(e, ir.Literal) and isinstance(e.value, (int, float)) and not isinstance(e.value, bool) \
            and (e.value < 0 or math.copysign(1.0, e.value) < 0):
        return 8
    return 9


def render(e: ir.Expr) -> str:
    """An expression as policy text, with the parentheses its precedence needs.
    Conversions the checker made explicit (to_float) are left out again."""
    def sub(x: ir.Expr, least: int) -> str:
        text = render(x)
        return f"({text})" if _level(x) < least else text

    if isinstance(e, ir.Literal):
        # a float stays a float (`20.0`): written `20`, it would be an int
        return _literal_text(e.value)
    if isinstance(e, (ir.FieldRef, ir.ParamRef, ir.DeclRef)):
        return e.name
    if isinstance(e, ir.Today):
        return "today"
    if isinstance(e, ir.If):
        return f"if {sub(e.cond, 2)} then {sub(e.then, 2)} else {sub(e.else_, 2)}"
    if isinstance(e, ir.InSet):
        values = ", ".join(_literal_text(v) for v in e.values)
        return f"{sub(e.operand, 6)} {'not in' if e.negated else 'in'} ({values})"
    if isinstance(e, ir.IsNull):
        return f"{sub(e.operand, 6)} is {'not null' if e.negated else 'null'}"
    if not isinstance(e, ir.Call):
        raise TypeError(f"not an IR expression: {type(e).__name__}")
    a = e.args
    if e.op == "to_float":
        return render(a[0])
    if e.op in _BINARY:
        symbol, level = _BINARY[e.op]
        if level == 5:      # comparisons do not chain
            return f"{sub(a[0], 6)} {symbol} {sub(a[1], 6)}"
        # Left-associative: a right operand of the same level needs parentheses.
        # An `and` inside an `or` gets them too, though it binds tighter: that
        # is how authors write it, and how a reader checks it.
        def operand(x: ir.Expr, least: int) -> str:
            if e.op == "or" and isinstance(x, ir.Call) and x.op == "and":
                return f"({render(x)})"
            return sub(x, least)
        return f" {symbol} ".join([operand(a[0], level)] + [operand(x, level + 1) for x in a[1:]])
    if e.op == "not":
        return f"not {sub(a[0], 4)}"
    if e.op == "neg":
        text = sub(a[0], 8)
        return f"- {text}" if text.startswith("-") else f"-{text}"
    if e.op == "between":
        return f"{sub(a[0], 6)} between {sub(a[1], 6)} and {sub(a[2], 6)}"
    if e.op == "round" and isinstance(a[1], ir.Literal) and a[1].value == 0:
        return f"round({render(a[0])})"
    return f"{e.op}({', '.join(render(x) for x in a)})"


# ---------------------------------------------------------------- tracing

@dataclass(frozen=True)
class Culprit:
    """A part of a condition that was false or null (or true, under `not`),
    with the values it read. `because` looks inside a segment or let it names."""
    text: str
    value: object
    inputs: tuple[tuple[str, object], ...] = ()
    because: tuple["Culprit", ...] = ()
    line: int | None = None


def inputs_of(expr: ir.Expr, env: Env) -> tuple[tuple[str, object], ...]:
    """The fields, params, declarations and `today` an expression reads, with
    their values; through lets, the fields behind them too."""
    out: dict[str, object] = {}
    seen: set[str] = set()

    def visit(e: ir.Expr) -> None:
        for node in ir.walk(e):
            if isinstance(node, (ir.FieldRef, ir.ParamRef, ir.DeclRef, ir.Today)):
                name = "today" if isinstance(node, ir.Today) else node.name
                if name not in out:
                    out[name] = eval_expr(node, env)
                if isinstance(node, ir.DeclRef) and node.kind == "let" and name not in seen \
                        and name in env.exprs:
                    seen.add(name)
                    visit(env.exprs[name])
    visit(expr)
    return tuple(out.items())


_COMPARISONS = frozenset({"eq", "ne", "lt", "le", "gt", "ge", "between"})


def _operands(e: ir.Expr) -> tuple[ir.Expr, ...]:
    """The computed operands of a comparison, whose values a reader wants to see."""
    if isinstance(e, ir.Call) and e.op in _COMPARISONS:
        args = e.args
    elif isinstance(e, (ir.InSet, ir.IsNull)):
        args = (e.operand,)
    else:
        return ()
    out = []
    for a in args:
        while isinstance(a, ir.Call) and a.op == "to_float":
            a = a.args[0]
        if isinstance(a, (ir.Call, ir.If)):
            out.append(a)
    return tuple(out)


def values_behind(e: ir.Expr, env: Env) -> tuple[tuple[str, object], ...]:
    """What a reader needs to check a condition by hand: the values of a
    comparison's computed operands (`x + 1 = 6`), then inputs_of."""
    computed = tuple((render(a), eval_expr(a, env)) for a in _operands(e))
    return computed + inputs_of(e, env)


def _leaf(e: ir.Expr, env: Env, value, because: tuple[Culprit, ...] = ()) -> Culprit:
    return Culprit(render(e), value, values_behind(e, env), because,
                   e.span.line if e.span is not None else None)


def why_not(expr: ir.Expr, env: Env, want: bool = True, depth: int = 4) -> tuple[Culprit, ...]:
    """Why a bool expression is not `want`: the smallest parts of it, through
    and/or/not and into segments and lets, that made it so. Empty when it is."""
    v = eval_expr(expr, env)
    if v is want:
        return ()
    if isinstance(expr, ir.Call) and expr.op == "not":
        return why_not(expr.args[0], env, not want, depth)
    if isinstance(expr, ir.Call) and expr.op in ("and", "or"):
        # For `and` wanted true (or `or` wanted false) any one operand decides:
        # blame those that carry the result itself (the false ones of a false
        # `and`, the null ones of a null one). Otherwise every operand that is
        # not `want` stands in the way.
        decisive = (expr.op == "and") == want
        parts: list[Culprit] = []
        for a in expr.args:
            av = eval_expr(a, env)
            if av is v if decisive else av is not want:
                parts.extend(why_not(a, env, want, depth))
        return tuple(parts)
    if isinstance(expr, ir.DeclRef) and expr.name in env.exprs and expr.type == Type.BOOL and depth > 0:
        # A segment is false when its expression is false or null, and true
        # when it is true: either way the expression says why.
        return (_leaf(expr, env, v, why_not(env.exprs[expr.name], env, want, depth - 1)),)
    return (_leaf(expr, env, v),)


def null_sources(expr: ir.Expr, env: Env, depth: int = 4) -> tuple[Culprit, ...]:
    """Where a null comes from: the innermost parts that are null although
    what they read is not (a null field, a division by zero, log of 0...)."""
    if eval_expr(expr, env) is not None:
        return ()
    if isinstance(expr, ir.If):
        branch = expr.then if eval_expr(expr.cond, env) is True else expr.else_
        return null_sources(branch, env, depth)
    if isinstance(expr, ir.DeclRef) and expr.name in env.exprs and depth > 0:
        return null_sources(env.exprs[expr.name], env, depth - 1) or (_leaf(expr, env, None),)
    parts: list[Culprit] = []
    for c in ir.children(expr):
        parts.extend(null_sources(c, env, depth))
    return tuple(parts) or (_leaf(expr, env, None),)


# ---------------------------------------------------------------- one customer

@dataclass(frozen=True)
class OfferState:
    """One offer for one customer, before matching."""
    name: str
    in_window: bool
    eligible: bool | None
    priority: float | None
    channel: str | None       # the first open channel, in the offer's order
    candidate: bool


@dataclass(frozen=True)
class Trace:
    """Why things came out as they did, for `explain` and test reports.

    whens: classification -> index of the `when` that matched, -1 for the
    `else`, None when nothing matched. The other maps hold only what failed:
    segments that are false, channels that are closed, offers whose
    `eligible` is not true (why_not), offers whose priority is null
    (null_sources)."""
    whens: dict[str, int | None]
    segments: dict[str, tuple[Culprit, ...]]
    channels: dict[str, tuple[Culprit, ...]]
    eligible: dict[str, tuple[Culprit, ...]]
    priority: dict[str, tuple[Culprit, ...]]


@dataclass(frozen=True)
class RowResult:
    key: object
    as_of: dt.date
    fields: dict[str, object]      # the record as read: every input field, None for null
    params: dict[str, object]
    values: dict[str, object]      # every let, segment, classification and score
    channels: dict[str, bool]      # open or not
    offers: dict[str, OfferState]  # declaration order
    env: Env
    trace: Trace | None = None

    def candidates(self) -> list[OfferState]:
        return [o for o in self.offers.values() if o.candidate]


def read_record(program: ir.Program, record: Mapping) -> dict[str, object]:
    """A record (field -> Python value) as the policy reads it: every input
    field, missing ones null, floats that are not finite null. A value of the
    wrong kind raises DataError naming the field."""
    out: dict[str, object] = {}
    for f in program.input.fields:
        v = record.get(f.name)
        out[f.name] = None if v is None else _convert(f, v)
    return out


def _convert(f: ir.InputField, v):
    def bad(why: str = ""):
        return DataError(f"field '{f.name}' is {f.type}; got {v!r}{why}", column=f.name)

    if f.type == Type.INT:
        if isinstance(v, bool) or not isinstance(v, int):
            raise bad()
        if not I64_MIN <= v <= I64_MAX:
            raise bad(" (ints are 64-bit)")
        return int(v)
    if f.type == Type.FLOAT:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise bad()
        try:
            return read_field(Type.FLOAT, v)
        except OverflowError:
            raise bad(" (too large for a float)") from None
    if f.type == Type.BOOL:
        if not isinstance(v, bool):
            raise bad()
        return v
    if f.type == Type.STRING:
        if not isinstance(v, str):
            raise bad()
        return v
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str):
        try:
            return dt.date.fromisoformat(v)
        except ValueError:
            raise bad(" (write dates as YYYY-MM-DD)") from None
    raise bad()


def in_window(offer: ir.Offer, as_of: dt.date) -> bool:
    return ((offer.valid_from is None or offer.valid_from <= as_of)
            and (offer.valid_to is None or as_of <= offer.valid_to))


def evaluate_row(program: ir.Program, record: Mapping, as_of: dt.date, params: Mapping | None = None,
                 *, trace: bool = True) -> RowResult:
    """Everything the policy computes for one customer, before offer matching.

    record: field -> int, float, bool, str or datetime.date (None, or left
    out, for null). params: overrides of the declared defaults, converted
    as pol.api.params does. trace=False skips the explanations."""
    fields = read_record(program, record)
    params = resolve_params(program, dict(params or {}))
    decls: dict[str, object] = {}
    exprs: dict[str, ir.Expr] = {d.name: d.expr for d in program.lets + program.segments}
    env = Env(fields, params, as_of, decls, exprs)
    by_name = {d.name: d for d in program.lets + program.segments + program.classifies + program.scores}
    whens: dict[str, int | None] = {}

    for name in program.order:
        d = by_name[name]
        if isinstance(d, ir.Segment):
            decls[name] = eval_expr(d.expr, env) is True      # null: not in the segment
        elif isinstance(d, ir.Classify):
            index = next((k for k, w in enumerate(d.whens) if eval_expr(w.cond, env) is True), None)
            if index is None and d.default is not None:
                index = -1
            whens[name] = index
            decls[name] = None if index is None else d.default if index == -1 else d.whens[index].value
        else:       # let or score (a score's expression is float already)
            decls[name] = eval_expr(d.expr, env)

    channels = {c.name: c.cond is None or eval_expr(c.cond, env) is True for c in program.channels}
    offers: dict[str, OfferState] = {}
    for o in program.offers:
        eligible = eval_expr(o.eligible, env)
        priority = eval_expr(o.priority, env)
        channel = next((c for c in o.channels if channels[c]), None)
        window = in_window(o, as_of)
        offers[o.name] = OfferState(o.name, window, eligible, priority, channel,
                                    window and eligible is True and priority is not None and channel is not None)

    tr = None
    if trace:
        tr = Trace(
            whens=whens,
            segments={s.name: why_not(s.expr, env) for s in program.segments if not decls[s.name]},
            channels={c.name: why_not(c.cond, env) for c in program.channels if not channels[c.name]},
            eligible={o.name: why_not(o.eligible, env) for o in program.offers
                      if offers[o.name].eligible is not True},
            priority={o.name: null_sources(o.priority, env) for o in program.offers
                      if offers[o.name].priority is None},
        )
    values = {name: decls[name] for name in program.order}
    return RowResult(fields.get(program.input.key), as_of, fields, params, values,
                     channels, offers, env, tr)
