"""The operator rules on plain values (LANGUAGE.md sections 4 and 5): an
operator of signatures.OPS and its argument values -> its value, one plain Python
rule per operator. The reference evaluator (engine/reference/) computes
with them, and so does the compiler's constant folding (compiler/fold.py),
so that the compiler never imports the engine.

Values are Python values: int, float, bool, str, datetime.date, and None for
null. Every rule of section 5 is applied in one place, `fit`: a float result
that is not finite, an int result outside int64 and a date outside years
1-9999 all become null.

    apply_op(op, result_type, args)   -> value
    RULES                              op -> rule on non-null arguments (and, or, coalesce see nulls)
    fit(t, v)                          a result as type t may hold it
    read_field(t, v)                   an input value as the language sees it (NaN reads as null)
"""
from __future__ import annotations

import calendar
import datetime as dt
import decimal
import math
import operator
from collections.abc import Callable
from typing import Any

from pol.compiler import signatures
from pol.compiler.types import Type

I64_MIN, I64_MAX = -(2 ** 63), 2 ** 63 - 1
_ORD_MIN, _ORD_MAX = dt.date.min.toordinal(), dt.date.max.toordinal()   # years 1 and 9999


def fit(t: Type, v: Any) -> Any:
    """Section 5 in one place: what a result of type t may be."""
    if v is None:
        return None
    if t == Type.FLOAT:
        return v if math.isfinite(v) else None
    if t == Type.INT:
        return v if I64_MIN <= v <= I64_MAX else None
    return v


# ---------------------------------------------------------------- operators

def _date_plus(d: dt.date, days: int) -> dt.date | None:
    o = d.toordinal() + days
    return dt.date.fromordinal(o) if _ORD_MIN <= o <= _ORD_MAX else None


def _add(a: Any, b: Any) -> Any:
    return _date_plus(a, b) if isinstance(a, dt.date) else a + b


def _sub(a: Any, b: Any) -> Any:
    if isinstance(a, dt.date):
        return a.toordinal() - b.toordinal() if isinstance(b, dt.date) else _date_plus(a, -b)
    return a - b


def _add_months(d: dt.date, n: int) -> dt.date | None:
    """n months later, on the same day or the month's last (LANGUAGE.md 4.8)."""
    y, m0 = divmod(d.year * 12 + d.month - 1 + n, 12)
    if not 1 <= y <= 9999:
        return None
    return dt.date(y, m0 + 1, min(d.day, calendar.monthrange(y, m0 + 1)[1]))


def _anniversary(d: dt.date, today: dt.date) -> int | None:
    """Days from today to the next day, today included, with d's month and
    day; 29 February falls on 28 February in a common year."""
    for y in (today.year, today.year + 1):
        if y > 9999:
            return None
        day = 28 if (d.month, d.day) == (2, 29) and not calendar.isleap(y) else d.day
        a = dt.date(y, d.month, day)
        if a >= today:
            return (a - today).days
    raise AssertionError("an anniversary comes within a year")


# Unicode's White_Space characters: what `trim` removes (LANGUAGE.md 4.8)
WHITE_SPACE = ("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
               "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


def _rank(s: str, names: list[str]) -> int:
    """`channel_rank`: where the string is among the names, -1 when it is not (LANGUAGE.md 3.10)."""
    return names.index(s) if s in names else -1


def _substring(s: str, start: int, count: int | None = None) -> str:
    """The characters at positions start .. start + count - 1 (the first is
    1; without a count, to the end) that exist."""
    lo, hi = max(start, 1), len(s) if count is None else min(start + count - 1, len(s))
    return s[lo - 1:hi] if hi >= lo else ""


def _div(a: float, b: float) -> float | None:
    return None if b == 0 else a / b


def _mod(a: Any, b: Any) -> Any:
    if b == 0:
        return None
    if isinstance(a, int):
        return a % b            # Python's int % is the floored remainder, any size
    r = math.fmod(a, b)
    if r != 0 and (r < 0) != (b < 0):
        r += b                  # fmod takes the dividend's sign; move it to the divisor's
    return r


def _round(x: Any, n: int) -> Any:
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


def _floor(x: Any) -> Any:
    return x if isinstance(x, int) else float(math.floor(x))


def _ceil(x: Any) -> Any:
    return x if isinstance(x, int) else float(math.ceil(x))


def _sqrt(x: float) -> float | None:
    return None if x < 0 else math.sqrt(x)


def _log(x: float) -> float | None:
    return None if x <= 0 else math.log(x)


def _and(*args: bool | None) -> bool | None:
    if any(a is False for a in args):
        return False
    return None if any(a is None for a in args) else True


def _or(*args: bool | None) -> bool | None:
    if any(a is True for a in args):
        return True
    return None if any(a is None for a in args) else False


def _coalesce(*args: Any) -> Any:
    return next((a for a in args if a is not None), None)


# op -> rule on argument values. Rules not in _NULL_AWARE never see a null:
# a null argument makes the result null before the rule runs. math.exp and
# math.pow raise on overflow or outside their domain (pow(0, -1),
# pow(-8, 1/3)); those become null as well.
RULES: dict[str, Callable[..., Any]] = {
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
    "make_date": dt.date,      # ValueError, OverflowError: no such day -> null
    "add_months": _add_months,
    "weekday": lambda d: d.isoweekday(),
    "day_of_year": lambda d: d.timetuple().tm_yday,
    "anniversary": _anniversary,
    "hour": lambda t: t.hour,
    "minute": lambda t: t.minute,
    "ts_date": lambda t: t.date(),
    "starts_with": lambda s, lit: s.startswith(lit),
    "ends_with": lambda s, lit: s.endswith(lit),
    "contains": lambda s, lit: lit in s,
    "length": len,
    "channel_rank": lambda s, names: _rank(s, names.split(",")),
    "upper": str.upper,
    "lower": str.lower,
    "trim": lambda s: s.strip(WHITE_SPACE),
    "substring": _substring,
    "concat": lambda *a: "".join(a),
    "member": lambda x, values: x in values,
    "list_has": lambda x, values: x in values,
    "list_count": len,
}
_NULL_AWARE = frozenset({"and", "or", "coalesce"})
rule = signatures.rule_table("the reference evaluator", RULES)


def apply_op(op: str, result_type: Type, args: list[Any]) -> Any:
    """An operator of signatures.OPS on argument values (None for null) -> its value."""
    if op not in _NULL_AWARE and any(a is None for a in args):
        return None
    try:
        v = rule(op)(*args)
    except (OverflowError, ValueError, ZeroDivisionError):
        return None
    return fit(result_type, v)


_LISTS = frozenset({Type.LIST_INT, Type.LIST_STRING})


def read_field(t: Type, v: Any) -> Any:
    """An input value as the language sees it: NaN and infinities read as
    null; a list's null elements are dropped (LANGUAGE.md 3.3)."""
    if v is not None and t in _LISTS:
        return tuple(x for x in v if x is not None)
    if t == Type.FLOAT and v is not None:
        v = float(v)
        return v if math.isfinite(v) else None
    return v
