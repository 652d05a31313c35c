"""Constant folding: an expression made of literals only -> its value, by
the operator rules of compiler/ops.py (the reference evaluator's), so that
the compiler's analyses (compiler/frontend/regions.py) need no evaluator
from the engine.

    fold(expr) -> value (None for null); NOT_CONSTANT when it reads a field,
    a param, a declaration or today
    evaluate(expr, leaf) -> value, with `leaf` giving fields, params...
"""
from __future__ import annotations

from collections.abc import Callable

from pol.compiler import ir
from pol.compiler.ops import apply_op, fit

NOT_CONSTANT = object()
_READS = (ir.FieldRef, ir.ParamRef, ir.DeclRef, ir.Today, ir.Aggregate, ir.Element, ir.Quantifier)


def is_constant(e: ir.Expr) -> bool:
    return not any(isinstance(n, _READS) for n in ir.walk(e))


def fold(e: ir.Expr) -> object:
    """The value of a constant expression."""
    if not is_constant(e):
        return NOT_CONSTANT
    return evaluate(e, _literal)


def _literal(x: ir.Expr) -> object:
    if isinstance(x, ir.Literal):
        return fit(x.type, x.value)
    raise TypeError(f"not a constant IR expression: {type(x).__name__}")


def evaluate(e: ir.Expr, leaf: Callable[[ir.Expr], object]) -> object:
    """The value of an expression by the reference rules, where `leaf(node)`
    gives the value of each node that is not an operation (a literal, a
    field, a param...). The reference evaluator (engine/reference/expr.py)
    and constant folding both evaluate through here.

    An expression may nest thousands of levels (a long sum is left-nested),
    so it is walked on a stack of its own, not Python's: `todo` holds nodes
    to visit and, as (node,), nodes whose operands are done, whose values
    wait at the end of `values`. Only the branch of an `if` that its
    condition takes is evaluated."""
    todo: list[ir.Expr | tuple[ir.Expr]] = [e]
    values: list[object] = []
    while todo:
        x = todo.pop()
        if type(x) is tuple:
            x = x[0]
            if isinstance(x, ir.Call):
                n = len(x.args)
                args = values[-n:]
                del values[-n:]
                values.append(apply_op(x.op, x.type, args))
            elif isinstance(x, ir.If):
                # only a true condition takes `then`; false and null take `else`
                todo.append(x.then if values.pop() is True else x.else_)
            elif isinstance(x, ir.InSet):
                v = values.pop()
                values.append(None if v is None else (v in x.values) != x.negated)
            elif isinstance(x, ir.IsNull):
                values.append((values.pop() is None) != x.negated)
        elif isinstance(x, ir.Call):
            todo.append((x,))
            todo.extend(reversed(x.args))
        elif isinstance(x, ir.If):
            todo.append((x,))
            todo.append(x.cond)
        elif isinstance(x, (ir.InSet, ir.IsNull)):
            todo.append((x,))
            todo.append(x.operand)
        elif not isinstance(x, tuple):
            values.append(leaf(x))
    return values[0]


def quantify(q: ir.Quantifier, items: tuple[object, ...] | None, leaf: Callable[[ir.Expr], object]) -> object:
    """`any`/`all` by the reference rules (LANGUAGE.md 4.9): the condition
    for each element of `items` (None: a null list), `leaf` giving its
    literals and params. any: true at the first true element, all: false
    at the first false one; otherwise null if one was null."""
    if items is None:
        return None
    unknown = False
    for x in items:
        def at(n: ir.Expr, x: object = x) -> object:
            return x if isinstance(n, ir.Element) else leaf(n)
        v = evaluate(q.cond, at)
        if v is None:
            unknown = True
        elif v is not q.every:
            return v
    return None if unknown else q.every
