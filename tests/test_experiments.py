"""Experiments (LANGUAGE.md section 13) and salted holdouts (6.5): the draw's
shares and independence on a million keys, within fixed statistical bounds
(the keys are fixed, so each test is deterministic), every evaluator against
the oracle, the checker's errors, the tests' expectations, the layout."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

import pol
from pol.arbitration.arbitrate import Rules, _prefix_state
from pol.compiler.frontend import check_text, compile_text
from pol.dsl import fmt
from pol.evaluation.experiments import Arms
from pol.evaluation.stream import keys_of
from pol.reference.experiments import arm_of
from pol.reference.matching import fnv1a64, is_control, mix64
from pol.testing.policytest import run_tests

AS_OF = dt.date(2026, 11, 1)
N = 1_000_000
# A deterministic test with a bound this far out fails only when the draw
# is wrong: a fair draw exceeds it with probability 1e-9.
P_BOUND = 1e-9

POLICY = """input customer key id { id: int  risk: bool? }
channel sms "短信"
experiment care_ab "关怀A/B" salt "2026-11" {
    arm a 45%
    arm b 45%
    control 10%
}
experiment care_ab2 salt "2026-12" { arm a 45%  arm b 45%  control 10% }
experiment price salt "2026-11" { arm low 20%  arm mid 30%  arm high 50% }
param gb: int = 2 { care_ab.b: 5, price.high: 1 }
segment in_b = care_ab == "b"
score top_up = gb
offer care_a { eligible when risk  channels sms  arm care_ab.a  priority gb }
offer care_b { eligible when risk  channels sms  arm care_ab.b  priority gb  holdout 20% salt "w1" }
offer care_all { eligible when risk  channels sms  priority 1  holdout 20% }
arbitrate { max 2 per customer }
"""


@pytest.fixture(scope="module")
def policy():
    return pol.loads(POLICY)


def draw(policy, name: str, keys: pa.Array) -> np.ndarray:
    """The compiled draw's arm index of each key, for one experiment."""
    arms = Arms(policy.program)
    j = [x.name for x in policy.program.experiments].index(name)
    return arms.codes(keys_of(keys), len(keys))[j]


@pytest.fixture(scope="module")
def million():
    return pa.array(np.arange(1, N + 1, dtype=np.int64))


# ---------------------------------------------------------------- the draw

@pytest.mark.parametrize("name", ["care_ab", "price"])
def test_the_shares_of_a_million_keys_are_the_declared_ones(policy, million, name):
    x = next(e for e in policy.program.experiments if e.name == name)
    shares = np.array([bp for _, bp in x.arms] + ([x.control_bp] if x.control_bp else [])) / 10000
    counts = np.bincount(draw(policy, name, million), minlength=len(shares))[:len(shares)]
    assert counts.sum() == N
    chi2 = (((counts - N * shares) ** 2) / (N * shares)).sum()
    assert chi2 < stats.chi2.isf(P_BOUND, len(shares) - 1)
    for c, p in zip(counts, shares):            # and each share on its own (binomial)
        assert abs(c - N * p) < stats.norm.isf(P_BOUND / 2) * np.sqrt(N * p * (1 - p))


def _independent(a: np.ndarray, b: np.ndarray) -> float:
    table = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(table, (a, b), 1)
    chi2, p, dof, _ = stats.chi2_contingency(table, correction=False)
    return chi2, dof


@pytest.mark.parametrize("other", ["care_ab2", "price"])
def test_two_experiments_draw_independently(policy, million, other):
    # care_ab2 is care_ab with another salt (and name); price has care_ab's salt
    chi2, dof = _independent(draw(policy, "care_ab", million), draw(policy, other, million))
    assert chi2 < stats.chi2.isf(P_BOUND, dof)


def test_a_new_salt_draws_the_groups_anew(million):
    first = pol.loads("input c key id { id: int }\nexperiment t salt \"2026-11\" { arm a 45%  arm b 45%  control 10% }")
    again = pol.loads("input c key id { id: int }\nexperiment t salt \"2026-11\" { arm a 45%  arm b 45%  control 10% }")
    wave2 = pol.loads("input c key id { id: int }\nexperiment t salt \"2026-12\" { arm a 45%  arm b 45%  control 10% }")
    a, b, c = (draw(p, "t", million) for p in (first, again, wave2))
    assert (a == b).all()                       # one salt: the same groups in every run
    # another salt: each customer keeps their arm only by chance, with
    # probability 0.45² + 0.45² + 0.1² = 0.415
    kept = (a == c).sum()
    p = 0.415
    assert abs(kept - N * p) < stats.norm.isf(P_BOUND / 2) * np.sqrt(N * p * (1 - p))
    chi2, dof = _independent(a, c)
    assert chi2 < stats.chi2.isf(P_BOUND, dof)


def test_the_compiled_draw_is_the_oracles(policy):
    keys = list(range(-5000, 15000)) + [-(2 ** 63), 2 ** 63 - 1]
    for x in policy.program.experiments:
        got = draw(policy, x.name, pa.array(keys, pa.int64()))
        assert [x.values[k] for k in got] == [arm_of(x, k) for k in keys], x.name
    strings = ["", "a", "中文客户", "x:y", "13800138000", "é" * 50] + [f"k{k}" for k in range(5000)]
    text = pol.loads('input c key id { id: string }\nexperiment t salt "s" { arm a 33.33%  arm b 33.33% '
                     ' control 33.34% }').program
    got = Arms(text).codes(keys_of(pa.array(strings)), len(strings))[0]
    x = text.experiments[0]
    assert [x.values[k] for k in got] == [arm_of(x, k) for k in strings]


_SHARES = st.lists(st.integers(0, 10000), min_size=1, max_size=5).map(
    lambda xs: [x * 10000 // max(sum(xs), 1) for x in xs])
_SALTS = st.none() | st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12).filter(
    lambda t: '"' not in t and "\\" not in t)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(shares=_SHARES, salt=_SALTS,
       ints=st.lists(st.integers(-(2 ** 63), 2 ** 63 - 1), min_size=1, max_size=40),
       texts=st.lists(st.text(max_size=20), min_size=1, max_size=40))
def test_any_shares_salt_and_keys_draw_alike_compiled_and_in_the_oracle(shares, salt, ints, texts):
    arms = "  ".join(f"arm a{k} {bp / 100:.2f}%" for k, bp in enumerate(shares))
    control = f"  control {(10000 - sum(shares)) / 100:.2f}%"
    salted = f' salt "{salt}"' if salt is not None else ""
    for key_type, keys in (("int", ints), ("string", texts)):
        program = compile_text(f"input c key id {{ id: {key_type} }}\nexperiment t{salted} {{ {arms}{control} }}",
                               name="t.pol")
        x = program.experiments[0]
        got = Arms(program).codes(keys_of(pa.array(keys, pa.int64() if key_type == "int" else pa.string())),
                                  len(keys))[0]
        assert [x.values[k] for k in got] == [arm_of(x, k) for k in keys]


def test_the_draw_follows_the_written_rule():
    x = pol.loads('input c key id { id: int }\nexperiment t salt "s" { arm a 40%  arm b 50%  control 10% }'
                  ).program.experiments[0]
    for key in range(1, 500):
        h = mix64(fnv1a64(f"t:s:{key}".encode())) % 10000
        assert arm_of(x, key) == ("a" if h < 4000 else "b" if h < 9000 else "control")
    y = pol.loads("input c key id { id: int }\nexperiment t { arm a 40%  arm b 50%  control 10% }"
                  ).program.experiments[0]
    assert y.prefix == "t:" and x.prefix == "t:s:"
    assert arm_of(x, None) == "control"


# ---------------------------------------------------------------- every evaluator

def _table(keys, risk=True):
    return pa.table({"id": pa.array(keys, pa.int64()), "risk": pa.array([risk] * len(keys))})


def test_every_evaluator_agrees_with_the_reference(policy):
    keys = list(range(1, 3001)) + [0, -1, -(2 ** 63), 2 ** 63 - 1]
    ref = [policy.decide({"id": k, "risk": True}, as_of=AS_OF, engine="reference") for k in keys]
    for k, d in zip(keys, ref):
        a = arm_of(policy.program.experiments[0], k)
        assert d.arms["care_ab"] == a
        assert d.segments["in_b"] == (a == "b")
        assert d.scores["top_up"] == (5 if a == "b" else 1 if d.arms["price"] == "high" else 2)
        assert {o.offer for o in d.offers} == {"care_all"} | ({f"care_{a}"} if a != "control" else set())
    for engine in ("vector", "kernel"):
        r = policy.evaluate(_table(keys), as_of=AS_OF, engine=engine)
        c = r.customers
        for name in ("care_ab", "care_ab2", "price"):
            assert c.column(name).to_pylist() == [d.arms[name] for d in ref], (engine, name)
        assert c.column("top_up").to_pylist() == [d.scores["top_up"] for d in ref]
        got = {}
        for a in r.assignments.to_pylist():
            got.setdefault(a["id"], []).append((a["offer"], a["rank"], a["control"]))
        assert [got.get(k, []) for k in keys] == [[(o.offer, o.rank, o.control) for o in d.offers] for d in ref]
        assert r.summary["experiments"]["care_ab"] == {
            arm: sum(d.arms["care_ab"] == arm for d in ref) for arm in ("a", "b", "control")}
    row = [policy.decide({"id": k, "risk": True}, as_of=AS_OF, engine="kernel") for k in keys[:400]]
    assert row == ref[:400]


def test_the_arm_column_is_in_the_output_schema_after_the_scores(policy):
    r = policy.evaluate(_table([1, 2, 3]), as_of=AS_OF, engine="vector")
    names = r.customers.schema.names
    assert names == ["id", "in_b", "top_up", "care_ab", "care_ab2", "price", "offers"]
    f = r.customers.schema.field("care_ab")
    assert not f.nullable and f.type == pa.dictionary(pa.int16(), pa.string())


def test_arms_are_the_same_in_every_batch_split(policy):
    keys = list(range(1, 2001))
    whole = policy.evaluate(_table(keys), as_of=AS_OF, engine="vector").customers.column("care_ab").to_pylist()
    run = []
    stream = policy.stream(lambda c, a: run.extend(c.column("care_ab").to_pylist()), as_of=AS_OF, engine="vector")
    for lo in range(0, 2000, 333):
        stream.feed(_table(keys[lo:lo + 333]).to_batches()[0])
    stream.finish()
    assert run == whole


def test_a_string_keyed_policy_draws_by_the_key_as_text():
    p = pol.loads('input c key msisdn { msisdn: string  ok: bool }\nchannel sms\n'
                  'experiment t salt "s" { arm a 50%  control 50% }\n'
                  'offer o { eligible when ok  channels sms  arm t.a }')
    keys = ["13800138000", "13900139000", "中文", ""] + [f"1380000{k:04d}" for k in range(300)]
    x = p.program.experiments[0]
    want = [arm_of(x, k) for k in keys]
    for engine in ("vector", "kernel"):
        r = p.evaluate(pa.table({"msisdn": keys, "ok": [True] * len(keys)}), as_of=AS_OF, engine=engine)
        assert r.customers.column("t").to_pylist() == want
        assert r.customers.column("offers").to_pylist() == [["o"] if a == "a" else [] for a in want]
    assert [p.decide({"msisdn": k, "ok": True}, engine="kernel").arms["t"] for k in keys[:50]] == want[:50]


# ---------------------------------------------------------------- holdouts with a salt

def test_a_holdout_without_a_salt_hashes_as_before(policy):
    rules = Rules.of(policy.program)
    names = [o.name for o in policy.program.offers]
    assert rules.holdout_state[names.index("care_all")] == _prefix_state("care_all:")
    assert rules.holdout_state[names.index("care_b")] == _prefix_state("care_b:w1:")
    offer = policy.program.offers[names.index("care_all")]
    assert offer.holdout_salt is None
    for key in range(1, 300):
        assert is_control(offer, key) == (fnv1a64(f"care_all:{key}".encode()) % 10000 < 2000)


def test_a_holdout_salt_draws_another_control_group():
    text = "input c key id { id: int }\nchannel sms\noffer o { eligible when true  channels sms  holdout 50%SALT }"
    plain, salted = pol.loads(text.replace("SALT", "")), pol.loads(text.replace("SALT", ' salt "2026-12"'))
    keys = list(range(1, 20001))
    for engine in ("vector", "kernel"):
        a = plain.evaluate(_table(keys).drop(["risk"]), as_of=AS_OF, engine=engine).assignments
        b = salted.evaluate(_table(keys).drop(["risk"]), as_of=AS_OF, engine=engine).assignments
        ca, cb = (np.array(t.column("control").to_pylist()) for t in (a, b))
        assert ca.tolist() == [is_control("o", k, 5000) for k in keys]
        assert cb.tolist() == [is_control("o", k, 5000, "2026-12") for k in keys]
        # two halves drawn independently agree on about half the customers
        same = (ca == cb).sum()
        assert abs(same - 10000) < stats.norm.isf(P_BOUND / 2) * np.sqrt(20000 * 0.25)


# ---------------------------------------------------------------- the checker

INPUT = "input c key id { id: int  ok: bool }\nchannel sms\n"


def problems(body: str) -> list[tuple[str, int, int]]:
    out = check_text(INPUT + body, name="t.pol")
    return [(d.code, d.span.line, d.span.col) for d in out.diagnostics.errors]


@pytest.mark.parametrize("body, want", [
    ("experiment t { arm a 50%  arm b 45% }", [("E-EXP-001", 3, 12)]),
    ("experiment t { arm a 50%  arm b 45%  control 10% }", [("E-EXP-001", 3, 12)]),
    ("experiment t { arm a 150%  control 10% }", [("E-EXP-002", 3, 22)]),
    ("experiment t { arm a 33.333%  control 66.667% }", [("E-EXP-002", 3, 22), ("E-EXP-002", 3, 39)]),
    ("experiment t { arm a 50%  arm a 50% }", [("E-EXP-003", 3, 31)]),
    ("experiment t { arm control 50%  arm a 50% }", [("E-EXP-003", 3, 20)]),
    ("experiment t { arm a 80%  control 10%  control 10% }", [("E-EXP-003", 3, 40)]),
    ("experiment t { control 100% }", [("E-EXP-004", 3, 12)]),
    ("experiment t { }", [("E-EXP-004", 3, 12)]),
    ("experiment t { arm a 100% }\noffer o { eligible when ok  channels sms  arm t.b }", [("E-EXP-005", 4, 47)]),
    ("experiment t { arm a 100% }\noffer o { eligible when ok  channels sms  arm u.a }", [("E-EXP-005", 4, 47)]),
    ("experiment t { arm a 100% }\noffer o { eligible when ok  channels sms  arm ok.a }", [("E-EXP-005", 4, 47)]),
    ("experiment t { arm a 100% }\nparam p: int = 1 { t.a: 2, t.a: 3 }", [("E-EXP-006", 4, 28)]),
    ("experiment t { arm a 100% }\nparam p: int = 1 { t.a: \"x\" }", [("E-TYPE-009", 4, 25)]),
    ("experiment t { arm a 100% }\nparam p: int = 1 { t.z: 2 }", [("E-EXP-005", 4, 20)]),
    ("experiment t { arm a 100% }\nsegment s = t == 1", [("E-TYPE-002", 4, 15)]),
    ("experiment t { arm a 100% }\nlet t = 1", [("E-NAME-002", 4, 5)]),
    ("experiment t { arm a 100% }\noffer o { eligible when ok channels sms arm t.a arm t.a }", [("E-OFFER-003", 4, 49)]),
    ("experiment t { arm a 100% }\ntest \"x\" { given { id: 1 } expect arm t.b }", [("E-EXP-005", 4, 39)]),
    ("experiment t { arm a 100% }\ntest \"x\" { given { id: 1 } expect control u }", [("E-EXP-005", 4, 43)]),
])
def test_errors_have_codes_and_places(body, want):
    assert problems(body) == want


def test_messages_say_what_the_shares_add_up_to_and_name_the_arms():
    out = check_text(INPUT + "experiment t { arm a 50%  arm b 45% }\n"
                     "offer o { eligible when ok  channels sms  arm t.c }", name="t.pol")
    (total,) = [d for d in out.diagnostics.errors if d.code == "E-EXP-001"]
    assert "add up to 95%, not 100%" in total.message and "add 5% to the shares" in total.hint
    out = check_text(INPUT + "experiment t { arm a 50%  arm b 50% }\n"
                     "offer o { eligible when ok  channels sms  arm t.bb }", name="t.pol")
    (arm,) = out.diagnostics.errors
    assert arm.message == "experiment 't' has no arm 'bb'" and arm.hint == "its arms are a, b"
    out = check_text(INPUT + "experiment t { arm voucher 50%  arm data 50% }\n"
                     "offer o { eligible when ok  channels sms  arm t.vouchr }", name="t.pol")
    (arm,) = out.diagnostics.errors
    assert arm.hint == "did you mean 't.voucher'? its arms are voucher, data"


def test_lint_warns_about_an_arm_nothing_is_for_and_a_value_no_arm_has():
    out = check_text(INPUT + "experiment t { arm a 40%  arm b 40%  arm c 10%  control 10% }\n"
                     "param p: int = 1 { t.b: 2 }\n"
                     "segment s \"S\" = t == \"d\" or t == \"control\"\n"
                     "offer o { eligible when ok  channels sms  arm t.a  priority p }\n"
                     "test \"x\" { given { id: 1 } expect t == \"c\" }", name="t.pol")
    got = [(d.code, d.span.line, d.span.col, d.message) for d in out.diagnostics.warnings]
    assert got == [("W-EXP-001", 3, 12, "arm 'c' of experiment 't' changes nothing: no offer, param or "
                                        "condition is for it"),
                   ("W-EXP-002", 5, 22, "experiment 't' is never \"d\": it is one of its arms or \"control\"")]
    quiet = check_text(INPUT + "experiment t { arm a 50%  arm b 50% }", name="t.pol")
    assert quiet.diagnostics.warnings == []         # read by nothing: it only marks the groups


def test_an_offer_per_arm_is_the_arm_test_before_its_condition():
    p = compile_text(INPUT + "experiment t { arm a 60%  control 40% }\n"
                     "offer o { eligible when ok  channels sms  arm t.a }", name="t.pol")
    (o,) = p.offers
    assert o.arm == ("t", "a")
    assert o.eligible.op == "and" and o.eligible.args[0].args[0].name == "t"


# ---------------------------------------------------------------- tests, layout, explain

def test_expect_arm_and_expect_control(policy):
    p = compile_text(POLICY + """
test "in a" { given { id: 1, risk: true } expect arm care_ab.a  expect offer care_a }
test "a control" { given { id: 15, risk: true } expect control care_ab  expect not offer care_a }
test "wrong on purpose" { given { id: 1, risk: true } expect arm care_ab.b  expect control care_ab }
""", name="p.pol")
    x = p.experiments[0]
    assert (arm_of(x, 1), arm_of(x, 15)) == ("a", "control")
    ok_a, ok_ctl, wrong = run_tests(p, AS_OF)
    assert ok_a.passed and ok_ctl.passed and not wrong.passed
    assert [f.expectation for f in wrong.failures] == ["expect arm care_ab.b", "expect control care_ab"]
    assert 'care_ab = "a"' in wrong.failures[0].seen


def test_coverage_counts_the_arms_tests_reach():
    from pol.testing.coverage import Coverage
    p = compile_text(POLICY + """
test "in a" { given { id: 1, risk: true } expect arm care_ab.a }
test "a control" { given { id: 15, risk: true } expect control care_ab }
""", name="p.pol")
    cov = Coverage()
    run_tests(p, AS_OF, observe=cov.observe)
    arms = {(part.name, part.case): part.hit for part in cov.parts.values() if part.kind == "arm"}
    assert arms[("care_ab", "arm a")] and arms[("care_ab", "the control group")]
    assert not arms[("care_ab", "arm b")]
    assert ("price", "the control group") not in arms          # 0%: nobody to test
    assert "experiment care_ab: no test's customer is in arm b" in cov.report()


def test_fmt_keeps_experiments_and_their_comments():
    text = ('input c key id { id: int  ok: bool }\nchannel sms\n'
            'experiment   t "试验"  salt "s" {   arm a 45%   # the first\n arm b 45%\n  control 10%  }\n'
            'param p: int = 1 {t.a: 2}\n'
            'offer o { eligible when ok  channels sms  arm t.a  holdout 5%   salt "x" }\n'
            'test "x" { given { id: 1 } expect  arm t.a\n expect control   t }\n')
    out = fmt.format_text(text, "t.pol").text
    assert ('experiment t "试验" salt "s" {\n    arm a 45%  # the first\n    arm b 45%\n    control 10%\n}'
            in out)
    assert "param p: int = 1 { t.a: 2 }" in out and '    arm t.a\n    holdout 5% salt "x"\n' in out
    assert "    expect arm t.a\n    expect control t\n" in out
    assert fmt.format_text(out, "t.pol").text == out
    assert compile_text(out, name="t.pol") == compile_text(text, name="t.pol")


def test_explain_says_which_arm_and_why(policy):
    e = policy.explain({"id": 15, "risk": True}, as_of=AS_OF)
    text = str(e)
    h = mix64(fnv1a64(b"care_ab:2026-11:15")) % 10000
    assert 9000 <= h
    assert f'  care_ab (关怀A/B): control (mix64(fnv1a64("care_ab:2026-11:15")) mod 10000 = {h}, in 9000 to 9999)' in text
    assert "care_a: not given: not eligible" in text and 'care_ab = "control"' in text
    d = e.to_dict()
    assert d["experiments"][0]["arm"] == "control" and d["decision"]["arms"]["care_ab"] == "control"


def test_pol_serve_batches_carry_the_arms_as_single_decisions_do(policy):
    from types import SimpleNamespace

    from pol.serve.tables import decisions_of, table_of, table_of_result
    entry = SimpleNamespace(policy=policy)
    keys = list(range(1, 41))
    result = policy.evaluate(_table(keys), as_of=AS_OF, engine="vector")
    batch = decisions_of(entry, result)
    assert [d["arms"] for d in batch] == [policy.decide({"id": k, "risk": True}, as_of=AS_OF).arms for k in keys]
    again = table_of(entry, batch, pa.int64())
    assert again.column("care_ab").to_pylist() == table_of_result(result).column("care_ab").to_pylist()
