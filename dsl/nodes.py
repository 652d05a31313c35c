"""The AST: the syntax of one file as frozen dataclasses, untyped, each node
with its span (not compared, so two parses of equal text are equal ASTs)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from pol.dsl.source import Span


def _span():
    return field(default=None, compare=False, repr=False)


# ---------------------------------------------------------------- expressions

@dataclass(frozen=True)
class Num:
    value: Union[int, float]
    text: str
    is_float: bool
    span: Span = _span()


@dataclass(frozen=True)
class Str:
    value: str
    span: Span = _span()


@dataclass(frozen=True)
class Bool:
    value: bool
    span: Span = _span()


@dataclass(frozen=True)
class Null:
    span: Span = _span()


@dataclass(frozen=True)
class DateLit:
    text: str               # validated by the checker, which reports bad dates
    span: Span = _span()


@dataclass(frozen=True)
class Today:
    span: Span = _span()


@dataclass(frozen=True)
class Name:
    id: str
    span: Span = _span()


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class Unary:
    op: str                 # "-" | "not"
    operand: object
    span: Span = _span()


@dataclass(frozen=True)
class Binary:
    op: str                 # + - * / % and or
    left: object
    right: object
    span: Span = _span()
    op_span: Span = _span()


@dataclass(frozen=True)
class Compare:
    op: str                 # == != < <= > >=
    left: object
    right: object
    span: Span = _span()
    op_span: Span = _span()


@dataclass(frozen=True)
class Between:
    operand: object
    low: object
    high: object
    span: Span = _span()


@dataclass(frozen=True)
class In:
    operand: object
    values: tuple           # literal nodes
    negated: bool
    span: Span = _span()


@dataclass(frozen=True)
class IsNull:
    operand: object
    negated: bool
    span: Span = _span()


@dataclass(frozen=True)
class If:
    cond: object
    then: object
    else_: object
    span: Span = _span()


@dataclass(frozen=True)
class Paren:
    inner: object
    span: Span = _span()


# ---------------------------------------------------------------- declarations

@dataclass(frozen=True)
class Header:
    name: str
    version: str | None
    span: Span = _span()


@dataclass(frozen=True)
class Import:
    path: str
    span: Span = _span()


@dataclass(frozen=True)
class FieldDecl:
    name: str
    type_name: str
    nullable: bool
    span: Span = _span()
    type_span: Span = _span()


@dataclass(frozen=True)
class Input:
    name: str
    key: str
    fields: tuple
    span: Span = _span()
    key_span: Span = _span()


@dataclass(frozen=True)
class Param:
    name: str
    type_name: str
    default: object         # a literal node
    span: Span = _span()
    type_span: Span = _span()


@dataclass(frozen=True)
class Let:
    name: str
    expr: object
    span: Span = _span()


@dataclass(frozen=True)
class Segment:
    name: str
    label: str | None
    expr: object
    span: Span = _span()


@dataclass(frozen=True)
class When:
    cond: object
    value: str
    span: Span = _span()


@dataclass(frozen=True)
class Classify:
    name: str
    label: str | None
    whens: tuple
    default: str | None
    span: Span = _span()


@dataclass(frozen=True)
class Score:
    name: str
    label: str | None
    expr: object
    span: Span = _span()


@dataclass(frozen=True)
class Channel:
    name: str
    label: str | None
    cond: object | None
    span: Span = _span()


@dataclass(frozen=True)
class Prop:
    """An offer property: kind is eligible, channels, priority, category,
    capacity, valid or holdout."""
    kind: str
    value: object
    span: Span = _span()
    names_spans: tuple = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class Offer:
    name: str
    label: str | None
    props: tuple
    span: Span = _span()


@dataclass(frozen=True)
class Rule:
    kind: str               # max | one_per_category | exclusive
    value: object
    span: Span = _span()
    names_spans: tuple = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class Arbitrate:
    rules: tuple
    span: Span = _span()


@dataclass(frozen=True)
class TestItem:
    """as_of (DateLit), with ((name, lit)), given (((name, lit, span), ...)),
    expect_offer ((offer, via, rank)), expect_not_offer (offer),
    expect_no_offer (None), expect_expr (expr)."""
    kind: str
    value: object
    span: Span = _span()


@dataclass(frozen=True)
class Test:
    name: str
    items: tuple
    span: Span = _span()


@dataclass(frozen=True)
class File:
    path: str
    header: Header | None
    items: tuple            # declarations and imports, in order
