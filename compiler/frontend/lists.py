"""List params (LANGUAGE.md 3.4 and 4.5): `param vip_plans: list<string> =
["A", "B"]`, a list written as a default or a test's `with`, and
membership `x in vip_plans`, for the Checker of compiler/frontend/expressions.py.

A list is never a value of an expression: it is read by `x in NAME` alone,
which becomes `ir.Call("member", (x, ParamRef(list type, NAME)))` (wrapped
in `not` for `not in`), so the evaluators see one operator and a param's
value. Anywhere else the list's name is an error that says how to use it.

Codes: E-TYPE-014 a list used as a value, `in NAME` of a name that is not
a list, a list param with values per experiment arm; E-TYPE-006 `x in LIST`
with x of another type than the elements; E-TYPE-009 a list value that is
not a list of the param's elements (a null, an element of another type,
`null` in it), or a list for a param that is not a list.
"""
from __future__ import annotations

from pol.compiler import ir
from pol.compiler.frontend.context import Rule, Typed, Value
from pol.compiler.frontend.hints import UNTYPED_NULL, B, a_type, literal_hint, literal_type
from pol.compiler.frontend.literals import LiteralRules
from pol.compiler.types import LIST_OF, Type
from pol.dsl import ast
from pol.dsl.source import Span

_ELEMENT_WORDS = {Type.INT: "ints", Type.STRING: "strings"}


def list_words(t: Type) -> str:
    """'a list of strings'."""
    assert t.element is not None
    return f"a list of {_ELEMENT_WORDS[t.element]}"


class ListRules(LiteralRules):
    """The Checker's rules for lists: list values, and `x in NAME`."""

    def value(self, lit: ast.Expr | ast.ListLit, t: Type, what: str) -> tuple[Value, bool]:
        """A literal as a Python value of type t: (value, ok); a list's is a tuple."""
        if t.element is not None:
            return self.list_value(lit, t, what)
        if isinstance(lit, ast.ListLit):
            self.error("E-TYPE-009", f"{what} is {a_type(t)}, but this value is a list", lit.span,
                       "lists are values of params declared list<int> or list<string>")
            return None, False
        return super().value(lit, t, what)

    def list_value(self, lit: ast.Expr | ast.ListLit, t: Type, what: str) -> tuple[Value, bool]:
        element = t.element
        assert element is not None
        if not isinstance(lit, ast.ListLit):
            hint = "an empty list is written []" if isinstance(lit, ast.Null) else \
                'write the values in brackets: ["A", "B"]' if element == Type.STRING else \
                "write the values in brackets: [1, 2]"
            self.error("E-TYPE-009", f"{what} is {list_words(t)}, but this value is {literal_type(lit)}",
                       lit.span, hint)
            return None, False
        values: list[int | str] = []
        ok = True
        for v in lit.values:
            if isinstance(v, ast.Null):
                self.error("E-TYPE-009", f"{what} is {list_words(t)}: 'null' cannot be one of them", v.span,
                           "leave the value out")
                ok = False
                continue
            x, good = super().value(v, element, f"an element of {what}")
            if good and isinstance(x, (int, str)):
                values.append(x)
            ok = ok and good
        return (tuple(values), True) if ok else (None, False)

    def list_used_as_value(self, name: str, t: Type, span: Span | None) -> Typed:
        return self.error("E-TYPE-014", f"'{name}' is {list_words(t)}, not a value", span,
                          f"test whether a value is one of them: x in {name}")

    def x_Member(self, e: ast.Member) -> Rule:
        x = yield e.operand
        c = e.collection
        d = self.space.get(c.name)
        lst = None
        if d is None:
            yield c                 # reported as any unknown name is, with its suggestion
        elif isinstance(d, ast.Param):
            t = self.param_types.get(c.name)
            if t is not None and t.element is None:
                self.error("E-TYPE-014", f"'{c.name}' is {a_type(t)}, not a list", c.span,
                           f"compare it: x == {c.name}; or declare it list<{t}>")
            elif t is not None and c.name in self.param_arms:
                self.error("E-TYPE-014", f"list '{c.name}' has a value per arm of an experiment", c.span,
                           "a list param holds one list for every customer: declare one list per arm "
                           "and test the arm")
            elif t is not None:
                lst = ir.ParamRef(t, c.name, c.span)
        else:
            self.error("E-TYPE-014", f"'{c.name}' is not a list", c.span,
                       "'in' followed by a name tests a list param; a list of values is written in "
                       "parentheses: x in (1, 2)")
        if x is None or lst is None:
            return None
        element = lst.type.element
        assert element is not None
        if x.type is UNTYPED_NULL:
            x = self.settle(x, element)
        if x.type != element:
            hint = literal_hint(e.operand, element) if isinstance(e.operand, (ast.Number, ast.String)) else None
            if hint is None:
                hint = f"{a_type(x.type)} is tested against a list<{x.type}> param" \
                    if x.type in LIST_OF else "lists hold ints or strings"
            return self.error("E-TYPE-006", f"'{c.name}' is {list_words(lst.type)}, but this tests {a_type(x.type)}",
                              e.op_span, hint)
        test = ir.Call(B, "member", (x, lst), e.span)
        return ir.Call(B, "not", (test,), e.span) if e.negated else test
