"""Budgets whose costs are computed per customer (`budget B cost EXPR`,
LANGUAGE.md 3.11): the rounding rule in its two forms, the compiled walks
(vectorized, fused kernel, the optimal allocation) against the plain Python
matcher and however the input is split, `decide` with a ledger on both
decide engines, explain, pol serve's SQLite ledger, and the checker's
errors. The conformance cases are in tests/conformance/cases/budget_costs.json."""
from __future__ import annotations

import datetime as dt
import math
import re
from fractions import Fraction

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from serving import served_decider

import pol
from pol.compiler.costs import Units, cost_units, cost_units_array, units_of
from pol.compiler.frontend import check_text
from tests.test_matching_compiled import SETTINGS, catalogues, check

AS_OF = dt.date(2026, 11, 1)


# ---------------------------------------------------------------- the rounding rule

def units(budget: int = 10**12, step: int = 1) -> Units:
    return Units(10_000 * step, budget, {}, step)


@pytest.mark.parametrize("value, want", [
    (2.00015, 20002),           # 20001.5: half to even
    (0.00025, 2),               # 2.5 -> 2
    (0.00015, 1),               # the float times 10,000 is 1.4999999999999998
    (1.00005, 10001),           # 10000.500000000002: above the half
    (0.00005, 0), (0.0, 0), (-0.0, 0), (12.5, 125_000),
    (None, 10**12 + 1), (math.nan, 10**12 + 1), (-1e-9, 10**12 + 1), (-3.0, 10**12 + 1),
    (math.inf, 10**12 + 1), (1e300, 10**12 + 1), (1e8, 10**12), (1e8 + 0.001, 10**12 + 1),
])
def test_a_cost_counts_in_ten_thousandths_half_to_even(value, want):
    u = units()
    assert cost_units(value, u) == want
    assert cost_units_array(np.array([math.nan if value is None else value]), u).tolist() == [want]


def test_the_steps_of_a_budget_with_more_decimals():
    # A budget of 0.00005 (1/20000) counts in twenty-thousandths: a cost's step is 2 of them.
    program = pol.loads("input t key id { id: int  x: float? }\nchannel sms\n"
                        "offer a { eligible when true  channels sms }\n"
                        "arbitrate { budget 0.00005 cost x }\n", name="c.pol").program
    u = units_of(program.arbitrate)
    assert (u.unit, u.budget, u.step) == (20_000, 1, 2)
    assert [cost_units(v, u) for v in (0.00004, 0.00005, 0.00006, None)] == [0, 0, 2, 2]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                          st.integers(-10**6, 10**6).map(lambda k: k / 20_000),      # ties of ten-thousandths
                          st.floats(-1e3, 1e3)), max_size=40),
       st.integers(0, 2**40), st.sampled_from([1, 10, 1000]))
def test_one_rule_for_one_cost_and_for_a_batch(values, budget, step):
    u = units(budget, step)
    assert cost_units_array(np.array(values, np.float64), u).tolist() == [cost_units(v, u) for v in values]


# ---------------------------------------------------------------- the walks against the oracle

WEIGHTS = [None, 0.0, -0.0, 0.1, 0.2, 0.00005, 0.00015, 0.00025, 1.0, 2.5, -0.5, math.nan]


@st.composite
def costed(draw, optimal: bool = False):
    """A catalogue of test_matching_compiled with its budget's cost computed
    per customer from a field `w` (nulls, NaN, negatives, ties of ten-thousandths)."""
    text, records = draw(catalogues(with_capacity=True, constraints=True, optimal=optimal))
    text = re.sub(r" budget \S+ cost offer\.cost", "", text)
    costs = ["w", "w * 0.1", "offer.cost * w", "offer.cost + w"] if "cost:" in text else ["w", "w * 0.1"]
    budget = draw(st.sampled_from(["0", "0.0003", "0.3", "1", "2.5", "4"]))
    text = text.replace("arbitrate { ", f"arbitrate {{ budget {budget} cost {draw(st.sampled_from(costs))} ", 1)
    text = text.replace("ch: string?", "ch: string? w: float?", 1)
    for r in records:
        r["w"] = draw(st.sampled_from(WEIGHTS))
    return text, records


@settings(max_examples=120, **SETTINGS)
@given(costed())
def test_a_computed_budget_walks_as_the_plain_matcher_does(case):
    check(*case, engine="vector")


@settings(max_examples=60, **SETTINGS)
@given(costed(optimal=True))
def test_the_optimal_allocation_with_computed_costs_agrees_with_its_oracle(case):
    check(*case, engine="vector")


KERNEL_POLICY = """input t key id { id: int  p: float?  q: float?  w: float?  reach: bool? }
channel call when reach
channel sms
offer a { eligible when p > 0  channels call, sms  priority p  attributes { rate: 0.1 } }
offer b { eligible when q > 0  channels sms  priority q  category x  attributes { rate: 0.35 } }
offer c { eligible when true  channels sms  priority 0.5 }
arbitrate { max 2 per customer  capacity call 3  quota x 4  budget 2.5 cost offer.rate * w }
"""


@settings(max_examples=25, **SETTINGS)
@given(st.lists(st.fixed_dictionaries({
    "p": st.one_of(st.none(), st.sampled_from([1.0, 2.0, 2.0, 3.0])),
    "q": st.one_of(st.none(), st.sampled_from([1.0, 2.0, 4.0])),
    "w": st.sampled_from(WEIGHTS + [5.0, 7.0, 0.0005, 0.0015]),
    "reach": st.one_of(st.none(), st.booleans())}), max_size=40))
def test_the_fused_kernel_walks_computed_costs_as_the_plain_matcher_does(rows):
    check(KERNEL_POLICY, [{"id": i, **r} for i, r in enumerate(rows)], engine="kernel")


@pytest.mark.parametrize("fused", [True, False])
def test_a_split_kernel_reads_the_same_costs(fused):
    """A kernel in stages (compiler/backend/split.py) computes the hidden
    cost scores as the single kernel does, handing customers over (fused)
    or writing every candidate out."""
    from pol.evaluation.executor import KernelExecutor
    rng = np.random.default_rng(3)
    n = 300
    table = pa.table({"id": np.arange(n), "p": rng.choice([1.0, 2.0, 3.0, np.nan], n),
                      "q": rng.choice([1.0, 4.0, np.nan], n), "w": rng.choice([0.5, 1.0, 3.0, -1.0, np.nan], n),
                      "reach": rng.choice([True, False], n)})
    table = table.set_column(1, "p", pa.array(table.column("p").to_numpy(), from_pandas=True))
    want = pol.loads(KERNEL_POLICY, name="k.pol").evaluate(table, as_of=AS_OF, engine="vector")
    policy = pol.loads(KERNEL_POLICY, name="k.pol")
    policy._kernel = KernelExecutor(policy.lowered.program, policy.plan, split_at=5, fused=fused)
    assert policy._kernel.handoff == fused
    got = policy.evaluate(table, as_of=AS_OF, engine="kernel")
    assert got.assignments.equals(want.assignments) and got.customers.equals(want.customers)
    assert got.summary["offers"] == want.summary["offers"] and want.summary["offers"]["a"]["lost_to_budget"] > 0


# ---------------------------------------------------------------- single decisions

REBATE = """policy rebate
input customer key id { id: int  arpu: float  bill: float? }
channel sms "短信"
offer rebate "话费返还" { eligible when arpu >= 50  channels sms  priority arpu  attributes { rate: 0.1 } }
offer bonus "流量红包" { eligible when true  channels sms  priority 1 }
arbitrate { budget 3 cost offer.rate * bill }
"""

BILLS = [10.0, None, 15.0, -4.0, 6.0, 0.0, 5.0, 0.004, 0.0005]


@pytest.mark.parametrize("engine", ["reference", "kernel"])
def test_decide_with_a_ledger_takes_each_customers_own_cost(engine):
    policy = pol.loads(REBATE, name="rebate.pol")
    ledger = pol.Ledger()
    given = [policy.decide({"id": k, "arpu": 100.0, "bill": b}, as_of=AS_OF, engine=engine, ledger=ledger).offer_names
             for k, b in enumerate(BILLS)]
    # 1 + 1.5 + 0.5 = 3 (the 0.6 would pass it after 2.5, the 0.0004 after 3);
    # a null or negative cost is refused; a cost of 0 (0.00005 rounds to 0,
    # half to even) fits a budget used up
    assert given == [["rebate"], ["bonus"], ["rebate"], ["bonus"], ["bonus"], ["rebate"], ["rebate"], ["bonus"],
                     ["rebate"]]
    assert ledger.used(policy)["budget"] == Fraction(3)
    # The same decisions in one run: the customers in the order decided, one priority.
    table = pa.table({"id": list(range(len(BILLS))), "arpu": [100.0] * len(BILLS), "bill": BILLS})
    run = policy.evaluate(table, as_of=AS_OF, engine="vector" if engine == "reference" else "kernel")
    assert run.customers.column("offers").to_pylist() == given


def test_explain_says_what_the_offer_costs_this_customer():
    policy = pol.loads(REBATE, name="rebate.pol")
    ledger = pol.Ledger()
    policy.decide({"id": 1, "arpu": 100.0, "bill": 29.0}, as_of=AS_OF, ledger=ledger)
    text = str(policy.explain({"id": 2, "arpu": 100.0, "bill": 1.23456}, as_of=AS_OF, ledger=ledger))
    assert "lost under the budget; it costs 0.1235 for this customer" in text
    text = str(policy.explain({"id": 3, "arpu": 100.0, "bill": 1.0}, as_of=AS_OF, ledger=ledger))
    assert "rebate (话费返还): given, rank 1, via sms (短信), priority 100.0; it costs 0.1 for this customer" in text
    text = str(policy.explain({"id": 4, "arpu": 100.0}, as_of=AS_OF, ledger=ledger))
    assert "lost under the budget; its cost for this customer is null (0.1 * bill)" in text
    text = str(policy.explain({"id": 5, "arpu": 100.0, "bill": -1.0}, as_of=AS_OF, ledger=ledger))
    assert "its cost for this customer is -0.1, below 0" in text
    assert ledger.used(policy)["budget"] == Fraction(29, 10)      # explain takes nothing


def test_the_served_ledger_draws_each_customers_own_cost(tmp_path):
    """pol serve's SQLite ledger: the budget drawn per decision from the
    customer's cost gives what pol.Ledger gives."""
    from pol.serve.requests import Ask
    decider, entry = served_decider(tmp_path, REBATE.replace("policy rebate", "policy shop"))
    assert entry.drawn
    ask = Ask([], AS_OF, None, None, None, False, "error")
    records = [{"id": k, "arpu": 100.0, "bill": b} for k, b in enumerate(BILLS)]
    served = [decider.decide_one(entry, r, ask).offer_names for r in records]
    memory = pol.Ledger()
    policy = pol.loads(REBATE, name="shop.pol")
    assert served == [policy.decide(r, as_of=AS_OF, ledger=memory).offer_names for r in records]
    usage = {row["offer"]: row["used"] for row in decider.ledger.usage()}
    assert usage == {"budget": 30_000}          # 3 in ten-thousandths


def test_pol_run_and_pol_check_with_a_computed_budget(tmp_path):
    """Through the CLI as a user runs it: the budget reached exactly (3 in
    ten-thousandths), whatever the row groups, and a budget override."""
    import json

    import clirun
    import pyarrow.parquet as pq
    (tmp_path / "rebate.pol").write_text(REBATE.replace("budget 3 ", "budget spend ").replace(
        "channel sms", "param spend: float = 3\nchannel sms"), encoding="utf-8")
    assert clirun.pol("check", tmp_path / "rebate.pol").returncode == 0
    table = pa.table({"id": list(range(len(BILLS))), "arpu": [100.0] * len(BILLS), "bill": BILLS})
    seen = []
    for group, spend in ((1, None), (4, None), (4, "2.5")):
        data = tmp_path / f"in{group}.parquet"
        pq.write_table(table, data, row_group_size=group)
        out = tmp_path / f"out{group}{spend}"
        proc = clirun.pol("run", tmp_path / "rebate.pol", "--input", data, "--out", out, "--as-of", "2026-11-01",
                          *(["--param", f"spend={spend}"] if spend else []))
        assert proc.returncode == 0, proc.stderr
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        given = [a["offer"] for f in out.glob("assign*.parquet") for a in pq.read_table(f).to_pylist()]
        seen.append((given.count("rebate"), summary["offers"]["rebate"]["lost_to_budget"]))
    # 3: 1 + 1.5 + 0 + 0.5 + 0 (four rebates and a free one); 2.5: 1 + 1.5 + 0 + 0
    assert seen == [(5, 4), (5, 4), (4, 5)]


# ---------------------------------------------------------------- the checker

HEAD = "input t key id { id: int  x: float  s: string }\nchannel sms\n"


@pytest.mark.parametrize("arbitrate, code, col, words", [
    ("budget 10 cost s", "E-ARB-005", 28, "the budget's cost must be a number, found a string"),
    ("budget 10 cost offer.rat * x", "E-ARB-005", 28, "no offer has attribute 'rat'"),
    ("budget 10 cost offer.rate * offer.size", "E-ARB-005", 28, "no offer gives every attribute the cost reads"),
    ("budget 10 cost y * 2", "E-NAME-001", 28, "unknown name 'y'"),
    ("budget 1e15 cost x", "E-TYPE-011", 20, "the budget needs more digits"),
])
def test_a_cost_that_is_not_a_number_is_an_error_at_its_place(arbitrate, code, col, words):
    text = (HEAD + "offer a { eligible when true  channels sms  attributes { rate: 0.1 } }\n"
            "offer b { eligible when true  channels sms  attributes { size: 2 } }\n"
            f"arbitrate {{ {arbitrate} }}\n")
    with pytest.raises(pol.PolicyError) as e:
        pol.loads(text, name="c.pol")
    d = e.value.diagnostics[0]
    assert (d.code, d.span.line, d.span.col) == (code, 5, col) and words in d.message and d.hint


def test_the_costs_are_hidden_scores_of_the_offers_that_give_the_attributes():
    text = (HEAD + "let share = x / 2\n"
            "offer a { eligible when true  channels sms  attributes { rate: 0.1 } }\n"
            "offer b { eligible when true  channels sms }\n"
            "arbitrate { budget 10 cost offer.rate * share }\n")
    policy = pol.loads(text, name="c.pol")
    assert policy.program.arbitrate.cost_scores == (("a", "cost:a"),)
    assert [s.name for s in policy.program.shown_scores] == []
    result = policy.evaluate(pa.table({"id": [1], "x": [4.0], "s": ["z"]}), as_of=AS_OF)
    assert result.customers.column_names == ["id", "offers"]      # in no output
    # the cost reads `share`: no warning that nothing reads it
    lint = check_text(text.replace("let share", "let unused = 1\nlet share"), "c.pol").diagnostics.warnings
    assert [w.message for w in lint if w.code == "W-UNUSED-002"] == ["let 'unused' is never read"]
