"""Expressions as policy text: an ir.Expr -> the text a policy author would
write for it, with the parentheses its precedence needs; a value -> its
literal.

    render(expr)     -> text
    value_text(v)    -> a value as a literal (floats exactly: repr)
"""
from __future__ import annotations

import datetime as dt
import math

from pol.compiler import ir

_BINARY = {"add": ("+", 6), "sub": ("-", 6), "mul": ("*", 7), "div": ("/", 7), "mod": ("%", 7),
           "eq": ("==", 5), "ne": ("!=", 5), "lt": ("<", 5), "le": ("<=", 5), "gt": (">", 5),
           "ge": (">=", 5), "and": ("and", 3), "or": ("or", 2)}


# IR operators whose function is written under another name
_FUNCTION = {"make_date": "date", "ts_date": "date"}

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}


def _literal_text(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + "".join(_ESCAPES.get(ch) or (f"\\u{ord(ch):04x}" if ord(ch) < 0x20 else ch) for ch in v) + '"'
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, tuple):            # a list param's value
        return "[" + ", ".join(_literal_text(x) for x in v) + "]"
    return repr(v)


def value_text(v) -> str:
    """A value as a policy author would write it (floats exactly: repr)."""
    return _literal_text(v)


def _level(e: ir.Expr) -> int:
    if isinstance(e, ir.If):
        return 1
    if isinstance(e, ir.Call):
        if e.op in _BINARY:
            return _BINARY[e.op][1]
        if e.op == "not" and isinstance(e.args[0], ir.Call) and e.args[0].op == "member":
            return 5                    # `x not in LIST`
        if e.op == "not":
            return 4
        if e.op in ("between", "member", "list_has"):
            return 5
        if e.op == "neg":
            return 8
        if e.op == "to_float":
            return _level(e.args[0])
    if isinstance(e, (ir.InSet, ir.IsNull)):
        return 5
    if isinstance(e, ir.Literal) and isinstance(e.value, (int, float)) and not isinstance(e.value, bool) \
            and (e.value < 0 or math.copysign(1.0, e.value) < 0):
        return 8
    return 9


def render(e: ir.Expr) -> str:
    """An expression as policy text, with the parentheses its precedence needs.
    Conversions the checker made explicit (to_float) are left out again."""
    def sub(x: ir.Expr, least: int) -> str:
        text = render(x)
        return f"({text})" if _level(x) < least else text

    if isinstance(e, ir.Literal):
        # a float stays a float (`20.0`): written `20`, it would be an int
        return _literal_text(e.value)
    if isinstance(e, (ir.FieldRef, ir.ParamRef, ir.DeclRef)):
        return e.name
    if isinstance(e, ir.Today):
        return "today"
    if isinstance(e, ir.Aggregate):
        # as written: `count(contacts where channel == "sms" within 7 days)`
        text = e.history + (f".{e.field}" if e.field is not None else "")
        if e.where is not None:
            text += f" where {render(e.where)}"
        if e.within is not None:
            text += f" within {e.within} days"
        return f"{e.func}({text})"
    if isinstance(e, ir.Element):
        return "it"
    if isinstance(e, ir.Quantifier):
        return f"{'all' if e.every else 'any'}({e.source.name}, {render(e.cond)})"
    if isinstance(e, ir.If):
        return f"if {sub(e.cond, 2)} then {sub(e.then, 2)} else {sub(e.else_, 2)}"
    if isinstance(e, ir.InSet):
        values = ", ".join(_literal_text(v) for v in e.values)
        return f"{sub(e.operand, 6)} {'not in' if e.negated else 'in'} ({values})"
    if isinstance(e, ir.IsNull):
        return f"{sub(e.operand, 6)} is {'not null' if e.negated else 'null'}"
    if not isinstance(e, ir.Call):
        raise TypeError(f"not an IR expression: {type(e).__name__}")
    a = e.args
    if e.op == "to_float":
        return render(a[0])
    if e.op in _BINARY:
        symbol, level = _BINARY[e.op]
        if level == 5:      # comparisons do not chain
            return f"{sub(a[0], 6)} {symbol} {sub(a[1], 6)}"
        # Left-associative: a right operand of the same level needs parentheses.
        # An `and` inside an `or` gets them too, though it binds tighter: that
        # is how authors write it, and how a reader checks it.
        def operand(x: ir.Expr, least: int) -> str:
            if e.op == "or" and isinstance(x, ir.Call) and x.op == "and":
                return f"({render(x)})"
            return sub(x, least)
        return f" {symbol} ".join([operand(a[0], level)] + [operand(x, level + 1) for x in a[1:]])
    if e.op == "not" and isinstance(a[0], ir.Call) and a[0].op in ("member", "list_has"):
        return f"{sub(a[0].args[0], 6)} not in {render(a[0].args[1])}"     # as written
    if e.op == "list_count":
        return f"count({render(a[0])})"
    if e.op in ("member", "list_has"):
        return f"{sub(a[0], 6)} in {render(a[1])}"
    if e.op == "not":
        return f"not {sub(a[0], 4)}"
    if e.op == "neg":
        text = sub(a[0], 8)
        return f"- {text}" if text.startswith("-") else f"-{text}"
    if e.op == "between":
        return f"{sub(a[0], 6)} between {sub(a[1], 6)} and {sub(a[2], 6)}"
    if e.op == "round" and isinstance(a[1], ir.Literal) and a[1].value == 0:
        return f"round({render(a[0])})"
    if e.op == "anniversary":          # its second argument is the Today the checker added
        return f"days_to_anniversary({render(a[0])})"
    return f"{_FUNCTION.get(e.op, e.op)}({', '.join(render(x) for x in a)})"
