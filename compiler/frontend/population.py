"""The population statement (LANGUAGE.md 3.14): the customers a policy
addresses, checked into one `ir.Population`.

`population when COND` states it; `population from offers` derives it from
the offers' `eligible` conditions: a customer can be a candidate only where
every conjunct of some offer's condition is true, so the OR over the offers
of the conjuncts that can be proven from the record alone (input fields,
params, literals; lets and segments read through) is true for every
customer who could be given anything. A conjunct that reads a history, an
experiment's arm, a score or a classification is left out: what is left is
weaker, never wrong. Each file has at most one statement; the statements
of the files a program takes whole (a plain import, like its tests and
arbitrate block) combine with `and`.

Codes:
  E-POP-001 a second population statement in one file
  E-POP-002 `population from offers` where an offer (or the lack of any)
            leaves every customer possible
  (a condition that is not a bool: E-TYPE-008, from Checker.condition)
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from pol.compiler import ir
from pol.compiler.frontend.expressions import Checker
from pol.compiler.types import Type
from pol.dsl import ast

B = Type.BOOL


def check_population(ck: Checker, items: Sequence[ast.Decl], owner: Sequence[object],
                     offers: Sequence[ir.Offer | None], bodies: Mapping[str, object],
                     fields: Mapping[str, Type], drawn: frozenset[str]) -> ir.Population | None:
    """The program's population, None for every customer. `bodies`: the
    checked lets and segments by name; `fields`: the input fields the record
    holds (`drawn`: experiment fields, which it does not)."""
    first: dict[object, ast.Population] = {}
    parts: list[ir.Population] = []
    for item, k in zip(items, owner):
        if not isinstance(item, ast.Population):
            continue
        if k in first:
            ck.error("E-POP-001", "a second population statement in this file", item.span,
                     "a file states its population once: join the conditions with 'and'",
                     related=((first[k].span, "the first population statement is here"),))
            continue
        first[k] = item
        if item.cond is None:
            derived = _derived(ck, item, offers, bodies, fields, drawn)
            if derived is not None:
                parts.append(ir.Population(derived, True, item.span))
            continue
        cond = ck.condition(item.cond, "the population")
        if cond is not None:
            parts.append(ir.Population(cond, False, item.span))
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return ir.Population(ir.Call(B, "and", tuple(p.cond for p in parts)), all(p.derived for p in parts),
                         parts[0].span)


def _derived(ck: Checker, item: ast.Population, offers: Sequence[ir.Offer | None],
             bodies: Mapping[str, object], fields: Mapping[str, Type], drawn: frozenset[str]) -> ir.Expr | None:
    checked = [o for o in offers if o is not None]
    if not checked:
        ck.error("E-POP-002", "'population from offers' in a policy without offers", item.span,
                 "state the population instead: population when CONDITION")
        return None
    terms = []
    for o in checked:
        kept = [c for c in conjuncts(o.eligible, bodies) if _from_record(c, fields, drawn)]
        if not kept:
            ck.error("E-POP-002", f"'population from offers': offer '{o.name}' may go to any customer",
                     item.span, "its eligible condition has no part that reads input fields alone "
                     "(a segment of fields, a comparison with a param ...); state the population "
                     "instead: population when CONDITION",
                     related=((o.span, f"offer '{o.name}' is declared here"),))
            return None
        terms.append(kept[0] if len(kept) == 1 else ir.Call(B, "and", tuple(kept)))
    return terms[0] if len(terms) == 1 else ir.Call(B, "or", tuple(terms))


def conjuncts(e: ir.Expr, bodies: Mapping[str, object]) -> list[ir.Expr]:
    """Expressions that are all true wherever `e` is true: its `and`s
    flattened, bool lets and segments read through to their bodies."""
    out: list[ir.Expr] = []
    stack = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, ir.Call) and x.op == "and":
            stack.extend(reversed(x.args))
        elif isinstance(x, ir.DeclRef) and x.kind in ("let", "segment") and x.type == B \
                and isinstance(body := bodies.get(x.name), (ir.Let, ir.Segment)):
            stack.append(body.expr)
        else:
            out.append(x)
    return out


def _from_record(e: ir.Expr, fields: Mapping[str, Type], drawn: frozenset[str]) -> bool:
    """Whether `e` reads the record's own fields, and nothing but them, params
    and literals (`true` alone restricts nothing)."""
    read = False
    for node in ir.walk(e):
        if isinstance(node, ir.FieldRef):
            if node.name not in fields or node.name in drawn:
                return False
            read = True
        elif isinstance(node, (ir.DeclRef, ir.Aggregate)):
            return False
    return read
