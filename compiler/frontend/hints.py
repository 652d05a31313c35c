"""The words of the checker's messages: types as a policy author names them,
and the hints that say how to fix a mistake, for compiler/frontend/expressions.py,
compiler/frontend/functions.py and compiler/frontend/check.py.

In: types (compiler/types.Type, or UNTYPED_NULL for a `null` its context has
not typed yet) and the AST nodes an error is about. Out: text.
"""
from __future__ import annotations

from typing import cast

from pol.compiler.types import Type
from pol.dsl import ast

I, F, B, S, D, TS = Type.INT, Type.FLOAT, Type.BOOL, Type.STRING, Type.DATE, Type.TIMESTAMP
NUMERIC = (I, F)


class _Untyped:
    """The type of a `null` literal that its context has not typed yet."""

    def __repr__(self) -> str:
        return "UNTYPED_NULL"


# It stands where a Type stands (ir.Literal.type) only while an expression is
# checked: the checker settles every such literal to a real type (int where
# nothing says) before a declaration's IR is kept, and compares it by identity.
UNTYPED_NULL = cast(Type, _Untyped())


def type_words(t: Type) -> str:
    return "null" if t is UNTYPED_NULL else str(t)


def a_type(t: Type) -> str:
    """The type with its article: 'an int', 'a string'."""
    w = type_words(t)
    return ("an " if w[0] in "aeiou" else "a ") + w


USAGE = {
    "abs": "abs(x) takes one number", "floor": "floor(x) takes one number", "ceil": "ceil(x) takes one number",
    "round": "round(x) or round(x, 2)", "min": "min(a, b, ...) of numbers or dates",
    "max": "max(a, b, ...) of numbers or dates", "clamp": "clamp(x, low, high)",
    "sqrt": "sqrt(x) takes one number", "exp": "exp(x) takes one number", "log": "log(x) takes one number",
    "pow": "pow(x, y) takes two numbers", "coalesce": "coalesce(a, b, ...): the first that is not null",
    "days_since": "days_since(date)", "days_until": "days_until(date)",
    "days_between": "days_between(date, date)", "year": "year(date)", "month": "month(date)",
    "day": "day(date)", "date": "date(year, month, day), e.g. date(year(today), 12, 31); or date(timestamp)",
    "hour": "hour(timestamp)", "minute": "minute(timestamp)",
    "add_days": "add_days(date, days)", "add_months": "add_months(date, months)", "weekday": "weekday(date)",
    "day_of_year": "day_of_year(date)", "days_to_anniversary": "days_to_anniversary(birthday)",
    "starts_with": 'starts_with(text, "prefix")', "ends_with": 'ends_with(text, "suffix")',
    "contains": 'contains(text, "part")', "length": "length(text)",
    "upper": "upper(text)", "lower": "lower(text)", "trim": "trim(text)",
    "substring": "substring(text, start, count), e.g. substring(phone, 1, 3)",
    "concat": 'concat(text, "more text", ...)',
}


def bool_hint(t: Type) -> str | None:
    if t in NUMERIC:
        return "compare the number to make a condition, e.g. x > 0"
    if t == S:
        return 'compare the string to make a condition, e.g. brand == "全球通"'
    if t == D:
        return "compare the date to make a condition, e.g. last_active < 2026-01-01"
    return None


def mismatch_hint(a: Type, b: Type) -> str:
    pair = {a, b}
    if pair == {D, S}:
        return "a date is written without quotes, e.g. 2026-11-01"
    if pair & {B} and pair & {I, F, S}:
        return "a bool is true or false"
    if pair == {D, I} or pair == {D, F}:
        return "to count days between dates, subtract them: d1 - d2, or use days_since(d)"
    if pair == {I, S} or pair == {F, S}:
        return "a number compares with a number and text with text: if the field holds text, declare it string"
    return f"both sides must be of one type; here they are {type_words(a)} and {type_words(b)}"


def quoted_number_hint(*nodes: ast.Expr) -> str | None:
    for n in nodes:
        if isinstance(n, ast.String):
            text = n.value.strip()
            try:
                float(text.replace("_", ""))
            except ValueError:
                continue
            return f"write the number without quotes: {text}"
    return None


def quoted_date_hint(*nodes: ast.Expr) -> str | None:
    for n in nodes:
        if isinstance(n, ast.String) and ast.DateLit(n.value.strip()).parse() is not None:
            return f"write the date without quotes: {n.value.strip()}"
    return None


def unquoted_text_hint(ta: Type, tb: Type, left: ast.Expr, right: ast.Expr) -> str | None:
    """`brand == 1`: the author may have meant the text "1"."""
    for t, other in ((ta, right), (tb, left)):
        if t == S and isinstance(other, ast.Number):
            return f'if you mean the text, write it in double quotes: "{other.text}"'
    return None


def literal_type(lit: ast.Expr) -> str:
    if isinstance(lit, ast.Number):
        return {"int": "an int", "float": "a float", "percent": "a percentage (a float)"}[lit.kind]
    return {ast.String: "a string", ast.Bool: "a bool", ast.DateLit: "a date", ast.Null: "null"}[type(lit)]


def literal_hint(lit: ast.Expr, t: Type) -> str | None:
    if isinstance(lit, ast.String):
        if t in NUMERIC:
            return quoted_number_hint(lit) or None
        if t == D and ast.DateLit(lit.value).parse() is not None:
            return f"write the date without quotes: {lit.value}"
        if t == B and lit.value in ("true", "false"):
            return f"write {lit.value} without quotes"
    if isinstance(lit, ast.Number) and t == I and lit.kind != "int":
        return "an int is a whole number"
    if t == S and isinstance(lit, (ast.Number, ast.DateLit)):
        return f'write text in double quotes: "{lit.text}"'
    if t == S and not isinstance(lit, ast.String):
        return "write text in double quotes"
    if t == B:
        return "a bool is true or false"
    return None


def date_hint(text: str) -> str:
    parts = text.split("-")
    if len(parts) == 3 and [len(p) for p in parts] != [4, 2, 2]:
        return "write dates as YYYY-MM-DD, with two-digit months and days: " + "-".join(
            [parts[0]] + [p.zfill(2) for p in parts[1:]])
    try:
        year, month, _ = (int(p) for p in parts)
    except ValueError:
        return "write dates as YYYY-MM-DD"
    if not 1 <= month <= 12:
        return "months go from 01 to 12"
    if not 1 <= year:
        return "years go from 0001 to 9999"
    import calendar
    return f"{calendar.month_name[month]} {year} has {calendar.monthrange(year, month)[1]} days"
