"""How deep an expression nests: an ast expression -> None, or the
diagnostic E-LIMIT-002 at the first place it goes deeper than
dsl/limits.MAX_DEPTH levels.

The levels are those of the typed IR the checker makes of it, which is what
the explanations and test reports follow (engine/reference/interp.py
`render`, `why_not`, `null_sources`, on Python's stack): every operator and
function call is a level, so a sum of n terms is n - 1 levels deep (float
addition is not associative: it stays left-nested) and so is a chain of
n - 1 `else if`s, except a chain of `and`s (or of `or`s), which becomes one
n-ary call of any length. Names and literals are not levels. The evaluators
and the code generator follow expressions on stacks of their own, at any
depth; this limit is what the explanations can take.
"""
from __future__ import annotations

from pol.dsl import ast, expr_walk
from pol.dsl.diagnostics import Diagnostic, placed
from pol.dsl.limits import MAX_DEPTH

_ARITHMETIC = {"+": "+", "-": "+", "*": "*", "/": "*", "%": "*"}


def too_deep(e: ast.Expr) -> Diagnostic | None:
    """E-LIMIT-002 where `e` first nests more than MAX_DEPTH levels, or None."""
    # (node, its level, the chain it continues: "+", "*", "else", or None)
    todo: list[tuple[ast.Expr, int, str | None]] = [(e, 1, None)]
    while todo:
        node, level, via = todo.pop()
        children = expr_walk.children(node)
        if not children:
            continue
        if level > MAX_DEPTH:
            return _refusal(node, via)
        if isinstance(node, ast.Binary) and node.op in ("and", "or"):
            left = node.left
            todo.append((node.right, level + 1, None))
            same = isinstance(left, ast.Binary) and left.op == node.op
            todo.append((left, level if same else level + 1, None))
        elif isinstance(node, ast.Binary) and node.op in _ARITHMETIC:
            todo.append((node.right, level + 1, None))
            left = node.left
            chained = isinstance(left, ast.Binary) and _ARITHMETIC.get(left.op) == _ARITHMETIC[node.op]
            todo.append((left, level + 1, _ARITHMETIC[node.op] if chained else None))
        elif isinstance(node, ast.If):
            todo.append((node.else_, level + 1, "else" if isinstance(node.else_, ast.If) else None))
            todo.append((node.then, level + 1, None))
            todo.append((node.cond, level + 1, None))
        else:
            todo.extend((c, level + 1, None) for c in reversed(children))
    return None


def _refusal(node: ast.Expr, via: str | None) -> Diagnostic:
    if via == "+" and isinstance(node, ast.Binary):
        return Diagnostic("E-LIMIT-002", f"the sum nests more than {MAX_DEPTH} levels deep here: each '+' or "
                          "'-' is a level, as it is added up left to right", placed(node.op_span),
                          "add it up in parts: let part1 = a + b + ... then part1 + part2")
    if via == "*" and isinstance(node, ast.Binary):
        return Diagnostic("E-LIMIT-002", f"the product nests more than {MAX_DEPTH} levels deep here: each "
                          "'*', '/' or '%' is a level", placed(node.op_span),
                          "multiply it out in parts: let part1 = a * b * ... then part1 * part2")
    if via == "else":
        return Diagnostic("E-LIMIT-002", f"the 'else if' chain nests more than {MAX_DEPTH} levels deep here",
                          placed(node.span), "a classify block takes any number of rules: classify NAME { when "
                          "CONDITION => \"VALUE\" ... }; or split the chain into lets")
    return Diagnostic("E-LIMIT-002", f"the expression nests more than {MAX_DEPTH} levels deep here", placed(node.span),
                      "split it into lets: let part = ... then use part in its place")
