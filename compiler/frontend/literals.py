"""Literals: the IR of a number, string, bool, null, date or timestamp as
written, and a literal read as a value of a given type (a param's default,
a test's `given` and `with`), for the Checker of compiler/frontend/expressions.py.

An int literal must fit in 64 bits, a float literal be finite; a date or
timestamp must be a real one. A `null` literal has no type until its context
gives it one (hints.UNTYPED_NULL, settled by the Checker).

Codes: E-TYPE-009 a literal of the wrong type (param default, given, with),
E-TYPE-011 a number out of range, E-DATE-001 an invalid date or timestamp.
"""
from __future__ import annotations

import datetime as dt
import math

from pol.compiler import ir
from pol.compiler.frontend.context import CheckContext, Typed, Value
from pol.compiler.frontend.hints import UNTYPED_NULL, B, D, F, I, S, a_type, date_hint, literal_hint, literal_type
from pol.compiler.types import Type
from pol.dsl import ast

INT64 = (-(2 ** 63), 2 ** 63 - 1)


class LiteralRules(CheckContext):
    """The Checker's rules for literals, and literal values."""

    def x_Number(self, e: ast.Number) -> ir.Literal | None:
        value = e.value
        if e.kind == "int":
            if not INT64[0] <= value <= INT64[1]:
                self.error("E-TYPE-011", f"the number {e.text} is too large for an int", e.span,
                           "ints hold up to 9223372036854775807; write a float (e.g. 1e20) "
                           "if that is what you mean")
                return None
            return ir.Literal(I, value, e.span)
        if not math.isfinite(value):
            self.error("E-TYPE-011", f"the number {e.text} is too large", e.span)
            return None
        return ir.Literal(F, value, e.span)

    def x_String(self, e: ast.String) -> ir.Literal | None:
        return ir.Literal(S, e.value, e.span)

    def x_Bool(self, e: ast.Bool) -> ir.Literal | None:
        return ir.Literal(B, e.value, e.span)

    def x_Null(self, e: ast.Null) -> ir.Literal | None:
        return ir.Literal(UNTYPED_NULL, None, e.span)

    def x_DateLit(self, e: ast.DateLit) -> ir.Literal | None:
        d = self.date(e)
        return ir.Literal(D, d, e.span) if d is not None else None

    def x_TimestampLit(self, e: ast.TimestampLit) -> ir.Literal | None:
        d = self.date(e)
        return ir.Literal(Type.TIMESTAMP, d, e.span) if d is not None else None

    def date(self, e: ast.DateLit) -> dt.date | None:
        d = e.parse()
        if d is None:
            if isinstance(e, ast.TimestampLit):
                self.error("E-DATE-001", f"'{e.text}' is not a valid timestamp", e.span,
                           date_hint(e.text[:10]) if ast.DateLit(e.text[:10]).parse() is None
                           else "hours go from 00 to 23, minutes and seconds from 00 to 59")
            else:
                self.error("E-DATE-001", f"'{e.text}' is not a valid date", e.span, date_hint(e.text))
        return d

    def x_Today(self, e: ast.Today) -> Typed:
        return ir.Today(D, e.span)

    def value(self, lit: ast.Expr, t: Type, what: str) -> tuple[Value, bool]:
        """A literal as a Python value of type t: (value, ok). Ints widen to float."""
        if isinstance(lit, ast.Null):
            return None, True
        if isinstance(lit, ast.TimestampLit) and t == Type.TIMESTAMP:
            d = self.date(lit)
            return d, d is not None
        if isinstance(lit, ast.DateLit) and not isinstance(lit, ast.TimestampLit) and t == D:
            d = self.date(lit)
            return d, d is not None
        if isinstance(lit, ast.Number):
            if t == I and lit.kind == "int":
                x = self.x_Number(lit)
                return (x.value, True) if x is not None else (None, False)
            if t == F:
                return float(lit.value), True
        if isinstance(lit, ast.String) and t == S:
            return lit.value, True
        if isinstance(lit, ast.Bool) and t == B:
            return lit.value, True
        found = literal_type(lit)
        self.error("E-TYPE-009", f"{what} is {a_type(t)}, but this value is {found}", lit.span,
                   literal_hint(lit, t))
        return None, False
