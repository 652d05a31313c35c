"""Expressions on the reference evaluator: an ir.Expr and what it reads (an
Env: input fields, params, the as-of date, the declarations computed so far)
-> its value for one customer, a Python value or None for null.

    eval_expr(expr, env)   -> value
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Mapping

from pol.compiler import ir
from pol.reference.ops import apply_op, fit, read_field


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


def eval_expr(expr: ir.Expr, env: Env):
    """The value of an expression for one customer: a Python value, None for null."""
    if isinstance(expr, ir.Call):
        return apply_op(expr.op, expr.type, [eval_expr(a, env) for a in expr.args])
    if isinstance(expr, ir.FieldRef):
        return read_field(expr.type, env.fields.get(expr.name))
    if isinstance(expr, ir.Literal):
        return fit(expr.type, expr.value)
    if isinstance(expr, ir.ParamRef):
        return env.params[expr.name]
    if isinstance(expr, ir.DeclRef):
        return env.decls[expr.name]
    if isinstance(expr, ir.Today):
        return env.today
    if isinstance(expr, ir.If):
        # only a true condition takes `then`; false and null take `else`
        return eval_expr(expr.then if eval_expr(expr.cond, env) is True else expr.else_, env)
    if isinstance(expr, ir.InSet):
        v = eval_expr(expr.operand, env)
        return None if v is None else (v in expr.values) != expr.negated
    if isinstance(expr, ir.IsNull):
        return (eval_expr(expr.operand, env) is None) != expr.negated
    raise TypeError(f"not an IR expression: {type(expr).__name__}")
