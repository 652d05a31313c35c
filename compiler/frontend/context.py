"""What every rule of the checker shares: the program's namespace and the
types found so far, the diagnostics and their suggestions, and how values of
one type are made to fit another.

`CheckContext` is the base of the Checker (compiler/frontend/expressions.py)
and of its rule sets (compiler/frontend/functions.py, history.py): a rule
reports through `error`, fits its operands together with `unify` and
`settle`, and looks names up in `space`. The rules of the expressions
themselves, and the driver that walks them, are expressions.py's.

Codes: E-TYPE-010 unknown type name.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Generator, Sequence

from pol.compiler import ir
from pol.compiler.frontend.hints import UNTYPED_NULL, F, I
from pol.compiler.frontend.resolve import Unit
from pol.compiler.types import Type, parse_type
from pol.dsl import ast
from pol.dsl.diagnostics import Diagnostics, Related
from pol.dsl.source import Span
from pol.dsl.words import Vocabulary, closest, closest_within

# A literal's value as the IR holds it (a timestamp's datetime is a date).
Value = int | float | bool | str | dt.date | tuple[int | str, ...] | None   # a list param's value is a tuple
# An expression's IR, or None when it is wrong (already reported).
Typed = ir.Expr | None
# The rule for a nested expression: it yields each subexpression, is sent
# its IR (compiler/frontend/expressions.py, Checker.expr), and returns its own.
Rule = Generator[ast.Expr, Typed, Typed]



def present(xs: Sequence[Typed]) -> list[ir.Expr] | None:
    """The IR of several subexpressions, or None when one of them is wrong."""
    out = [x for x in xs if x is not None]
    return out if len(out) == len(xs) else None


TYPE_NAMES = ("int", "float", "bool", "string", "date", "timestamp")
_TYPE_SYNONYMS = {"integer": "int", "long": "int", "number": "float", "double": "float",
                  "decimal": "float", "boolean": "bool", "str": "string", "text": "string",
                  "datetime": "timestamp", "time": "timestamp"}
# "Did you mean" looks at every name of a word's kind, most of them in a
# fraction of a microsecond (dsl/words.py), and fills an edit table for
# the few that may be near, in tens of microseconds: per check at most this
# many looks and tables, about a second, however many names and misspellings
# a generated policy holds. Past it, hints say less.
_SUGGESTION_BUDGET = (300_000, 10_000)


class CheckContext:
    """The namespace, the types found so far and the diagnostics of one check."""

    def __init__(self, unit: Unit, diags: Diagnostics):
        self.unit = unit
        self.space = unit.space
        self.diags = diags
        self.field_types: dict[str, Type] = {}
        self.param_types: dict[str, Type] = {}
        self.let_types: dict[str, Type | None] = {}     # None: the let itself is wrong
        self.histories: dict[str, ir.History] = {}      # compiler/frontend/history.py
        self.experiments: dict[str, ir.Experiment] = {}    # compiler/frontend/experiments.py
        self.param_arms: dict[str, ir.Param] = {}          # params with a value per arm
        # (offer name, {attribute: literal}) while an offer is checked: what `offer.NAME` reads
        self.offer_attrs: tuple[str, dict[str, ir.Literal]] | None = None
        # `it` while the condition of any/all is checked (compiler/frontend/lists.py)
        self.element: ir.Element | None = None
        # (attribute, type, span) of every offer's attributes, in order (compiler/frontend/offer_data.py)
        self.attr_log: list[tuple[str, Type, Span | None]] = []
        # the carried fields, where each is carried (compiler/frontend/offer_data.py)
        self.carry_spans: dict[str, Span] = {}
        self._names: dict[tuple[tuple[type, ...], tuple[str, ...]], Vocabulary] = {}
        self._twins: dict[str, str] | None = None
        self._suggestions_left = _SUGGESTION_BUDGET

    def names_of(self, *kinds: type, extra: tuple[str, ...] = ()) -> Vocabulary:
        """The declared names of these kinds, and `extra` words, to suggest
        from (the namespace does not change while checking)."""
        key = (kinds, extra)
        if key not in self._names:
            self._names[key] = Vocabulary([n for n, d in self.space.items() if isinstance(d, kinds)] + list(extra))
        return self._names[key]

    def suggest(self, word: str, candidates: Sequence[str] | Vocabulary) -> str | None:
        """The candidate `word` was probably meant to be (words.closest), within
        the check's budget for suggestions, and only while diagnostics are kept."""
        looks, tables = self._suggestions_left
        if self.diags.full or len(candidates) > looks:
            return None
        guess, filled = closest_within(word, candidates, tables=tables)
        self._suggestions_left = (looks - len(candidates), max(tables - filled, 0))
        return guess

    def error(self, code: str, message: str, span: Span | None, hint: str | None = None,
              related: Related = ()) -> Typed:
        """Reports an error; None, the IR of a wrong expression, so that a rule
        can `return self.error(...)`."""
        self.diags.add(code, message, span, hint, related)
        return None

    # ------------------------------------------------------------ typing helpers

    @staticmethod
    def settle(e: ir.Expr, t: Type) -> ir.Expr:
        """An expression as type t: an untyped null takes t, an int becomes a float."""
        if e.type is UNTYPED_NULL:
            return ir.Literal(t, None, e.span)
        if e.type == t:
            return e
        assert e.type == I and t == F, (e.type, t)
        if isinstance(e, ir.Literal):
            # the literal is exact as written; converting it now saves the
            # back ends a conversion per row and means the same
            return ir.Literal(F, float(e.value) if isinstance(e.value, int) else None, e.span)
        return ir.Call(F, "to_float", (e,), e.span)

    @staticmethod
    def untyped_null(e: ast.Expr) -> ir.Expr:
        """`if c then null else null`, `coalesce(null, null)`: always null, so
        like a bare `null` it takes the type its context needs."""
        return ir.Literal(UNTYPED_NULL, None, e.span)

    def unify(self, xs: Sequence[ir.Expr]) -> tuple[list[ir.Expr], Type | None]:
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
            return list(xs), None
        return [self.settle(x, t) for x in xs], t

    # ------------------------------------------------------------ types

    def type_name(self, name: str, span: Span | None) -> Type | None:
        t = parse_type(name)
        if t is None:
            guess = _TYPE_SYNONYMS.get(name.lower()) or closest(name, TYPE_NAMES)
            hint = f"did you mean '{guess}'?" if guess else "the types are " + ", ".join(TYPE_NAMES)
            if name.startswith("list<") or "<" in name or ">" in name:
                hint = "a list is list<int> or list<string>"
            self.error("E-TYPE-010", f"unknown type '{name}'", span, hint)
        return t

