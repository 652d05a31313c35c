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
string, date); the words and hints are compiler/frontend/hints.py's, the
functions' rules compiler/frontend/functions.py's.

Nesting is followed on a stack of the checker's own (`Checker.expr`), not
Python's: a rule for a nested expression is a generator that yields each
subexpression and is sent its IR. A chain of one operator level
(`a + b - c ...`, `a and b and c ...`) and an `else if` chain are walked in
a loop by one rule. `and` and `or` chains become one n-ary ir.Call
(three-valued `and`/`or` are associative); arithmetic stays left-nested, as
float addition is not. How deep an expression may nest is
compiler/frontend/nesting.py's (E-LIMIT-002), checked before it is typed.

Codes:
  E-NAME-001 unknown name              E-NAME-004 channel or offer used as a value
  E-TYPE-001 arithmetic operands       E-TYPE-002 compared values of different types
  E-TYPE-003 ordering strings/bools    E-TYPE-004 and/or/not on a non-bool
  E-TYPE-005 `if` condition/branches   E-TYPE-006 `in` list value (wrong type, null)
  E-TYPE-008 a declaration's required type
  E-TYPE-009 literal of the wrong type (param default, given, with)
  E-TYPE-010 unknown type name         E-TYPE-011 number out of range
  E-TYPE-012 `between` operands        E-TYPE-013 unary '-' on a non-number
  E-DATE-001 invalid date literal      E-LIMIT-002 nested too deeply
  W-NULL-001 comparison with null (always null)
  (E-FUNC-* and E-TYPE-007: compiler/frontend/functions.py)
"""
from __future__ import annotations

import datetime as dt
import math
import unicodedata
from types import GeneratorType

from pol.compiler import ir
from pol.compiler.frontend.functions import FUNCTIONS, FunctionRules
from pol.compiler.frontend.hints import (
    NUMERIC,
    UNTYPED_NULL,
    B,
    D,
    F,
    I,
    S,
    a_type,
    bool_hint,
    date_hint,
    literal_hint,
    literal_type,
    mismatch_hint,
    quoted_date_hint,
    quoted_number_hint,
    type_words,
    unquoted_text_hint,
)
from pol.compiler.frontend.history import HistoryRules
from pol.compiler.frontend.lists import ListRules
from pol.compiler.frontend.nesting import too_deep
from pol.compiler.frontend.resolve import KIND_WORDS, Unit
from pol.compiler.types import Type, parse_type
from pol.dsl import ast
from pol.dsl.diagnostics import Diagnostics
from pol.dsl.source import Span
from pol.dsl.words import Vocabulary, closest, closest_within

INT64 = (-(2 ** 63), 2 ** 63 - 1)
TYPE_NAMES = ("int", "float", "bool", "string", "date", "timestamp")
_TYPE_SYNONYMS = {"integer": "int", "long": "int", "number": "float", "double": "float",
                  "decimal": "float", "boolean": "bool", "str": "string", "text": "string",
                  "datetime": "timestamp", "time": "timestamp"}
_ARITH = {"+": "add", "-": "sub", "*": "mul", "/": "div", "%": "mod"}
_COMPARE = {"==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
# Binary operators that chain at one level: the left operand of a node of
# the group may be another node of it, `a + b - c` being `(a + b) - c`.
_CHAIN_GROUP = {"and": "and", "or": "or", "+": "+", "-": "+", "*": "*", "/": "*", "%": "*"}
# "Did you mean" looks at every name of a word's kind, most of them in a
# fraction of a microsecond (dsl/words.py), and fills an edit table for
# the few that may be near, in tens of microseconds: per check at most this
# many looks and tables, about a second, however many names and misspellings
# a generated policy holds. Past it, hints say less.
_SUGGESTION_BUDGET = (300_000, 10_000)


class Checker(FunctionRules, HistoryRules, ListRules):
    """Checks expressions against the program's namespace; collects diagnostics."""

    def __init__(self, unit: Unit, diags: Diagnostics):
        self.unit = unit
        self.space = unit.space
        self.diags = diags
        self.field_types: dict[str, Type] = {}
        self.param_types: dict[str, Type] = {}
        self.let_types: dict[str, Type | None] = {}     # None: the let itself is wrong
        self.histories: dict[str, ir.History] = {}      # compiler/frontend/history.py
        self._names: dict = {}
        self._suggestions_left = _SUGGESTION_BUDGET

    def names_of(self, *kinds: type, extra: tuple[str, ...] = ()) -> Vocabulary:
        """The declared names of these kinds, and `extra` words, to suggest
        from (the namespace does not change while checking)."""
        key = (kinds, extra)
        if key not in self._names:
            self._names[key] = Vocabulary([n for n, d in self.space.items() if isinstance(d, kinds)] + list(extra))
        return self._names[key]

    def suggest(self, word: str, candidates) -> str | None:
        """The candidate `word` was probably meant to be (words.closest), within
        the check's budget for suggestions, and only while diagnostics are kept."""
        looks, tables = self._suggestions_left
        if self.diags.full or len(candidates) > looks:
            return None
        guess, filled = closest_within(word, candidates, tables=tables)
        self._suggestions_left = (looks - len(candidates), max(tables - filled, 0))
        return guess

    def error(self, code: str, message: str, span: Span | None, hint: str | None = None, related=()):
        self.diags.add(code, message, span, hint, related)
        return None

    # ------------------------------------------------------------ typing helpers

    @staticmethod
    def settle(e, t: Type):
        """An expression as type t: an untyped null takes t, an int becomes a float."""
        if e.type is UNTYPED_NULL:
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
        return ir.Literal(UNTYPED_NULL, None, e.span)

    def unify(self, xs: list) -> tuple[list, Type | None]:
        """One type for several values (ints widen to float, nulls take the
        others' type); None when they do not fit together."""
        types = {x.type for x in xs if x.type is not UNTYPED_NULL}
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
        """The IR of an expression, or None when it is wrong (already reported).

        The driver of the rules: a rule that yields a subexpression waits on
        this stack, one entry per level of nesting, while its subexpression
        is checked."""
        deep = too_deep(e)
        if deep is not None:
            return self.error(deep.code, deep.message, deep.span, deep.hint)
        rule = getattr(self, "x_" + type(e).__name__)(e)
        if type(rule) is not GeneratorType:
            return rule                     # a name or a literal
        stack = [rule]
        value = None
        while True:
            try:
                sub = stack[-1].send(value)
            except StopIteration as done:
                stack.pop()
                if not stack:
                    return done.value
                value = done.value
                continue
            rule = getattr(self, "x_" + type(sub).__name__)(sub)
            if type(rule) is not GeneratorType:
                value = rule
            else:
                stack.append(rule)
                value = None

    def any_type(self, e):
        """An expression of whatever type it has (a let); a bare null is an INT."""
        x = self.expr(e)
        if x is not None and x.type is UNTYPED_NULL:
            x = self.settle(x, I)
        return x

    def condition(self, e, what: str):
        """A bool expression for `what` ("a segment", "the eligible condition" ...)."""
        x = self.expr(e)
        if x is None:
            return None
        if x.type is UNTYPED_NULL:
            return self.settle(x, B)
        if x.type != B:
            return self.error("E-TYPE-008", f"{what} must be a condition (bool), found {a_type(x.type)}",
                              e.span, bool_hint(x.type))
        return x

    def numeric(self, e, what: str):
        """A FLOAT expression for a score or a priority."""
        x = self.expr(e)
        if x is None:
            return None
        if x.type is UNTYPED_NULL or x.type in NUMERIC:
            return self.settle(x, F)
        hint = {B: "a yes/no value is a segment; or give numbers with (if CONDITION then 1 else 0)",
                S: "a number can be computed from a string with length(...)",
                D: "a number can be computed from a date with days_since(...) or year(...)"}.get(x.type)
        return self.error("E-TYPE-008", f"{what} must be a number, found {a_type(x.type)}", e.span, hint)

    def x_Name(self, e: ast.Name):
        d = self.space.get(e.name)
        if d is None and e.name.startswith("offer."):
            return self.attribute(e)
        if d is None:
            return self.unknown_name(e.name, e.span)
        if isinstance(d, ast.Field):
            t = self.field_types.get(e.name)
            return ir.FieldRef(t, e.name, e.span) if t is not None else None
        if isinstance(d, ast.Param):
            t = self.param_types.get(e.name)
            if t is not None and t.element is not None:
                return self.list_used_as_value(e.name, t, e.span)
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
        if kind == "history":
            return self.error("E-NAME-004", f"'{e.name}' is a history, not a value", e.span,
                              f"aggregate its events, e.g. count({e.name}) or count({e.name} within 30 days)")
        return self.error("E-NAME-004", f"'{e.name}' is {'an' if kind == 'offer' else 'a'} {kind}, "
                          "not a value", e.span,
                          f"{kind}s cannot be used in expressions" + (
                              "; to test whether a channel is open, use its condition"
                              if kind == "channel" else ""))

    def attribute(self, e: ast.Name):
        """`offer.NAME`: the attribute of the offer being checked, a constant."""
        current = getattr(self, "offer_attrs", None)
        word = e.name[len("offer."):]
        if current is None:
            return self.error("E-NAME-009", f"'{e.name}' is read outside an offer", e.span,
                              "offer.NAME reads an attribute of the offer being declared, in its "
                              "'eligible' or 'priority'")
        offer, attrs = current
        lit = attrs.get(word)
        if lit is None:
            guess = self.suggest(word, list(attrs))
            return self.error("E-NAME-009", f"offer '{offer}' has no attribute '{word}'", e.span,
                              f"did you mean 'offer.{guess}'?" if guess else
                              ("its attributes are " + ", ".join(attrs) if attrs else
                               "give it one: attributes { " + word + ": ... }"))
        return ir.Literal(lit.type, lit.value, e.span)

    def unknown_name(self, name: str, span: Span):
        if self.diags.full:
            return None     # nobody will read the hint: spare the search among every name
        values = self.names_of(ast.Field, ast.Param, ast.Let, ast.Segment, ast.Classify, ast.Score,
                               extra=("true", "false", "null", "today"))
        twin = self._twins(values).get(unicodedata.normalize("NFKC", name))
        guess = twin or self.suggest(name, values)
        if twin is not None:
            hint = f"did you mean '{twin}'? (the two are written with different characters: full-width or " \
                   "another script's digits or letters)"
        elif guess is not None:
            hint = f"did you mean '{guess}'?"
        elif name in FUNCTIONS:
            hint = f"'{name}' is a function: write {name}(...)"
        elif name.lower() in ("true", "false", "null", "today"):
            hint = f"write '{name.lower()}' in lower case"
        else:
            hint = "declare it as a field of the input block, a param or a let"
        return self.error("E-NAME-001", f"unknown name '{name}'", span, hint)

    def _twins(self, vocab: Vocabulary) -> dict[str, str]:
        """Names that are not ASCII by their NFKC form (`x１` under `x1`): the
        same to the eye as a name written with ASCII digits and letters."""
        if "twins" not in self._names:
            self._names["twins"] = {unicodedata.normalize("NFKC", n): n for n in vocab.names if not n.isascii()}
        return self._names["twins"]

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
        return ir.Literal(UNTYPED_NULL, None, e.span)

    def x_DateLit(self, e: ast.DateLit):
        d = self.date(e)
        return ir.Literal(D, d, e.span) if d is not None else None

    def x_TimestampLit(self, e: ast.TimestampLit):
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

    def x_Today(self, e: ast.Today):
        return ir.Today(D, e.span)

    def x_Unary(self, e: ast.Unary):
        x = yield e.operand
        if x is None:
            return None
        if e.op == "not":
            if x.type is UNTYPED_NULL:
                x = self.settle(x, B)
            if x.type != B:
                return self.error("E-TYPE-004", f"'not' needs a condition (bool), found {a_type(x.type)}",
                                  e.op_span, bool_hint(x.type))
            return ir.Call(B, "not", (x,), e.span)
        if x.type is UNTYPED_NULL:
            x = self.settle(x, I)
        if x.type not in NUMERIC:
            return self.error("E-TYPE-013", f"cannot negate {a_type(x.type)}", e.op_span,
                              "'-' in front of a value needs a number")
        return ir.Call(x.type, "neg", (x,), e.span)

    def x_Binary(self, e: ast.Binary):
        # The chain's nodes, innermost first: `a + b - c` is [a + b, (a + b) - c].
        group = _CHAIN_GROUP[e.op]
        chain = [e]
        while isinstance(chain[-1].left, ast.Binary) and _CHAIN_GROUP[chain[-1].left.op] == group:
            chain.append(chain[-1].left)
        chain.reverse()
        operands = [(yield chain[0].left)]
        for node in chain:
            operands.append((yield node.right))
        if any(x is None for x in operands):
            return None
        if group in ("and", "or"):
            return self.logic(chain, operands)
        acc = operands[0]
        for node, x in zip(chain, operands[1:]):
            acc = self.arithmetic(node, acc, x)
            if acc is None:
                return None
        return acc

    def logic(self, chain: list, operands: list):
        """`a and b and c ...` (or `or`): one n-ary call of bool operands."""
        xs = [self.settle(x, B) if x.type is UNTYPED_NULL else x for x in operands]
        left = xs[0].type
        for node, x in zip(chain, xs[1:]):
            if left != B or x.type != B:
                found = " and ".join(a_type(t) for t in (left, x.type))
                bad = left if left != B else x.type
                return self.error("E-TYPE-004", f"'{node.op}' needs conditions (bool) on both sides, "
                                  f"found {found}", node.op_span, bool_hint(bad))
            left = B
        return ir.Call(B, chain[-1].op, tuple(xs), chain[-1].span)

    def arithmetic(self, e: ast.Binary, a, b):
        op, name = e.op, _ARITH[e.op]
        ta, tb = a.type, b.type
        # dates: date +/- int, int + date, date - date
        if D in (ta, tb) and op in "+-":
            if op == "+" and ta == I and tb in (D, UNTYPED_NULL) or ta is UNTYPED_NULL and tb == D and op == "+":
                a, b, ta, tb = b, a, tb, ta
            if ta == D and tb in (I, UNTYPED_NULL):
                return ir.Call(D, name, (a, self.settle(b, I)), e.span)
            if ta == D and tb == D and op == "-":
                return ir.Call(I, "sub", (a, b), e.span)
            if ta is UNTYPED_NULL and tb == D and op == "-":
                return ir.Call(I, "sub", (self.settle(a, D), b), e.span)
            if ta == D and tb == F:
                return self.error("E-TYPE-001", f"cannot {'add' if op == '+' else 'subtract'} a float "
                                  f"{'to' if op == '+' else 'from'} a date", e.op_span,
                                  "days are whole numbers: round the float first, e.g. round(x)")
        if (ta in NUMERIC or ta is UNTYPED_NULL) and (tb in NUMERIC or tb is UNTYPED_NULL):
            if op == "/":
                return ir.Call(F, "div", (self.settle(a, F), self.settle(b, F)), e.span)
            (a, b), t = self.unify([a, b])
            return ir.Call(t, name, (a, b), e.span)
        verb = {"+": f"cannot add {type_words(ta)} and {type_words(tb)}",
                "-": f"cannot subtract {a_type(tb)} from {a_type(ta)}",
                "*": f"cannot multiply {a_type(ta)} by {a_type(tb)}",
                "/": f"cannot divide {a_type(ta)} by {a_type(tb)}",
                "%": f"cannot take the remainder of {a_type(ta)} divided by {a_type(tb)}"}[op]
        hint = quoted_number_hint(e.left, e.right) or (
            "strings are joined with concat(a, b)" if op == "+" and ta == tb == S else
            "'+' adds numbers, or a whole number of days to a date" if op == "+" else
            "'-' subtracts numbers, days from a date, or one date from another" if op == "-" else
            f"'{op}' works on numbers (int or float)")
        return self.error("E-TYPE-001", verb, e.op_span, hint)

    def x_Compare(self, e: ast.Compare):
        a, b = (yield e.left), (yield e.right)
        if a is None or b is None:
            return None
        if a.type is UNTYPED_NULL or b.type is UNTYPED_NULL:
            self.diags.warn("W-NULL-001", f"'{e.op} null' is always null, never true", e.op_span,
                            "to test for a missing value write 'is null' or 'is not null'")
        (a2, b2), t = self.unify([a, b])
        if t is None:
            return self.error("E-TYPE-002", f"cannot compare {type_words(a.type)} with {type_words(b.type)}",
                              e.op_span, quoted_number_hint(e.left, e.right) or quoted_date_hint(e.left, e.right)
                              or unquoted_text_hint(a.type, b.type, e.left, e.right)
                              or mismatch_hint(a.type, b.type))
        if e.op not in ("==", "!=") and t in (S, B):
            return self.error("E-TYPE-003", f"'{e.op}' cannot order {t} values", e.op_span,
                              f"{t} values can only be compared with '==' and '!='"
                              + (" (or tested with 'in')" if t == S else ""))
        return ir.Call(B, _COMPARE[e.op], (a2, b2), e.span)

    def x_Between(self, e: ast.Between):
        xs = [(yield e.operand), (yield e.low), (yield e.high)]
        if any(x is None for x in xs):
            return None
        ys, t = self.unify(xs)
        if t is None:
            found = ", ".join(type_words(x.type) for x in xs)
            return self.error("E-TYPE-012", f"'between' needs three numbers or three dates, found {found}",
                              e.op_span, quoted_number_hint(e.operand, e.low, e.high))
        if t not in (I, F, D, Type.TIMESTAMP):
            return self.error("E-TYPE-012", f"'between' needs numbers or dates, found {t}", e.op_span,
                              f"{t} values have no order")
        return ir.Call(B, "between", tuple(ys), e.span)

    def x_InList(self, e: ast.InList):
        x = yield e.operand
        lits = []
        for v in e.values:
            if isinstance(v, ast.Null):
                self.error("E-TYPE-006", "'null' cannot be in an 'in' list", v.span,
                           "to test for a missing value write 'is null'")
                lits.append(None)
            else:
                lits.append((yield v))
        if x is None:
            return None
        t = x.type
        if t is UNTYPED_NULL:
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
                           literal_hint(node, t))
        if not ok:
            return None
        return ir.InSet(B, x, tuple(values), e.negated, e.span)

    def x_IsNull(self, e: ast.IsNull):
        x = yield e.operand
        if x is None:
            return None
        if x.type is UNTYPED_NULL:
            x = self.settle(x, I)
        return ir.IsNull(B, x, e.negated, e.span)

    def x_If(self, e: ast.If):
        # `if .. then .. else if .. then .. else ..`: the chain's ifs, outermost first
        chain = [e]
        while isinstance(chain[-1].else_, ast.If):
            chain.append(chain[-1].else_)
        parts = []
        for node in chain:
            parts.append(((yield node.cond), (yield node.then)))
        result = yield chain[-1].else_
        for node, (c, a) in zip(reversed(chain), reversed(parts)):
            result = self.if_else(node, c, a, result)
        return result

    def if_else(self, e: ast.If, c, a, b):
        if c is None or a is None or b is None:
            return None
        if_span = Span(e.span.path, e.span.line, e.span.col, e.span.line, e.span.col + 2)
        if c.type is UNTYPED_NULL:
            c = self.settle(c, B)
        if c.type != B:
            return self.error("E-TYPE-005", f"the condition of 'if' must be a condition (bool), "
                              f"found {a_type(c.type)}", e.cond.span, bool_hint(c.type))
        if a.type is UNTYPED_NULL and b.type is UNTYPED_NULL:
            return self.untyped_null(e)
        (a, b), t = self.unify([a, b])
        if t is None:
            return self.error("E-TYPE-005", "'then' and 'else' give values of different types: "
                              f"{type_words(a.type)} and {type_words(b.type)}", if_span,
                              "both branches of 'if' must give the same type (int and float mix)")
        return ir.If(t, c, a, b, e.span)

    # ------------------------------------------------------------ literal values

    def value(self, lit, t: Type, what: str):
        """A literal as a Python value of type t: (value, ok). Ints widen to float."""
        if t.element is not None:
            return self.list_value(lit, t, what)
        if isinstance(lit, ast.ListLit):
            return self.not_a_list_value(lit, t, what)
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

    # ------------------------------------------------------------ types

    def type_name(self, name: str, span: Span) -> Type | None:
        t = parse_type(name)
        if t is None:
            guess = _TYPE_SYNONYMS.get(name.lower()) or closest(name, TYPE_NAMES)
            hint = f"did you mean '{guess}'?" if guess else "the types are " + ", ".join(TYPE_NAMES)
            if name.startswith("list<"):
                hint = "a list is list<int> or list<string>"
            self.error("E-TYPE-010", f"unknown type '{name}'", span, hint)
        return t
