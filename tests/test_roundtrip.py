"""Printing and parsing are inverses: hypothesis builds random well-typed
programs from every construct of the language as syntax trees; each one,
printed by dsl/printer.py, parses back to the same tree and checks without
errors."""
from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pol.compiler.frontend import check_text
from pol.dsl import ast
from pol.dsl.parser import parse
from pol.dsl.printer import print_file
from pol.dsl.source import Source

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks" / "data" / "retention_bench.pol"

# Fields of every type, some named like keywords that are only keywords in
# their own place (section 1), one with a Chinese name.
FIELDS = [("id", "int", False), ("i", "int", True), ("max", "int", False), ("x", "float", True),
          ("priority", "float", False), ("消费", "float", True), ("b", "bool", True),
          ("s", "string", True), ("category", "string", False), ("d", "date", True),
          ("offer", "int", True), ("no", "bool", False)]
NUMERIC = ("int", "float")
ATTRIBUTES = {"code": "string", "cost": "float", "n": "int", "start": "date", "on": "bool"}
CARRIED = ["i", "x", "消费", "b", "s", "category", "d", "no", "max"]   # not named like an output column


class Scope:
    """The names a generated program has declared so far, by type."""

    def __init__(self):
        self.names: dict[str, list[str]] = {t: [] for t in ("int", "float", "bool", "string", "date")}
        self.params: dict[str, str] = {}
        self.taken = {f[0] for f in FIELDS}
        for name, t, _ in FIELDS:
            self.names[t].append(name)

    def fresh(self, draw, prefix: str) -> str:
        stem = draw(st.sampled_from([prefix, prefix + "_x", "月" + prefix, prefix + "2"]))
        name, k = stem, 0
        while name in self.taken:
            k += 1
            name = f"{stem}{k}"
        self.taken.add(name)
        return name


def number_text(draw, kind: str, signed: bool = False) -> str:
    if kind == "int":
        text = draw(st.sampled_from(["0", "1", "7", "42", "1_000", "86400"]))
    else:
        text = draw(st.sampled_from(["0.5", "3.25", "1e3", "2.5e-3", "1_000.5", "80%", "12.5%", "100%"]))
    return ("-" + text) if signed and draw(st.booleans()) else text


STRINGS = ["", "全球通", "a\"b", "back\\slash", "tab\there", "new\nline", "中文 text", "x"]
DATES = ["2026-11-01", "2024-02-29", "1999-12-31"]


def literal(draw, t: str, signed: bool = True):
    if t in NUMERIC:
        kind = t if t == "int" else draw(st.sampled_from(["int", "float"]))
        return ast.Number(number_text(draw, kind, signed))
    if t == "bool":
        return ast.Bool(draw(st.booleans()))
    if t == "string":
        return ast.String(draw(st.sampled_from(STRINGS)))
    return ast.DateLit(draw(st.sampled_from(DATES)))


def expression(draw, scope: Scope, t: str, depth: int):
    """A random expression of type t (int may stand where float is wanted)."""
    leaf = depth <= 0 or draw(st.integers(0, 3)) == 0
    if leaf:
        choices = scope.names[t] + (scope.names["int"] if t == "float" else [])
        if choices and draw(st.booleans()):
            return ast.Name(draw(st.sampled_from(choices)))
        if t == "date" and draw(st.booleans()):
            return ast.Today()
        return literal(draw, t, signed=False)
    sub = lambda tt: expression(draw, scope, tt, depth - 1)  # noqa: E731
    if draw(st.integers(0, 9)) == 0:
        return ast.If(sub("bool"), sub(t), sub(t))
    if t in NUMERIC:
        form = draw(st.sampled_from(["+", "-", "*", "%", "neg", "abs", "round", "minmax", "clamp",
                                     "coalesce", "call"] + (["/", "sqrt", "pow"] if t == "float" else [])))
        if form in ("+", "-", "*", "%", "/"):
            return ast.Binary(form, sub(t), sub(t))
        if form == "neg":
            return ast.Unary("-", sub(t))
        if form == "abs":
            return ast.Call(draw(st.sampled_from(["abs", "floor", "ceil"])), (sub(t),))
        if form == "round":
            if draw(st.booleans()):
                return ast.Call("round", (sub(t),))
            digits = draw(st.integers(-3, 4))
            n = ast.Number(str(abs(digits)))
            return ast.Call("round", (sub(t), ast.Unary("-", n) if digits < 0 else n))
        if form == "minmax":
            return ast.Call(draw(st.sampled_from(["min", "max"])), tuple(sub(t) for _ in range(draw(st.integers(1, 3)))))
        if form == "clamp":
            return ast.Call("clamp", (sub(t), sub(t), sub(t)))
        if form == "coalesce":
            return ast.Call("coalesce", (sub(t), draw(st.sampled_from([ast.Null(), sub(t)]))))
        if form in ("sqrt", "pow"):
            return ast.Call(form, (sub(t),) if form == "sqrt" else (sub(t), sub(t)))
        if t == "int":
            return draw(st.sampled_from([
                ast.Call("length", (sub("string"),)), ast.Call("year", (sub("date"),)),
                ast.Binary("-", sub("date"), sub("date")), ast.Call("days_since", (sub("date"),)),
                ast.Call("days_between", (sub("date"), sub("date")))]))
        return ast.Call("exp", (sub("int"),))
    if t == "bool":
        form = draw(st.sampled_from(["and", "or", "not", "cmp", "eq", "between", "in", "is", "str", "lit"]))
        if form in ("and", "or"):
            return ast.Binary(form, sub("bool"), sub("bool"))
        if form == "not":
            return ast.Unary("not", sub("bool"))
        if form == "cmp":
            tt = draw(st.sampled_from(["int", "float", "date"]))
            return ast.Compare(draw(st.sampled_from(["<", "<=", ">", ">=", "==", "!="])), sub(tt), sub(tt))
        if form == "eq":
            tt = draw(st.sampled_from(["string", "bool"]))
            return ast.Compare(draw(st.sampled_from(["==", "!="])), sub(tt), sub(tt))
        if form == "between":
            tt = draw(st.sampled_from(["int", "float", "date"]))
            return ast.Between(sub(tt), sub(tt), sub(tt))
        if form == "in":
            tt = draw(st.sampled_from(["int", "float", "string", "date"]))
            values = tuple(literal(draw, tt) for _ in range(draw(st.integers(1, 3))))
            # a float list needs an operand that is surely a float ('/' always is)
            operand = ast.Binary("/", sub(tt), sub(tt)) if tt == "float" else sub(tt)
            return ast.InList(operand, values, draw(st.booleans()))
        if form == "is":
            return ast.IsNull(sub(draw(st.sampled_from(["int", "string", "date"]))), draw(st.booleans()))
        if form == "str":
            return ast.Call(draw(st.sampled_from(["starts_with", "ends_with", "contains"])),
                            (sub("string"), ast.String(draw(st.sampled_from(STRINGS)))))
        return literal(draw, "bool")
    if t == "string":
        return ast.Call("coalesce", (sub("string"), ast.String(draw(st.sampled_from(STRINGS)))))
    return ast.Binary(draw(st.sampled_from(["+", "-"])), sub("date"), sub("int"))


LABELS = st.one_of(st.none(), st.sampled_from(["离网预警", "VAD分群", "with \"quotes\"", ""]))


@st.composite
def programs(draw) -> ast.File:
    scope = Scope()
    items: list = []
    if draw(st.booleans()):
        items.append(ast.Header("gen", draw(st.one_of(st.none(), st.just("2026.11")))))
    items.append(ast.Input("customer", "id", tuple(ast.Field(n, t, nl) for n, t, nl in FIELDS)))
    # the params an offer may name for its capacity, holdout and window
    items += [ast.Param("max_calls", "int", ast.Number("100")), ast.Param("control", "float", ast.Number("5%")),
              ast.Param("start", "date", ast.DateLit("2026-01-01")), ast.Param("stop", "date", ast.DateLit("2026-12-31"))]
    depth = 3
    for _ in range(draw(st.integers(0, 2))):
        t = draw(st.sampled_from(["int", "float", "bool", "string", "date"]))
        name = scope.fresh(draw, "p")
        items.append(ast.Param(name, t, literal(draw, t if t != "float" else "float")))
        scope.params[name] = t
        scope.names[t].append(name)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["let", "segment", "classify", "score"]))
        if kind == "let":
            t = draw(st.sampled_from(["int", "float", "bool", "string", "date"]))
            decl = ast.Let(scope.fresh(draw, "v"), expression(draw, scope, t, depth))
        elif kind == "segment":
            t = "bool"
            decl = ast.Segment(scope.fresh(draw, "seg"), draw(LABELS), expression(draw, scope, t, depth))
        elif kind == "score":
            t = "float"
            decl = ast.Score(scope.fresh(draw, "score"), draw(LABELS),
                             expression(draw, scope, draw(st.sampled_from(NUMERIC)), depth))
        else:
            t = "string"
            whens = tuple(ast.When(expression(draw, scope, "bool", depth - 1), draw(st.sampled_from(STRINGS)))
                          for _ in range(draw(st.integers(0, 3))))
            decl = ast.Classify(scope.fresh(draw, "tier"), draw(LABELS), whens,
                                draw(st.one_of(st.none(), st.sampled_from(STRINGS))))
        items.append(decl)
        scope.names[t].append(decl.name)
    channels = [scope.fresh(draw, "ch") for _ in range(draw(st.integers(1, 3)))]
    for c in channels:
        cond = draw(st.one_of(st.none(), st.just(True)))
        items.append(ast.Channel(c, draw(LABELS), expression(draw, scope, "bool", 2) if cond else None))
    offers = []
    for _ in range(draw(st.integers(0, 3))):
        name = scope.fresh(draw, "offer")
        offers.append(name)
        props = [ast.Eligible(expression(draw, scope, "bool", depth)),
                 ast.Channels(tuple(draw(st.lists(st.sampled_from(channels), min_size=1, unique=True))))]
        if draw(st.booleans()):
            props.append(ast.Priority(expression(draw, scope, draw(st.sampled_from(NUMERIC)), depth)))
        if draw(st.booleans()):
            props.append(ast.Category(draw(st.sampled_from(["traffic", "voice", "category", "流量"]))))
        if draw(st.booleans()):
            props.append(ast.Capacity(draw(st.sampled_from([ast.Number("0"), ast.Number("100"), ast.Number("1_000"),
                                                            ast.Name("max_calls")]))))
        if draw(st.booleans()):
            start, end = draw(st.sampled_from([(True, True), (True, False), (False, True)]))
            props.append(ast.Valid(draw(st.sampled_from([ast.DateLit("2026-01-01"), ast.Name("start")])) if start
                                   else None,
                                   draw(st.sampled_from([ast.DateLit("2026-12-31"), ast.Name("stop")])) if end else None))
        if draw(st.booleans()):
            props.append(ast.Holdout(draw(st.sampled_from([ast.Number("5%"), ast.Number("0%"), ast.Number("12.5%"),
                                                           ast.Number("100%"), ast.Name("control")]))))
        if draw(st.booleans()):
            names = draw(st.lists(st.sampled_from(sorted(ATTRIBUTES)), unique=True))
            props.append(ast.Attributes(tuple(ast.Attribute(n, literal(draw, ATTRIBUTES[n])) for n in names)))
            if "cost" in names:     # offer.NAME: the attribute, read in this offer's priority
                props = [ast.Priority(ast.Binary("-", ast.Number("100"), ast.Name("offer.cost")))
                         if isinstance(p, ast.Priority) else p for p in props]
        items.append(ast.Offer(name, draw(LABELS), tuple(draw(st.permutations(props)))))
    if draw(st.booleans()):
        rules = []
        if draw(st.booleans()):
            rules.append(ast.MaxRule(ast.Number(draw(st.sampled_from(["1", "2", "10"])))))
        if draw(st.booleans()):
            rules.append(ast.OnePerCategory())
        if offers and draw(st.booleans()):
            rules.append(ast.Exclusive(tuple(draw(st.lists(st.sampled_from(offers), min_size=1, unique=True)))))
        if draw(st.booleans()):
            rules.append(ast.Maximize("priority"))
        items.append(ast.Arbitrate(tuple(draw(st.permutations(rules)))))
    if draw(st.booleans()):
        items.append(ast.Carry(tuple(draw(st.lists(st.sampled_from(CARRIED), min_size=1, unique=True)))))
    for k in range(draw(st.integers(0, 2))):
        test_items: list = []
        if draw(st.booleans()):
            test_items.append(ast.AsOf(ast.DateLit("2026-11-01")))
        for p, t in list(scope.params.items())[:1]:
            test_items.append(ast.With(p, literal(draw, t)))
        chosen = draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique_by=lambda f: f[0]))
        test_items.append(ast.Given(tuple(ast.GivenField(n, draw(st.sampled_from([ast.Null(), literal(draw, t)])))
                                          for n, t, _ in chosen)))
        if offers:
            test_items.append(ast.ExpectOffer(draw(st.sampled_from(offers)),
                                              draw(st.one_of(st.none(), st.sampled_from(channels))),
                                              draw(st.one_of(st.none(), st.just(ast.Number("1"))))))
            test_items.append(ast.ExpectOffer(draw(st.sampled_from(offers)), negated=True))
        test_items.append(ast.ExpectNoOffer())
        test_items.append(ast.ExpectExpr(expression(draw, scope, "bool", 2)))
        items.append(ast.Test(f"test {k} 测试", tuple(draw(st.permutations(test_items)))))
    return ast.File("gen.pol", tuple(items))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_print_then_parse_gives_the_same_tree(tree):
    text = print_file(tree)
    again, problems = parse(Source("gen.pol", text))
    assert not problems, (text, [p.message for p in problems])
    assert again == tree, text
    out = check_text(text, name="gen.pol")
    assert out.ok, (text, [(d.line, d.message) for d in out.diagnostics.errors])
    assert print_file(again) == text


def test_real_policies_roundtrip():
    for path in [BENCH, *sorted((ROOT / "policies").rglob("*.pol"))]:
        first, problems = parse(Source(str(path), path.read_text(encoding="utf-8")))
        assert not problems
        again, problems = parse(Source(str(path), print_file(first)))
        assert not problems and again == first, path


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["lib.pol", "shared/客户.pol"]), st.one_of(st.none(), st.sampled_from(["cust", "库"])),
       st.booleans())
def test_imports_print_and_parse_back(path, qualifier, without):
    tree = ast.File("gen.pol", (ast.Import(path, qualifier=qualifier, without_offers=without),
                                ast.Segment("s", None, ast.Name(f"{qualifier or 'lib'}.warning_signs"))))
    text = print_file(tree)
    again, problems = parse(Source("gen.pol", text))
    assert not problems and again == tree, text
