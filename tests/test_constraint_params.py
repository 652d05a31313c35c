"""Run-wide constraints sized by params (LANGUAGE.md 3.11): `capacity CHANNEL
P`, `quota CATEGORY P`, `budget P cost offer.ATTR`. A run that overrides the
param gets what a policy with the number written in gets, in the oracle,
the vectorized evaluator, the kernel, `maximize priority`, `decide` with a
ledger and `pol run --param`; a param of the wrong type or a bad default is
E-ARB-006, a bad override a ParamError naming the param."""
from __future__ import annotations

import datetime as dt
from fractions import Fraction
from pathlib import Path

import clirun
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import pol
from pol.compiler.frontend import check_text
from pol.dsl.fmt import format_text
from pol.dsl.parser import parse
from pol.dsl.printer import print_file
from pol.dsl.source import Source
from pol.reference.interp import evaluate_row
from pol.reference.matching import match_all
from tests.test_matching_compiled import table_of

AS_OF = dt.date(2026, 11, 1)

HEAD = ("input t key id { id: int  p: float  reach: bool }\nchannel call when reach\nchannel sms\n"
        "param calls: int = 3\nparam voice: int = 4\nparam spend: float = 2.5\n")
OFFERS = ("offer a { eligible when true  channels call, sms  priority p  category voice  attributes { cost: 0.5 } }\n"
          "offer b { eligible when p > 1  channels sms  priority 1  category data }\n")
PARAMS = "arbitrate {{ max 2 per customer {opt} capacity call calls  quota voice voice  budget spend cost offer.cost }}\n"
WRITTEN = "arbitrate {{ max 2 per customer {opt} capacity call {calls}  quota voice {voice}  budget {spend} cost offer.cost }}\n"
RECORDS = [{"id": i, "p": float((i * 7) % 5), "reach": i % 4 != 0} for i in range(12)]


def codes(text: str) -> list[tuple[str, int, int]]:
    with pytest.raises(pol.PolicyError) as e:
        pol.loads(text, name="c.pol")
    return [(d.code, d.span.line, d.span.col) for d in e.value.diagnostics]


# ---------------------------------------------------------------- checking

@pytest.mark.parametrize("decl, rule, want", [
    ("param n: float = 3", "capacity call n", [("E-ARB-006", 8, 27)]),
    ("param n: string = \"3\"", "quota voice n", [("E-ARB-006", 8, 25)]),
    ("param n: bool = true", "budget n cost offer.cost", [("E-ARB-006", 8, 20)]),
    ("param n: int = -1", "capacity call n", [("E-ARB-006", 8, 27)]),
    ("param n: int = null", "quota voice n", [("E-ARB-006", 8, 25)]),
    ("param n: float = -0.5", "budget n cost offer.cost", [("E-ARB-006", 8, 20)]),
    ("param n: int = 3", "capacity call m", [("E-NAME-001", 8, 27)]),
])
def test_a_param_of_the_wrong_type_or_default_is_refused(decl, rule, want):
    text = (HEAD.split("param")[0] + decl + "\n" + OFFERS.replace("p > 1", "true") + "\n"
            + f"arbitrate {{ {rule} }}\n")
    assert codes(text) == want


def test_the_default_is_the_number_and_settings_name_the_params():
    a = pol.loads(HEAD + OFFERS + PARAMS.format(opt=""), name="c.pol").program.arbitrate
    assert (a.channel_capacity, a.quota, a.budget) == ((("call", 3),), (("voice", 4),), Fraction(5, 2))
    assert a.settings == (("channel_capacity", "call", "calls"), ("quota", "voice", "voice"), ("budget", "", "spend"))


def test_params_print_format_back_and_count_as_read():
    text = HEAD + OFFERS + PARAMS.format(opt="")
    tree, problems = parse(Source("c.pol", text))
    assert not problems
    printed = print_file(tree)
    assert "    capacity call calls\n    quota voice voice\n    budget spend cost offer.cost\n" in printed
    assert parse(Source("c.pol", printed))[0] == tree
    formatted = format_text(text).text
    assert formatted is not None and "    capacity call calls\n" in formatted
    assert format_text(formatted).text == formatted
    lint = check_text(text, "c.pol").diagnostics.warnings
    assert not [w for w in lint if w.code.startswith("W-UNUSED")]


# ---------------------------------------------------------------- runs

def outcome(policy: pol.Policy, params: dict | None, engine: str, size: int):
    r = policy.evaluate(table_of(policy, RECORDS).to_batches(max_chunksize=size), as_of=AS_OF, params=params,
                        engine=engine)
    return [tuple(a.values())[:4] for a in r.assignments.to_pylist()]


@pytest.mark.parametrize("opt", ["", "maximize priority "])
@pytest.mark.parametrize("values", [{}, {"calls": 1}, {"calls": 0, "voice": 9, "spend": 100},
                                    {"voice": 2}, {"spend": 1}, {"spend": 0.3}])
def test_an_override_is_the_number_written_in(opt, values):
    params = pol.loads(HEAD + OFFERS + PARAMS.format(opt=opt), name="c.pol")
    numbers = {"calls": 3, "voice": 4, "spend": 2.5, **values}
    written = pol.loads(HEAD + OFFERS + WRITTEN.format(opt=opt, **numbers), name="c.pol")
    rows = [evaluate_row(written.program, r, AS_OF, trace=False) for r in RECORDS]
    want = [a[:4] for a in match_all(written.program, rows).assignments([r["id"] for r in RECORDS])]
    rows = [evaluate_row(params.program, r, AS_OF, values, trace=False) for r in RECORDS]
    assert [a[:4] for a in match_all(params.program, rows).assignments([r["id"] for r in RECORDS])] == want
    for engine in ("vector", "kernel"):
        for size in (5, len(RECORDS)):
            assert outcome(params, values or None, engine, size) == want, (engine, size)
    if not values:
        assert want and any(a[3] == "call" for a in want)


def test_a_ledger_counts_against_the_decisions_params():
    policy = pol.loads(HEAD + OFFERS + PARAMS.format(opt=""), name="c.pol")
    for calls, given in ((1, 1), (3, 3)):
        ledger = pol.Ledger()
        got = [policy.decide({"id": i, "p": 5.0, "reach": True}, as_of=AS_OF, params={"calls": calls},
                             ledger=ledger) for i in range(5)]
        assert sum(d.offers[0].channel == "call" for d in got if d.offers) == given
        assert ledger.used(policy)["channels"]["call"] == given


@pytest.mark.parametrize("values, word", [({"calls": -1}, "'calls' is the capacity of channel 'call'"),
                                          ({"voice": -3}, "'voice' is the quota of category 'voice'"),
                                          ({"spend": -0.5}, "'spend' is the budget"),
                                          ({"spend": 1e30}, "'spend' is the budget: 1e\\+30 needs more digits")])
def test_a_bad_override_stops_the_run_naming_the_param(values, word):
    policy = pol.loads(HEAD + OFFERS + PARAMS.format(opt=""), name="c.pol")
    with pytest.raises(pol.ParamError, match=word) as e:
        policy.evaluate(table_of(policy, RECORDS), as_of=AS_OF, params=values, engine="vector")
    assert e.value.param == next(iter(values))
    with pytest.raises(pol.ParamError, match=word):
        policy.decide(RECORDS[0], as_of=AS_OF, params=values, ledger=pol.Ledger())


def test_pol_run_param_sets_a_channel_capacity(tmp_path: Path):
    (tmp_path / "c.pol").write_text(HEAD + OFFERS + PARAMS.format(opt=""))
    data = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": [r["id"] for r in RECORDS], "p": [r["p"] for r in RECORDS],
                             "reach": [r["reach"] for r in RECORDS]}), data)
    calls = {}
    for n in (1, 2):
        out = tmp_path / f"out{n}"
        proc = clirun.pol("run", tmp_path / "c.pol", "--input", data, "--out", out, "--as-of", "2026-11-01",
                          "--param", f"calls={n}")
        assert proc.returncode == 0, proc.stderr
        given = [a for p in out.glob("*assign*.parquet") for a in pq.read_table(p).to_pylist()]
        calls[n] = sum(a["channel"] == "call" for a in given)
    assert calls == {1: 1, 2: 2}
    proc = clirun.pol("run", tmp_path / "c.pol", "--input", data, "--out", tmp_path / "bad", "--param", "calls=-2")
    assert proc.returncode != 0 and "param 'calls' is the capacity of channel 'call'" in proc.stderr


SERVED = """policy shop
input customer key id { id: int  arpu: float  reachable: bool }
channel call when reachable
channel sms
param calls: int = 2
offer upgrade { eligible when arpu >= 100  channels call, sms  priority arpu }
arbitrate { capacity call calls }
"""


def test_pol_serve_sizes_the_ledger_by_the_requests_params(tmp_path):
    """In-process, the Decider of pol serve: a request's params size the
    capacity it draws against in the SQLite ledger."""
    from pol.serve.requests import Ask
    from tests.serving import served_decider
    decider, entry = served_decider(tmp_path, SERVED)
    records = [{"id": k, "arpu": 200.0, "reachable": True} for k in range(1, 6)]
    for params, calls in (({"calls": 3}, 3), (None, 3), ({"calls": 4}, 4)):
        ask = Ask([], AS_OF, params, None, None, False, "error")
        given = [decider.decide_one(entry, r, ask).offers for r in records]
        assert sum(bool(o) for o in given) == calls, params
    with pytest.raises(pol.ParamError, match="'calls' is the capacity of channel 'call'"):
        decider.decide_one(entry, {"id": 9, "arpu": 200.0, "reachable": True},
                           Ask([], AS_OF, {"calls": -1}, None, None, False, "error"))
