"""Function calls: the rules of the language's functions (LANGUAGE.md
section 4), for the Checker of compiler/frontend/expressions.py.

`FunctionRules.x_Call` checks a call's name and number of arguments, has the
Checker type its arguments (it yields them to the Checker's driver, like
every rule for a nested expression), then hands them to the function's own
rule `f_NAME`, which returns the typed ir.Call (or None with a diagnostic).
Sugar becomes plain IR here: days_since/days_until/days_between are `sub`
of dates, add_days is `add`, days_to_anniversary reads Today, round(x) gets
its 0.

Codes: E-FUNC-001 unknown function, E-FUNC-002 wrong number of arguments,
E-FUNC-003 round's digits, E-FUNC-004 a string function's literal, E-FUNC-005
substring's positions, E-FUNC-006 concat of two computed strings, E-TYPE-007
an argument of the wrong type.
"""
from __future__ import annotations

from collections.abc import Callable

from pol.compiler import ir
from pol.compiler.frontend.context import Rule, Typed, present
from pol.compiler.frontend.hints import NUMERIC, TS, UNTYPED_NULL, USAGE, B, D, F, I, S, a_type, type_words
from pol.compiler.frontend.history import HistoryRules
from pol.compiler.frontend.resolve import KIND_WORDS
from pol.compiler.ir import AGGREGATES
from pol.compiler.types import Type
from pol.dsl import ast
from pol.dsl.words import closest

# name -> (fewest, most) arguments; None: no upper limit
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "abs": (1, 1), "floor": (1, 1), "ceil": (1, 1), "round": (1, 2),
    "min": (1, None), "max": (1, None), "clamp": (3, 3),
    "sqrt": (1, 1), "exp": (1, 1), "log": (1, 1), "pow": (2, 2),
    "coalesce": (1, None),
    "days_since": (1, 1), "days_until": (1, 1), "days_between": (2, 2),
    "year": (1, 1), "month": (1, 1), "day": (1, 1),
    "date": (1, 3), "add_days": (2, 2), "add_months": (2, 2), "weekday": (1, 1), "day_of_year": (1, 1),
    "days_to_anniversary": (1, 1), "hour": (1, 1), "minute": (1, 1),
    "starts_with": (2, 2), "ends_with": (2, 2), "contains": (2, 2), "length": (1, 1),
    "upper": (1, 1), "lower": (1, 1), "trim": (1, 1), "substring": (2, 3), "concat": (2, None),
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


class FunctionRules(HistoryRules):
    """The function rules of the Checker. An aggregate is written as a call
    (`count(contacts)`): its rule is the history rules'."""

    def x_Call(self, e: ast.Call) -> Rule:
        name, span = e.name, e.name_span
        arg = e.args[0] if len(e.args) == 1 else None
        if name in AGGREGATES and isinstance(arg, ast.Name) \
                and isinstance(self.space.get(arg.name.partition(".")[0]), ast.History):
            return self.aggregate_call(e, arg)
        unknown = isinstance(arg, ast.Name) and arg.name not in self.space
        if name in ("any", "all") or (name == "count" and not unknown):     # of a list field (lists.py)
            from pol.compiler.frontend.lists import ListRules
            assert isinstance(self, ListRules)      # the Checker is both
            listed: Typed = yield from self.list_call(e)
            return listed
        if name not in FUNCTIONS:
            if name in self.space:
                kind = KIND_WORDS[type(self.space[name])]
                return self.error("E-FUNC-001", f"'{name}' is a {kind}, not a function", span,
                                  f"write '{name}' without parentheses")
            guess = closest(name, FUNCTIONS)
            hint = (_FUNCTION_ADVICE.get(name.lower()) or (f"did you mean '{guess}'?" if guess else None)
                    or "the functions are " + ", ".join(FUNCTIONS))
            if name == "count" and isinstance(arg, ast.Name):      # count(NAME) of an undeclared NAME
                near = self.suggest(arg.name, self.names_of(ast.History, ast.Field))
                hint = f"count(...) takes a history or a list field, and '{arg.name}' is neither" + (
                    f": did you mean '{near}'?" if near else "")
            return self.error("E-FUNC-001", f"unknown function '{name}'", span, hint)
        lo, hi = FUNCTIONS[name]
        k = len(e.args)
        if k < lo or (hi is not None and k > hi):
            want = (str(lo) if lo == hi else f"{lo} or more" if hi is None else f"{lo} or {hi}")
            plural = "s" if want != "1" else ""
            return self.error("E-FUNC-002", f"'{name}' takes {want} argument{plural}, found {k}", span,
                              USAGE.get(name))
        # a literal argument is judged as written, not checked as an expression
        # first (which would report a misspelled name in it a second time)
        args = [(yield e.args[0])]
        if name == "round" and k == 2:
            args.append(self.round_digits(e.args[1]))
        elif name == "substring":
            args += [self.position(a) for a in e.args[1:]]
        elif name in ("starts_with", "ends_with", "contains"):
            if not isinstance(e.args[1], ast.String):
                return self.error("E-FUNC-004", f"the second argument of '{name}' must be a string written "
                                  "in double quotes", e.args[1].span, f'e.g. {name}(region, "广州")')
            args.append((yield e.args[1]))
        else:
            for a in e.args[1:]:
                args.append((yield a))
        typed = present(args)
        if typed is None:
            return None
        rule: Callable[[ast.Call, list[ir.Expr]], Typed] = getattr(self, "f_" + name, self.f_generic)
        return rule(e, typed)

    def round_digits(self, node: ast.Expr) -> Typed:
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

    def position(self, node: ast.Expr) -> Typed:
        n, sign = node, 1
        if isinstance(n, ast.Unary) and n.op == "-" and isinstance(n.operand, ast.Number):
            n, sign = n.operand, -1
        if not (isinstance(n, ast.Number) and n.kind == "int"):
            return self.error("E-FUNC-005", "the start and count of 'substring' must be whole numbers written "
                              "out", node.span, "e.g. substring(phone, 1, 3) is the first three characters")
        return ir.Literal(I, sign * n.value, node.span)

    def arg_error(self, e: ast.Call, want: str, found: Type) -> Typed:
        return self.error("E-TYPE-007", f"'{e.name}' needs {want}, found {a_type(found)}", e.name_span,
                          USAGE.get(e.name))

    def f_generic(self, e: ast.Call, args: list[ir.Expr]) -> Typed:
        raise AssertionError(f"no rule for function {e.name}")

    def _one_number(self, e: ast.Call, args: list[ir.Expr]) -> Typed:
        x = args[0]
        if x.type is UNTYPED_NULL:
            x = self.settle(x, I)
        if x.type not in NUMERIC:
            return self.arg_error(e, "a number", x.type)
        return x

    def f_abs(self, e: ast.Call, args: list[ir.Expr]) -> Typed:
        x = self._one_number(e, args)
        return ir.Call(x.type, e.name, (x,), e.span) if x is not None else None

    f_floor = f_ceil = f_abs

    def f_round(self, e: ast.Call, args: list[ir.Expr]) -> Typed:
        x = self._one_number(e, args)
        if x is None:
            return None
        digits = args[1] if len(args) == 2 else ir.Literal(I, 0, e.span)
        return ir.Call(x.type, "round", (x, digits), e.span)

    def _float_args(self, e: ast.Call, args: list[ir.Expr]) -> Typed:
        out = []
        for x in args:
            if x.type is not UNTYPED_NULL and x.type not in NUMERIC:
                return self.arg_error(e, "numbers" if len(args) > 1 else "a number", x.type)
            out.append(self.settle(x, F) if x.type is not F else x)
        return ir.Call(F, e.name, tuple(out), e.span)

    f_sqrt = f_exp = f_log = f_pow = _float_args

    def f_min(self, e: ast.Call, args: list[ir.Expr]) -> Typed:
        if all(x.type is UNTYPED_NULL for x in args):
            return self.untyped_null(e)
        ys, t = self.unify(args)
        if t is None or t not in (I, F, D):
            found = ", ".join(type_words(x.type) for x in args)
            return self.error("E-TYPE-007", f"'{e.name}' needs numbers, or dates, found {found}",
                              e.name_span, USAGE.get(e.name))
        return ir.Call(t, e.name, tuple(ys), e.span)

    f_max = f_clamp = f_min

    def f_coalesce(self, e: ast.Call, args: list[ir.Expr]) -> Typed:
        if all(x.type is UNTYPED_NULL for x in args):
            return self.untyped_null(e)
        ys, t = self.unify(args)
        if t is None:
            found = ", ".join(type_words(x.type) for x in args)
            return self.error("E-TYPE-007", f"the values of 'coalesce' must have one type, found {found}",
                              e.name_span, "e.g. coalesce(arpu_m1, 0)")
        return ir.Call(t, "coalesce", tuple(ys), e.span)

    def _dates(self, e: ast.Call, args: list[ir.Expr]) -> list[ir.Expr] | None:
        out = []
        for x in args:
            if x.type is UNTYPED_NULL:
                x = self.settle(x, D)
            if x.type != D:
                self.arg_error(e, "a date" if len(args) == 1 else "dates", x.type)
                return None
            out.append(x)
        return out

    def f_days_since(self, e: ast.Call, args: list[ir.Expr]) -> Typed:
        xs = self._dates(e, args)
        return ir.Call(I, "sub", (ir.Today(D, e.name_span), xs[0]), e.span) if xs else None

    def f_days_until(self, e: ast.Call, args: list[ir.Expr]) -> Typed:
        xs = self._dates(e, args)
        return ir.Call(I, "sub", (xs[0], ir.Today(D, e.name_span)), e.span) if xs else None

    def f_days_between(self, e: ast.Call, args: list[ir.Expr]) -> Typed:
        xs = self._dates(e, args)
        return ir.Call(I, "sub", (xs[1], xs[0]), e.span) if xs else None

    def f_year(self, e: ast.Call, args: list[ir.Expr]) -> Typed:
        xs = self._dates(e, args)
        return ir.Call(I, e.name, (xs[0],), e.span) if xs else None

    f_month = f_day = f_weekday = f_day_of_year = f_year

    def _ints(self, e: ast.Call, args: list[ir.Expr]) -> list[ir.Expr] | None:
        out = []
        for x in args:
            if x.type is UNTYPED_NULL:
                x = self.settle(x, I)
            if x.type != I:
                self.arg_error(e, "whole numbers" if len(args) > 1 else "a whole number", x.type)
                return None
            out.append(x)
        return out

    def f_date(self, e: ast.Call, args: list[ir.Expr]) -> Typed:
        if len(args) == 1:          # the day of a timestamp
            x = self.settle(args[0], TS) if args[0].type is UNTYPED_NULL else args[0]
            if x.type != TS:
                return self.arg_error(e, "a timestamp, or a year, a month and a day", x.type)
            return ir.Call(D, "ts_date", (x,), e.span)
        if len(args) == 2:
            return self.error("E-FUNC-002", "'date' takes 1 or 3 arguments, found 2", e.name_span, USAGE["date"])
        xs = self._ints(e, args)
        return ir.Call(D, "make_date", tuple(xs), e.span) if xs else None

    def f_add_days(self, e: ast.Call, args: list[ir.Expr]) -> Typed:
        xs = self._dates(e, args[:1])
        if xs is None:
            return None
        n = self._ints(e, args[1:])
        return ir.Call(D, "add" if e.name == "add_days" else e.name, (xs[0], n[0]), e.span) if n else None

    f_add_months = f_add_days

    def f_days_to_anniversary(self, e: ast.Call, args: list[ir.Expr]) -> Typed:
        xs = self._dates(e, args)
        return ir.Call(I, "anniversary", (xs[0], ir.Today(D, e.name_span)), e.span) if xs else None

    def f_hour(self, e: ast.Call, args: list[ir.Expr]) -> Typed:
        x = self.settle(args[0], TS) if args[0].type is UNTYPED_NULL else args[0]
        if x.type != TS:
            return self.arg_error(e, "a timestamp", x.type)
        return ir.Call(I, e.name, (x,), e.span)

    f_minute = f_hour

    def f_starts_with(self, e: ast.Call, args: list[ir.Expr]) -> Typed:
        s = args[0]
        if s.type is UNTYPED_NULL:
            s = self.settle(s, S)
        if s.type != S:
            return self.arg_error(e, "a string", s.type)
        return ir.Call(B, e.name, (s, args[1]), e.span)

    f_ends_with = f_contains = f_starts_with

    def f_length(self, e: ast.Call, args: list[ir.Expr]) -> Typed:
        s = args[0]
        if s.type is UNTYPED_NULL:
            s = self.settle(s, S)
        if s.type != S:
            return self.arg_error(e, "a string", s.type)
        return ir.Call(I, "length", (s,), e.span)

    def _string(self, e: ast.Call, x: ir.Expr) -> ir.Expr | None:
        if x.type is UNTYPED_NULL:
            x = self.settle(x, S)
        if x.type != S:
            self.arg_error(e, "a string" if e.name != "concat" else "strings", x.type)
            return None
        return x

    def f_upper(self, e: ast.Call, args: list[ir.Expr]) -> Typed:
        s = self._string(e, args[0])
        return ir.Call(S, e.name, (s,), e.span) if s is not None else None

    f_lower = f_trim = f_upper

    def f_substring(self, e: ast.Call, args: list[ir.Expr]) -> Typed:
        s = self._string(e, args[0])
        if s is None:
            return None
        return ir.Call(S, "substring", (s, *args[1:]), e.span)

    def f_concat(self, e: ast.Call, args: list[ir.Expr]) -> Typed:
        xs = present([self._string(e, x) for x in args])
        if xs is None:
            return None
        if any(isinstance(x, ir.Literal) and x.value is None for x in xs):
            return self.error("E-TYPE-007", "'concat' needs strings, found null", e.name_span,
                              'joined with null, any string is null: leave it out, or write coalesce(x, "")')
        computed = [x for x in xs if not isinstance(x, ir.Literal)]
        if not computed:
            return ir.Literal(S, "".join(x.value for x in xs if isinstance(x, ir.Literal)
                                         and isinstance(x.value, str)), e.span)
        if len(computed) > 1:
            # a kernel joins one computed string with constants (LANGUAGE.md 4.8)
            return self.error("E-FUNC-006", f"'concat' joins one computed string with strings written in "
                              f"quotes, found {len(computed)} computed strings", computed[1].span,
                              'compare the parts one by one, e.g. province == "广东" and city == "广州"')
        return ir.Call(S, "concat", tuple(xs), e.span)
