"""Expressions on the reference evaluator: an ir.Expr and what it reads (an
Env: input fields, params, the as-of date, the declarations computed so far)
-> its value for one customer, a Python value or None for null.

    eval_expr(expr, env)   -> value
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from pol.compiler import ir
from pol.compiler.ops import apply_op, fit, read_field


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
    # history name -> this customer's events, read (engine/reference/history.py)
    events: Mapping[str, list] = field(default_factory=dict)
    histories: Mapping[str, ir.History] = field(default_factory=dict)


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
            values.append(fit(e.type, e.value))
        elif isinstance(e, ir.ParamRef):
            values.append(env.params[e.name])
        elif isinstance(e, ir.DeclRef):
            values.append(env.decls[e.name])
        elif isinstance(e, ir.Today):
            values.append(env.today)
        elif isinstance(e, ir.Aggregate):
            values.append(_aggregate(e, env))
        elif isinstance(e, ir.If):
            todo.append((e,))
            todo.append(e.cond)
        elif isinstance(e, (ir.InSet, ir.IsNull)):
            todo.append((e,))
            todo.append(e.operand)
        else:
            raise TypeError(f"not an IR expression: {type(e).__name__}")
    return values[0]


def _aggregate(e: ir.Aggregate, env: Env):
    from pol.reference.history import aggregate_value
    hist = env.histories[e.history]

    def where(event):
        return eval_expr(e.where, Env(event, today=env.today))
    return aggregate_value(e, hist, env.events.get(e.history, []), env.today, where)
