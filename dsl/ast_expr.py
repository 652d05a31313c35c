"""The expression nodes of the syntax tree (dsl/ast.py): names, literals as
written, operators, `if`, calls and aggregates, untyped.

Every node is a frozen dataclass with its span left out of equality, like
every node of dsl/ast.py, which holds the declarations and tests that these
expressions sit in; code reads both through `pol.dsl.ast`. An operator node
also points at its operator (`op_span`), where type errors are reported.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import field
from decimal import Decimal
from typing import Any, Union

from pol.dsl.node import node
from pol.dsl.source import Span


def span_field() -> Any:
    """A node's span: optional (a tree built by hand has none), and left out
    of equality and repr."""
    return field(default=None, compare=False, repr=False)



# ---------------------------------------------------------------- expressions

@node
class Name:
    name: str
    span: Span | None = span_field()


@node
class Number:
    """A number as written: `42`, `1_000`, `3.5`, `1e6`, `80%`; `-5` only where
    a literal is required (in an expression, `-5` is a negation of 5)."""
    text: str
    span: Span | None = span_field()

    @property
    def kind(self) -> str:
        """"int", "float" or "percent"."""
        text = self.text
        if text[-1] == "%":
            return "percent"
        return "float" if "." in text or "e" in text or "E" in text else "int"

    @property
    def value(self) -> int | float:
        """The number's meaning: `80%` is 0.8, computed from the decimal text
        so that it is the float nearest to the percent divided by 100."""
        clean = self.text.replace("_", "")
        kind = self.kind
        if kind == "int":
            return int(clean)
        if kind == "percent":
            return float(Decimal(clean[:-1]) / 100)
        return float(clean)


@node
class String:
    value: str           # escapes already resolved
    span: Span | None = span_field()


@node
class DateLit:
    text: str            # as written; compiler/frontend/check.py validates it
    span: Span | None = span_field()

    def parse(self) -> dt.date | None:
        """The date, or None when the text is not a real YYYY-MM-DD date."""
        parts = self.text.split("-")
        if len(parts) != 3 or [len(p) for p in parts] != [4, 2, 2]:
            return None
        try:
            return dt.date(int(parts[0]), int(parts[1]), int(parts[2]))
        except ValueError:
            return None


@node
class TimestampLit(DateLit):
    """`2026-11-01T22:30`, `2026-11-01T22:30:05`, `2026-11-01T22:30:05.250`:
    printed as written, like a date."""

    def parse(self) -> dt.datetime | None:
        """The timestamp, or None when it is not a real date and time."""
        day = DateLit(self.text[:10]).parse()
        if day is None:
            return None
        try:
            return dt.datetime.combine(day, dt.time.fromisoformat(self.text[11:]))
        except ValueError:
            return None


@node
class Bool:
    value: bool
    span: Span | None = span_field()


@node
class Null:
    span: Span | None = span_field()


@node
class Today:
    span: Span | None = span_field()


@node
class Unary:
    op: str              # "-" or "not"
    operand: Expr
    span: Span | None = span_field()
    op_span: Span | None = span_field()


@node
class Binary:
    op: str              # + - * / % and or
    left: Expr
    right: Expr
    span: Span | None = span_field()
    op_span: Span | None = span_field()


@node
class Compare:
    op: str              # == != < <= > >=
    left: Expr
    right: Expr
    span: Span | None = span_field()
    op_span: Span | None = span_field()


@node
class Between:
    operand: Expr
    low: Expr
    high: Expr
    span: Span | None = span_field()
    op_span: Span | None = span_field()


@node
class InList:
    operand: Expr
    values: tuple[Literal, ...]
    negated: bool = False
    span: Span | None = span_field()
    op_span: Span | None = span_field()


@node
class Member:
    """`x in NAME` / `x not in NAME`: membership in a list param (LANGUAGE.md 4.5)."""
    operand: Expr
    collection: Name
    negated: bool = False
    span: Span | None = span_field()
    op_span: Span | None = span_field()


@node
class ListLit:
    """`["A", "B"]`: a list param's default or a test's `with` value."""
    values: tuple[Literal, ...]
    span: Span | None = span_field()


@node
class IsNull:
    operand: Expr
    negated: bool = False
    span: Span | None = span_field()
    op_span: Span | None = span_field()


@node
class If:
    cond: Expr
    then: Expr
    else_: Expr
    span: Span | None = span_field()


@node
class Call:
    name: str
    args: tuple[Expr, ...]
    span: Span | None = span_field()
    name_span: Span | None = span_field()


@node
class Aggregate:
    """An aggregate of a history (LANGUAGE.md section 12):
    `count(contacts where channel == "sms" within 7 days)`,
    `sum(contacts.cost within 30 days)`. `count(contacts)` without `where`
    or `within` parses as a Call with a Name argument; the checker reads
    both the same way."""
    func: str
    history: str
    field: str | None                    # `contacts.cost`: "cost"
    where: Expr | None                   # over the event's fields
    within: Number | None                # days
    span: Span | None = span_field()
    name_span: Span | None = span_field()     # the function's name
    history_span: Span | None = span_field()
    field_span: Span | None = span_field()


Literal = Union[Number, String, DateLit, Bool, Null]
Expr = Union[Name, Number, String, DateLit, Bool, Null, Today, Unary, Binary, Compare,
             Between, InList, Member, IsNull, If, Call, Aggregate]
