"""The reference evaluator (engine/reference/interp.py): eval_expr on hand-built IR,
evaluate_row on real policies, the trace, rendering, and properties of the
number rules of LANGUAGE.md section 5. The value-by-value cases of every
operator live in tests/conformance."""
import datetime as dt
import math
import re
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pol.compiler import ir, signatures
from pol.compiler.frontend import compile_path, compile_text
from pol.compiler.types import Type
from pol.reference.interp import RULES, Env, apply_op, eval_expr, evaluate_row, null_sources, render, why_not

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "retention_bench.pol"
AS_OF = dt.date(2026, 11, 1)
I64_MIN, I64_MAX = -(2 ** 63), 2 ** 63 - 1
I, F, B, S, D = Type.INT, Type.FLOAT, Type.BOOL, Type.STRING, Type.DATE


# ---------------------------------------------------------------- hand-built IR

def lit(v, t=None):
    if t is None:
        t = {bool: B, int: I, float: F, str: S, dt.date: D}[type(v)]
    return ir.Literal(t, v)


def call(op, *args, t=None):
    if t is None:
        t = signatures.op_result(op, tuple(a.type for a in args))
        assert t is not None, f"{op} does not take {[a.type for a in args]}"
    return ir.Call(t, op, tuple(args))


def field(name, t):
    return ir.FieldRef(t, name)


def env(**fields):
    return Env(fields, {"lim": 3}, AS_OF)


def test_every_operator_has_a_rule():
    assert set(RULES) == set(signatures.OPS)


def test_eval_expr_on_hand_built_ir():
    x, n = field("x", F), field("n", I)
    e = call("add", x, call("to_float", n))
    assert eval_expr(e, env(x=1.5, n=2)) == 3.5
    assert eval_expr(e, env(x=None, n=2)) is None
    assert eval_expr(e, env(x=float("nan"), n=2)) is None       # NaN reads as null
    assert eval_expr(e, env(n=2)) is None                        # a missing field is null
    assert eval_expr(call("gt", n, ir.ParamRef(I, "lim")), env(n=4)) is True
    assert eval_expr(call("sub", ir.Today(), lit(dt.date(2026, 10, 1))), env()) == 31
    cond = ir.If(I, call("gt", n, lit(0)), lit(1), lit(2))
    assert [eval_expr(cond, env(n=v)) for v in (5, -5, None)] == [1, 2, 2]
    assert eval_expr(ir.InSet(B, n, (1, 2)), env(n=2)) is True
    assert eval_expr(ir.InSet(B, n, (1, 2), negated=True), env(n=2)) is False
    assert eval_expr(ir.InSet(B, n, (1, 2)), env(n=None)) is None
    assert eval_expr(ir.IsNull(B, n), env(n=None)) is True
    assert eval_expr(ir.IsNull(B, n, negated=True), env(n=None)) is False
    assert eval_expr(ir.DeclRef(B, "seg", "segment"), Env({}, decls={"seg": False})) is False
    assert eval_expr(lit(float("inf")), env()) is None            # floats are finite or null
    with pytest.raises(TypeError):
        eval_expr("x", env())


def test_null_rules_of_and_or_coalesce_are_their_own():
    t, f, nul = lit(True), lit(False), ir.Literal(B, None)
    assert eval_expr(call("and", f, nul), env()) is False
    assert eval_expr(call("or", t, nul), env()) is True
    assert eval_expr(call("and", t, nul), env()) is None
    assert eval_expr(call("not", nul), env()) is None
    assert eval_expr(ir.Call(I, "coalesce", (ir.Literal(I, None), lit(4), lit(5))), env()) == 4


def test_python_exceptions_become_null():
    assert apply_op("pow", F, [0.0, -1.0]) is None        # math.pow raises ValueError
    assert apply_op("pow", F, [-8.0, 1 / 3]) is None
    assert apply_op("pow", F, [10.0, 400.0]) is None      # OverflowError
    assert apply_op("exp", F, [1000.0]) is None
    assert apply_op("div", F, [1.0, 0.0]) is None
    assert apply_op("div", F, [-0.0, -0.0]) is None


# ---------------------------------------------------------------- properties of section 5

INT64 = st.integers(I64_MIN, I64_MAX)
FINITE = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(INT64, INT64)
def test_int_arithmetic_is_exact_or_null(a, b):
    for op, exact in (("add", a + b), ("sub", a - b), ("mul", a * b)):
        expected = exact if I64_MIN <= exact <= I64_MAX else None
        assert apply_op(op, I, [a, b]) == expected


@settings(max_examples=300, deadline=None)
@given(INT64, INT64)
def test_int_remainder_is_floored(a, b):
    r = apply_op("mod", I, [a, b])
    if b == 0:
        assert r is None
        return
    assert (a - r) % b == 0                              # a = q*b + r
    assert (0 <= r < b) if b > 0 else (b < r <= 0)       # the sign of the divisor


@settings(max_examples=300, deadline=None)
@given(FINITE, FINITE)
def test_float_remainder_takes_the_divisor_sign(a, b):
    r = apply_op("mod", F, [a, b])
    if b == 0:
        assert r is None
        return
    assert r is not None and math.isfinite(r)
    assert r == 0 or (r > 0) == (b > 0)
    assert abs(r) <= abs(b)
    fm = math.fmod(a, b)
    assert r in (fm, fm + b)


@settings(max_examples=300, deadline=None)
@given(FINITE, FINITE)
def test_float_results_are_finite_or_null(a, b):
    for op in ("add", "sub", "mul", "div", "pow"):
        v = apply_op(op, F, [a, b])
        assert v is None or math.isfinite(v)
    for op in ("sqrt", "exp", "log", "floor", "ceil", "abs"):
        v = apply_op(op, F, [a])
        assert v is None or math.isfinite(v)


@settings(max_examples=300, deadline=None)
@given(st.floats(-1e15, 1e15, allow_nan=False), st.integers(-6, 6))
def test_round_half_away_from_zero_on_the_exact_value(x, n):
    r = apply_op("round", F, [x, n])
    assert apply_op("round", F, [-x, n]) == -r            # symmetric about zero
    exact, q = Decimal(x), Decimal(10) ** -n
    k = exact / q                                         # exact in this Decimal context for these sizes
    lower = k.to_integral_value(rounding="ROUND_FLOOR")
    # the nearest multiple of q, and on an exact tie the one away from zero
    if k - lower == Decimal("0.5"):
        want = (lower + (1 if x > 0 else 0)) * q
    else:
        want = (lower if k - lower < Decimal("0.5") else lower + 1) * q
    assert r == float(want)


@settings(max_examples=200, deadline=None)
@given(INT64, st.integers(-15, 3))
def test_round_of_ints(x, n):
    r = apply_op("round", I, [x, n])
    if n >= 0:
        assert r == x
        return
    q = 10 ** -n
    exact = (abs(x) * 2 + q) // (2 * q) * q * (1 if x >= 0 else -1)
    assert r == (exact if I64_MIN <= exact <= I64_MAX else None)


@settings(max_examples=200, deadline=None)
@given(st.dates(), st.integers(-4_000_000, 4_000_000))
def test_date_arithmetic_stays_in_years_1_to_9999(d, n):
    v = apply_op("add", D, [d, n])
    o = d.toordinal() + n
    assert v == (dt.date.fromordinal(o) if 1 <= o <= dt.date.max.toordinal() else None)
    if v is not None:
        assert apply_op("sub", I, [v, d]) == n


# ---------------------------------------------------------------- records

PROGRAM = compile_text("""
input t key id { id: int  n: int?  x: float?  ok: bool?  s: string?  d: date? }
let half = x / 2
segment big "大" = n > 10 and half > 1
classify size { when n > 100 => "huge" when big => "big" when n is null => "unknown" }
score sc = n
channel sms "短信" when ok
channel store
offer o1 "甲" { eligible when big  channels sms  priority n }
offer o2 { eligible when n > 0  channels sms, store  priority 1 / x  valid to 2026-10-31 }
""", name="small.pol")


def test_evaluate_row_values_channels_offers():
    row = evaluate_row(PROGRAM, {"id": 7, "n": 20, "x": 4.0, "ok": True}, AS_OF, {})
    assert row.key == 7
    assert row.values == {"half": 2.0, "big": True, "size": "big", "sc": 20.0}
    assert row.channels == {"sms": True, "store": True}
    o1, o2 = row.offers["o1"], row.offers["o2"]
    assert (o1.in_window, o1.eligible, o1.priority, o1.channel, o1.candidate) == (True, True, 20.0, "sms", True)
    assert (o2.in_window, o2.eligible, o2.priority, o2.channel, o2.candidate) == (False, True, 0.25, "sms", False)
    assert [s.name for s in row.candidates()] == ["o1"]
    assert row.trace.whens == {"size": 1}


def test_evaluate_row_with_nulls():
    row = evaluate_row(PROGRAM, {"id": 8, "x": 0.0}, AS_OF, {}, trace=True)
    assert row.values == {"half": 0.0, "big": False, "size": "unknown", "sc": None}
    assert row.channels == {"sms": False, "store": True}
    o2 = row.offers["o2"]
    assert (o2.eligible, o2.priority, o2.channel, o2.candidate) == (None, None, "store", False)
    tr = row.trace
    assert tr.whens == {"size": 2}
    # `n > 10 and half > 1` is false because half > 1 is; n > 10 (null) does not decide it
    assert [c.text for c in tr.segments["big"]] == ["half > 1.0"]
    assert tr.channels["sms"][0].text == "ok" and tr.channels["sms"][0].value is None
    # the priority's null comes from 1 / x with x = 0, not from a null field
    (src,) = tr.priority["o2"]
    assert src.text == "1.0 / x" and ("x", 0.0) in src.inputs
    assert evaluate_row(PROGRAM, {"id": 8}, AS_OF, trace=False).trace is None


def test_a_classification_with_no_match_and_no_else_is_null():
    row = evaluate_row(PROGRAM, {"id": 9, "n": 5}, AS_OF, {})
    assert row.values["size"] is None and row.trace.whens["size"] is None


def test_params_are_resolved_like_a_run():
    p = compile_text("input t key id { id: int  n: int? }\nparam lim: int = 3\nsegment over = n > lim",
                     name="p.pol")
    assert evaluate_row(p, {"id": 1, "n": 4}, AS_OF, {}).values["over"] is True
    assert evaluate_row(p, {"id": 1, "n": 4}, AS_OF, {"lim": "5"}).values["over"] is False


# ---------------------------------------------------------------- the bench policy

@pytest.fixture(scope="module")
def bench():
    return compile_path(BENCH)


def bench_record(**over):
    r = dict(id=7, msisdn="13800000000", brand="全球通", customer_type="个人", region="north", age=40,
             tenure_months=72, arpu_m1=320.0, arpu_m2=300.0, arpu_m3=310.0, voice_min=400.0, data_gb=25.0,
             plan_data_gb=20.0, vas_spend=30.0, night_data_gb=1.0, intl_call_min=0.0, roaming_days=0,
             complaints_90d=0, last_active=dt.date(2026, 10, 30), contract_end=None, storage_used_pct=None,
             sms_opt_out=False, contacts_30d=0, app_active=True, broadband=False)
    r.update(over)
    return r


def test_bench_hand_checked(bench):
    row = evaluate_row(bench, bench_record(), AS_OF, {})
    v = row.values
    assert v["arpu_3m"] == (320.0 + 300.0 + 310.0) / 3
    assert v["inactive_days"] == 2
    assert v["vad"] == "VAD" and v["tier"] == "全球通"
    assert v["mid_high"] is True and v["churn_warning"] is False
    assert v["contract_expiring"] is False                     # contract_end is null
    assert v["student"] is False and v["elderly"] is False
    # churn_risk = clamp(0.35*0/3 + 0.35*clamp(-(320/310 - 1), 0, 1) + 0.30*2/90, 0, 1)
    assert v["churn_risk"] == 0.35 * 0 / 3 + 0.35 * 0.0 + 0.30 * 2 / 90
    assert v["value_score"] == v["arpu_3m"] * (1 + 72 / 120)
    assert row.channels == {"app": True, "sms": True, "call": True, "store": True}
    # usage 25/20 >= 80% but high_traffic: not eligible
    assert row.offers["flow_worry_free"].eligible is False
    assert row.offers["migu_video"].eligible is False          # high_vas


def test_bench_arpu_trend_null_when_arpu_m3_is_zero(bench):
    row = evaluate_row(bench, bench_record(arpu_m3=0.0), AS_OF, {})
    assert row.values["arpu_trend"] is None
    # churn_warning: inactive 2 > 30 false, complaints false, null < -30% null -> false or null -> null -> not in segment
    assert row.values["churn_warning"] is False
    assert row.values["churn_risk"] == 0.30 * 2 / 90


def test_bench_params_change_the_segment(bench):
    rec = bench_record(last_active=dt.date(2026, 10, 1))
    assert evaluate_row(bench, rec, AS_OF, {}).values["churn_warning"] is True      # 31 > 30
    assert evaluate_row(bench, rec, AS_OF, {"churn_days": 45}).values["churn_warning"] is False


def test_why_not_walks_into_segments(bench):
    row = evaluate_row(bench, bench_record(brand="神州行", age=20), AS_OF, {})
    parts = why_not(bench.decl("esports_pack").eligible, row.env)
    student = next(p for p in parts if p.text == "student")
    assert student.value is False
    assert [c.text for c in student.because] == ['brand == "动感地带"']
    assert ("brand", "神州行") in student.because[0].inputs
    assert null_sources(bench.decl("esports_pack").eligible, row.env) == ()


# ---------------------------------------------------------------- rendering

def _policies():
    import json
    yield compile_path(BENCH)
    cases = Path(__file__).resolve().parent / "conformance" / "cases"
    std = Path(__file__).resolve().parent / "conformance" / "test_conformance.py"
    header = re.search(r'STANDARD_INPUT = """(.*?)"""', std.read_text(encoding="utf-8"), re.S).group(1)
    for path in sorted(cases.glob("*.json")):
        for case in json.loads(path.read_text(encoding="utf-8"))["cases"]:
            if case.get("files"):
                continue    # imports: qualified names, which a declaration cannot be written with
            text = case["policy"] if "input " in case["policy"] else header + case["policy"]
            yield compile_text(text, name="case.pol")


def test_render_reads_back_as_the_same_expression():
    """render() is how explanations quote a policy: checking its text again
    must give the very same IR."""
    checked = 0
    for program in _policies():
        exprs = [e for d in program.lets + program.segments + program.shown_scores for e in [d.expr]]
        exprs += [w.cond for c in program.classifies for w in c.whens]
        exprs += [e for o in program.offers for e in (o.eligible, o.priority)]
        inp = program.input
        params = "".join(f"param {p.name}: {p.type} = {_lit(p.default)}\n" for p in program.params)
        names = {f.name: f for f in inp.fields}
        head = (f"input {inp.name} key {inp.key} {{ "
                + " ".join(f"{f.name}: {f.type}{'?' if f.nullable else ''}" for f in names.values()) + " }\n")
        head += "".join(f"history {h.name} key {h.key} at {h.at} {{ "
                        + " ".join(f"{f.name}: {f.type}{'?' if f.nullable else ''}" for f in h.fields) + " }\n"
                        for h in program.histories)
        head += "".join(f"experiment {x.name}" + (f' salt "{x.salt}"' if x.salt is not None else "") + " { "
                        + " ".join(f"arm {arm} {bp / 100}%" for arm, bp in x.arms)
                        + f" control {x.control_bp / 100}% }}\n" for x in program.experiments)
        decls = "".join(f"let {d.name} = {render(d.expr)}\n" for d in program.lets)
        decls += "".join(f"segment {d.name} = {render(d.expr)}\n" for d in program.segments)
        decls += "".join("classify " + c.name + " { " + " ".join(f'when {render(w.cond)} => "{w.value}"'
                                                                for w in c.whens) + " }\n" for c in program.classifies)
        decls += "".join(f"score {d.name} = {render(d.expr)}\n" for d in program.shown_scores)
        again = compile_text(head + params + decls, name="again.pol")
        for a, b in zip(program.lets + program.segments + program.shown_scores,
                        again.lets + again.segments + again.shown_scores):
            assert a.expr == b.expr, (render(a.expr), render(b.expr))
            checked += 1
        for a, b in zip(program.classifies, again.classifies):
            assert [w.cond for w in a.whens] == [w.cond for w in b.whens]
    assert checked > 100


def _lit(v):
    from pol.reference.interp import value_text
    return value_text(v)


def test_render_parenthesises_by_precedence():
    a, b, c = field("a", F), field("b", F), field("c", F)
    assert render(call("sub", a, call("sub", b, c))) == "a - (b - c)"
    assert render(call("sub", call("sub", a, b), c)) == "a - b - c"
    assert render(call("mul", call("add", a, b), c)) == "(a + b) * c"
    assert render(call("neg", call("neg", a))) == "- -a"
    p, q = field("p", B), field("q", B)
    assert render(call("or", p, call("and", q, p))) == "p or (q and p)"
    assert render(call("not", call("and", p, q))) == "not (p and q)"
    assert render(call("add", a, ir.If(F, p, b, c))) == "a + (if p then b else c)"
    assert render(lit("a\"b\\")) == '"a\\"b\\\\"'
    assert render(call("round", a, lit(0))) == "round(a)"
    assert render(lit("a\x01")) == '"a\\u0001"'
    assert render(ir.If(F, ir.If(B, p, q, p), a, b)) == "if (if p then q else p) then a else b"
    assert render(ir.InSet(B, field("s", S), ("x", "y"), negated=True)) == 's not in ("x", "y")'
