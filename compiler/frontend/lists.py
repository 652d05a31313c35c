"""List params (LANGUAGE.md 3.4 and 4.5): `param vip_plans: list<string> =
["A", "B"]`, a list written as a default or a test's `with`, and
membership `x in vip_plans`, for compiler/frontend/expressions.py.

A list is never a value of an expression: it is read by `x in NAME` alone,
which becomes `ir.Call("member", (x, ParamRef(list type, NAME)))` (wrapped
in `not` for `not in`), so the evaluators see one operator and a param's
value. Anywhere else the list's name is an error that says how to use it.

Codes: E-TYPE-014 a list used as a value, or `in NAME` of a name that is
not a list; E-TYPE-006 `x in LIST` with x of another type than the
elements; E-TYPE-009 a list value that is not a list of the param's
elements (a null, an element of another type, `null` in it).
"""
from __future__ import annotations

from pol.compiler import ir
from pol.compiler.frontend.hints import UNTYPED_NULL, B, a_type, literal_hint, literal_type
from pol.compiler.types import LIST_OF, Type
from pol.dsl import ast
from pol.dsl.source import Span

_ELEMENT_WORDS = {Type.INT: "ints", Type.STRING: "strings"}


def list_words(t: Type) -> str:
    """'a list of strings'."""
    assert t.element is not None
    return f"a list of {_ELEMENT_WORDS[t.element]}"


class ListRules:
    """The checker's rules for lists; mixed into expressions.Checker."""

    def list_value(self, lit, t: Type, what: str):
        """A list literal as a tuple of Python values of t's elements: (value, ok)."""
        if not isinstance(lit, ast.ListLit):
            hint = "an empty list is written []" if isinstance(lit, ast.Null) else \
                "write the values in brackets: [\"A\", \"B\"]" if t.element == Type.STRING else \
                "write the values in brackets: [1, 2]"
            self.error("E-TYPE-009", f"{what} is {list_words(t)}, but this value is {literal_type(lit)}",
                       lit.span, hint)
            return None, False
        values, ok = [], True
        for v in lit.values:
            if isinstance(v, ast.Null):
                self.error("E-TYPE-009", f"{what} is {list_words(t)}: 'null' cannot be one of them", v.span,
                           "leave the value out")
                ok = False
                continue
            x, good = self.value(v, t.element, f"an element of {what}")
            ok = ok and good
            if good:
                values.append(x)
        return (tuple(values), True) if ok else (None, False)

    def not_a_list_value(self, lit, t: Type, what: str):
        """A list literal where a param of a value type is set: the error."""
        self.error("E-TYPE-009", f"{what} is {a_type(t)}, but this value is a list", lit.span,
                   "lists are values of params declared list<int> or list<string>")
        return None, False

    def list_used_as_value(self, name: str, t: Type, span: Span | None):
        return self.error("E-TYPE-014", f"'{name}' is {list_words(t)}, not a value", span,
                          f"test whether a value is one of them: x in {name}")

    def x_Member(self, e: ast.Member):
        x = yield e.operand
        c = e.collection
        d = self.space.get(c.name)
        lst = None
        if d is None:
            self.unknown_name(c.name, c.span)
        elif isinstance(d, ast.Param):
            t = self.param_types.get(c.name)
            if t is not None and t.element is None:
                self.error("E-TYPE-014", f"'{c.name}' is {a_type(t)}, not a list", c.span,
                           f"compare it: x == {c.name}; or declare it list<{t}>")
            elif t is not None:
                lst = ir.ParamRef(t, c.name, c.span)
        else:
            self.error("E-TYPE-014", f"'{c.name}' is not a list", c.span,
                       "'in' followed by a name tests a list param; a list of values is written in "
                       "parentheses: x in (1, 2)")
        if x is None or lst is None:
            return None
        element = lst.type.element
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
