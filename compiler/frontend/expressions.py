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
functions' rules compiler/frontend/functions.py's, the literals'
compiler/frontend/literals.py's.

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
  E-TYPE-012 `between` operands        E-TYPE-013 unary '-' on a non-number
  E-LIMIT-002 nested too deeply        W-NULL-001 comparison with null (always null)
  (E-FUNC-* and E-TYPE-007: compiler/frontend/functions.py; E-TYPE-009, E-TYPE-011
  and E-DATE-001: compiler/frontend/literals.py; E-TYPE-010: compiler/frontend/context.py)
"""
from __future__ import annotations

import unicodedata
from types import GeneratorType
from typing import cast

from pol.compiler import ir
from pol.compiler.frontend.context import CheckContext, Rule, Typed, present
from pol.compiler.frontend.experiments import param_read
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
    literal_hint,
    mismatch_hint,
    quoted_date_hint,
    quoted_number_hint,
    type_words,
    unquoted_text_hint,
)
from pol.compiler.frontend.lists import ListRules, list_words
from pol.compiler.frontend.nesting import too_deep
from pol.compiler.frontend.resolve import KIND_WORDS
from pol.compiler.types import Type
from pol.dsl import ast
from pol.dsl.diagnostics import placed
from pol.dsl.source import Span
from pol.dsl.words import Vocabulary

_ARITH = {"+": "add", "-": "sub", "*": "mul", "/": "div", "%": "mod"}
_COMPARE = {"==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
# Binary operators that chain at one level: the left operand of a node of
# the group may be another node of it, `a + b - c` being `(a + b) - c`.
_CHAIN_GROUP = {"and": "and", "or": "or", "+": "+", "-": "+", "*": "*", "/": "*", "%": "*"}
class Checker(FunctionRules, ListRules):
    """Checks expressions against the program's namespace (compiler/frontend/context.py
    holds what it shares with the rules of functions, histories and literals)."""

    # ------------------------------------------------------------ expressions

    def expr(self, e: ast.Expr) -> Typed:
        """The IR of an expression, or None when it is wrong (already reported).

        The driver of the rules: a rule that yields a subexpression waits on
        this stack, one entry per level of nesting, while its subexpression
        is checked."""
        deep = too_deep(e)
        if deep is not None:
            return self.error(deep.code, deep.message, deep.span, deep.hint)
        # The rules are found by the node's class name: a name's or a
        # literal's gives its IR at once, a nested expression's is a Rule.
        rule = getattr(self, "x_" + type(e).__name__)(e)
        if type(rule) is not GeneratorType:
            return cast(Typed, rule)
        stack: list[Rule] = [rule]
        value: Typed = None
        while True:
            try:
                sub = stack[-1].send(value)
            except StopIteration as done:
                stack.pop()
                if not stack:
                    return cast(Typed, done.value)
                value = done.value
                continue
            rule = getattr(self, "x_" + type(sub).__name__)(sub)
            if type(rule) is not GeneratorType:
                value = rule
            else:
                stack.append(rule)
                value = None

    def any_type(self, e: ast.Expr) -> Typed:
        """An expression of whatever type it has (a let); a bare null is an INT."""
        x = self.expr(e)
        if x is not None and x.type is UNTYPED_NULL:
            x = self.settle(x, I)
        return x

    def condition(self, e: ast.Expr, what: str) -> Typed:
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

    def numeric(self, e: ast.Expr, what: str, code: str = "E-TYPE-008") -> Typed:
        """A FLOAT expression for a score, a priority or a cost (`code`: the
        error when it is not a number)."""
        x = self.expr(e)
        if x is None:
            return None
        if x.type is UNTYPED_NULL or x.type in NUMERIC:
            return self.settle(x, F)
        hint = {B: "a yes/no value is a segment; or give numbers with (if CONDITION then 1 else 0)",
                S: "a number can be computed from a string with length(...)",
                D: "a number can be computed from a date with days_since(...) or year(...)"}.get(x.type)
        return self.error(code, f"{what} must be a number, found {a_type(x.type)}", e.span, hint)

    def x_Name(self, e: ast.Name) -> Typed:
        if e.name == "it" and self.element is not None:
            return ir.Element(self.element.type, e.span)
        d = self.space.get(e.name)
        if d is None and e.name.startswith("offer."):
            return self.attribute(e)
        if d is None:
            return self.unknown_name(e.name, e.span)
        if isinstance(d, ast.Field):
            t = self.field_types.get(e.name)
            if t is not None and t.element is not None:
                return self.error("E-TYPE-014", f"'{e.name}' is {list_words(t)}, not a value", e.span,
                                  f'read it with x in {e.name}, count({e.name}), any({e.name}, it == ...) '
                                  f'or all({e.name}, ...)')
            return ir.FieldRef(t, e.name, e.span) if t is not None else None
        if isinstance(d, ast.Param):
            t = self.param_types.get(e.name)
            if t is not None and t.element is not None:
                return self.list_used_as_value(e.name, t, e.span)
            if t is not None and e.name in self.param_arms:        # a value per arm (LANGUAGE.md 13)
                return param_read(self.param_arms[e.name], self.experiments, e.span)
            return ir.ParamRef(t, e.name, e.span) if t is not None else None
        if isinstance(d, ast.Experiment):
            # the customer's arm: an extra input field the batch paths compute
            return ir.FieldRef(S, e.name, e.span) if e.name in self.experiments else None
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

    def attribute(self, e: ast.Name) -> Typed:
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

    def unknown_name(self, name: str, span: Span | None) -> Typed:
        if self.diags.full:
            return None     # nobody will read the hint: spare the search among every name
        values = self.names_of(ast.Field, ast.Param, ast.Let, ast.Segment, ast.Classify, ast.Score,
                               extra=("true", "false", "null", "today"))
        twin = self.twins(values).get(unicodedata.normalize("NFKC", name))
        guess = twin or self.suggest(name, values)
        if twin is not None:
            hint = f"did you mean '{twin}'? (the two are written with different characters: full-width or " \
                   "another script's digits or letters)"
        elif guess is not None:
            hint = f"did you mean '{guess}'?"
        elif name in FUNCTIONS:
            hint = f"'{name}' is a function: write {name}(...)"
        elif name == "it":
            hint = "'it' is the list's element in the condition of any(LIST, ...) or all(LIST, ...)"
        elif name.lower() in ("true", "false", "null", "today"):
            hint = f"write '{name.lower()}' in lower case"
        else:
            hint = "declare it as a field of the input block, a param or a let"
        return self.error("E-NAME-001", f"unknown name '{name}'", span, hint)

    def twins(self, vocab: Vocabulary) -> dict[str, str]:
        """Names that are not ASCII by their NFKC form (`x１` under `x1`): the
        same to the eye as a name written with ASCII digits and letters."""
        if self._twins is None:
            self._twins = {unicodedata.normalize("NFKC", n): n for n in vocab.names if not n.isascii()}
        return self._twins

    def x_Unary(self, e: ast.Unary) -> Rule:
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

    def x_Binary(self, e: ast.Binary) -> Rule:
        # The chain's nodes, innermost first: `a + b - c` is [a + b, (a + b) - c].
        group = _CHAIN_GROUP[e.op]
        chain = [e]
        while isinstance(chain[-1].left, ast.Binary) and _CHAIN_GROUP[chain[-1].left.op] == group:
            chain.append(chain[-1].left)
        chain.reverse()
        typed = [(yield chain[0].left)]
        for node in chain:
            typed.append((yield node.right))
        operands = present(typed)
        if operands is None:
            return None
        if group in ("and", "or"):
            return self.logic(chain, operands)
        acc = operands[0]
        for node, x in zip(chain, operands[1:]):
            step = self.arithmetic(node, acc, x)
            if step is None:
                return None
            acc = step
        return acc

    def logic(self, chain: list[ast.Binary], operands: list[ir.Expr]) -> Typed:
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

    def arithmetic(self, e: ast.Binary, a: ir.Expr, b: ir.Expr) -> Typed:
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
            assert t is not None, "numbers and nulls always fit together"
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

    def x_Compare(self, e: ast.Compare) -> Rule:
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

    def x_Between(self, e: ast.Between) -> Rule:
        xs = present([(yield e.operand), (yield e.low), (yield e.high)])
        if xs is None:
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

    def x_InList(self, e: ast.InList) -> Rule:
        x = yield e.operand
        lits: list[ir.Literal | None] = []
        for v in e.values:
            if isinstance(v, ast.Null):
                self.error("E-TYPE-006", "'null' cannot be in an 'in' list", v.span,
                           "to test for a missing value write 'is null'")
                lits.append(None)
            else:
                lit = yield v               # a literal's rule gives an ir.Literal (or None)
                lits.append(lit if isinstance(lit, ir.Literal) else None)
        if x is None:
            return None
        t = x.type
        if t is UNTYPED_NULL:
            _, found = self.unify([v for v in lits if v is not None])
            if found is None:
                return self.error("E-TYPE-006", "the values of an 'in' list must have one type", e.op_span)
            t = found
            x = self.settle(x, t)
        values: list[object] = []
        ok = all(v is not None for v in lits)
        for got, node in zip(lits, e.values):
            if got is None:
                continue
            if got.type == t:
                values.append(got.value)
            elif t == F and got.type == I and isinstance(got.value, int):
                values.append(float(got.value))
            else:
                ok = False
                self.error("E-TYPE-006", f"this 'in' list tests {a_type(t)}, but holds {a_type(got.type)}", node.span,
                           literal_hint(node, t))
        if not ok:
            return None
        return ir.InSet(B, x, tuple(values), e.negated, e.span)

    def x_IsNull(self, e: ast.IsNull) -> Rule:
        field = self.list_field(e.operand.name) if isinstance(e.operand, ast.Name) else None
        if field is not None:       # a list field may be asked whether it is null (LANGUAGE.md 4.9)
            return ir.IsNull(B, ir.FieldRef(field.type, field.name, e.operand.span), e.negated, e.span)
        x = yield e.operand
        if x is None:
            return None
        if x.type is UNTYPED_NULL:
            x = self.settle(x, I)
        return ir.IsNull(B, x, e.negated, e.span)

    def x_If(self, e: ast.If) -> Rule:
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

    def if_else(self, e: ast.If, c: Typed, a: Typed, b: Typed) -> Typed:
        if c is None or a is None or b is None:
            return None
        if c.type is UNTYPED_NULL:
            c = self.settle(c, B)
        if c.type != B:
            return self.error("E-TYPE-005", f"the condition of 'if' must be a condition (bool), "
                              f"found {a_type(c.type)}", e.cond.span, bool_hint(c.type))
        if a.type is UNTYPED_NULL and b.type is UNTYPED_NULL:
            return self.untyped_null(e)
        (a, b), t = self.unify([a, b])
        if t is None:
            at = placed(e.span)
            if_span = Span(at.path, at.line, at.col, at.line, at.col + 2)
            return self.error("E-TYPE-005", "'then' and 'else' give values of different types: "
                              f"{type_words(a.type)} and {type_words(b.type)}", if_span,
                              "both branches of 'if' must give the same type (int and float mix)")
        return ir.If(t, c, a, b, e.span)


class EventChecker(Checker):
    """The Checker with names resolved among one history's fields: the
    scope of an aggregate's `where` (compiler/frontend/history.py). What it
    reports goes to the outer check's diagnostics, its suggestions come out
    of the outer check's budget."""

    def __init__(self, outer: CheckContext, hist: ir.History):
        super().__init__(outer.unit, outer.diags)
        self.outer = outer
        self.hist = hist
        self.field_types = {f.name: f.type for f in hist.fields}

    def x_Name(self, e: ast.Name) -> Typed:
        t = self.field_types.get(e.name)
        if t is not None:
            return ir.FieldRef(t, e.name, e.span)
        fields = [f.name for f in self.hist.fields]
        guess = self.outer.suggest(e.name, fields)
        hint = (f"did you mean '{guess}'?" if guess else f"the fields of '{self.hist.name}' are "
                + ", ".join(fields))
        if e.name in self.space:
            hint += "; compare with the customer's values outside the aggregate, in a let or a segment"
        return self.error("E-HIST-005", f"'{e.name}' is not a field of history '{self.hist.name}'", e.span, hint)

    def x_Aggregate(self, e: ast.Aggregate) -> Typed:
        return self.error("E-HIST-005", "an aggregate inside the 'where' of another", e.span,
                          "compute it in a let and compare outside")
