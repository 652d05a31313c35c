"""The kernel's operator rules (compiler/backend/emitter.py): an operator of
signatures.OPS and its operands' emitted values -> the statements that compute it,
following compiler/backend/runtime.py. `RULES` holds one rule per operator;
`rule(op)` finds it (signatures.rule_table checks the table when this module is
imported).
"""
from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from pol.compiler import ir, signatures
from pol.compiler.backend.astgen import C, Value, all_, attr_call, binop, call, cmp, item, not_, pick
from pol.compiler.backend.plan import string_operand
from pol.compiler.types import Type

if TYPE_CHECKING:
    from pol.compiler.backend.emitter import Emitter

Vals = list[ast.expr]
Flags = list[ast.expr | None]

_CMP = {"eq": ast.Eq, "ne": ast.NotEq, "lt": ast.Lt, "le": ast.LtE, "gt": ast.Gt, "ge": ast.GtE}
ARITH = {"add": ast.Add, "sub": ast.Sub, "mul": ast.Mult, "div": ast.Div}


# ------------------------------------------------------------ operator rules

# Each takes the emitter, the call, its operands' values and validities (each
# check_finited, but for a float tree's pending operands, see Emitter.check_finite), and
# whether the result is pending; it emits the operator's code.

def _compare(g: Emitter, e: ir.Call, vs: Vals, ms: Flags, pending: bool) -> Value:
    return g.bind(cmp(_CMP[e.op](), vs[0], vs[1]), all_(*ms))


def _between(g: Emitter, e: ir.Call, vs: Vals, ms: Flags, pending: bool) -> Value:
    return g.bind(all_(cmp(ast.LtE(), vs[1], vs[0]), cmp(ast.LtE(), vs[0], vs[2])), all_(*ms))


def _not(g: Emitter, e: ir.Call, vs: Vals, ms: Flags, pending: bool) -> Value:
    return g.bind(not_(vs[0]), ms[0])


def _to_float(g: Emitter, e: ir.Call, vs: Vals, ms: Flags, pending: bool) -> Value:
    return g.bind(attr_call("np", "float64", vs[0]), ms[0])


def _arith(g: Emitter, e: ir.Call, vs: Vals, ms: Flags, pending: bool) -> Value:
    op, t, at = e.op, e.type, [a.type for a in e.args]
    if op in ("add", "sub") and at[0] == Type.DATE:
        if at[1] == Type.DATE:        # date - date: days, always in range
            return g.bind(binop(ast.Sub(), vs[0], vs[1]), all_(*ms))
        r = g.checked(call(op + "_i", vs[0], vs[1]), *ms)
        return g.checked(call("date_ok", r.v), r.m)
    if t == Type.INT:
        return g.checked(call(op + "_i", vs[0], vs[1]), *ms)
    if op == "div" and isinstance(vs[1], ast.Constant) and vs[1].value != 0:
        r = g.bind(binop(ast.Div(), vs[0], vs[1]), all_(*ms))      # a literal divisor needs no guard
    elif op == "div":                 # float arithmetic; `/` guards its divisor
        safe = g.bind(pick(cmp(ast.Eq(), vs[1], C(0.0)), C(1.0), vs[1]), None)
        r = g.bind(binop(ast.Div(), vs[0], safe.v), all_(*ms, cmp(ast.NotEq(), vs[1], C(0.0))))
    else:
        r = g.bind(binop(ARITH[op](), vs[0], vs[1]), all_(*ms))
    return Value(r.v, r.m, pending)


def _mod(g: Emitter, e: ir.Call, vs: Vals, ms: Flags, pending: bool) -> Value:
    return g.checked(call("mod_i" if e.type == Type.INT else "mod_f", vs[0], vs[1]), *ms)


def _neg(g: Emitter, e: ir.Call, vs: Vals, ms: Flags, pending: bool) -> Value:
    if e.type == Type.INT:
        return g.checked(call("neg_i", vs[0]), ms[0])
    r = g.bind(ast.UnaryOp(ast.USub(), vs[0]), ms[0])
    return Value(r.v, r.m, pending)


def _abs(g: Emitter, e: ir.Call, vs: Vals, ms: Flags, pending: bool) -> Value:
    if e.type == Type.INT:
        return g.checked(call("abs_i", vs[0]), ms[0])
    r = g.bind(call("abs", vs[0]), ms[0])
    return Value(r.v, r.m, pending)


def _floor_ceil(g: Emitter, e: ir.Call, vs: Vals, ms: Flags, pending: bool) -> Value:
    if e.type == Type.INT:
        return Value(vs[0], ms[0])
    return g.bind(attr_call("np", e.op, vs[0]), ms[0])


def _round(g: Emitter, e: ir.Call, vs: Vals, ms: Flags, pending: bool) -> Value:
    return g.checked(call("round_i" if e.type == Type.INT else "round_f", vs[0], vs[1]), *ms)


def _min_max(g: Emitter, e: ir.Call, vs: Vals, ms: Flags, pending: bool) -> Value:
    acc = vs[0]
    better = ast.Lt if e.op == "min" else ast.Gt
    for v in vs[1:]:
        acc = g.bind(pick(cmp(better(), v, acc), v, acc), None).v
    return Value(acc, g.all_of(ms))


def _clamp(g: Emitter, e: ir.Call, vs: Vals, ms: Flags, pending: bool) -> Value:
    lo = g.bind(pick(cmp(ast.Gt(), vs[1], vs[0]), vs[1], vs[0]), None)
    return g.bind(pick(cmp(ast.Lt(), vs[2], lo.v), vs[2], lo.v), all_(*ms))


def _libm(g: Emitter, e: ir.Call, vs: Vals, ms: Flags, pending: bool) -> Value:
    return g.checked(call(e.op + "_f", *vs), *ms)         # sqrt_f, exp_f, log_f, pow_f


def _date_part(g: Emitter, e: ir.Call, vs: Vals, ms: Flags, pending: bool) -> Value:
    return g.bind(call(e.op + "_of", vs[0]), ms[0])       # year_of, month_of, day_of, weekday_of, hour_of ...


def _string_function(g: Emitter, e: ir.Call, vs: Vals, ms: Flags, pending: bool) -> Value:
    # A host-computed table per string code (plan.LutSlot): no string in the code;
    # a string-valued one (upper, concat ...) gives the result's code.
    i = string_operand(e)
    return g.bind(item(g.plan.layout.luts[g.plan.lut_index(e)], vs[i]), ms[i])


def _checked_call(g: Emitter, e: ir.Call, vs: Vals, ms: Flags, pending: bool) -> Value:
    return g.checked(call(e.op, *vs), *ms)               # make_date, add_months, anniversary: (value, ok)


def _plain_call(g: Emitter, e: ir.Call, vs: Vals, ms: Flags, pending: bool) -> Value:
    return g.bind(call(e.op, vs[0]), ms[0])              # day_of_year, ts_date


def _member(g: Emitter, e: ir.Call, vs: Vals, ms: Flags, pending: bool) -> Value:
    # vs[1] is the list param's array argument (ints, or strings' codes): runtime.member scans it
    return g.bind(call("member", vs[0], vs[1]), ms[0])


def _list_has(g: Emitter, e: ir.Call, vs: Vals, ms: Flags, pending: bool) -> Value:
    # vs[1] is the list field's first element (Emitter.load_fields); the row's run is g.lists'
    values, start, stop = g.lists[_field_name(e.args[1])]
    return g.bind(call("list_has", values, start, stop, vs[0]), all_(ms[0], ms[1]))


def _list_count(g: Emitter, e: ir.Call, vs: Vals, ms: Flags, pending: bool) -> Value:
    _, start, stop = g.lists[_field_name(e.args[0])]
    return g.bind(binop(ast.Sub(), stop, start), ms[0])


def _field_name(e: ir.Expr) -> str:
    assert isinstance(e, ir.FieldRef)
    return e.name


def _chain(g: Emitter, e: ir.Call, vs: Vals, ms: Flags, pending: bool) -> Value:
    raise AssertionError("and, or and coalesce are emitted from their operands' Values (Emitter.x_Call)")


RULES = {
    "add": _arith, "sub": _arith, "mul": _arith, "div": _arith, "mod": _mod, "neg": _neg,
    "to_float": _to_float,
    "eq": _compare, "ne": _compare, "lt": _compare, "le": _compare, "gt": _compare, "ge": _compare,
    "between": _between, "and": _chain, "or": _chain, "not": _not,
    "abs": _abs, "floor": _floor_ceil, "ceil": _floor_ceil, "round": _round, "min": _min_max,
    "max": _min_max, "clamp": _clamp, "sqrt": _libm, "exp": _libm, "log": _libm, "pow": _libm,
    "coalesce": _chain, "year": _date_part, "month": _date_part, "day": _date_part,
    "starts_with": _string_function, "ends_with": _string_function, "contains": _string_function,
    "length": _string_function, "channel_rank": _string_function,
    "make_date": _checked_call, "add_months": _checked_call, "anniversary": _checked_call,
    "weekday": _date_part, "day_of_year": _plain_call, "hour": _date_part, "minute": _date_part,
    "ts_date": _plain_call,
    "upper": _string_function, "lower": _string_function, "trim": _string_function,
    "substring": _string_function, "concat": _string_function,
    "member": _member,
    "list_has": _list_has, "list_count": _list_count,
}
rule = signatures.rule_table("kernel code generation", RULES)

