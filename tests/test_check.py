"""Name resolution and type checking: the IR the checker produces follows
compiler/ir.py's contract to the letter, and every problem is reported, all
in one pass, with a stable code at the right place."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import networkx as nx
import pytest

from pol.compiler import ir
from pol.compiler.frontend import check_text, compile_path, compile_text
from pol.compiler.frontend.resolve import dependency_graph
from pol.compiler.types import Type
from pol.dsl.diagnostics import PolicyError

I, F, B, S, D = Type.INT, Type.FLOAT, Type.BOOL, Type.STRING, Type.DATE
BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "retention_bench.pol"

INPUT = """input t key id {
    id: int
    i: int?  j: int?
    x: float?  y: float?
    b: bool?
    s: string?
    d: date?  e: date?
}
"""


def program(body: str) -> ir.Program:
    return compile_text(INPUT + body, name="t.pol")


def let(body: str) -> ir.Expr:
    return program(f"let v = {body}").lets[0].expr


def codes(body: str, with_input: bool = True) -> list[str]:
    out = check_text((INPUT if with_input else "") + body, name="t.pol")
    return [d.code for d in out.diagnostics.errors]


def lit(t, v):
    return ir.Literal(t, v)


# ---------------------------------------------------------------- the bench policy

@pytest.fixture(scope="module")
def bench() -> ir.Program:
    return compile_path(BENCH)


def test_bench_declarations(bench):
    assert (bench.name, bench.version) == ("retention_bench", "2026.11")
    assert bench.input.key == "id" and len(bench.input.fields) == 25
    assert bench.input.field("age") == ir.InputField("age", I, True)
    assert bench.input.field("contract_end").nullable and not bench.input.field("last_active").nullable
    assert [(p.name, p.type, p.default) for p in bench.params] == [
        ("churn_days", I, 30), ("high_voice_min", F, 300.0)]
    assert isinstance(bench.params[1].default, float)
    assert [(d.name, d.expr.type) for d in bench.lets] == [
        ("arpu_3m", F), ("arpu_trend", F), ("usage_ratio", F), ("night_share", F), ("inactive_days", I)]
    assert len(bench.segments) == 11 and all(s.expr.type == B for s in bench.segments)
    assert all(s.expr.type == F for s in bench.scores)
    assert all(o.priority.type == F for o in bench.offers)


def test_bench_conversions(bench):
    lets = {d.name: d.expr for d in bench.lets}
    # (a + b + c) / 3: the int literal is a float
    assert lets["arpu_3m"].op == "div" and lets["arpu_3m"].args[1] == lit(F, 3.0)
    # days_since(last_active) is today - last_active
    assert lets["inactive_days"] == ir.Call(I, "sub", (ir.Today(), ir.FieldRef(D, "last_active")))
    scores = {s.name: s.expr for s in bench.scores}
    # 1 + tenure_months / 120: the int field is converted explicitly
    value = scores["value_score"]
    tenure = value.args[1].args[1].args[0]
    assert tenure == ir.Call(F, "to_float", (ir.FieldRef(I, "tenure_months"),))
    # min(complaints_90d, 3) stays an int min, converted as a whole
    to_float_min = [n for n in ir.walk(scores["churn_risk"]) if isinstance(n, ir.Call) and n.op == "to_float"]
    assert [c.args[0].op for c in to_float_min] == ["min", "min"]
    assert all(c.args[0].type == I for c in to_float_min)
    # arpu_trend < -30%: a float literal, negated; the chain of `or`s is one call
    churn = {s.name: s.expr for s in bench.segments}["churn_warning"]
    assert churn.op == "or" and len(churn.args) == 3
    assert churn.args[2] == ir.Call(B, "lt", (ir.DeclRef(F, "arpu_trend", "let"),
                                              ir.Call(F, "neg", (lit(F, 0.3),))))
    # voice_min >= high_voice_min: a float param
    high_voice = {s.name: s.expr for s in bench.segments}["high_voice"]
    assert high_voice.args[1] == ir.ParamRef(F, "high_voice_min")
    mid_high = {s.name: s.expr for s in bench.segments}["mid_high"]
    assert mid_high == ir.InSet(B, ir.DeclRef(S, "tier", "classify"), ("全球通", "钻石卡", "金卡"))


def test_bench_order_is_topological(bench):
    position = {name: k for k, name in enumerate(bench.order)}
    derived = list(bench.lets) + list(bench.segments) + list(bench.scores)
    assert sorted(position) == sorted([d.name for d in derived] + [c.name for c in bench.classifies])
    for d in derived:
        for node in ir.walk(d.expr):
            if isinstance(node, ir.DeclRef):
                assert position[node.name] < position[d.name], (node.name, d.name)
    for c in bench.classifies:
        for w in c.whens:
            for node in ir.walk(w.cond):
                if isinstance(node, ir.DeclRef):
                    assert position[node.name] < position[c.name]
    # ties keep declaration order: lets first, then what reads them
    assert bench.order[:5] == ("arpu_3m", "arpu_trend", "usage_ratio", "night_share", "inactive_days")
    assert bench.order.index("tier") < bench.order.index("mid_high")


def test_bench_outputs(bench):
    assert bench.outputs == (
        "high_voice", "high_traffic", "high_vas", "vad", "tier", "mid_high", "churn_warning", "value_loss",
        "unstable", "new_customer", "student", "elderly", "contract_expiring", "churn_risk", "value_score")


def test_bench_offers_and_arbitrate(bench):
    offers = {o.name: o for o in bench.offers}
    assert [o.name for o in bench.offers][:3] == ["flow_worry_free", "night_pack", "esports_pack"]
    assert offers["flow_worry_free"].channels == ("app", "sms")
    assert offers["flow_worry_free"].category == "traffic"
    assert offers["retention_pack"].channels == ("call", "sms")
    assert offers["handset_contract"].category == "bundle" and offers["handset_contract"].label == "0元购机"
    assert offers["esports_pack"].priority == lit(F, 18.0)
    assert all(o.capacity is None and o.holdout_bp is None and o.valid_from is None for o in bench.offers)
    assert [c.name for c in bench.channels] == ["app", "sms", "call", "store"]
    assert bench.channels[3].cond is None
    assert bench.arbitrate.max_per_customer == 2 and bench.arbitrate.one_per_category
    assert bench.arbitrate.exclusive == ()


def test_bench_dependency_graph(bench):
    g = dependency_graph(bench)
    assert g.nodes["arpu_m1"]["kind"] == "field" and g.nodes["churn_days"]["kind"] == "param"
    assert g.nodes["tier"]["kind"] == "classify" and g.nodes["retention_pack"]["kind"] == "offer"
    assert g.has_edge("arpu_m1", "arpu_3m") and g.has_edge("arpu_3m", "tier")
    assert g.has_edge("tier", "mid_high") and g.has_edge("churn_risk", "retention_pack")
    assert g.has_edge("call", "retention_pack") and g.has_edge("sms_opt_out", "sms")
    assert nx.is_directed_acyclic_graph(g)


# ---------------------------------------------------------------- typing rules

def test_int_and_float_mix_with_explicit_conversions():
    assert let("i + x") == ir.Call(F, "add", (ir.Call(F, "to_float", (ir.FieldRef(I, "i"),)), ir.FieldRef(F, "x")))
    assert let("i + j") == ir.Call(I, "add", (ir.FieldRef(I, "i"), ir.FieldRef(I, "j")))
    assert let("i / j").type == F
    assert let("i / j").args[0].op == "to_float"
    assert let("i % 2") == ir.Call(I, "mod", (ir.FieldRef(I, "i"), lit(I, 2)))
    assert let("i > x").args[0].op == "to_float"


def test_dates():
    assert let("d + 3") == ir.Call(D, "add", (ir.FieldRef(D, "d"), lit(I, 3)))
    assert let("3 + d") == ir.Call(D, "add", (ir.FieldRef(D, "d"), lit(I, 3)))
    assert let("d - e") == ir.Call(I, "sub", (ir.FieldRef(D, "d"), ir.FieldRef(D, "e")))
    assert let("days_until(d)") == ir.Call(I, "sub", (ir.FieldRef(D, "d"), ir.Today()))
    assert let("days_between(d, e)") == ir.Call(I, "sub", (ir.FieldRef(D, "e"), ir.FieldRef(D, "d")))
    assert let("d > 2026-11-01").args[1] == lit(D, dt.date(2026, 11, 1))
    assert let("year(today)") == ir.Call(I, "year", (ir.Today(),))


def test_functions():
    assert let("round(x)") == ir.Call(F, "round", (ir.FieldRef(F, "x"), lit(I, 0)))
    assert let("round(i, -2)") == ir.Call(I, "round", (ir.FieldRef(I, "i"), lit(I, -2)))
    assert let("min(i, x)").type == F and let("min(i, j)").type == I
    assert let("clamp(x, 0, 1)").args[1:] == (lit(F, 0.0), lit(F, 1.0))
    assert let("sqrt(i)") == ir.Call(F, "sqrt", (ir.Call(F, "to_float", (ir.FieldRef(I, "i"),)),))
    assert let("pow(2, 3)") == ir.Call(F, "pow", (lit(F, 2.0), lit(F, 3.0)))
    assert let("coalesce(s, \"x\")").type == S
    assert let("contains(s, \"广\")") == ir.Call(B, "contains", (ir.FieldRef(S, "s"), lit(S, "广")))
    assert let("length(s)").type == I
    assert let("abs(i)").type == I and let("floor(x)").type == F


def test_null_literals_take_their_context_type():
    assert let("null") == lit(I, None)
    assert let("coalesce(x, null)") == ir.Call(F, "coalesce", (ir.FieldRef(F, "x"), lit(F, None)))
    assert let("(if b then null else 1.5)") == ir.If(F, ir.FieldRef(B, "b"), lit(F, None), lit(F, 1.5))
    assert let("s == null") == ir.Call(B, "eq", (ir.FieldRef(S, "s"), lit(S, None)))
    assert let("null is null") == ir.IsNull(B, lit(I, None))
    assert let("d - null") == ir.Call(D, "sub", (ir.FieldRef(D, "d"), lit(I, None)))


def test_expressions_of_nulls_alone_take_their_context_type():
    # always null, so like a bare null they fit wherever they stand
    seg = program('segment g = ends_with((if b then null else null), "ab")').segments[0].expr
    assert seg == ir.Call(B, "ends_with", (lit(S, None), ir.Literal(S, "ab")))
    assert let("coalesce(null, null) + d") == ir.Call(D, "add", (ir.FieldRef(D, "d"), lit(I, None)))
    assert let("max(null, null)") == lit(I, None)
    assert codes('segment g = starts_with(min(null, null), "a")') == []


def test_comparison_with_null_warns_but_compiles():
    out = check_text(INPUT + 'segment g "G" = i == null', name="t.pol")
    assert out.ok and [d.code for d in out.diagnostics.warnings] == ["W-NULL-001"]


def test_in_lists_widen_and_keep_literals():
    assert let("x in (1, 2.5)") == ir.InSet(B, ir.FieldRef(F, "x"), (1.0, 2.5))
    assert isinstance(let("x in (1, 2.5)").values[0], float)
    assert let("i not in (-1, 2)") == ir.InSet(B, ir.FieldRef(I, "i"), (-1, 2), True)
    assert let("d in (2026-01-01)").values == (dt.date(2026, 1, 1),)


def test_if_and_between():
    assert let("(if b then i else x)") == ir.If(F, ir.FieldRef(B, "b"), ir.Call(F, "to_float", (ir.FieldRef(I, "i"),)),
                                              ir.FieldRef(F, "x"))
    assert let("i between 1 and x").args == (ir.Call(F, "to_float", (ir.FieldRef(I, "i"),)), lit(F, 1.0),
                                             ir.FieldRef(F, "x"))


def test_declarations_read_as_declref():
    p = program('segment g = i > 1\nclassify c { when g => "a" }\nscore r = i\nlet u = not g and c == "a" and r > 1')
    assert p.scores[0].expr == ir.Call(F, "to_float", (ir.FieldRef(I, "i"),))
    refs = [n for n in ir.walk(p.lets[0].expr) if isinstance(n, ir.DeclRef)]
    assert [(r.name, r.kind, r.type) for r in refs] == [("g", "segment", B), ("c", "classify", S), ("r", "score", F)]
    assert p.classifies[0].default is None


def test_offer_properties():
    p = program("""
channel sms when not b
channel app
offer o "礼" {
    eligible when i > 1
    channels app, sms
    priority i * 2
    capacity 10
    valid from 2026-01-01 to 2026-12-31
    holdout 5%
}
offer p { eligible when true  channels sms  holdout 0.015% }
arbitrate { max 3 per customer  exclusive o, p }
""")
    o, q = p.offers
    assert o.priority == ir.Call(F, "to_float", (ir.Call(I, "mul", (ir.FieldRef(I, "i"), lit(I, 2))),))
    assert (o.capacity, o.valid_from, o.valid_to, o.holdout_bp) == (10, dt.date(2026, 1, 1), dt.date(2026, 12, 31), 500)
    assert q.priority == lit(F, 0.0) and q.holdout_bp == 2
    assert p.arbitrate == ir.Arbitrate(3, False, (("o", "p"),))
    assert p.channels[0].cond == ir.Call(B, "not", (ir.FieldRef(B, "b"),))


def test_tests_are_typed():
    p = program("""
param lim: float = 2
segment g = x > lim
test "t" {
    as of 2026-11-01
    with lim = 3
    given { x: 1, d: 2026-01-02, s: "a", i: null, }
    expect g
    expect x between 0.5 and 2
}
""")
    (t,) = p.tests
    assert t.as_of == dt.date(2026, 11, 1) and t.params == (("lim", 3.0),)
    assert t.given == (("x", 1.0), ("d", dt.date(2026, 1, 2)), ("s", "a"), ("i", None))
    assert isinstance(t.given[0][1], float)
    assert t.expects[1].text == "x between 0.5 and 2"
    assert p.params[0].default == 2.0 and isinstance(p.params[0].default, float)


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("body, expected", [
    ("let v = i + s", ["E-TYPE-001"]),
    ('segment g = i > "18"', ["E-TYPE-002"]),
    ('segment g = s < "a"', ["E-TYPE-003"]),
    ("segment g = i and b", ["E-TYPE-004"]),
    ('let v = (if b then 1 else "a")', ["E-TYPE-005"]),
    ('segment g = i in (1, "a")', ["E-TYPE-006"]),
    ("segment g = i in (1, null)", ["E-TYPE-006"]),
    ("segment g = i in (1, 2.5)", ["E-TYPE-006"]),
    ("let v = sqrt(s)", ["E-TYPE-007"]),
    ("segment g = i + 1", ["E-TYPE-008"]),
    ("score r = s", ["E-TYPE-008"]),
    ("param p: int = 2.5", ["E-TYPE-009"]),
    ("param p: integer = 2", ["E-TYPE-010"]),
    ("let v = 99999999999999999999", ["E-TYPE-011"]),
    ("segment g = s between 1 and 2", ["E-TYPE-012"]),
    ("let v = -s", ["E-TYPE-013"]),
    ("let v = avg(i)", ["E-FUNC-001"]),
    ("let v = round(x, 1, 2)", ["E-FUNC-002"]),
    ("let v = round(x, i)", ["E-FUNC-003"]),
    ("let v = round(x, nope)", ["E-FUNC-003"]),
    ("let v = round(x, 16)", ["E-FUNC-003"]),
    ("segment g = contains(s, s)", ["E-FUNC-004"]),
    ("segment g = d > 2026-02-30", ["E-DATE-001"]),
    ("let v = k + 1", ["E-NAME-001"]),
    ("let i = 1", ["E-NAME-002"]),
    ("channel c\nlet v = c", ["E-NAME-004"]),
    ("offer o { eligible when b  channels sms }", ["E-NAME-005"]),
    ("arbitrate { exclusive nope }", ["E-NAME-006"]),
    ("offer o { priority 1 }", ["E-OFFER-001", "E-OFFER-002"]),
    ("channel c\noffer o { eligible when b  channels c  eligible when b }", ["E-OFFER-003"]),
    ("channel c\noffer o { eligible when b  channels c  holdout 101% }", ["E-OFFER-004"]),
    ("channel c\noffer o { eligible when b  channels c, c }", ["E-OFFER-005"]),
    ("arbitrate { max 0 per customer }", ["E-ARB-001"]),
    ("arbitrate { max 1 per customer  max 2 per customer }", ["E-ARB-002"]),
    ("arbitrate { }\narbitrate { }", ["E-DECL-002"]),
    ("input u key k { k: int }", ["E-DECL-001"]),
    ('test "t" { with nope = 1 }', ["E-NAME-007"]),
    ('test "t" { given { nope: 1 } }', ["E-NAME-008"]),
    ('test "t" { given { i: "1" } }', ["E-TYPE-009"]),
    ('test "t" { given { i: 1, i: 2 } }', ["E-TEST-001"]),
    ("let p = q\nlet q = p", ["E-CYCLE-001"]),
])
def test_error_codes(body, expected):
    assert codes(body) == expected


def test_no_input_and_bad_key():
    assert codes("let v = 1", with_input=False) == ["E-DECL-003"]
    assert codes("input t key k { id: int }", with_input=False) == ["E-NAME-008"]
    assert codes("input t key k { k: float }", with_input=False) == ["E-DECL-004"]
    assert codes("input t key k { k: int? }", with_input=False) == ["E-DECL-004"]


def test_all_errors_in_one_pass_sorted_by_position():
    with pytest.raises(PolicyError) as err:
        program('segment a = i > "1"\nlet a2 = nope\nscore c = s\nlet c2 = avg(1)\n')
    ds = err.value.diagnostics
    assert [d.code for d in ds] == ["E-TYPE-002", "E-NAME-001", "E-TYPE-008", "E-FUNC-001"]
    assert [d.line for d in ds] == [9, 10, 11, 12]
    assert str(err.value).endswith("4 errors")


def test_one_mistake_one_message():
    # the broken let is reported once; what reads it stays quiet
    assert codes("let a = nope + 1\nlet a2 = a * 2\nsegment g = a2 > 1") == ["E-NAME-001"]


def test_type_error_points_at_the_operator():
    out = check_text(INPUT + 'segment adult = i > "18"', name="t.pol")
    (d,) = out.diagnostics.errors
    assert d.message == "cannot compare int with string"
    assert (d.line, d.column, d.span.end_col) == (9, 19, 20)
    assert d.hint == "write the number without quotes: 18"


def test_duplicate_points_at_both_places():
    out = check_text(INPUT + "segment g = b\nlet g = 1", name="t.pol")
    (d,) = out.diagnostics.errors
    assert (d.line, d.column) == (10, 5)
    assert [(s.line, s.col) for s, _ in d.related] == [(9, 9)]


def test_cycle_lists_every_name_in_order():
    out = check_text(INPUT + "let a = b2 + 1\nlet b2 = c\nlet c = a\nlet fine = i", name="t.pol")
    (d,) = out.diagnostics.errors
    assert d.message == "dependency cycle: a -> b2 -> c -> a"
    assert (d.line, d.column) == (9, 5)


def test_missing_property_points_at_the_offer_name():
    out = check_text(INPUT + "channel c\noffer 礼包 { channels c }", name="t.pol")
    (d,) = out.diagnostics.errors
    assert d.code == "E-OFFER-001" and (d.line, d.column, d.span.end_col) == (10, 7, 9)


def test_did_you_mean_for_names():
    out = check_text(INPUT + "let arpu_3m = 1\nlet v = arpu_3n + arpu + zzz", name="t.pol")
    assert [d.hint for d in out.diagnostics.errors] == [
        "did you mean 'arpu_3m'?", "did you mean 'arpu_3m'?",
        "declare it as a field of the input block, a param or a let"]


# ---------------------------------------------------------------- imports

def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_imports_are_relative_and_included_once(tmp_path):
    write(tmp_path, {
        "main.pol": 'policy main\nimport "lib/a.pol"\nlet m = 1\nimport "lib/b.pol"\n',
        "lib/a.pol": 'policy lib_a\nimport "base.pol"\nlet from_a = 2\n',
        "lib/b.pol": 'import "base.pol"\nimport "a.pol"\nlet from_b = 3\n',
        "lib/base.pol": "input t key id { id: int }\nlet base = 0\n",
    })
    p = compile_path(tmp_path / "main.pol")
    assert p.name == "main"
    assert [d.name for d in p.lets] == ["base", "from_a", "m", "from_b"]
    assert [Path(f).name for f in p.files] == ["main.pol", "a.pol", "base.pol", "b.pol"]


def test_import_cycle_is_reported_at_the_closing_import(tmp_path):
    write(tmp_path, {
        "main.pol": 'import "a.pol"\ninput t key id { id: int }\n',
        "a.pol": 'import "b.pol"\n',
        "b.pol": 'let x = 1\nimport "a.pol"\n',
    })
    with pytest.raises(PolicyError) as err:
        compile_path(tmp_path / "main.pol")
    (d,) = err.value.diagnostics
    assert d.code == "E-IMPORT-002" and d.file.endswith("b.pol") and d.line == 2
    assert d.message.endswith("a.pol -> " + str(tmp_path / "b.pol") + " -> " + str(tmp_path / "a.pol"))


def test_missing_import_is_reported_at_the_import(tmp_path):
    write(tmp_path, {"main.pol": 'input t key id { id: int }\nimport "nope.pol"\n'})
    with pytest.raises(PolicyError) as err:
        compile_path(tmp_path / "main.pol")
    (d,) = err.value.diagnostics
    assert (d.code, d.line, d.column) == ("E-IMPORT-001", 2, 1)


def test_compile_text_imports_from_base_dir(tmp_path):
    write(tmp_path, {"base.pol": "input t key id { id: int }\n"})
    p = compile_text('import "base.pol"\nlet v = id', base_dir=tmp_path)
    assert p.lets[0].expr == ir.FieldRef(I, "id")
    assert p.name == "<string>"


def test_missing_root_file_is_a_policy_error(tmp_path):
    with pytest.raises(PolicyError) as err:
        compile_path(tmp_path / "nope.pol")
    assert err.value.diagnostics[0].code == "E-FILE-001"
