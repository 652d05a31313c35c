"""The walks of a syntax tree's expressions (dsl/ast_expr.py): a node's operands,
and the names an expression reads, for the front end's name resolution,
qualification, nesting limit and lint (compiler/frontend/).

An aggregate's `where` reads the event's fields, not the program's names:
it is a scope of its own, checked on its own, and no walk here enters it.
Both walks keep a stack of their own: an expression may nest thousands of
levels (a long sum is left-nested).
"""
from __future__ import annotations

from collections.abc import Iterator

from pol.dsl.ast_expr import Between, Binary, Call, Compare, Expr, If, InList, IsNull, Member, Name, Unary


def children(e: Expr) -> tuple[Expr, ...]:
    """The operands of an expression node, left to right."""
    if isinstance(e, Unary):
        return (e.operand,)
    if isinstance(e, (Binary, Compare)):
        return (e.left, e.right)
    if isinstance(e, Between):
        return (e.operand, e.low, e.high)
    if isinstance(e, (InList, IsNull)):
        return (e.operand,)
    if isinstance(e, Member):
        return (e.operand, e.collection)
    if isinstance(e, If):
        return (e.cond, e.then, e.else_)
    if isinstance(e, Call):
        return e.args
    return ()


def names(e: Expr) -> Iterator[Name]:
    """Every Name read by an expression, left to right."""
    stack = [e]
    while stack:
        node = stack.pop()
        if isinstance(node, Name):
            yield node
        else:
            stack.extend(reversed(children(node)))
