"""`channels by NAME then CH, ...` (LANGUAGE.md 3.10, 6.1): the channel the
customer's string names first, when listed and open, else the list's order.
Parsing, printing and `pol fmt`; E-OFFER-009; every evaluator against the
reference on generated customers (plain and dictionary-encoded strings,
batches, the split kernel, `decide`); `explain`, `pol test` and its
coverage, `pol gen`, `pol run`."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import clirun
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pol
from pol.compiler.backend import split
from pol.compiler.frontend import check_text
from pol.dsl.fmt import format_text
from pol.dsl.parser import parse
from pol.dsl.printer import print_file
from pol.dsl.source import Source
from pol.reference.interp import evaluate_row
from pol.reference.matching import match_all
from pol.testing.policytest import run_tests
from tests.test_split import split_kernel

AS_OF = dt.date(2026, 11, 1)

POLICY = """input t key id { id: int  pref: string?  p: float  reach: bool  uses_app: bool }
channel call when reach
channel sms
channel app when uses_app
let shout = upper(pref)
offer a { eligible when p > 10  channels by pref then call, sms, app  priority p }
offer b { eligible when true  channels by shout then app, sms  priority 1 }
offer c { eligible when p < 90  channels call, app  priority 50 - p }
arbitrate { max 2 per customer }
"""
SCHEMA = pa.schema([("id", pa.int64()), ("pref", pa.string()), ("p", pa.float64()), ("reach", pa.bool_()),
                    ("uses_app", pa.bool_())])
PREFS = ["call", "sms", "app", "APP", "Sms", "fax", "", None]


def codes(text: str) -> list[tuple[str, int, int]]:
    with pytest.raises(pol.PolicyError) as e:
        pol.loads(text, name="c.pol")
    return [(d.code, d.span.line, d.span.col) for d in e.value.diagnostics]


# ---------------------------------------------------------------- syntax and checks

def test_it_prints_and_formats_back_to_itself():
    tree, problems = parse(Source("c.pol", POLICY))
    assert not problems
    printed = print_file(tree)
    assert "    channels by pref then call, sms, app\n" in printed
    assert parse(Source("c.pol", printed))[0] == tree
    formatted = format_text(POLICY.replace("channels by pref then call, sms, app", "channels  by  pref then call,sms,app"))
    assert formatted.text is not None and "    channels by pref then call, sms, app\n" in formatted.text
    assert format_text(formatted.text).text == formatted.text


@pytest.mark.parametrize("prop, want", [
    ("channels by prefs then sms", [("E-OFFER-009", 4, 43)]),          # not declared
    ("channels by n then sms", [("E-OFFER-009", 4, 43)]),              # an int
    ("channels by tags then sms", [("E-OFFER-009", 4, 43)]),           # a list of strings
    ("channels by pref then sms, sms", [("E-OFFER-005", 4, 58)]),
    ("channels by pref then sms, fax", [("E-NAME-005", 4, 58)]),
    ("channels by pref then sms  channels sms", [("E-OFFER-003", 4, 58)]),
])
def test_errors_have_codes_and_places(prop, want):
    text = ("input t key id { id: int  pref: string?  n: int  tags: list<string> }\nchannel sms\nlet x = 1\n"
            f"offer o {{ eligible when true  {prop} }}\n")
    assert codes(text) == want


def test_an_undeclared_name_suggests_the_one_meant():
    with pytest.raises(pol.PolicyError) as e:
        pol.loads("input t key id { id: int  preferred: string? }\nchannel sms\n"
                  "offer o { eligible when true  channels by prefered then sms }\n", name="c.pol")
    (d,) = e.value.diagnostics
    assert d.code == "E-OFFER-009" and d.hint == "did you mean 'preferred'?"


def test_the_name_counts_as_read_and_orders_its_declarations():
    text = POLICY.replace("let shout = upper(pref)\n", "") + "let shout = upper(pref)\n"
    lint = check_text(text, "c.pol").diagnostics.warnings
    assert not [w for w in lint if w.code == "W-UNUSED-002"]
    assert pol.loads(text, name="c.pol").program.offers[1].prefer is not None


# ---------------------------------------------------------------- every evaluator

def records(draw_pref, n: int, seed: int) -> list[dict]:
    return [{"id": i, "pref": draw_pref(i), "p": float((i * 37 + seed) % 101), "reach": (i + seed) % 3 != 0,
             "uses_app": (i * 7 + seed) % 4 != 0} for i in range(n)]


def oracle(policy: pol.Policy, rows: list[dict]):
    results = [evaluate_row(policy.program, r, AS_OF, trace=False) for r in rows]
    return [a[:4] for a in match_all(policy.program, results).assignments([r["id"] for r in rows])]


def assignments(result) -> list[tuple]:
    return [tuple(a.values())[:4] for a in result.assignments.to_pylist()]


SETTINGS = dict(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings(**SETTINGS)
@given(st.lists(st.sampled_from(PREFS), min_size=1, max_size=40), st.integers(0, 50))
def test_the_vectorized_evaluator_and_the_kernel_agree_with_the_reference(prefs, seed):
    policy = pol.loads(POLICY, name="c.pol")
    rows = records(lambda i: prefs[i % len(prefs)], len(prefs), seed)
    want = oracle(policy, rows)
    plain = pa.Table.from_pylist(rows, schema=SCHEMA)
    encoded = plain.set_column(1, "pref", plain.column("pref").dictionary_encode())
    for table in (plain, encoded):
        for engine in ("vector", "kernel"):
            for size in (7, len(rows)):
                got = policy.evaluate(table.to_batches(max_chunksize=size), as_of=AS_OF, engine=engine)
                assert assignments(got) == want, (engine, size, table.schema.field("pref").type)


def test_the_customers_channel_is_taken_when_listed_and_open():
    policy = pol.loads(POLICY, name="c.pol")
    rows = [{"id": 1, "pref": "sms", "p": 50.0, "reach": True, "uses_app": True},     # sms before call; "SMS" no channel
            {"id": 2, "pref": "app", "p": 50.0, "reach": True, "uses_app": False},    # app closed: call
            {"id": 3, "pref": None, "p": 50.0, "reach": False, "uses_app": True},     # null: the list (sms)
            {"id": 4, "pref": "fax", "p": 95.0, "reach": True, "uses_app": True}]     # not a channel: the list
    assert [(a[0], a[1], a[3]) for a in oracle(policy, rows)] == [
        (1, "a", "sms"), (1, "b", "app"), (2, "a", "call"), (2, "b", "sms"),
        (3, "a", "sms"), (3, "b", "app"), (4, "a", "call"), (4, "b", "app")]


def test_decide_in_every_engine_and_the_split_kernel():
    policy = pol.loads(POLICY, name="c.pol")
    rows = records(lambda i: PREFS[i % len(PREFS)], 48, 3)
    want = oracle(policy, rows)
    for engine in ("reference", "kernel"):
        got = [(r["id"], a.offer, a.rank, a.channel) for r in rows
               for a in policy.decide(r, as_of=AS_OF, engine=engine).offers]
        assert got == want, engine
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    for fused in (True, False):
        staged = pol.loads(POLICY, name="c.pol")
        executor = split_kernel(staged, 3, fused=fused)
        assert split.needed(staged.lowered.program, 3) and executor.source.count("@njit(") > 2
        assert assignments(staged.evaluate(table, as_of=AS_OF, engine="kernel")) == want


def test_no_string_is_compared_per_row_in_the_kernel():
    """The batch's strings are mapped to channels once, by the host: the
    kernel reads an int lookup by the string's code."""
    policy = pol.loads(POLICY, name="c.pol")
    assert [s.op for s in policy.plan.luts].count("channel_rank") == 2
    from pol.compiler.backend import codegen
    source = codegen.source(policy.lowered.program, policy.plan, fused=True)
    assert "'call'" not in source and '"sms"' not in source


# ---------------------------------------------------------------- tools

def test_explain_says_which_channel_was_tried_first_and_why():
    policy = pol.loads(POLICY, name="c.pol")
    seen = {}
    for pref, app in (("sms", True), ("app", False), (None, True), ("fax", True)):
        x = policy.explain({"id": 1, "pref": pref, "p": 50.0, "reach": True, "uses_app": app}, as_of=AS_OF)
        seen[pref] = next(o.first for o in x.offers if o.name == "a")
        assert f"      - {seen[pref]}\n" in str(x)
        assert json.loads(x.to_json())["offers"][0]["first"] is not None
    assert seen == {"sms": 'sms tried first: pref = "sms"',
                    "app": 'app tried first (pref = "app"), but it is closed: the first open one of its list',
                    None: "pref is null: its channels in the listed order",
                    "fax": 'pref = "fax" names none of its channels: its channels in the listed order'}
    x = policy.explain({"id": 1, "pref": "sms", "p": 50.0, "reach": True, "uses_app": True}, as_of=AS_OF)
    assert next(o.first for o in x.offers if o.name == "c") is None


TESTS = """
test "sms first" {
    given { id: 1, pref: "sms", p: 50, reach: true, uses_app: true }
    expect offer a via sms rank 1
}
test "the list" {
    given { id: 2, pref: null, p: 50, reach: true, uses_app: true }
    expect offer a via call rank 1
}
"""


def test_pol_test_expects_the_channel_and_coverage_sees_both_orders():
    from pol.compiler.frontend import compile_text
    from pol.testing.coverage import Coverage
    coverage = Coverage()
    outcomes = run_tests(compile_text(POLICY + TESTS, name="p.pol"), AS_OF, observe=coverage.observe)
    assert [o.passed for o in outcomes] == [True, True]
    parts = {(p.name, p.case): p.hit for p in coverage.parts.values() if p.kind == "channels by"}
    assert parts == {("a", "the channel pref names"): True, ("a", "its list's order"): True,
                     ("b", "the channel shout names"): False, ("b", "its list's order"): True}
    (wrong,) = run_tests(compile_text(POLICY + TESTS.split("test \"the list\"")[0].replace("via sms", "via call"),
                                      name="p.pol"), AS_OF)
    assert not wrong.passed and "sms" in str(wrong.failures[0])


def test_pol_gen_draws_the_offers_channels_for_the_field(tmp_path: Path):
    (tmp_path / "c.pol").write_text(POLICY)
    out = tmp_path / "gen.parquet"
    proc = clirun.pol("gen", "400", out, "--policy", tmp_path / "c.pol", "--seed", "1")
    assert proc.returncode == 0, proc.stderr
    prefs = set(pq.read_table(out).column("pref").to_pylist())
    assert {"call", "sms", "app"} <= prefs


def test_pol_run_writes_the_customers_channel(tmp_path: Path):
    (tmp_path / "c.pol").write_text(POLICY)
    rows = records(lambda i: PREFS[i % len(PREFS)], 40, 1)
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), tmp_path / "in.parquet")
    proc = clirun.pol("run", tmp_path / "c.pol", "--input", tmp_path / "in.parquet", "--out", tmp_path / "out",
                      "--as-of", "2026-11-01")
    assert proc.returncode == 0, proc.stderr
    got = [(a["id"], a["offer"], a["rank"], a["channel"]) for p in sorted((tmp_path / "out").glob("*assign*.parquet"))
           for a in pq.read_table(p).to_pylist()]
    assert sorted(got) == sorted(oracle(pol.loads(POLICY, name="c.pol"), rows))
