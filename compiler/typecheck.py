"""Type checking: resolved declarations -> ir.Program, every error in one pass.

Each expression is checked bottom-up; conversions become explicit IR nodes
(`to_float`), sugar is lowered (days_since, round with one argument), and a
`null` literal takes the type its context needs. A type error points at the
operator or function name and says what was expected and what was found.
"""
from __future__ import annotations

import datetime as dt
import difflib
import math
from decimal import ROUND_CEILING, Decimal

import networkx as nx

from pol.compiler import ir
from pol.compiler.diagnostics import Diagnostics
from pol.compiler.names import RESERVED, Declarations, graph, report_cycles
from pol.compiler.types import Type, parse_type
from pol.dsl import nodes as n
from pol.dsl.source import Span

I, F, B, S, D = Type.INT, Type.FLOAT, Type.BOOL, Type.STRING, Type.DATE
I64 = (-(2 ** 63), 2 ** 63 - 1)
FUNCTIONS = {
    "abs": (1, 1), "floor": (1, 1), "ceil": (1, 1), "round": (1, 2), "min": (1, None),
    "max": (1, None), "clamp": (3, 3), "sqrt": (1, 1), "exp": (1, 1), "log": (1, 1), "pow": (2, 2),
    "coalesce": (1, None), "days_since": (1, 1), "days_until": (1, 1), "days_between": (2, 2),
    "year": (1, 1), "month": (1, 1), "day": (1, 1), "starts_with": (2, 2), "ends_with": (2, 2),
    "contains": (2, 2), "length": (1, 1),
}
_ARITH = {"+": "add", "-": "sub", "*": "mul", "/": "div", "%": "mod"}
_CMP = {"==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
_TYPE_NAMES = ("int", "float", "bool", "string", "date")


class _Bad(Exception):
    """An expression already reported; its parents stop checking quietly."""


def _t(x) -> str:
    return "null" if x is None else str(x)


def parse_date(lit: n.DateLit, diags: Diagnostics) -> dt.date | None:
    try:
        return dt.date.fromisoformat(lit.text)
    except ValueError:
        diags.add("E-DATE-001", f"'{lit.text}' is not a valid date", lit.span,
                  "dates are written YYYY-MM-DD and must exist in the calendar")
        return None


class Checker:
    def __init__(self, decls: Declarations, space: dict, diags: Diagnostics):
        self.decls = decls
        self.space = space
        self.diags = diags
        self.fields: dict[str, ir.InputField] = {}
        self.types: dict[str, Type] = {}        # declared name -> its type once checked
        self.bodies: dict[str, object] = {}     # checked IR of lets/segments/classify/scores
        self.in_progress: set[str] = set()
        self.broken: set[str] = set()

    # ------------------------------------------------------------ helpers

    def err(self, code: str, message: str, span: Span, hint: str | None = None):
        self.diags.add(code, message, span, hint)
        raise _Bad()

    def coerce(self, e: ir.Expr, t: Type) -> ir.Expr:
        """An expression made to type t: untyped nulls take it, ints widen to float."""
        if isinstance(e, ir.Literal) and e.type is None:
            return ir.Literal(t, None, e.span)
        if e.type == t:
            return e
        if e.type == I and t == F:
            if isinstance(e, ir.Literal):
                return ir.Literal(F, float(e.value), e.span)
            return ir.Call(F, "to_float", (e,), e.span)
        raise TypeError(f"cannot coerce {e.type} to {t}")

    def unify(self, es: list[ir.Expr], where: Span, what: str) -> tuple[list[ir.Expr], Type | None]:
        types = {e.type for e in es if e.type is not None}
        if not types:
            return es, None
        if types <= {I, F}:
            t = F if F in types else I
        elif len(types) == 1:
            t = types.pop()
        else:
            found = ", ".join(sorted(_t(x) for x in types))
            self.err("E-TYPE-001", f"{what} must all have one type, found {found}", where,
                     "convert them to one type, or use separate expressions")
        return [self.coerce(e, t) for e in es], t

    # ------------------------------------------------------------ expressions

    def expr(self, e) -> ir.Expr:
        return getattr(self, "x_" + type(e).__name__)(e)

    def x_Paren(self, e: n.Paren):
        return self.expr(e.inner)

    def x_Num(self, e: n.Num):
        if e.is_float:
            if not math.isfinite(e.value):
                self.err("E-TYPE-010", f"the number {e.text} is too large", e.span)
            return ir.Literal(F, float(e.value), e.span)
        if not I64[0] <= e.value <= I64[1]:
            self.err("E-TYPE-010", f"the number {e.text} does not fit in a 64-bit int", e.span,
                     "write it as a float (e.g. 1e20) if that is what you mean")
        return ir.Literal(I, e.value, e.span)

    def x_Str(self, e: n.Str):
        return ir.Literal(S, e.value, e.span)

    def x_Bool(self, e: n.Bool):
        return ir.Literal(B, e.value, e.span)

    def x_Null(self, e: n.Null):
        return ir.Literal(None, None, e.span)

    def x_DateLit(self, e: n.DateLit):
        d = parse_date(e, self.diags)
        if d is None:
            raise _Bad()
        return ir.Literal(D, d, e.span)

    def x_Today(self, e: n.Today):
        return ir.Today(D, e.span)

    def x_Name(self, e: n.Name):
        node = self.space.get(e.id)
        if node is None:
            candidates = [k for k in self.space if not isinstance(self.space[k], (n.Channel, n.Offer))]
            close = difflib.get_close_matches(e.id, candidates, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else "declare it in the input block, or as a let"
            self.err("E-NAME-001", f"unknown name '{e.id}'", e.span, hint)
        if isinstance(node, n.FieldDecl):
            f = self.fields.get(e.id)
            if f is None:
                raise _Bad()
            return ir.FieldRef(f.type, e.id, e.span)
        if isinstance(node, n.Param):
            t = self.types.get(e.id)
            if t is None:
                raise _Bad()
            return ir.ParamRef(t, e.id, e.span)
        if isinstance(node, (n.Channel, n.Offer)):
            kind = "channel" if isinstance(node, n.Channel) else "offer"
            self.err("E-TYPE-002", f"'{e.id}' is a {kind}, not a value", e.span,
                     f"a {kind} cannot be used in an expression")
        t = self.decl_type(e.id)
        kind = {n.Let: "let", n.Segment: "segment", n.Classify: "classify", n.Score: "score"}[type(node)]
        return ir.DeclRef(t, e.id, kind, e.span)

    def x_Unary(self, e: n.Unary):
        x = self.expr(e.operand)
        if e.op == "not":
            if x.type is None:
                x = self.coerce(x, B)
            if x.type != B:
                self.err("E-TYPE-001", f"'not' needs a bool, found {_t(x.type)}", e.span)
            return ir.Call(B, "not", (x,), e.span)
        if x.type is None:          # - null is null, of whatever type the context needs
            return x
        if x.type not in (I, F):
            self.err("E-TYPE-001", f"'-' needs a number, found {_t(x.type)}", e.span)
        return ir.Call(x.type, "neg", (x,), e.span)

    def x_Binary(self, e: n.Binary):
        a, b = self.expr(e.left), self.expr(e.right)
        op = e.op
        if op in ("and", "or"):
            a = self.coerce(a, B) if a.type is None else a
            b = self.coerce(b, B) if b.type is None else b
            if a.type != B or b.type != B:
                self.err("E-TYPE-001", f"'{op}' needs bools on both sides, found {_t(a.type)} and {_t(b.type)}",
                         e.op_span, "compare the values first, e.g. x > 0")
            return ir.Call(B, op, (a, b), e.span)
        name = _ARITH[op]
        ta, tb = a.type, b.type
        if op in ("+", "-") and ta == D:
            b = self.coerce(b, I) if tb is None else b
            if b.type == I:
                return ir.Call(D, name, (a, b), e.op_span)
            if op == "-" and b.type == D:
                return ir.Call(I, "sub", (a, b), e.op_span)
            self.err("E-TYPE-001", f"cannot {'add' if op == '+' else 'subtract'} {_t(b.type)} "
                     f"{'to' if op == '+' else 'from'} a date", e.op_span,
                     "add or subtract a whole number of days (an int), or subtract two dates")
        if op == "-" and tb == D and ta is None:
            return ir.Call(I, "sub", (self.coerce(a, D), b), e.op_span)
        if ta is None and tb is None:   # null op null is null, typed by its context
            return ir.Literal(None, None, e.span)
        numeric = {I, F}
        if (ta or tb) not in numeric or (tb or ta) not in numeric:
            self.err("E-TYPE-003", f"'{op}' needs numbers, found {_t(ta)} and {_t(tb)}", e.op_span,
                     "only numbers (and dates with + and -) take part in arithmetic")
        if op == "/":
            return ir.Call(F, "div", (self.coerce(a, F), self.coerce(b, F)), e.op_span)
        (a, b), t = self.unify([a, b], e.op_span, f"the operands of '{op}'")
        return ir.Call(t, name, (a, b), e.op_span)

    def x_Compare(self, e: n.Compare):
        a, b = self.expr(e.left), self.expr(e.right)
        op = _CMP[e.op]
        if a.type is None and b.type is None:
            a, b = self.coerce(a, I), self.coerce(b, I)
        ta, tb = a.type or b.type, b.type or a.type
        if {ta, tb} <= {I, F}:
            (a, b), _ = self.unify([a, b], e.op_span, "compared values")
        elif ta != tb:
            hint = None
            if {ta, tb} == {I, S} or {ta, tb} == {F, S}:
                hint = "write the number without quotes"
            elif {ta, tb} == {D, S}:
                hint = "write the date without quotes: 2026-11-01"
            self.err("E-TYPE-004", f"cannot compare {ta} with {tb}", e.op_span, hint)
        else:
            a, b = self.coerce(a, ta), self.coerce(b, tb)
        if op not in ("eq", "ne") and ta in (S, B):
            self.err("E-TYPE-005", f"'{e.op}' cannot order {ta} values", e.op_span,
                     f"{ta} values support only '==' and '!='")
        if (isinstance(e.left, n.Null) or isinstance(e.right, n.Null)) and op in ("eq", "ne"):
            self.diags.warn("W-NULL-001", f"'{e.op} null' is always null, never true", e.op_span,
                            "write 'is null' or 'is not null'")
        return ir.Call(B, op, (a, b), e.op_span)

    def x_Between(self, e: n.Between):
        xs = [self.expr(x) for x in (e.operand, e.low, e.high)]
        xs, t = self.unify(xs, e.span, "the values of 'between'")
        if t is None:
            xs, t = [self.coerce(x, I) for x in xs], I
        if t not in (I, F, D):
            self.err("E-TYPE-005", f"'between' needs numbers or dates, found {t}", e.span)
        return ir.Call(B, "between", tuple(xs), e.span)

    def x_In(self, e: n.In):
        x = self.expr(e.operand)
        values = []
        for v in e.values:
            if isinstance(v, n.Null):
                self.err("E-TYPE-006", "'null' cannot be in an 'in' list", v.span,
                         "use 'is null' to test for a missing value")
            lit = self.expr(v)
            values.append(lit)
        t = x.type
        types = {v.type for v in values}
        if t is None:
            t = F if types == {I, F} else (types.pop() if len(types) == 1 else None)
            if t is None:
                self.err("E-TYPE-006", "the values of an 'in' list must have one type", e.span)
            x = self.coerce(x, t)
        out = []
        for v in values:
            if v.type == t or (t == F and v.type == I):
                out.append(float(v.value) if t == F else v.value)
            else:
                self.err("E-TYPE-006", f"an 'in' list for a {t} value cannot hold a {v.type}", v.span,
                         "every value in the list must have the type of the value tested")
        return ir.InSet(B, x, tuple(out), e.negated, e.span)

    def x_IsNull(self, e: n.IsNull):
        x = self.expr(e.operand)
        if x.type is None:
            x = self.coerce(x, I)
        return ir.IsNull(B, x, e.negated, e.span)

    def x_If(self, e: n.If):
        c = self.expr(e.cond)
        c = self.coerce(c, B) if c.type is None else c
        if c.type != B:
            self.err("E-TYPE-001", f"the condition of 'if' must be a bool, found {c.type}", e.cond.span)
        (a, b), t = self.unify([self.expr(e.then), self.expr(e.else_)], e.span,
                               "the 'then' and 'else' values")
        if t is None:                   # both branches null: null
            return ir.Literal(None, None, e.span)
        return ir.If(t, c, a, b, e.span)

    def x_Call(self, e: n.Call):
        name = e.name
        if name not in FUNCTIONS:
            close = difflib.get_close_matches(name, list(FUNCTIONS), n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else \
                "the functions are: " + ", ".join(sorted(FUNCTIONS))
            self.err("E-FUNC-001", f"unknown function '{name}'", e.name_span, hint)
        lo, hi = FUNCTIONS[name]
        k = len(e.args)
        if k < lo or (hi is not None and k > hi):
            want = f"{lo}" if lo == hi else (f"{lo} or more" if hi is None else f"{lo} or {hi}")
            self.err("E-FUNC-002", f"'{name}' takes {want} argument{'s' if want != '1' else ''}, "
                     f"found {k}", e.name_span)
        args = [self.expr(a) for a in e.args]
        span = e.name_span

        def need(x: ir.Expr, types: tuple, what: str) -> ir.Expr:
            if x.type is None:
                return self.coerce(x, types[0])
            if x.type in types:
                return x
            self.err("E-TYPE-007", f"'{name}' needs {what}, found {x.type}", span)

        if name in ("abs", "floor", "ceil"):
            x = need(args[0], (I, F), "a number")
            return ir.Call(x.type, name, (x,), span)
        if name == "round":
            x = need(args[0], (I, F), "a number")
            if k == 2:
                nd = e.args[1]
                if not (isinstance(nd, n.Num) and not nd.is_float) and not (
                        isinstance(nd, n.Unary) and nd.op == "-" and isinstance(nd.operand, n.Num)
                        and not nd.operand.is_float):
                    self.err("E-FUNC-003", "the second argument of 'round' must be a whole number "
                             "written out", e.args[1].span, "e.g. round(x, 2)")
                digits = args[1]
                value = -digits.args[0].value if isinstance(digits, ir.Call) else digits.value
                if not -15 <= value <= 15:
                    self.err("E-FUNC-003", "'round' keeps from -15 to 15 decimals", e.args[1].span)
            else:
                value = 0
            return ir.Call(x.type, "round", (x, ir.Literal(I, value)), span)
        if name in ("min", "max", "clamp", "coalesce"):
            xs, t = self.unify(args, span, f"the arguments of '{name}'")
            if t is None:               # every argument null: null
                return ir.Literal(None, None, span)
            if name != "coalesce" and t not in (I, F, D):
                self.err("E-TYPE-007", f"'{name}' needs numbers or dates, found {t}", span)
            return ir.Call(t, name, tuple(xs), span)
        if name in ("sqrt", "exp", "log"):
            x = need(args[0], (F, I), "a number")
            return ir.Call(F, name, (self.coerce(x, F),), span)
        if name == "pow":
            a = self.coerce(need(args[0], (F, I), "numbers"), F)
            b = self.coerce(need(args[1], (F, I), "numbers"), F)
            return ir.Call(F, "pow", (a, b), span)
        if name in ("days_since", "days_until"):
            d = need(args[0], (D,), "a date")
            today = ir.Today(D, span)
            pair = (today, d) if name == "days_since" else (d, today)
            return ir.Call(I, "sub", pair, span)
        if name == "days_between":
            a, b = need(args[0], (D,), "dates"), need(args[1], (D,), "dates")
            return ir.Call(I, "sub", (b, a), span)
        if name in ("year", "month", "day"):
            d = need(args[0], (D,), "a date")
            return ir.Call(I, name, (d,), span)
        if name == "length":
            s = need(args[0], (S,), "a string")
            return ir.Call(I, "length", (s,), span)
        s = need(args[0], (S,), "a string")
        if not isinstance(e.args[1], n.Str):
            self.err("E-FUNC-003", f"the second argument of '{name}' must be a string written in quotes",
                     e.args[1].span, f'e.g. {name}(msisdn, "138")')
        return ir.Call(B, name, (s, args[1]), span)

    # ------------------------------------------------------------ declarations

    def decl_type(self, name: str) -> Type:
        if name in self.types:
            return self.types[name]
        if name in self.broken or name in self.in_progress:
            raise _Bad()
        self.check_decl(self.space[name])
        if name not in self.types:
            raise _Bad()
        return self.types[name]

    def check_decl(self, node) -> None:
        name = node.name
        if name in self.types or name in self.broken:
            return
        self.in_progress.add(name)
        try:
            if isinstance(node, n.Let):
                x = self.expr(node.expr)
                if x.type is None:
                    x = self.coerce(x, I)
                self.bodies[name] = ir.Let(name, x, node.span)
                self.types[name] = x.type
            elif isinstance(node, n.Segment):
                x = self.expr(node.expr)
                x = self.coerce(x, B) if x.type is None else x
                if x.type != B:
                    self.err("E-TYPE-008", f"segment '{name}' must be a condition (bool), found {x.type}",
                             node.span, "a segment is true or false for each customer")
                self.bodies[name] = ir.Segment(name, node.label, x, node.span)
                self.types[name] = B
            elif isinstance(node, n.Score):
                x = self.expr(node.expr)
                x = self.coerce(x, F) if x.type in (None, I) else x
                if x.type != F:
                    self.err("E-TYPE-008", f"score '{name}' must be a number, found {x.type}", node.span)
                self.bodies[name] = ir.Score(name, node.label, x, node.span)
                self.types[name] = F
            elif isinstance(node, n.Classify):
                whens = []
                for w in node.whens:
                    try:
                        c = self.expr(w.cond)
                        c = self.coerce(c, B) if c.type is None else c
                        if c.type != B:
                            self.err("E-TYPE-008", f"a 'when' needs a condition (bool), found {c.type}",
                                     w.cond.span)
                        whens.append(ir.When(c, w.value, w.span))
                    except _Bad:
                        self.broken.add(name)
                if name not in self.broken:
                    self.bodies[name] = ir.Classify(name, node.label, tuple(whens), node.default, node.span)
                    self.types[name] = S
        except _Bad:
            self.broken.add(name)
        finally:
            self.in_progress.discard(name)

    def cond(self, e, what: str) -> ir.Expr | None:
        try:
            x = self.expr(e)
            x = self.coerce(x, B) if x.type is None else x
            if x.type != B:
                self.err("E-TYPE-008", f"{what} must be a condition (bool), found {x.type}", e.span)
            return x
        except _Bad:
            return None


def literal_value(lit, t: Type, diags: Diagnostics, what: str):
    """A literal node as a Python value of type t (ints widen to float)."""
    if isinstance(lit, n.Null):
        return None, True
    if isinstance(lit, n.Num):
        if t == I and not lit.is_float:
            return lit.value, True
        if t == F:
            return float(lit.value), True
    elif isinstance(lit, n.Str) and t == S:
        return lit.value, True
    elif isinstance(lit, n.Bool) and t == B:
        return lit.value, True
    elif isinstance(lit, n.DateLit) and t == D:
        d = parse_date(lit, diags)
        return d, d is not None
    found = {n.Num: "a number", n.Str: "a string", n.Bool: "a bool", n.DateLit: "a date"}.get(type(lit), "a value")
    if isinstance(lit, n.Num) and t == I:
        found = "a number with a fraction"
    diags.add("E-TYPE-009", f"{what} is {t}, but the value is {found}", lit.span)
    return None, False


def check(decls: Declarations, space: dict, diags: Diagnostics) -> ir.Program | None:
    items = decls.items
    inputs = [i for i in items if isinstance(i, n.Input)]
    arbs = [i for i in items if isinstance(i, n.Arbitrate)]
    root = decls.files[0] if decls.files else "<string>"
    if not inputs:
        diags.add("E-DECL-003", "the policy has no input block", Span.point(root, 1, 1),
                  "declare the customer record: input customer key id { id: int ... }")
    for extra in inputs[1:]:
        diags.add("E-DECL-001", "a policy has exactly one input block; this is a second one", extra.span,
                  related=((inputs[0].span, "the first input block is here"),))
    for extra in arbs[1:]:
        diags.add("E-DECL-002", "a policy has at most one arbitrate block; this is a second one", extra.span,
                  related=((arbs[0].span, "the first arbitrate block is here"),))
    g = graph(decls, space)
    on_cycle = report_cycles(g, space, diags)
    ck = Checker(decls, space, diags)
    ck.broken |= on_cycle

    # input fields
    inp = inputs[0] if inputs else None
    fields: list[ir.InputField] = []
    if inp is not None:
        for f in inp.fields:
            t = parse_type(f.type_name)
            if t is None:
                close = difflib.get_close_matches(f.type_name, _TYPE_NAMES, n=1, cutoff=0.5)
                diags.add("E-TYPE-011", f"unknown type '{f.type_name}'", f.type_span,
                          f"did you mean '{close[0]}'?" if close else "the types are: " + ", ".join(_TYPE_NAMES))
                continue
            field = ir.InputField(f.name, t, f.nullable, f.span)
            if space.get(f.name) is f:
                ck.fields[f.name] = field
            fields.append(field)
        if inp.key not in ck.fields:
            diags.add("E-NAME-001", f"the key '{inp.key}' is not a field of the input block", inp.key_span)
        else:
            kf = ck.fields[inp.key]
            if kf.nullable:
                diags.add("E-DECL-004", f"the key '{inp.key}' cannot be nullable", inp.key_span,
                          f"declare it '{inp.key}: {kf.type}'")
            if kf.type not in (I, S):
                diags.add("E-DECL-004", f"the key '{inp.key}' must be an int or a string, found {kf.type}",
                          inp.key_span)

    # params
    params: list[ir.Param] = []
    for item in items:
        if isinstance(item, n.Param) and space.get(item.name) is item:
            t = parse_type(item.type_name)
            if t is None:
                diags.add("E-TYPE-011", f"unknown type '{item.type_name}'", item.type_span,
                          "the types are: " + ", ".join(_TYPE_NAMES))
                continue
            value, ok = literal_value(item.default, t, diags, f"param '{item.name}'")
            if ok:
                ck.types[item.name] = t
                params.append(ir.Param(item.name, t, value, item.span))

    # derived values, in declaration order (dependencies are checked on demand)
    for item in items:
        if isinstance(item, (n.Let, n.Segment, n.Classify, n.Score)) and space.get(item.name) is item:
            ck.check_decl(item)

    channels: list[ir.Channel] = []
    for item in items:
        if isinstance(item, n.Channel) and space.get(item.name) is item:
            c = ck.cond(item.cond, f"the condition of channel '{item.name}'") if item.cond is not None else None
            channels.append(ir.Channel(item.name, item.label, c, item.span))
    channel_names = {c.name for c in channels} | {i.name for i in items if isinstance(i, n.Channel)}

    offers = [o for o in (check_offer(ck, item, channel_names) for item in items
                          if isinstance(item, n.Offer) and space.get(item.name) is item) if o is not None]
    offer_names = {i.name for i in items if isinstance(i, n.Offer)}
    arbitrate = check_arbitrate(arbs[0] if arbs else None, offer_names, diags)
    tests = [t for t in (check_test(ck, item, ck.fields, offer_names, channel_names, params)
                         for item in items if isinstance(item, n.Test)) if t is not None]

    if diags.errors or inp is None:
        return None
    decl_index = {item.name: k for k, item in enumerate(items) if isinstance(item, (n.Let, n.Segment, n.Classify, n.Score))}
    derived = g.subgraph(decl_index)
    order = tuple(nx.lexicographical_topological_sort(derived, key=lambda name: decl_index[name]))
    bodies = ck.bodies
    outputs = tuple(item.name for item in items
                    if isinstance(item, (n.Segment, n.Classify, n.Score)) and space.get(item.name) is item)
    header = decls.header
    return ir.Program(
        name=header.name if header else _stem(root),
        version=header.version if header else None,
        input=ir.Input(inp.name, inp.key, tuple(fields), inp.span),
        params=tuple(params),
        lets=tuple(bodies[i.name] for i in items if isinstance(i, n.Let) and space.get(i.name) is i),
        segments=tuple(bodies[i.name] for i in items if isinstance(i, n.Segment) and space.get(i.name) is i),
        classifies=tuple(bodies[i.name] for i in items if isinstance(i, n.Classify) and space.get(i.name) is i),
        scores=tuple(bodies[i.name] for i in items if isinstance(i, n.Score) and space.get(i.name) is i),
        channels=tuple(channels),
        offers=tuple(offers),
        arbitrate=arbitrate,
        tests=tuple(tests),
        order=order,
        outputs=outputs,
        files=tuple(decls.files),
    )


def _stem(path: str) -> str:
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    return name[:-4] if name.endswith(".pol") else name


def check_offer(ck: Checker, o: n.Offer, channel_names: set, ) -> ir.Offer | None:
    diags = ck.diags
    props: dict[str, n.Prop] = {}
    ok = True
    for p in o.props:
        if p.kind in props:
            diags.add("E-OFFER-003", f"offer '{o.name}' has a second '{p.kind}'", p.span,
                      related=((props[p.kind].span, "the first one is here"),))
            ok = False
        props.setdefault(p.kind, p)
    for needed, code in (("eligible", "E-OFFER-001"), ("channels", "E-OFFER-002")):
        if needed not in props:
            example = "eligible when ..." if needed == "eligible" else "channels app, sms"
            diags.add(code, f"offer '{o.name}' has no '{needed}'", o.span, f"add '{example}' to the offer")
            ok = False
    eligible = ck.cond(props["eligible"].value, f"'eligible' of offer '{o.name}'") if "eligible" in props else None
    priority: ir.Expr = ir.Literal(F, 0.0)
    if "priority" in props:
        try:
            x = ck.expr(props["priority"].value)
            x = ck.coerce(x, F) if x.type in (None, I) else x
            if x.type != F:
                ck.err("E-TYPE-008", f"the priority of offer '{o.name}' must be a number, found {x.type}",
                       props["priority"].value.span)
            priority = x
        except _Bad:
            ok = False
    chans: tuple = ()
    if "channels" in props:
        p = props["channels"]
        chans = p.value
        for c, span in zip(p.value, p.names_spans):
            if c not in channel_names:
                close = difflib.get_close_matches(c, sorted(channel_names), n=1, cutoff=0.5)
                diags.add("E-REF-001", f"unknown channel '{c}' in offer '{o.name}'", span,
                          f"did you mean '{close[0]}'?" if close else "declare it: channel " + c)
                ok = False
    capacity = None
    if "capacity" in props:
        v = props["capacity"].value
        if not (isinstance(v, n.Num) and not v.is_float and v.value >= 0):
            diags.add("E-OFFER-004", "a capacity is a whole number of customers, 0 or more", v.span)
            ok = False
        else:
            capacity = v.value
    valid_from = valid_to = None
    if "valid" in props:
        frm, to = props["valid"].value
        valid_from = parse_date(frm, diags) if frm else None
        valid_to = parse_date(to, diags) if to else None
        if (frm and valid_from is None) or (to and valid_to is None):
            ok = False
    holdout_bp = None
    if "holdout" in props:
        num = props["holdout"].value
        pct = Decimal(num.text.replace("_", "")[:-1])
        if not 0 <= pct <= 100:
            diags.add("E-OFFER-005", "a holdout is a percentage from 0% to 100%", num.span)
            ok = False
        else:
            holdout_bp = int((pct * 100).to_integral_value(rounding=ROUND_CEILING))
    category = props["category"].value if "category" in props else None
    if not ok or eligible is None:
        return None
    return ir.Offer(o.name, o.label, eligible, chans, priority, category, capacity, valid_from, valid_to,
                    holdout_bp, o.span)


def check_arbitrate(a: n.Arbitrate | None, offer_names: set, diags: Diagnostics) -> ir.Arbitrate:
    if a is None:
        return ir.Arbitrate()
    max_n, one, excl = 1, False, []
    for r in a.rules:
        if r.kind == "max":
            v = r.value
            if not (isinstance(v, n.Num) and not v.is_float) or v.value < 1:
                diags.add("E-ARB-001", "'max N per customer' needs N of 1 or more", r.span,
                          "max 0 would give nobody anything; remove the offers or pause them with capacity 0")
            else:
                max_n = v.value
        elif r.kind == "one_per_category":
            one = True
        else:
            for name, span in zip(r.value, r.names_spans):
                if name not in offer_names:
                    close = difflib.get_close_matches(name, sorted(offer_names), n=1, cutoff=0.5)
                    diags.add("E-REF-002", f"unknown offer '{name}' in 'exclusive'", span,
                              f"did you mean '{close[0]}'?" if close else None)
            excl.append(tuple(r.value))
    return ir.Arbitrate(max_n, one, tuple(excl), a.span)


def check_test(ck: Checker, t: n.Test, fields: dict, offer_names: set, channel_names: set,
               params: list) -> ir.Test | None:
    diags = ck.diags
    ok = True
    given, with_, expects, as_of = [], [], [], None
    param_types = {p.name: p.type for p in params}
    for item in t.items:
        if item.kind == "as_of":
            as_of = parse_date(item.value, diags)
            ok &= as_of is not None
        elif item.kind == "with":
            name, lit = item.value
            if name not in param_types:
                close = difflib.get_close_matches(name, list(param_types), n=1, cutoff=0.5)
                diags.add("E-NAME-001", f"unknown param '{name}' in 'with'", item.span,
                          f"did you mean '{close[0]}'?" if close else None)
                ok = False
                continue
            v, good = literal_value(lit, param_types[name], diags, f"param '{name}'")
            ok &= good
            with_.append((name, v))
        elif item.kind == "given":
            for name, lit, span in item.value:
                if name not in fields:
                    close = difflib.get_close_matches(name, list(fields), n=1, cutoff=0.6)
                    diags.add("E-NAME-001", f"'{name}' is not a field of the input block", span,
                              f"did you mean '{close[0]}'?" if close else "'given' lists input fields only")
                    ok = False
                    continue
                v, good = literal_value(lit, fields[name].type, diags, f"field '{name}'")
                ok &= good
                given.append((name, v))
        elif item.kind == "expect_offer":
            offer, via, rank = item.value
            ok &= _known(offer, offer_names, "offer", item.span, diags)
            if via is not None:
                ok &= _known(via, channel_names, "channel", item.span, diags)
            expects.append(ir.ExpectOffer(offer, via, rank.value if rank is not None else None, False, item.span))
        elif item.kind == "expect_not_offer":
            ok &= _known(item.value, offer_names, "offer", item.span, diags)
            expects.append(ir.ExpectOffer(item.value, None, None, True, item.span))
        elif item.kind == "expect_no_offer":
            expects.append(ir.ExpectNoOffer(item.span))
        else:
            c = ck.cond(item.value, "an 'expect'")
            if c is None:
                ok = False
            else:
                src = diags.sources.get(item.span.path)
                text = ""
                if src is not None and item.value.span.line == item.value.span.end_line:
                    text = src.line(item.value.span.line)[item.value.span.col - 1:item.value.span.end_col - 1]
                expects.append(ir.ExpectExpr(c, text, item.span))
    if not ok:
        return None
    return ir.Test(t.name, tuple(given), tuple(expects), as_of, tuple(with_), t.span)


def _known(name: str, names: set, what: str, span: Span, diags: Diagnostics) -> bool:
    if name in names:
        return True
    close = difflib.get_close_matches(name, sorted(names), n=1, cutoff=0.5)
    diags.add("E-REF-001" if what == "channel" else "E-REF-002", f"unknown {what} '{name}'", span,
              f"did you mean '{close[0]}'?" if close else None)
    return False
