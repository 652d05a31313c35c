"""Constant folding: an expression made of literals only -> its value, by
the operator rules of compiler/ops.py (the reference evaluator's), so that
the compiler's analyses (compiler/frontend/regions.py) need no evaluator
from the engine.

    fold(expr) -> value (None for null); NOT_CONSTANT when it reads a field,
    a param, a declaration or today
"""
from __future__ import annotations

from pol.compiler import ir
from pol.compiler.ops import apply_op, fit

NOT_CONSTANT = object()
_READS = (ir.FieldRef, ir.ParamRef, ir.DeclRef, ir.Today)


def is_constant(e: ir.Expr) -> bool:
    return not any(isinstance(n, _READS) for n in ir.walk(e))


def fold(e: ir.Expr) -> object:
    """The value of a constant expression, on a stack of its own (an
    expression may nest thousands of levels)."""
    if not is_constant(e):
        return NOT_CONSTANT
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
        elif isinstance(x, ir.Literal):
            values.append(fit(x.type, x.value))
        elif isinstance(x, ir.Call):
            todo.append((x,))
            todo.extend(reversed(x.args))
        elif isinstance(x, ir.If):
            todo.append((x,))
            todo.append(x.cond)
        elif isinstance(x, (ir.InSet, ir.IsNull)):
            todo.append((x,))
            todo.append(x.operand)
        else:
            raise TypeError(f"not a constant IR expression: {type(x).__name__}")
    return values[0]
