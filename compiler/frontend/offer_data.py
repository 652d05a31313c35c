"""What an offer carries into the assignments, checked: its attributes
(typed constants that `offer.NAME` reads), the input fields a policy
carries, and the output columns' names, which must not collide.

Codes: E-OFFER-006 an attribute given twice in one offer, E-OFFER-007 a null
attribute or one attribute with two types, E-NAME-008 a carried name that is
not a field, E-DECL-007 a field carried twice, E-OUT-001 two output columns
with one name.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from pol.compiler import ir
from pol.compiler.frontend.expressions import Checker
from pol.compiler.frontend.hints import F, I, a_type
from pol.compiler.types import Type
from pol.dsl import ast
from pol.dsl.source import Span

CUSTOMER_COLUMNS = ("offers",)
ASSIGNMENT_COLUMNS = ("offer", "rank", "channel", "priority", "control")


def widened(o: ir.Offer | None, attrs: tuple[tuple[str, Type], ...]) -> ir.Offer | None:
    """The offer with its int attributes as floats where the attribute is a float."""
    floats = {name for name, t in attrs if t == F}
    if o is None or not any(name in floats and isinstance(v, int) for name, v in o.attributes):
        return o
    return dataclasses.replace(o, attributes=tuple(
        (name, float(v) if name in floats and isinstance(v, int) else v) for name, v in o.attributes))


def check_carry(ck: Checker, carries: list[ast.Carry]) -> tuple[str, ...]:
    """The input fields copied into the assignments, each once (E-NAME-008 not
    a field, E-DECL-007 carried twice)."""
    out: dict[str, Span] = {}
    for c in carries:
        for name, span in zip(c.names, c.name_spans):
            if name in out:
                ck.error("E-DECL-007", f"field '{name}' is carried twice", span, "carry each field once",
                         related=((out[name], "first carried here"),))
            elif not isinstance(ck.space.get(name), ast.Field):
                guess = ck.suggest(name, ck.names_of(ast.Field))
                ck.error("E-NAME-008", f"'{name}' is not a field of the input block", span,
                         f"did you mean '{guess}'?" if guess else "'carry' copies input fields into the "
                         "assignments")
            else:
                out[name] = span
    ck.carry_spans = out
    return tuple(out)


def check_attributes(ck: Checker, o: ast.Offer, p: ast.Attributes | None) -> list[tuple[str, ir.Literal]]:
    """An offer's attributes as typed literals (E-OFFER-006 a name given twice,
    E-OFFER-007 a null value)."""
    out: dict[str, ir.Literal] = {}
    spans: dict[str, Span | None] = {}
    for a in (p.items if p is not None else ()):
        if a.name in out:
            ck.error("E-OFFER-006", f"offer '{o.name}' gives attribute '{a.name}' twice", a.span,
                     "give each attribute once", related=((spans[a.name], "first given here"),))
            continue
        if isinstance(a.value, ast.Null):
            ck.error("E-OFFER-007", f"attribute '{a.name}' of offer '{o.name}' is null", a.value.span,
                     "leave the attribute out: an offer without it has null in its column")
            continue
        lit = ck.expr(a.value)
        if isinstance(lit, ir.Literal):      # a literal's rule gives an ir.Literal (or None)
            out[a.name] = lit
            spans[a.name] = a.span
            ck.attr_log.append((a.name, lit.type, a.span))
    return list(out.items())


def attribute_types(ck: Checker) -> tuple[tuple[str, Type], ...]:
    """One type per attribute name across the offers (ints widen to float
    where another offer gives a float); two other types are an error at both
    places (E-OFFER-007)."""
    types: dict[str, tuple[Type, Span | None]] = {}
    for name, t, span in ck.attr_log:
        prior = types.get(name)
        if prior is None:
            types[name] = (t, span)
        elif prior[0] != t:
            if {prior[0], t} == {I, F}:
                types[name] = (F, prior[1])
                continue
            ck.error("E-OFFER-007", f"attribute '{name}' is {a_type(t)} here and {a_type(prior[0])} "
                     "in another offer", span, "an attribute has one type in every offer: its column "
                     "in the assignments has that type",
                     related=((prior[1], f"'{name}' is {a_type(prior[0])} here"),))
    return tuple((name, t) for name, (t, _) in types.items())



def check_columns(ck: Checker, key: ast.Input | None, outputs: Sequence[ast.Segment | ast.Classify | ast.Score],
                  has_campaign: bool, attrs: tuple[tuple[str, Type], ...]) -> None:
    """Every output column's name once per table (E-OUT-001): the customers'
    key, segments, classifications, scores and `offers`; the assignments'
    key, fixed columns, `campaign`, attributes and carried fields."""
    if key is None:
        return
    taken: dict[str, str] = {key.key: f"the key '{key.key}'"}
    for name in CUSTOMER_COLUMNS:
        taken[name] = f"the customers' column '{name}'"
    for d in outputs:
        if d.name in taken:
            _clash(ck, d.name, d.span, taken[d.name], "customers", f"rename the {_kind(d)}")
    taken = {key.key: f"the key '{key.key}'"}
    if key.key in ASSIGNMENT_COLUMNS:
        _clash(ck, key.key, key.key_span, f"the assignments' column '{key.key}'", "assignments",
               "rename the key field in the data and the input block (e.g. customer_id)")
    for name in ASSIGNMENT_COLUMNS + (("campaign",) if has_campaign else ()):
        taken.setdefault(name, f"the assignments' column '{name}'")
    spans: dict[str, Span | None] = {}
    for name, _, span in ck.attr_log:
        spans.setdefault(name, span)
    for name, _ in attrs:
        if name in taken:
            _clash(ck, name, spans[name], taken[name], "assignments", "rename the attribute")
        else:
            taken[name] = f"the attribute '{name}'"
    for name, span in ck.carry_spans.items():
        if name in taken:
            _clash(ck, name, span, taken[name], "assignments",
                   "the key is always in the assignments: do not carry it" if name == key.key
                   else "rename the attribute, or do not carry the field")


def _clash(ck: Checker, name: str, span: Span | None, other: str, table: str, hint: str) -> None:
    ck.error("E-OUT-001", f"'{name}' would be a second column of the {table}: it is {other}", span, hint)


def _kind(d: ast.Segment | ast.Classify | ast.Score) -> str:
    return {ast.Segment: "segment", ast.Classify: "classification", ast.Score: "score"}.get(type(d), "declaration")
