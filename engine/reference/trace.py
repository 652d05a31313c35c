"""Traces: why a condition of the reference evaluator came out as it did.
An expression and its Env -> the culprits: the smallest parts that made a
condition false or null (why_not), or where a null comes from
(null_sources), each with the values it read.

    why_not(expr, env, want=True)   -> culprits: why expr is not `want`
    null_sources(expr, env)         -> culprits: where a null comes from
    values_behind(expr, env)        -> (name or sub-expression, value) pairs
    inputs_of(expr, env)            -> the fields, params and declarations read, with values
"""
from __future__ import annotations

from dataclasses import dataclass

from pol.compiler import ir
from pol.compiler.types import Type
from pol.reference.expr import Env, eval_expr
from pol.reference.render import render


@dataclass(frozen=True)
class Culprit:
    """A part of a condition that was false or null (or true, under `not`),
    with the values it read. `because` looks inside a segment or let it names."""
    text: str
    value: object
    inputs: tuple[tuple[str, object], ...] = ()
    because: tuple[Culprit, ...] = ()
    line: int | None = None


def inputs_of(expr: ir.Expr, env: Env) -> tuple[tuple[str, object], ...]:
    """The fields, params, declarations and `today` an expression reads, with
    their values; through lets, the fields behind them too."""
    out: dict[str, object] = {}
    seen: set[str] = set()

    def visit(e: ir.Expr) -> None:
        for node in ir.walk(e):
            if isinstance(node, (ir.FieldRef, ir.ParamRef, ir.DeclRef, ir.Today, ir.Aggregate)):
                # an aggregate shows as written, with its value (LANGUAGE.md section 12)
                name = "today" if isinstance(node, ir.Today) else \
                    render(node) if isinstance(node, ir.Aggregate) else node.name
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
