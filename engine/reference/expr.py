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
from pol.compiler.fold import evaluate, quantify
from pol.compiler.ops import fit, read_field


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
    def leaf(e: ir.Expr):
        if isinstance(e, ir.FieldRef):
            return read_field(e.type, env.fields.get(e.name))
        if isinstance(e, ir.Literal):
            return fit(e.type, e.value)
        if isinstance(e, ir.ParamRef):
            return env.params[e.name]
        if isinstance(e, ir.DeclRef):
            return env.decls[e.name]
        if isinstance(e, ir.Today):
            return env.today
        if isinstance(e, ir.Aggregate):
            return _aggregate(e, env)
        if isinstance(e, ir.Quantifier):
            return quantify(e, read_field(e.source.type, env.fields.get(e.source.name)), leaf)
        raise TypeError(f"not an IR expression: {type(e).__name__}")
    return evaluate(expr, leaf)


def _aggregate(e: ir.Aggregate, env: Env):
    from pol.reference.history import aggregate_value
    hist = env.histories[e.history]

    def where(event):
        return eval_expr(e.where, Env(event, today=env.today))
    return aggregate_value(e, hist, env.events.get(e.history, []), env.today, where)
