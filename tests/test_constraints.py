"""The arbitrate block's run-wide constraints (LANGUAGE.md 3.11, 6.4):
channel capacities, quotas and a budget. Their checks and diagnostics,
their edges (capacity 0, a budget reached exactly, ties) in every
evaluator against the plain matcher, results independent of batching (in
Python and through `pol run`), and `pol.Ledger` for single decisions:
sequences of decisions against the oracle walked with the same limits,
threads racing for the last unit, and `explain` naming the constraint."""
from __future__ import annotations

import datetime as dt
import threading
from fractions import Fraction
from pathlib import Path

import clirun
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pol
from pol.dsl.fmt import format_text
from pol.dsl.parser import parse
from pol.dsl.printer import print_file
from pol.dsl.source import Source
from pol.reference.interp import evaluate_row
from pol.reference.matching import Limits, match_all, match_customer
from tests.test_matching_compiled import catalogues, table_of

AS_OF = dt.date(2026, 11, 1)

HEAD = "input t key id { id: int  p: float  reach: bool }\nchannel call when reach\nchannel sms\n"


def codes(text: str) -> list[tuple[str, int, int]]:
    with pytest.raises(pol.PolicyError) as e:
        pol.loads(text, name="c.pol")
    return [(d.code, d.span.line, d.span.col) for d in e.value.diagnostics]


# ---------------------------------------------------------------- checking

@pytest.mark.parametrize("rules, want", [
    ("capacity cal 3", [("E-NAME-005", 6, 22)]),
    ("capacity call 3  capacity call 4", [("E-ARB-002", 6, 30)]),
    ("quota traffic 1  quota traffic 2", [("E-ARB-002", 6, 30)]),
    ("quota trafic 1", [("E-ARB-004", 6, 19)]),
    ("budget 10 cost offer.cost  budget 20 cost offer.cost", [("E-ARB-002", 6, 40)]),
    ("budget 10 cost offer.code", [("E-ARB-005", 6, 28)]),
    ("budget 10 cost offer.price", [("E-ARB-005", 6, 28)]),
    # A cost other than `offer.NAME` is an expression computed per customer (LANGUAGE.md 3.11).
    ("budget 10 cost plan.cost", [("E-NAME-001", 6, 28)]),
    ("budget 10 cost cost", [("E-NAME-001", 6, 28)]),
    ("budget 10 cost reach", [("E-ARB-005", 6, 28)]),
    ("budget 10 cost offer.code * p", [("E-TYPE-001", 6, 39)]),
    ("budget 10 cost offer.prize * p", [("E-ARB-005", 6, 28)]),
    ("budget 10 cost p * 0.1  budget 20 cost p", [("E-ARB-002", 6, 37)]),
    ("capacity call 9223372036854775808", [("E-TYPE-011", 6, 27)]),
])
def test_constraint_errors_have_codes_and_places(rules, want):
    text = (HEAD + 'offer a { eligible when true  channels call  category traffic  attributes { cost: 2.5, '
            'code: "A" } }\noffer b { eligible when true  channels sms }\n' + f"arbitrate {{ {rules} }}\n")
    assert codes(text) == want


def test_a_negative_cost_is_refused_at_the_offer():
    text = (HEAD + "offer a { eligible when true  channels call  attributes { cost: -1 } }\n"
            "arbitrate { budget 10 cost offer.cost }\n")
    assert codes(text) == [("E-ARB-005", 4, 7)]          # at the offer's name


def test_hints_suggest_the_name_meant():
    text = HEAD + "offer a { eligible when true  channels call  category traffic }\narbitrate { quota trafic 1 }\n"
    with pytest.raises(pol.PolicyError) as e:
        pol.loads(text, name="c.pol")
    assert "did you mean 'traffic'?" in str(e.value)


def test_constraints_print_and_format_back_to_themselves():
    text = (HEAD + "offer a { eligible when true  channels call  category x  attributes { cost: 0.1 } }\n"
            "arbitrate { capacity call 1_000 quota x 5   budget 12.5 cost offer.cost }\n")
    tree, problems = parse(Source("c.pol", text))
    assert not problems
    printed = print_file(tree)
    assert "    capacity call 1_000\n    quota x 5\n    budget 12.5 cost offer.cost\n" in printed
    again, _ = parse(Source("c.pol", printed))
    assert print_file(again) == printed
    formatted = format_text(text).text
    assert formatted is not None and "    budget 12.5 cost offer.cost\n" in formatted
    assert format_text(formatted).text == formatted


def test_amounts_are_exact_fractions():
    text = (HEAD + "offer a { eligible when true  channels call  attributes { cost: 0.1 } }\n"
            "offer b { eligible when true  channels sms  attributes { cost: 0.2 } }\n"
            "arbitrate { budget 0.3 cost offer.cost }\n")
    a = pol.loads(text, name="c.pol").program.arbitrate
    assert a.budget == Fraction(3, 10) and dict(a.cost) == {"a": Fraction(1, 10), "b": Fraction(2, 10)}


# ---------------------------------------------------------------- runs

def run_all(text: str, records: list[dict]):
    """Every evaluator's run, and the oracle's: (assignments, funnel) each."""
    policy = pol.loads(text, name="c.pol")
    rows = [evaluate_row(policy.program, r, AS_OF, trace=False) for r in records]
    oracle = match_all(policy.program, rows)
    want = ([a[:4] for a in oracle.assignments([r["id"] for r in records])], oracle.funnel)
    table = table_of(policy, records)
    got = {}
    for engine in ("vector", "kernel"):
        for size in (1, 2, len(records)):
            r = policy.evaluate(table.to_batches(max_chunksize=size), as_of=AS_OF, engine=engine)
            got[engine, size] = ([tuple(a.values())[:4] for a in r.assignments.to_pylist()],
                                 {o: {f: v for f, v in c.items() if f in want[1][o]}
                                  for o, c in r.summary["offers"].items()})
    return want, got


def agree(text: str, records: list[dict]):
    want, got = run_all(text, records)
    for k, v in got.items():
        assert v == want, k
    return want


def test_a_budget_reached_exactly_is_within_it():
    # 0.1 + 0.2 > 0.3 in binary floats: the third pair fits only in exact arithmetic.
    text = (HEAD + "offer a { eligible when true  channels sms  priority p  attributes { cost: 0.1 } }\n"
            "offer b { eligible when true  channels sms  priority p  attributes { cost: 0.2 } }\n"
            "arbitrate { max 2 per customer  budget 0.4 cost offer.cost }\n")
    records = [{"id": 1, "p": 3.0, "reach": True}, {"id": 2, "p": 2.0, "reach": True},
               {"id": 3, "p": 1.0, "reach": True}]
    (assignments, funnel) = agree(text, records)
    # 1: a (0.1), b (0.3 in all): the rest would pass 0.4 except 0.1 more: 2 gets a (0.4), exactly.
    assert assignments == [(1, "a", 1, "sms"), (1, "b", 2, "sms"), (2, "a", 1, "sms")]
    assert (funnel["a"]["lost_to_budget"], funnel["b"]["lost_to_budget"]) == (1, 2)


def test_a_budget_of_exactly_the_costs_given_gives_them_all():
    text = (HEAD + "offer a { eligible when true  channels sms  priority p  attributes { cost: 0.1 } }\n"
            "arbitrate { budget 0.3 cost offer.cost }\n")
    records = [{"id": i, "p": 1.0, "reach": True} for i in range(4)]
    assignments, funnel = agree(text, records)
    assert [a[0] for a in assignments] == [0, 1, 2]
    assert funnel["a"]["lost_to_budget"] == 1


def test_offers_without_the_cost_attribute_are_free():
    text = (HEAD + "offer a { eligible when true  channels sms  priority 2  attributes { cost: 5 } }\n"
            "offer b { eligible when true  channels sms  priority 1 }\n"
            "arbitrate { max 2 per customer  budget 0 cost offer.cost }\n")
    assignments, funnel = agree(text, [{"id": i, "p": 1.0, "reach": True} for i in range(3)])
    assert [a[1] for a in assignments] == ["b", "b", "b"] and funnel["a"]["lost_to_budget"] == 3


def test_capacity_zero_closes_a_channel_and_quota_zero_a_category():
    text = (HEAD + "offer a { eligible when true  channels call, sms  priority 3  category x }\n"
            "offer b { eligible when true  channels sms  priority 2  category y }\n"
            "offer c { eligible when true  channels sms  priority 1 }\n"
            "arbitrate { capacity call 0  quota y 0 }\n")
    records = [{"id": 1, "p": 0.0, "reach": True}, {"id": 2, "p": 0.0, "reach": False}]
    assignments, funnel = agree(text, records)
    # 1's channel for a is call (open): lost, not moved to sms; 2's is sms.
    assert assignments == [(1, "c", 1, "sms"), (2, "a", 1, "sms")]
    assert funnel["a"]["lost_to_channel_capacity"] == 1 and funnel["b"]["lost_to_quota"] == 1


def test_ties_go_by_declaration_then_input_order():
    text = (HEAD + "offer a { eligible when true  channels call  priority p }\n"
            "offer b { eligible when true  channels call  priority p }\n"
            "arbitrate { max 2 per customer  capacity call 2 }\n")
    records = [{"id": i, "p": 1.0, "reach": True} for i in (5, 3, 4)]
    assignments, funnel = agree(text, records)
    # 5 takes a (first customer, first offer), then 3 takes a; b goes to 5,
    # who already is called (no unit used); 4 loses both.
    assert assignments == [(5, "a", 1, "call"), (5, "b", 2, "call"), (3, "a", 1, "call"), (3, "b", 2, "call")]
    assert funnel["a"]["lost_to_channel_capacity"] == 1 and funnel["b"]["lost_to_channel_capacity"] == 1


def test_pol_run_gives_the_same_files_whatever_the_row_groups(tmp_path: Path):
    text = (HEAD + "offer a { eligible when true  channels call, sms  priority p  category x  "
            "attributes { cost: 0.7 } }\noffer b { eligible when p > 2  channels sms  priority 1  category y }\n"
            "arbitrate { max 2 per customer  capacity call 7  quota y 5  budget 9.1 cost offer.cost }\n")
    (tmp_path / "c.pol").write_text(text)
    n = 60
    table = pa.table({"id": list(range(n)), "p": [float(i % 7) for i in range(n)],
                      "reach": [i % 3 != 0 for i in range(n)]})
    outs = []
    for group in (1, 7, n):
        data = tmp_path / f"in{group}.parquet"
        pq.write_table(table, data, row_group_size=group)
        out = tmp_path / f"out{group}"
        proc = clirun.pol("run", tmp_path / "c.pol", "--input", data, "--out", out, "--as-of", "2026-11-01")
        assert proc.returncode == 0, proc.stderr
        outs.append({p.name: pq.read_table(p).to_pylist() for p in sorted(out.glob("*.parquet"))})
    assert outs[0] and outs[0] == outs[1] == outs[2]
    given = [a for t, rows in outs[0].items() if "assign" in t for a in rows]
    assert sum(a["offer"] == "a" for a in given) == 13          # 9.1 / 0.7, exactly
    assert sum(a["channel"] == "call" for a in given) <= 7


# ---------------------------------------------------------------- the ledger

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@settings(max_examples=60, **SETTINGS)
@given(catalogues(with_capacity=True, constraints=True), st.sampled_from(["reference", "kernel"]))
def test_decisions_with_a_ledger_are_the_oracle_walked_in_turn(case, engine):
    """Each decision with a ledger is match_customer with what is left after
    the decisions before it (one Limits carried along)."""
    text, records = case
    policy = pol.loads(text, name="catalogue.pol")
    ledger = pol.Ledger()
    left = Limits(policy.program)
    for r in records:
        row = evaluate_row(policy.program, r, AS_OF, trace=False)
        want = [(a.offer, a.rank, a.channel, a.control) for a in match_customer(policy.program, row,
                                                                                limits=left).accepted]
        got = policy.decide(r, as_of=AS_OF, engine=engine, ledger=ledger)
        assert [(a.offer, a.rank, a.channel, a.control) for a in got.offers] == want, r


def test_threads_never_take_more_than_is_left():
    text = (HEAD + "offer a { eligible when true  channels call  priority 2  attributes { cost: 0.5 } }\n"
            "offer b { eligible when true  channels sms  priority 1 }\n"
            "arbitrate { capacity call 37  budget 15 cost offer.cost }\n")
    policy = pol.loads(text, name="c.pol")
    ledger = pol.Ledger()
    got: list = []

    def work(base: int) -> None:
        for i in range(50):
            got.append(policy.decide({"id": base + i, "p": 1.0, "reach": True}, as_of=AS_OF, engine="reference",
                                     ledger=ledger).offer_names)

    threads = [threading.Thread(target=work, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(o == ["a"] for o in got) == 30                  # 15 / 0.5: the budget before the 37 calls
    assert sum(o == ["b"] for o in got) == 170
    assert ledger.used(policy) == {"offers": {"a": 30, "b": 170}, "quotas": {}, "channels": {"call": 30, "sms": 170},
                                   "budget": Fraction(15)}


def test_explain_with_a_ledger_names_the_constraint_and_changes_nothing():
    text = (HEAD + "offer a { eligible when true  channels call  priority 3  capacity 1 }\n"
            "offer b { eligible when true  channels call  priority 2  category x }\n"
            "offer c { eligible when true  channels sms  priority 1  attributes { cost: 1 } }\n"
            "arbitrate { quota x 1  budget 0.5 cost offer.cost  capacity sms 5 }\n")
    policy = pol.loads(text, name="c.pol")
    ledger = pol.Ledger()
    first = policy.decide({"id": 1, "p": 0.0, "reach": True}, as_of=AS_OF, ledger=ledger)
    assert first.offer_names == ["a"]
    second = policy.decide({"id": 2, "p": 0.0, "reach": True}, as_of=AS_OF, ledger=ledger)
    assert second.offer_names == ["b"]
    why = policy.explain({"id": 3, "p": 0.0, "reach": True}, as_of=AS_OF, ledger=ledger)
    assert [(o.name, o.reason) for o in why.offers] == [("a", "capacity"), ("b", "quota"), ("c", "budget")]
    assert "lost under the quota of x" in str(why) and "lost under the budget" in str(why)
    assert ledger.used(policy)["offers"] == {"a": 1, "b": 1}
    assert policy.decide({"id": 3, "p": 0.0, "reach": True}, as_of=AS_OF, ledger=ledger).offer_names == []
    ledger.reset()
    assert policy.decide({"id": 3, "p": 0.0, "reach": True}, as_of=AS_OF, ledger=ledger).offer_names == ["a"]
