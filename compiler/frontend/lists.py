"""Lists (LANGUAGE.md 3.4, 4.5 and 4.9): list params (`param vip_plans:
list<string> = ["A", "B"]`, a list written as a default or a test's `with`,
membership `x in vip_plans`) and list fields of the input block (`tags:
list<string>?`, read by `x in tags`, `count(tags)`, `any(tags, it == "5G")`
and `all(...)`), for the Checker of compiler/frontend/expressions.py.

A list is never a value of an expression: it is read by `x in NAME` alone,
which becomes `ir.Call("member", (x, ParamRef(list type, NAME)))` (wrapped
in `not` for `not in`), so the evaluators see one operator and a param's
value. Anywhere else the list's name is an error that says how to use it.

A list field becomes `ir.Call("list_has", (x, FieldRef))`, `ir.Call(
"list_count", (FieldRef,))` or `ir.Quantifier`, whose condition reads `it`
(`ir.Element`), literals and params only: a function of the element, which
the batch paths compute once per element.

Codes: E-TYPE-014 a list used as a value, `in NAME` of a name that is not
a list, a list param with values per experiment arm; E-TYPE-006 `x in LIST`
with x of another type than the elements; E-TYPE-009 a list value that is
not a list of the param's elements (a null, an element of another type,
`null` in it), or a list for a param that is not a list; E-TYPE-015
`count`/`any`/`all` of something that is not a list field; E-TYPE-016 the
condition of `any`/`all` reading something other than `it`, literals and
params (a field, a declaration, today, another `any`).
"""
from __future__ import annotations

from pol.compiler import ir
from pol.compiler.frontend.context import Rule, Typed, Value
from pol.compiler.frontend.hints import UNTYPED_NULL, B, I, a_type, literal_hint, literal_type
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

    def list_field(self, name: str) -> ir.FieldRef | None:
        """The FieldRef of a list field of the input block, else None."""
        if not isinstance(self.space.get(name), ast.Field):
            return None
        t = self.field_types.get(name)
        return ir.FieldRef(t, name) if t is not None and t.element is not None else None

    def list_call(self, e: ast.Call) -> Rule:
        """`count(FIELD)`, `any(FIELD, cond)`, `all(FIELD, cond)` on a list field."""
        name, k = e.name, len(e.args)
        want = 1 if name == "count" else 2
        usage = "count(tags)" if name == "count" else f'{name}(tags, it == "5G")'
        if k != want:
            return self.error("E-FUNC-002", f"'{name}' of a list takes {want} argument{'s' if want > 1 else ''}, "
                              f"found {k}", e.name_span, usage)
        first = e.args[0]
        src = self.list_field(first.name) if isinstance(first, ast.Name) else None
        if src is None:
            word = first.name if isinstance(first, ast.Name) else ""
            d = self.space.get(word)
            t = self.param_types.get(word)
            if isinstance(d, ast.Param) and t is not None and t.element is not None:
                return self.error("E-TYPE-015", f"'{name}' reads a list field; '{word}' is a list param",
                                  first.span, f"test a value against it: x in {word}")
            x = yield first
            if x is None:
                return None
            return self.error("E-TYPE-015", f"'{name}' needs a list field of the input block, found "
                              f"{a_type(x.type)}", first.span,
                              f"{usage}, where tags is declared tags: list<string>")
        src = ir.FieldRef(src.type, src.name, first.span)
        if name == "count":
            return ir.Call(I, "list_count", (src,), e.span)
        if self.element is not None:
            return self.error("E-TYPE-016", f"'{name}' inside the condition of another 'any' or 'all'",
                              e.name_span, "test one list at a time: combine any(a, ...) and any(b, ...) "
                              "with 'and' or 'or'")
        element = src.type.element
        assert element is not None
        self.element = ir.Element(element)
        try:
            cond = yield e.args[1]
        finally:
            self.element = None
        if cond is None:
            return None
        if cond.type is UNTYPED_NULL:
            cond = self.settle(cond, B)
        if cond.type != B:
            return self.error("E-TYPE-008", f"the condition of '{name}' must be a condition (bool), found "
                              f"{a_type(cond.type)}", e.args[1].span,
                              f"e.g. {name}({src.name}, it == {'1' if element == I else chr(34) + '5G' + chr(34)})")
        for node in ir.walk(cond):
            bad = _outside(node, src.name)
            if bad is not None:
                what, hint = bad
                return self.error("E-TYPE-016", f"the condition of '{name}' reads {what}: it may read only "
                                  "'it' (the element), literals and params", node.span, hint)
        return ir.Quantifier(B, name == "all", src, cond, e.span)

    def x_Member(self, e: ast.Member) -> Rule:
        x = yield e.operand
        c = e.collection
        d = self.space.get(c.name)
        lst: ir.ParamRef | ir.FieldRef | None = None
        field = self.list_field(c.name)
        if field is not None:
            lst = ir.FieldRef(field.type, c.name, c.span)
        elif d is None:
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
        elif isinstance(d, ast.Field) and c.name in self.field_types:
            self.error("E-TYPE-014", f"'{c.name}' is {a_type(self.field_types[c.name])}, not a list", c.span,
                       f"compare it: x == {c.name}; or declare the field list<{self.field_types[c.name]}>")
        elif not isinstance(d, ast.Field):
            self.error("E-TYPE-014", f"'{c.name}' is not a list", c.span,
                       "'in' followed by a name tests a list param or a list field; a list of values is "
                       "written in parentheses: x in (1, 2)")
        if x is None or lst is None:
            return None
        element = lst.type.element
        assert element is not None
        if x.type is UNTYPED_NULL:
            x = self.settle(x, element)
        if x.type != element:
            hint = literal_hint(e.operand, element) if isinstance(e.operand, (ast.Number, ast.String)) else None
            if hint is None:
                hint = f"{a_type(x.type)} is tested against a list<{x.type}> " \
                    f"{'field' if isinstance(lst, ir.FieldRef) else 'param'}" \
                    if x.type in LIST_OF else "lists hold ints or strings"
            return self.error("E-TYPE-006", f"'{c.name}' is {list_words(lst.type)}, but this tests {a_type(x.type)}",
                              e.op_span, hint)
        test = ir.Call(B, "list_has" if isinstance(lst, ir.FieldRef) else "member", (x, lst), e.span)
        return ir.Call(B, "not", (test,), e.span) if e.negated else test


def _outside(node: ir.Expr, source: str) -> tuple[str, str] | None:
    """What a quantifier's condition may not read: (words, hint), or None."""
    if isinstance(node, ir.FieldRef):
        return (f"the field '{node.name}'",
                f"to ask whether the list holds it, write {node.name} in {source}; otherwise compute the "
                "test outside: any(...) and ...")
    if isinstance(node, ir.DeclRef):
        return (f"the {node.kind} '{node.name}'", "combine the tests outside: any(...) and ...")
    if isinstance(node, ir.Today):
        return "today", "compare with a param or a literal instead"
    if isinstance(node, ir.Aggregate):
        return "a history", "combine the tests outside: any(...) and ..."
    return None
