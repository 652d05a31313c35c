"""Where a condition is true: a checked ir condition -> Region, for the
checker's warnings (compiler/frontend/lint.py) about conditions that can never
be true and classification rules that earlier rules already take.

A Region is the set of customers for whom a condition is TRUE (false and
null both fail a condition, LANGUAGE.md section 5), written as a union of
boxes. A box is a conjunction of constraints `operand in values`, where the
operand is an IR expression (compared as IR, spans ignored) and the values
an IntervalSet. A constraint never holds for a null operand, and that is what
keeps the reasoning exact under three-valued logic:

    TRUE(a and b) = TRUE(a) & TRUE(b)      FALSE(a and b) = FALSE(a) | FALSE(b)
    TRUE(a or b)  = TRUE(a) | TRUE(b)      FALSE(a or b)  = FALSE(a) & FALSE(b)
    TRUE(not a)   = FALSE(a)               FALSE(not a)   = TRUE(a)
    TRUE(x < 5)   = {x in (-inf, 5)}       FALSE(x < 5)   = {x in [5, +inf)}

Comparisons (== != < <= > >=, between, in) of a param-free expression with
literals become intervals of that expression; any other bool expression is
an opaque constraint `expr in {true}` (or `{false}` for FALSE). Parts made of
literals only are folded by the reference rules (compiler/fold.py), so `1 > 2` is false.

    region(cond)              -> Region (list of boxes; [] never true, [{}] always)
    covers(earlier, region)   -> True when every customer of `region` is in one of `earlier`

`covers` is sound, not complete: True means it surely holds, False that it
could not be shown.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from pol.compiler import ir
from pol.compiler.fold import NOT_CONSTANT, fold, is_constant
from pol.compiler.types import Type

# A bound is (value, closed); None is an infinity. An interval is (low, high).
# Values are those of the operand's type (int, float, string, date, timestamp;
# a bool as 0 or 1), compared with < and ==.
Bound = tuple[Any, bool] | None
Interval = tuple[Bound, Bound]
IntervalSet = tuple[Interval, ...]      # sorted, disjoint, normalized intervals
Box = dict[ir.Expr, IntervalSet]        # operand -> the values it takes
Region = list[Box]
# How a discrete type steps from one value to the next.
Step = int | dt.timedelta

# Discrete types step from one value to the next: their bounds are kept closed.
_STEP: dict[Type, Step] = {Type.INT: 1, Type.BOOL: 1, Type.DATE: dt.timedelta(days=1),
                           Type.TIMESTAMP: dt.timedelta(microseconds=1)}
# Conjunctions of disjunctions multiply boxes; past this, a condition is kept opaque.
MAX_BOXES = 64
_COMPARE = {"eq", "ne", "lt", "le", "gt", "ge"}
_FLIP = {"eq": "eq", "ne": "ne", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}


# ---------------------------------------------------------------- interval sets

def _shift(v: Any, step: Step, up: bool) -> Any:
    try:
        return v + step if up else v - step
    except OverflowError:           # past the last date: no such value
        return None


def normalize(intervals: Iterable[Interval], t: Type) -> IntervalSet:
    """Intervals of values of type t -> sorted, disjoint, merged, and for
    discrete types with closed bounds only."""
    step = _STEP.get(t)
    out: list[Interval] = []
    for lo, hi in intervals:
        if step is not None:
            if lo is not None and not lo[1]:
                v = _shift(lo[0], step, True)
                if v is None:
                    continue
                lo = (v, True)
            if hi is not None and not hi[1]:
                v = _shift(hi[0], step, False)
                if v is None:
                    continue
                hi = (v, True)
        if lo is not None and hi is not None and (lo[0] > hi[0] or lo[0] == hi[0] and not (lo[1] and hi[1])):
            continue
        out.append((lo, hi))
    out.sort(key=lambda iv: (iv[0] is not None, iv[0][0] if iv[0] else 0, not (iv[0] and iv[0][1])))
    merged: list[Interval] = []
    for lo, hi in out:
        if merged and _touches(merged[-1][1], lo, step):
            prev_lo, prev_hi = merged[-1]
            merged[-1] = (prev_lo, _max_hi(prev_hi, hi))
        else:
            merged.append((lo, hi))
    return tuple(merged)


def _touches(hi: Bound, lo: Bound, step: Step | None) -> bool:
    """Whether an interval ending at `hi` overlaps or meets one starting at `lo` (lo sorted after)."""
    if hi is None or lo is None:
        return True
    if step is not None:
        nxt = _shift(hi[0], step, True)
        return nxt is None or lo[0] <= nxt
    return bool(lo[0] < hi[0] or lo[0] == hi[0] and (lo[1] or hi[1]))


def _max_hi(a: Bound, b: Bound) -> Bound:
    if a is None or b is None:
        return None
    if a[0] != b[0]:
        return a if a[0] > b[0] else b
    return (a[0], a[1] or b[1])


def complement(s: IntervalSet, t: Type) -> IntervalSet:
    """Every non-null value of type t that is not in s."""
    out: list[Interval] = []
    lo: Bound = None                # the next gap starts at lo (None: -inf)
    for a, b in s:
        if a is not None:
            out.append((lo, (a[0], not a[1])))
        if b is None:
            return normalize(out, t)
        lo = (b[0], not b[1])
    out.append((lo, None))
    return normalize(out, t)


def union(a: IntervalSet, b: IntervalSet, t: Type) -> IntervalSet:
    return normalize(list(a) + list(b), t)


def intersect(a: IntervalSet, b: IntervalSet, t: Type) -> IntervalSet:
    return complement(union(complement(a, t), complement(b, t), t), t)


def subset(a: IntervalSet, b: IntervalSet, t: Type) -> bool:
    return not intersect(a, complement(b, t), t)


def point(v: Any, t: Type) -> IntervalSet:
    return normalize([((v, True), (v, True))], t)



# ---------------------------------------------------------------- conditions -> regions

def _param_free(e: ir.Expr) -> bool:
    return not any(isinstance(n, ir.ParamRef) for n in ir.walk(e))


def _value(v: Any, t: Type) -> Any:
    return int(v) if t == Type.BOOL else v


def _atom(e: ir.Expr, want: bool) -> Region:
    """An opaque bool expression: TRUE where it is true, FALSE where it is false."""
    return [{e: point(int(want), Type.BOOL)}]


def _constraint(operand: ir.Expr, values: IntervalSet, want: bool) -> Region:
    t = operand.type
    s = values if want else complement(values, t)
    return [{operand: s}] if s else []


def _comparison(e: ir.Expr, want: bool) -> Region | None:
    """A comparison of an expression with literals as a constraint; None when it is not one."""
    if isinstance(e, ir.InSet):
        if not _param_free(e.operand) or is_constant(e.operand):
            return None
        t = e.operand.type
        s = normalize([((_value(v, t), True), (_value(v, t), True)) for v in e.values], t)
        return _constraint(e.operand, complement(s, t) if e.negated else s, want)
    if not isinstance(e, ir.Call):
        return None
    if e.op in _COMPARE:
        a, b = e.args
        op = e.op
        if is_constant(a) and not is_constant(b):
            a, b, op = b, a, _FLIP[op]
        if is_constant(a) or not is_constant(b) or not _param_free(a):
            return None
        v = fold(b)
        if v is None:
            return []               # compared with null: never true, never false
        t = a.type
        v = _value(v, t)
        s = {"eq": point(v, t), "ne": complement(point(v, t), t),
             "lt": normalize([(None, (v, False))], t), "le": normalize([(None, (v, True))], t),
             "gt": normalize([((v, False), None)], t), "ge": normalize([((v, True), None)], t)}[op]
        return _constraint(a, s, want)
    if e.op == "between":
        x, lo, hi = e.args
        if is_constant(x) or not is_constant(lo) or not is_constant(hi) or not _param_free(x):
            return None
        low, high = fold(lo), fold(hi)
        if low is None or high is None:
            return []
        t = x.type
        return _constraint(x, normalize([((_value(low, t), True), (_value(high, t), True))], t), want)
    return None


def region(e: ir.Expr, want: bool = True) -> Region:
    """Where the bool expression e is `want` (True: true; False: false)."""
    v = fold(e)
    if v is not NOT_CONSTANT:
        return [{}] if v is want else []
    if isinstance(e, ir.Call) and e.op == "not":
        return region(e.args[0], not want)
    if isinstance(e, ir.Call) and e.op in ("and", "or"):
        parts = [region(a, want) for a in e.args]
        # TRUE of `and` and FALSE of `or` are intersections, the others unions
        if (e.op == "and") == want:
            out = parts[0]
            for p in parts[1:]:
                both = meet(out, p)
                if both is None:
                    return _atom(e, want)
                out = both
            return out
        return join(*parts)
    found = _comparison(e, want)
    return found if found is not None else _atom(e, want)


def join(*regions: Region) -> Region:
    out: Region = []
    for r in regions:
        out += r
    return out


def meet(a: Region, b: Region) -> Region | None:
    """The intersection of two regions; None when it would be too large to keep."""
    if len(a) * len(b) > MAX_BOXES:
        return None
    out: Region = []
    for x in a:
        for y in b:
            box = _box_meet(x, y)
            if box is not None:
                out.append(box)
    return out


def _box_meet(x: Box, y: Box) -> Box | None:
    box = dict(x)
    for operand, s in y.items():
        if operand in box:
            s = intersect(box[operand], s, operand.type)
            if not s:
                return None
        box[operand] = s
    return box


# ---------------------------------------------------------------- coverage

def _box_within(b: Box, e: Box, skip: ir.Expr | None = None) -> bool:
    """Every point of box b meets box e's constraints (except on operand `skip`)."""
    return all(op in b and subset(b[op], s, op.type) for op, s in e.items() if op != skip)


def box_covered(b: Box, earlier: list[Box]) -> bool:
    """Whether the union of `earlier` boxes holds every point of b. Sufficient
    test: one earlier box holds b, or on one operand x of b the earlier boxes
    that hold b on every other operand hold b's values of x between them."""
    if any(_box_within(b, e) for e in earlier):
        return True
    for x, values in b.items():
        reach = [e[x] for e in earlier if x in e and _box_within(b, e, skip=x)]
        if reach:
            total = reach[0]
            for s in reach[1:]:
                total = union(total, s, x.type)
            if subset(values, total, x.type):
                return True
    return False


def covers(earlier: list[Region], r: Region) -> bool:
    """Whether every customer for whom `r` holds is already in one of `earlier`."""
    boxes = [b for e in earlier for b in e]
    return all(box_covered(b, boxes) for b in r)
