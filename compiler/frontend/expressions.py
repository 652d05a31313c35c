"""Expression checking: ast expressions -> typed ir expressions, for
compiler/frontend/check.py.

Expressions are checked bottom-up. Conversions and sugar become explicit IR,
as compiler/ir.py documents: an int meeting a float is wrapped in `to_float`
(an int literal simply becomes a float literal), `days_*` become `sub`,
`round(x)` gets its 0, a `null` literal takes the type its context needs
(INT when nothing says). A subexpression that is already wrong yields None,
and everything above it stays quiet, so one mistake gives one message. Type
errors point at the operator or the function name and say what was expected
and what was found, in the words a policy author uses (int, float, bool,
string, date).

Codes:
  E-NAME-001 unknown name              E-NAME-004 channel or offer used as a value
  E-TYPE-001 arithmetic operands       E-TYPE-002 compared values of different types
  E-TYPE-003 ordering strings/bools    E-TYPE-004 and/or/not on a non-bool
  E-TYPE-005 `if` condition/branches   E-TYPE-006 `in` list value (wrong type, null)
  E-TYPE-007 function argument type    E-TYPE-008 a declaration's required type
  E-TYPE-009 literal of the wrong type (param default, given, with)
  E-TYPE-010 unknown type name         E-TYPE-011 number out of range
  E-TYPE-012 `between` operands        E-TYPE-013 unary '-' on a non-number
  E-FUNC-001 unknown function          E-FUNC-002 wrong number of arguments
  E-FUNC-003 round's digits not an int literal in -15..15
  E-FUNC-004 starts_with/ends_with/contains: second argument not a string literal
  E-DATE-001 invalid date literal
  W-NULL-001 comparison with null (always null)
"""
from __future__ import annotations

import datetime as dt
import math

from pol.compiler import ir
from pol.dsl.diagnostics import Diagnostics
from pol.compiler.frontend.resolve import KIND_WORDS, Unit
from pol.compiler.types import Type, parse_type
from pol.dsl import ast
from pol.dsl.parser import closest
from pol.dsl.source import Span

I, F, B, S, D = Type.INT, Type.FLOAT, Type.BOOL, Type.STRING, Type.DATE
NUMERIC = (I, F)
INT64 = (-(2 ** 63), 2 ** 63 - 1)

# name -> (fewest, most) arguments; None: no upper limit
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "abs": (1, 1), "floor": (1, 1), "ceil": (1, 1), "round": (1, 2),
    "min": (1, None), "max": (1, None), "clamp": (3, 3),
    "sqrt": (1, 1), "exp": (1, 1), "log": (1, 1), "pow": (2, 2),
    "coalesce": (1, None),
    "days_since": (1, 1), "days_until": (1, 1), "days_between": (2, 2),
    "year": (1, 1), "month": (1, 1), "day": (1, 1),
    "starts_with": (2, 2), "ends_with": (2, 2), "contains": (2, 2), "length": (1, 1),
}
# Functions people reach for from spreadsheets and SQL, and what to write instead.
_FUNCTION_ADVICE = {
    "avg": "there is no average function: write (a + b) / 2",
    "average": "there is no average function: write (a + b) / 2",
    "mean": "there is no average function: write (a + b) / 2",
    "sum": "add the values with '+'",
    "len": "did you mean 'length'?",
    "now": "the run's date is 'today', written without parentheses",
    "datediff": "use days_between(a, b), or subtract the dates: b - a",
    "date_diff": "use days_between(a, b), or subtract the dates: b - a",
    "ifnull": "did you mean 'coalesce'?",
    "nvl": "did you mean 'coalesce'?",
    "iif": "write (if CONDITION then A else B)",
}
TYPE_NAMES = ("int", "float", "bool", "string", "date")
_TYPE_SYNONYMS = {"integer": "int", "long": "int", "number": "float", "double": "float",
                  "decimal": "float", "boolean": "bool", "str": "string", "text": "string",
                  "datetime": "date", "timestamp": "date"}
_ARITH = {"+": "add", "-": "sub", "*": "mul", "/": "div", "%": "mod"}
_COMPARE = {"==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
_NULL = object()          # the type of a `null` literal that its context has not typed yet


def type_words(t) -> str:
    return "null" if t is _NULL else str(t)


def a_type(t) -> str:
    """The type with its article: 'an int', 'a string'."""
    w = type_words(t)
    return ("an " if w[0] in "aeiou" else "a ") + w


class Checker:
    """Checks expressions against the program's namespace; collects diagnostics."""

    def __init__(self, unit: Unit, diags: Diagnostics):
        self.unit = unit
        self.space = unit.space
        self.diags = diags
        self.field_types: dict[str, Type] = {}
        self.param_types: dict[str, Type] = {}
        self.let_types: dict[str, Type | None] = {}     # None: the let itself is wrong

    def error(self, code: str, message: str, span: Span | None, hint: str | None = None, related=()):
        self.diags.add(code, message, span, hint, related)
        return None

    # ------------------------------------------------------------ typing helpers

    @staticmethod
    def settle(e, t: Type):
        """An expression as type t: an untyped null takes t, an int becomes a float."""
        if e.type is _NULL:
            return ir.Literal(t, None, e.span)
        if e.type == t:
            return e
        assert e.type == I and t == F, (e.type, t)
        if isinstance(e, ir.Literal):
            # the literal is exact as written; converting it now saves the
            # back ends a conversion per row and means the same
            return ir.Literal(F, float(e.value) if e.value is not None else None, e.span)
        return ir.Call(F, "to_float", (e,), e.span)

    @staticmethod
    def untyped_null(e):
        """`if c then null else null`, `coalesce(null, null)`: always null, so
        like a bare `null` it takes the type its context needs."""
        return ir.Literal(_NULL, None, e.span)

    def unify(self, xs: list) -> tuple[list, Type | None]:
        """One type for several values (ints widen to float, nulls take the
        others' type); None when they do not fit together."""
        types = {x.type for x in xs if x.type is not _NULL}
        if not types:
            return [self.settle(x, I) for x in xs], I
        if types <= {I, F}:
            t = F if F in types else I
        elif len(types) == 1:
            t = types.pop()
        else:
            return xs, None
        return [self.settle(x, t) for x in xs], t

    # ------------------------------------------------------------ expressions

    def expr(self, e):
        """The IR of an expression, or None when it is wrong (already reported)."""
        return getattr(self, "x_" + type(e).__name__)(e)

    def any_type(self, e):
        """An expression of whatever type it has (a let); a bare null is an INT."""
        x = self.expr(e)
        if x is not None and x.type is _NULL:
            x = self.settle(x, I)
        return x

    def condition(self, e, what: str):
        """A bool expression for `what` ("a segment", "the eligible condition" ...)."""
        x = self.expr(e)
        if x is None:
            return None
        if x.type is _NULL:
            return self.settle(x, B)
        if x.type != B:
            return self.error("E-TYPE-008", f"{what} must be a condition (bool), found {a_type(x.type)}",
                              e.span, _bool_hint(x.type))
        return x

    def numeric(self, e, what: str):
        """A FLOAT expression for a score or a priority."""
        x = self.expr(e)
        if x is None:
            return None
        if x.type is _NULL or x.type in NUMERIC:
            return self.settle(x, F)
        hint = {B: "a yes/no value is a segment; or give numbers with (if CONDITION then 1 else 0)",
                S: "a number can be computed from a string with length(...)",
                D: "a number can be computed from a date with days_since(...) or year(...)"}.get(x.type)
        return self.error("E-TYPE-008", f"{what} must be a number, found {a_type(x.type)}", e.span, hint)

    def x_Name(self, e: ast.Name):
        d = self.space.get(e.name)
        if d is None:
            return self.unknown_name(e.name, e.span)
        if isinstance(d, ast.Field):
            t = self.field_types.get(e.name)
            return ir.FieldRef(t, e.name, e.span) if t is not None else None
        if isinstance(d, ast.Param):
            t = self.param_types.get(e.name)
            return ir.ParamRef(t, e.name, e.span) if t is not None else None
        if isinstance(d, ast.Let):
            t = self.let_types.get(e.name)
            return ir.DeclRef(t, e.name, "let", e.span) if t is not None else None
        if isinstance(d, ast.Segment):
            return ir.DeclRef(B, e.name, "segment", e.span)
        if isinstance(d, ast.Classify):
            return ir.DeclRef(S, e.name, "classify", e.span)
        if isinstance(d, ast.Score):
            return ir.DeclRef(F, e.name, "score", e.span)
        kind = KIND_WORDS[type(d)]
        return self.error("E-NAME-004", f"'{e.name}' is {'an' if kind == 'offer' else 'a'} {kind}, "
                          "not a value", e.span,
                          f"{kind}s cannot be used in expressions" + (
                              "; to test whether a channel is open, use its condition"
                              if kind == "channel" else ""))

    def unknown_name(self, name: str, span: Span):
        values = [n for n, d in self.space.items() if not isinstance(d, (ast.Channel, ast.Offer))]
        guess = closest(name, values + ["true", "false", "null", "today"])
        if guess is not None:
            hint = f"did you mean '{guess}'?"
        elif name in FUNCTIONS:
            hint = f"'{name}' is a function: write {name}(...)"
        elif name.lower() in ("true", "false", "null", "today"):
            hint = f"write '{name.lower()}' in lower case"
        else:
            hint = "declare it as a field of the input block, a param or a let"
        return self.error("E-NAME-001", f"unknown name '{name}'", span, hint)

    def x_Number(self, e: ast.Number):
        value = e.value
        if e.kind == "int":
            if not INT64[0] <= value <= INT64[1]:
                return self.error("E-TYPE-011", f"the number {e.text} is too large for an int", e.span,
                                  "ints hold up to 9223372036854775807; write a float (e.g. 1e20) "
                                  "if that is what you mean")
            return ir.Literal(I, value, e.span)
        if not math.isfinite(value):
            return self.error("E-TYPE-011", f"the number {e.text} is too large", e.span)
        return ir.Literal(F, value, e.span)

    def x_String(self, e: ast.String):
        return ir.Literal(S, e.value, e.span)

    def x_Bool(self, e: ast.Bool):
        return ir.Literal(B, e.value, e.span)

    def x_Null(self, e: ast.Null):
        return ir.Literal(_NULL, None, e.span)

    def x_DateLit(self, e: ast.DateLit):
        d = self.date(e)
        return ir.Literal(D, d, e.span) if d is not None else None

    def date(self, e: ast.DateLit) -> dt.date | None:
        d = e.parse()
        if d is None:
            self.error("E-DATE-001", f"'{e.text}' is not a valid date", e.span, _date_hint(e.text))
        return d

    def x_Today(self, e: ast.Today):
        return ir.Today(D, e.span)

    def x_Unary(self, e: ast.Unary):
        x = self.expr(e.operand)
        if x is None:
            return None
        if e.op == "not":
            if x.type is _NULL:
                x = self.settle(x, B)
            if x.type != B:
                return self.error("E-TYPE-004", f"'not' needs a condition (bool), found {a_type(x.type)}",
                                  e.op_span, _bool_hint(x.type))
            return ir.Call(B, "not", (x,), e.span)
        if x.type is _NULL:
            x = self.settle(x, I)
        if x.type not in NUMERIC:
            return self.error("E-TYPE-013", f"cannot negate {a_type(x.type)}", e.op_span,
                              "'-' in front of a value needs a number")
        return ir.Call(x.type, "neg", (x,), e.span)

    def x_Binary(self, e: ast.Binary):
        a, b = self.expr(e.left), self.expr(e.right)
        if a is None or b is None:
            return None
        if e.op in ("and", "or"):
            a = self.settle(a, B) if a.type is _NULL else a
            b = self.settle(b, B) if b.type is _NULL else b
            if a.type != B or b.type != B:
                found = " and ".join(a_type(t) for t in (a.type, b.type))
                bad = a.type if a.type != B else b.type
                return self.error("E-TYPE-004", f"'{e.op}' needs conditions (bool) on both sides, "
                                  f"found {found}", e.op_span, _bool_hint(bad))
            return ir.Call(B, e.op, (a, b), e.span)
        return self.arithmetic(e, a, b)

    def arithmetic(self, e: ast.Binary, a, b):
        op, name = e.op, _ARITH[e.op]
        ta, tb = a.type, b.type
        # dates: date +/- int, int + date, date - date
        if D in (ta, tb) and op in "+-":
            if op == "+" and ta == I and tb in (D, _NULL) or ta is _NULL and tb == D and op == "+":
                a, b, ta, tb = b, a, tb, ta
            if ta == D and tb in (I, _NULL):
                return ir.Call(D, name, (a, self.settle(b, I)), e.span)
            if ta == D and tb == D and op == "-":
                return ir.Call(I, "sub", (a, b), e.span)
            if ta is _NULL and tb == D and op == "-":
                return ir.Call(I, "sub", (self.settle(a, D), b), e.span)
            if ta == D and tb == F:
                return self.error("E-TYPE-001", f"cannot {'add' if op == '+' else 'subtract'} a float "
                                  f"{'to' if op == '+' else 'from'} a date", e.op_span,
                                  "days are whole numbers: round the float first, e.g. round(x)")
        if (ta in NUMERIC or ta is _NULL) and (tb in NUMERIC or tb is _NULL):
            if op == "/":
                return ir.Call(F, "div", (self.settle(a, F), self.settle(b, F)), e.span)
            (a, b), t = self.unify([a, b])
            return ir.Call(t, name, (a, b), e.span)
        verb = {"+": f"cannot add {type_words(ta)} and {type_words(tb)}",
                "-": f"cannot subtract {a_type(tb)} from {a_type(ta)}",
                "*": f"cannot multiply {a_type(ta)} by {a_type(tb)}",
                "/": f"cannot divide {a_type(ta)} by {a_type(tb)}",
                "%": f"cannot take the remainder of {a_type(ta)} divided by {a_type(tb)}"}[op]
        hint = _quoted_number_hint(e.left, e.right) or (
            "'+' adds numbers, or a whole number of days to a date" if op == "+" else
            "'-' subtracts numbers, days from a date, or one date from another" if op == "-" else
            f"'{op}' works on numbers (int or float)")
        return self.error("E-TYPE-001", verb, e.op_span, hint)

    def x_Compare(self, e: ast.Compare):
        a, b = self.expr(e.left), self.expr(e.right)
        if a is None or b is None:
            return None
        if a.type is _NULL or b.type is _NULL:
            self.diags.warn("W-NULL-001", f"'{e.op} null' is always null, never true", e.op_span,
                            "to test for a missing value write 'is null' or 'is not null'")
        (a2, b2), t = self.unify([a, b])
        if t is None:
            return self.error("E-TYPE-002", f"cannot compare {type_words(a.type)} with {type_words(b.type)}",
                              e.op_span, _quoted_number_hint(e.left, e.right) or _quoted_date_hint(e.left, e.right)
                              or _unquoted_text_hint(a.type, b.type, e.left, e.right)
                              or _mismatch_hint(a.type, b.type))
        if e.op not in ("==", "!=") and t in (S, B):
            return self.error("E-TYPE-003", f"'{e.op}' cannot order {t} values", e.op_span,
                              f"{t} values can only be compared with '==' and '!='"
                              + (" (or tested with 'in')" if t == S else ""))
        return ir.Call(B, _COMPARE[e.op], (a2, b2), e.span)

    def x_Between(self, e: ast.Between):
        xs = [self.expr(x) for x in (e.operand, e.low, e.high)]
        if any(x is None for x in xs):
            return None
        ys, t = self.unify(xs)
        if t is None:
            found = ", ".join(type_words(x.type) for x in xs)
            return self.error("E-TYPE-012", f"'between' needs three numbers or three dates, found {found}",
                              e.op_span, _quoted_number_hint(e.operand, e.low, e.high))
        if t not in (I, F, D):
            return self.error("E-TYPE-012", f"'between' needs numbers or dates, found {t}", e.op_span,
                              f"{t} values have no order")
        return ir.Call(B, "between", tuple(ys), e.span)

    def x_InList(self, e: ast.InList):
        x = self.expr(e.operand)
        lits = []
        for v in e.values:
            if isinstance(v, ast.Null):
                self.error("E-TYPE-006", "'null' cannot be in an 'in' list", v.span,
                           "to test for a missing value write 'is null'")
                lits.append(None)
            else:
                lits.append(self.expr(v))
        if x is None:
            return None
        t = x.type
        if t is _NULL:
            _, t = self.unify([v for v in lits if v is not None])
            if t is None:
                return self.error("E-TYPE-006", "the values of an 'in' list must have one type", e.op_span)
            x = self.settle(x, t)
        values, ok = [], all(v is not None for v in lits)
        for v, node in zip(lits, e.values):
            if v is None:
                continue
            if v.type == t:
                values.append(v.value)
            elif t == F and v.type == I:
                values.append(float(v.value))
            else:
                ok = False
                self.error("E-TYPE-006", f"this 'in' list tests {a_type(t)}, but holds {a_type(v.type)}", node.span,
                           _literal_hint(node, t))
        if not ok:
            return None
        return ir.InSet(B, x, tuple(values), e.negated, e.span)

    def x_IsNull(self, e: ast.IsNull):
        x = self.expr(e.operand)
        if x is None:
            return None
        if x.type is _NULL:
            x = self.settle(x, I)
        return ir.IsNull(B, x, e.negated, e.span)

    def x_If(self, e: ast.If):
        c, a, b = self.expr(e.cond), self.expr(e.then), self.expr(e.else_)
        if c is None or a is None or b is None:
            return None
        if_span = Span(e.span.path, e.span.line, e.span.col, e.span.line, e.span.col + 2)
        if c.type is _NULL:
            c = self.settle(c, B)
        if c.type != B:
            return self.error("E-TYPE-005", f"the condition of 'if' must be a condition (bool), "
                              f"found {a_type(c.type)}", e.cond.span, _bool_hint(c.type))
        if a.type is _NULL and b.type is _NULL:
            return self.untyped_null(e)
        (a, b), t = self.unify([a, b])
        if t is None:
            return self.error("E-TYPE-005", "'then' and 'else' give values of different types: "
                              f"{type_words(a.type)} and {type_words(b.type)}", if_span,
                              "both branches of 'if' must give the same type (int and float mix)")
        return ir.If(t, c, a, b, e.span)

    # ------------------------------------------------------------ functions

    def x_Call(self, e: ast.Call):
        name, span = e.name, e.name_span
        if name not in FUNCTIONS:
            if name in self.space:
                kind = KIND_WORDS[type(self.space[name])]
                return self.error("E-FUNC-001", f"'{name}' is a {kind}, not a function", span,
                                  f"write '{name}' without parentheses")
            guess = closest(name, FUNCTIONS)
            hint = (_FUNCTION_ADVICE.get(name.lower()) or (f"did you mean '{guess}'?" if guess else None)
                    or "the functions are " + ", ".join(FUNCTIONS))
            return self.error("E-FUNC-001", f"unknown function '{name}'", span, hint)
        lo, hi = FUNCTIONS[name]
        k = len(e.args)
        if k < lo or (hi is not None and k > hi):
            want = (str(lo) if lo == hi else f"{lo} or more" if hi is None else f"{lo} or {hi}")
            plural = "s" if want != "1" else ""
            return self.error("E-FUNC-002", f"'{name}' takes {want} argument{plural}, found {k}", span,
                              _USAGE.get(name))
        # a literal argument is judged as written, not checked as an expression
        # first (which would report a misspelled name in it a second time)
        args = [self.expr(e.args[0])]
        if name == "round" and k == 2:
            args.append(self.round_digits(e.args[1]))
        elif name in ("starts_with", "ends_with", "contains"):
            if not isinstance(e.args[1], ast.String):
                return self.error("E-FUNC-004", f"the second argument of '{name}' must be a string written "
                                  "in double quotes", e.args[1].span, f'e.g. {name}(region, "广州")')
            args.append(self.expr(e.args[1]))
        else:
            args += [self.expr(a) for a in e.args[1:]]
        if any(a is None for a in args):
            return None
        return getattr(self, "f_" + name, self.f_generic)(e, args)

    def round_digits(self, node):
        n = node
        sign = 1
        if isinstance(n, ast.Unary) and n.op == "-" and isinstance(n.operand, ast.Number):
            n, sign = n.operand, -1
        if not (isinstance(n, ast.Number) and n.kind == "int"):
            return self.error("E-FUNC-003", "the second argument of 'round' must be a whole number "
                              "written out", node.span, "e.g. round(x, 2) keeps two decimals")
        digits = sign * n.value
        if not -15 <= digits <= 15:
            return self.error("E-FUNC-003", f"'round' keeps from -15 to 15 decimals, not {digits}",
                              node.span)
        return ir.Literal(I, digits, node.span)

    def arg_error(self, e: ast.Call, want: str, found):
        return self.error("E-TYPE-007", f"'{e.name}' needs {want}, found {a_type(found)}", e.name_span,
                          _USAGE.get(e.name))

    def f_generic(self, e: ast.Call, args):
        raise AssertionError(f"no rule for function {e.name}")

    def _one_number(self, e, args):
        x = args[0]
        if x.type is _NULL:
            x = self.settle(x, I)
        if x.type not in NUMERIC:
            return self.arg_error(e, "a number", x.type)
        return x

    def f_abs(self, e, args):
        x = self._one_number(e, args)
        return ir.Call(x.type, e.name, (x,), e.span) if x is not None else None

    f_floor = f_ceil = f_abs

    def f_round(self, e, args):
        x = self._one_number(e, args)
        if x is None:
            return None
        digits = args[1] if len(args) == 2 else ir.Literal(I, 0, e.span)
        return ir.Call(x.type, "round", (x, digits), e.span)

    def _float_args(self, e, args):
        out = []
        for x in args:
            if x.type is not _NULL and x.type not in NUMERIC:
                return self.arg_error(e, "numbers" if len(args) > 1 else "a number", x.type)
            out.append(self.settle(x, F) if x.type is not F else x)
        return ir.Call(F, e.name, tuple(out), e.span)

    f_sqrt = f_exp = f_log = f_pow = _float_args

    def f_min(self, e, args):
        if all(x.type is _NULL for x in args):
            return self.untyped_null(e)
        ys, t = self.unify(args)
        if t is None or t not in (I, F, D):
            found = ", ".join(type_words(x.type) for x in args)
            return self.error("E-TYPE-007", f"'{e.name}' needs numbers, or dates, found {found}",
                              e.name_span, _USAGE.get(e.name))
        return ir.Call(t, e.name, tuple(ys), e.span)

    f_max = f_clamp = f_min

    def f_coalesce(self, e, args):
        if all(x.type is _NULL for x in args):
            return self.untyped_null(e)
        ys, t = self.unify(args)
        if t is None:
            found = ", ".join(type_words(x.type) for x in args)
            return self.error("E-TYPE-007", f"the values of 'coalesce' must have one type, found {found}",
                              e.name_span, "e.g. coalesce(arpu_m1, 0)")
        return ir.Call(t, "coalesce", tuple(ys), e.span)

    def _dates(self, e, args):
        out = []
        for x in args:
            if x.type is _NULL:
                x = self.settle(x, D)
            if x.type != D:
                self.arg_error(e, "a date" if len(args) == 1 else "dates", x.type)
                return None
            out.append(x)
        return out

    def f_days_since(self, e, args):
        xs = self._dates(e, args)
        return ir.Call(I, "sub", (ir.Today(D, e.name_span), xs[0]), e.span) if xs else None

    def f_days_until(self, e, args):
        xs = self._dates(e, args)
        return ir.Call(I, "sub", (xs[0], ir.Today(D, e.name_span)), e.span) if xs else None

    def f_days_between(self, e, args):
        xs = self._dates(e, args)
        return ir.Call(I, "sub", (xs[1], xs[0]), e.span) if xs else None

    def f_year(self, e, args):
        xs = self._dates(e, args)
        return ir.Call(I, e.name, (xs[0],), e.span) if xs else None

    f_month = f_day = f_year

    def f_starts_with(self, e, args):
        s = args[0]
        if s.type is _NULL:
            s = self.settle(s, S)
        if s.type != S:
            return self.arg_error(e, "a string", s.type)
        return ir.Call(B, e.name, (s, args[1]), e.span)

    f_ends_with = f_contains = f_starts_with

    def f_length(self, e, args):
        s = args[0]
        if s.type is _NULL:
            s = self.settle(s, S)
        if s.type != S:
            return self.arg_error(e, "a string", s.type)
        return ir.Call(I, "length", (s,), e.span)

    # ------------------------------------------------------------ literal values

    def value(self, lit, t: Type, what: str):
        """A literal as a Python value of type t: (value, ok). Ints widen to float."""
        if isinstance(lit, ast.Null):
            return None, True
        if isinstance(lit, ast.DateLit) and t == D:
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
        found = _literal_type(lit)
        self.error("E-TYPE-009", f"{what} is {a_type(t)}, but this value is {found}", lit.span,
                   _literal_hint(lit, t))
        return None, False

    # ------------------------------------------------------------ types

    def type_name(self, name: str, span: Span) -> Type | None:
        t = parse_type(name)
        if t is None:
            guess = _TYPE_SYNONYMS.get(name.lower()) or closest(name, TYPE_NAMES)
            hint = f"did you mean '{guess}'?" if guess else "the types are " + ", ".join(TYPE_NAMES)
            self.error("E-TYPE-010", f"unknown type '{name}'", span, hint)
        return t


# ---------------------------------------------------------------- hints

_USAGE = {
    "abs": "abs(x) takes one number", "floor": "floor(x) takes one number", "ceil": "ceil(x) takes one number",
    "round": "round(x) or round(x, 2)", "min": "min(a, b, ...) of numbers or dates",
    "max": "max(a, b, ...) of numbers or dates", "clamp": "clamp(x, low, high)",
    "sqrt": "sqrt(x) takes one number", "exp": "exp(x) takes one number", "log": "log(x) takes one number",
    "pow": "pow(x, y) takes two numbers", "coalesce": "coalesce(a, b, ...): the first that is not null",
    "days_since": "days_since(date)", "days_until": "days_until(date)",
    "days_between": "days_between(date, date)", "year": "year(date)", "month": "month(date)",
    "day": "day(date)", "starts_with": 'starts_with(text, "prefix")', "ends_with": 'ends_with(text, "suffix")',
    "contains": 'contains(text, "part")', "length": "length(text)",
}


def _bool_hint(t) -> str | None:
    if t in NUMERIC:
        return "compare the number to make a condition, e.g. x > 0"
    if t == S:
        return 'compare the string to make a condition, e.g. brand == "全球通"'
    if t == D:
        return "compare the date to make a condition, e.g. last_active < 2026-01-01"
    return None


def _mismatch_hint(a, b) -> str:
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


def _quoted_number_hint(*nodes) -> str | None:
    for n in nodes:
        if isinstance(n, ast.String):
            text = n.value.strip()
            try:
                float(text.replace("_", ""))
            except ValueError:
                continue
            return f"write the number without quotes: {text}"
    return None


def _quoted_date_hint(*nodes) -> str | None:
    for n in nodes:
        if isinstance(n, ast.String) and ast.DateLit(n.value.strip()).parse() is not None:
            return f"write the date without quotes: {n.value.strip()}"
    return None


def _unquoted_text_hint(ta, tb, left, right) -> str | None:
    """`brand == 1`: the author may have meant the text "1"."""
    for t, other in ((ta, right), (tb, left)):
        if t == S and isinstance(other, ast.Number):
            return f'if you mean the text, write it in double quotes: "{other.text}"'
    return None


def _literal_type(lit) -> str:
    if isinstance(lit, ast.Number):
        return {"int": "an int", "float": "a float", "percent": "a percentage (a float)"}[lit.kind]
    return {ast.String: "a string", ast.Bool: "a bool", ast.DateLit: "a date", ast.Null: "null"}[type(lit)]


def _literal_hint(lit, t: Type) -> str | None:
    if isinstance(lit, ast.String):
        if t in NUMERIC:
            return _quoted_number_hint(lit) or None
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


def _date_hint(text: str) -> str:
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
