"""The record contract (docs/GUARANTEES.md, "Records"): every path that
takes one customer's record -- decide on the reference evaluator and on the
compiled row kernel, explain, a policy test's `given`, `pol explain
--record` -- reads it with pol.api.records, so each accepts the same records
and refuses the same ones with the same message."""
import datetime as dt
import json
import math

import numpy as np
import pytest

import pol
from pol.api.records import read_record
from pol.compiler import ir
from pol.errors import ArgumentError, DataError
from pol.testing.policytest import run_test

AS_OF = dt.date(2026, 11, 1)
TEXT = """policy records version "1"
input t key id {
    id: int
    n: int?  m: int
    x: float?  f: float
    ok: bool?
    s: string?
    d: date?
}
score sn = n
score sm = m
score sx = x
score sf = f
score sd = d - 2000-01-01
score ss = length(s)
segment a = starts_with(s, "a")
classify yes { when ok => "yes" when not ok => "no" }
channel c
offer o { eligible when ok channels c priority coalesce(x, 1) }
"""
BASE = {"id": 1, "m": 2, "f": 0.5}


@pytest.fixture(scope="module")
def policy():
    p = pol.loads(TEXT, name="records.pol")
    p.decide(BASE, as_of=AS_OF, engine="kernel")      # the row kernel, built once
    return p


def outcome(fn):
    """("ok", value) or ("error", message): a record refused with pol's own error."""
    try:
        return "ok", fn()
    except DataError as e:
        return "error", str(e)


def every_path(policy, record, **kw) -> dict:
    """The outcome of each path that reads a record."""
    out = {
        "reference": outcome(lambda: policy.decide(record, as_of=AS_OF, engine="reference", **kw)),
        "kernel": outcome(lambda: policy.decide(record, as_of=AS_OF, engine="kernel", **kw)),
    }
    kind, x = outcome(lambda: policy.explain(record, as_of=AS_OF, **kw))
    out["explain"] = (kind, x.decision if kind == "ok" else x)
    return out


# ---------------------------------------------------------------- accepted

@pytest.mark.parametrize("field, value, read", [
    ("n", 5, 5), ("n", 5.0, 5), ("n", -2 ** 63, -2 ** 63), ("n", 2 ** 63 - 1, 2 ** 63 - 1),
    ("n", -9.223372036854775808e18, -2 ** 63), ("n", np.int64(7), 7), ("n", None, None),
    ("x", 3, 3.0), ("x", 2.5, 2.5), ("x", 10 ** 30, 1e30), ("x", math.nan, None), ("x", -math.inf, None),
    ("x", np.float32(0.5), 0.5), ("f", 7, 7.0),
    ("ok", True, True), ("ok", np.bool_(False), False),
    ("s", "a\u00e9\u5f20", "a\u00e9\u5f20"), ("s", "", ""),
    ("d", "2026-02-03", dt.date(2026, 2, 3)), ("d", dt.date(2026, 2, 3), dt.date(2026, 2, 3)),
    ("d", dt.datetime(2026, 2, 3, 23, 59), dt.date(2026, 2, 3)),
    ("d", dt.datetime(2026, 2, 3, 23, 59, tzinfo=dt.timezone(dt.timedelta(hours=-8))), dt.date(2026, 2, 3)),
    ("d", "0001-01-01", dt.date(1, 1, 1)), ("d", "9999-12-31", dt.date(9999, 12, 31)),
])
def test_accepted_values_read_the_same_on_every_path(policy, field, value, read):
    record = dict(BASE, **{field: value})
    got = read_record(policy.program, record)[field]
    assert got == read and type(got) is type(read)
    outcomes = every_path(policy, record)
    plain = policy.decide(dict(BASE, **{field: read}), as_of=AS_OF, engine="reference")
    assert outcomes == {path: ("ok", plain) for path in outcomes}


def test_the_reader_gives_every_input_field_in_input_order(policy):
    import types
    read = read_record(policy.program, types.MappingProxyType({"f": 1, "id": 4}))
    assert list(read.items()) == [("id", 4), ("n", None), ("m", None), ("x", None), ("f", 1.0), ("ok", None),
                                  ("s", None), ("d", None)]
    record = types.MappingProxyType(dict(BASE, ok=True))
    assert every_path(policy, record) == {path: ("ok", policy.decide(dict(record), as_of=AS_OF))
                                          for path in ("reference", "kernel", "explain")}


def test_threads_deciding_at_once_each_read_their_own_record(policy):
    """Each thread packs its record into a buffer of its own: the kernel
    runs without the GIL, so a shared one would mix two records."""
    from concurrent.futures import ThreadPoolExecutor
    records = [{"id": k, "n": k if k % 4 else None, "m": -k, "x": k / 8 if k % 3 else None, "f": k * 0.25,
                "ok": [True, False, None][k % 3], "s": ["a1", "b", None, "abc"][k % 4],
                "d": f"2026-01-{k % 28 + 1:02d}"} for k in range(300)]
    alone = [policy.decide(r, as_of=AS_OF, engine="kernel") for r in records]
    assert alone == [policy.decide(r, as_of=AS_OF, engine="reference") for r in records]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda r: policy.decide(r, as_of=AS_OF, engine="kernel"), records * 4))
    assert together == alone * 4


def test_a_field_left_out_or_none_is_null_even_when_not_nullable(policy):
    d = policy.decide({"id": 3}, as_of=AS_OF, engine="kernel")
    assert d.scores["sm"] is None and d.scores["sf"] is None
    assert d == policy.decide({"id": 3, "m": None, "f": None}, as_of=AS_OF, engine="reference")


# ---------------------------------------------------------------- refused

REFUSED = [
    ({"n": "5"}, "field 'n' is int?: expected an int, got \"5\" (a string); write a number"),
    ({"n": True}, "field 'n' is int?: expected an int, got true (a bool); write a number"),
    ({"n": 1.9}, "field 'n' is int?: expected an int, got 1.9 (a float); not a whole number"),
    ({"n": 2 ** 63}, "field 'n' is int?: expected an int, got 9223372036854775808 (an int); ints are 64-bit"),
    ({"n": 9.3e18}, "field 'n' is int?: expected an int, got 9.3e+18 (a float); ints are 64-bit"),
    ({"n": -(2 ** 200)}, "field 'n' is int?: expected an int, got an int of 201 bits; ints are 64-bit"),
    ({"n": math.nan}, "field 'n' is int?: expected an int, got NaN (a float); not a whole number"),
    ({"n": [1]}, "field 'n' is int?: expected an int, got a list"),
    ({"m": {"a": 1}}, "field 'm' is int: expected an int, got an object"),
    ({"x": "9"}, "field 'x' is float?: expected a number, got \"9\" (a string); write a number"),
    ({"x": False}, "field 'x' is float?: expected a number, got false (a bool); write a number"),
    ({"x": 10 ** 400}, "field 'x' is float?: expected a number, got an int of 1329 bits; too large for a float"),
    ({"f": math.nan}, "field 'f' is float: expected a number, got NaN (a float); NaN and infinities read as "
                      "null, and the field is not nullable: send a number, or declare it 'f: float?'"),
    ({"f": -math.inf}, "field 'f' is float: expected a number, got -Infinity (a float); NaN and infinities"),
    ({"ok": 1}, "field 'ok' is bool?: expected true or false, got 1 (an int)"),
    ({"ok": "true"}, "field 'ok' is bool?: expected true or false, got \"true\" (a string)"),
    ({"s": 5}, "field 's' is string?: expected a string, got 5 (an int)"),
    ({"s": b"x"}, "field 's' is string?: expected a string, got b'x' (a bytes)"),
    ({"d": "2026-13-01"}, "field 'd' is date?: expected a date written YYYY-MM-DD, got \"2026-13-01\" "
                          "(a string); write dates as YYYY-MM-DD, e.g. 2026-11-01"),
    ({"d": "20260101"}, "field 'd' is date?: expected a date written YYYY-MM-DD, got \"20260101\""),
    ({"d": "2026-01-01T00:00:00"}, "got \"2026-01-01T00:00:00\" (a string); write dates as YYYY-MM-DD"),
    ({"d": "\uff12\uff10\uff12\uff16-01-01"}, "field 'd' is date?: expected a date written YYYY-MM-DD"),
    ({"d": 20260101}, "field 'd' is date?: expected a date written YYYY-MM-DD, got 20260101 (an int)"),
    ({"n": "a\nb"}, "got \"a\\u000ab\" (a string)"),
    ({"id": None}, "the key 'id' is null: every customer needs a key"),
    ({"id": 1.5}, "field 'id' is int: expected an int, got 1.5 (a float); not a whole number"),
    ({"id": "1"}, "field 'id' is int: expected an int, got \"1\" (a string); write a number"),
    ({"okk": 1}, "the record has a field the input block does not declare: 'okk'; did you mean 'ok'? "
                 "(extra=\"ignore\" skips undeclared fields)"),
    ({"ID": 1, "Ok": True}, "does not declare: 'ID' (and 1 more); did you mean 'id'?"),
    ({"zzzzzzz": 1}, "'zzzzzzz'; the input block declares id, n, m, x, f, ok, s, d"),
    ({"s\n": 1}, "does not declare: 's\\u000a'"),
    ({7: 1}, "does not declare: 7; field names are strings"),
]


@pytest.mark.parametrize("change, message", REFUSED, ids=[str(c)[:40] for c, _ in REFUSED])
def test_refused_values_give_the_same_error_on_every_path(policy, change, message):
    record = dict(BASE, **change) if all(isinstance(k, str) for k in change) else {**BASE, **change}
    outcomes = every_path(policy, record)
    kinds = {path: o[0] for path, o in outcomes.items()}
    assert kinds == {path: "error" for path in outcomes}, outcomes
    messages = {o[1] for o in outcomes.values()}
    assert len(messages) == 1, outcomes
    (text,) = messages
    assert message in text and "\n" not in text
    # and a policy test whose `given` is this record reports the same words
    if all(isinstance(k, str) for k in record):
        test = ir.Test("t", tuple(record.items()), (ir.ExpectNoOffer(None),), AS_OF)
        assert run_test(policy.program, test).error == text


def test_a_missing_key_and_records_that_are_not_mappings(policy):
    for record, message in [({"m": 1}, "the key 'id' is missing: every customer needs a key"),
                            ([("id", 1)], "a record is a mapping of field names to values (a JSON object), "
                                          "not a list"),
                            ("{}", "not a string"), (None, "not null"), (7, "not an int")]:
        outcomes = every_path(policy, record)
        assert outcomes == {path: ("error", outcomes["reference"][1]) for path in outcomes}, outcomes
        assert message in outcomes["reference"][1]


def test_the_error_names_the_column(policy):
    for engine in ("reference", "kernel"):
        with pytest.raises(DataError) as e:
            policy.decide(dict(BASE, x="9"), as_of=AS_OF, engine=engine)
        assert e.value.column == "x"
        with pytest.raises(DataError) as e:
            policy.decide({"m": 1}, as_of=AS_OF, engine=engine)
        assert e.value.column == "id"


def test_extra_fields_are_refused_unless_ignored(policy):
    record = dict(BASE, arpu=9.0, ok=True, x=2.0)
    with pytest.raises(DataError, match="does not declare: 'arpu'"):
        policy.decide(record, as_of=AS_OF)
    outcomes = every_path(policy, record, extra="ignore")
    expected = policy.decide(dict(BASE, ok=True, x=2.0), as_of=AS_OF, engine="reference")
    assert outcomes == {path: ("ok", expected) for path in outcomes}
    assert expected.offer_names == ["o"]
    for engine in ("reference", "kernel", "auto"):
        with pytest.raises(ArgumentError, match="extra must be 'error' or 'ignore', not 'allow'"):
            policy.decide(record, as_of=AS_OF, engine=engine, extra="allow")
    with pytest.raises(ArgumentError, match="extra must be"):
        policy.explain(record, as_of=AS_OF, extra=["ignore"])


# ---------------------------------------------------------------- arguments

def test_an_unknown_engine_names_the_allowed_ones(policy):
    with pytest.raises(ArgumentError, match="engine must be 'auto', 'kernel' or 'reference', not 'vector'") as e:
        policy.decide(BASE, as_of=AS_OF, engine="vector")
    assert isinstance(e.value, ValueError) and e.value.argument == "engine"
    with pytest.raises(ArgumentError, match="engine must be 'auto', 'kernel' or 'vector', not 'reference'"):
        policy.evaluate([BASE], as_of=AS_OF, engine="reference")


@pytest.mark.parametrize("as_of", ["2026-13-01", "20261101", "2026-11-01T25:00", "", 20261101, 3.5])
def test_a_wrong_as_of_is_an_argument_error(policy, as_of):
    calls = [lambda: policy.decide(BASE, as_of=as_of), lambda: policy.decide(BASE, as_of=as_of, engine="kernel"),
             lambda: policy.explain(BASE, as_of=as_of), lambda: policy.evaluate([BASE], as_of=as_of)]
    for call in calls:
        with pytest.raises(ArgumentError) as e:
            call()
        assert isinstance(e.value, ValueError) and e.value.argument == "as_of"
        assert str(e.value).startswith("as_of must be a date or a timestamp, written YYYY-MM-DD or YYYY-MM-DDTHH:MM "
                                       "(e.g. 2026-11-01); got ")


def test_as_of_accepts_dates_datetimes_and_iso_text(policy):
    record = dict(BASE, d="2026-10-01")
    expected = policy.decide(record, as_of=dt.date(2026, 11, 1))
    assert policy.decide(record, as_of="2026-11-01", engine="kernel") == expected
    assert policy.decide(record, as_of=dt.datetime(2026, 11, 1, 23, 0), engine="kernel") == expected


# ---------------------------------------------------------------- JSON

def test_decisions_are_json_on_both_engines(policy):
    record = dict(BASE, ok=True, x=2.5, d="2026-10-01", s="abc")
    texts = set()
    for engine in ("reference", "kernel"):
        d = policy.decide(record, as_of=AS_OF, engine=engine)
        texts.add(d.model_dump_json(exclude={"run_id"}))
        data = json.loads(json.dumps(d.model_dump(mode="json")))
        assert data["key"] == 1 and data["segments"] == {"a": True} and data["classifications"] == {"yes": "yes"}
        assert data["offers"] == [{"offer": "o", "rank": 1, "channel": "c", "priority": 2.5, "control": False,
                                   "campaign": None, "attributes": {}}]
        assert (data["policy"], data["version"], data["as_of"]) == ("records", "1", AS_OF.isoformat())
        assert len(data["run_id"]) == 36
        assert type(d).model_validate_json(d.model_dump_json()) == d == type(d).model_validate(d.model_dump())
        # made without validation on both engines (pol.api.decision._trusted): each value of its field's
        # own type already, so that validating changes nothing, not even an int into a float
        assert type(d).model_validate(d.model_dump()).model_dump_json() == d.model_dump_json()
        assert d.model_fields_set == set(type(d).model_fields)
        assert d.offers[0].model_fields_set == set(type(d.offers[0]).model_fields)
        assert d.model_copy(update={"key": 2}).key == 2 and d.key == 1
    assert len(texts) == 1


def test_a_compiled_decision_made_lazily_reads_as_an_eager_one(policy):
    """The row kernel's Decision makes its fields at the first read
    (pol.api.decision): every way of reading it gives what the reference
    evaluator's eager Decision gives, whichever read comes first."""
    import copy
    import pickle
    import re
    from concurrent.futures import ThreadPoolExecutor

    from pydantic import BaseModel

    from pol.api.decision import Decision

    class Outer(BaseModel):
        decision: Decision

    def no_id(data):
        return {k: v for k, v in data.items() if k != "run_id"}

    record = dict(BASE, ok=True, x=2.5, d="2026-10-01", s="abc")
    want = policy.decide(record, as_of=AS_OF, engine="reference")
    reads = {
        "attributes": lambda d: (d.key, d.segments, d.classifications, d.scores, d.offers, d.offer_names,
                                 d.policy, d.version, d.as_of, len(d.run_id), d.arms),
        "equality": lambda d: (d == want, want == d, d != want),
        "model_dump": lambda d: d.model_dump(exclude={"run_id"}),
        "json": lambda d: d.model_dump_json(exclude={"run_id"}),
        "repr": lambda d: re.sub(r"run_id='[^']*'", "", repr(d)),
        "vars": lambda d: no_id(vars(d)),
        "iteration": lambda d: no_id(dict(d)),
        "fields set": lambda d: d.model_fields_set,
        "pickle": lambda d: pickle.loads(pickle.dumps(d)) == want,
        "copies": lambda d: (copy.copy(d) == want, copy.deepcopy(d) == want, d.model_copy(update={"key": 2}).key),
        "inside a model": lambda d: no_id(json.loads(Outer(decision=d).model_dump_json())["decision"]),
        "validated": lambda d: Decision.model_validate(d.model_dump()) == want,
    }
    for name, read in reads.items():
        assert read(policy.decide(record, as_of=AS_OF, engine="kernel")) == read(want), name
    # a field is no class attribute, as pydantic's are not: a subclass keeps every field required
    assert not hasattr(Decision, "offers")

    class Mine(Decision):
        note: str = ""
    assert Mine.model_fields["offers"].is_required() and Mine.model_validate(want.model_dump()).offers == want.offers
    # ids are drawn when the decision is made: they sort in that order, read in any
    first, second = (policy.decide(record, as_of=AS_OF, engine="kernel") for _ in range(2))
    assert second.run_id > first.run_id
    # threads reading one decision at once all get the same fields, made once
    d = policy.decide(record, as_of=AS_OF, engine="kernel")
    with ThreadPoolExecutor(8) as pool:
        seen = list(pool.map(lambda _: (d.offers, d.segments, d.run_id), range(64)))
    assert all(o is seen[0][0] and s is seen[0][1] and r == seen[0][2] for o, s, r in seen)


def test_explanations_are_json(policy):
    x = policy.explain(dict(BASE, ok=False, d="2026-10-01", s="abc"), as_of=AS_OF)
    data = json.loads(x.to_json())
    assert data == x.to_dict()
    assert data["as_of"] == "2026-11-01" and data["fields"]["d"] == "2026-10-01" and data["key"] == 1
    assert data["segments"] == [{"name": "a", "label": None, "value": True}]
    assert data["classifications"][0]["value"] == "no" and data["classifications"][0]["condition"] == "not ok"
    (offer,) = data["offers"]
    assert offer["given"] is False and offer["reason"] == "eligible"
    assert offer["why"] == [{"text": "ok", "value": False, "inputs": {"ok": False}, "because": [], "line": 19}]
    assert data["decision"] == json.loads(x.decision.model_dump_json())


def test_explanation_json_of_the_bench_policy(bench_policy, bench_table):
    for r in bench_table.slice(0, 50).to_pylist():
        text = bench_policy.explain(r, as_of=AS_OF).to_json()      # allow_nan=False: no NaN slips through
        data = json.loads(text)
        assert data["as_of"] == "2026-11-01"
        assert all(not isinstance(v, float) or math.isfinite(v) for v in data["fields"].values())


# ---------------------------------------------------------------- policy files

def test_a_given_the_engine_refuses_fails_the_policy_test_with_the_same_words(tmp_path):
    import subprocess
    import sys

    from pol.compiler.frontend import compile_path
    from pol.testing.policytest import run_tests
    path = tmp_path / "keyless.pol"
    path.write_text('input c key id { id: int  x: int? }\nsegment big = x > 1\n'
                    'test "no key" { given { id: null, x: 2 } expect big }\n', encoding="utf-8")
    (outcome,) = run_tests(compile_path(path))
    assert outcome.error == "the key 'id' is null: every customer needs a key"
    p = pol.load(path)
    for engine in ("reference", "kernel"):
        with pytest.raises(DataError) as e:
            p.decide({"id": None, "x": 2}, engine=engine)
        assert str(e.value) == outcome.error
    # pytest, through the plugin, shows the same words
    (tmp_path / "conftest.py").write_text("from pol.testing.pytest_plugin import pytest_collect_file  # noqa: F401\n")
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 1 and "1 failed" in out.stdout, out.stdout
    assert "FAIL keyless.pol:3:1: no key" in out.stdout and outcome.error in out.stdout


# ---------------------------------------------------------------- pol explain

def explain_cli(capsys, *args):
    from pol.cli.main import main
    status = main(["explain", *map(str, args)])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("records") / "records.pol"
    path.write_text(TEXT, encoding="utf-8")
    return path


# what JSON can carry
AS_JSON = [(c, m) for c, m in REFUSED if all(isinstance(k, str) for k in c) and not isinstance(c.get("s"), bytes)]


@pytest.mark.parametrize("change, message", AS_JSON, ids=[str(c)[:40] for c, _ in AS_JSON])
def test_pol_explain_record_says_what_decide_says(policy, policy_file, capsys, change, message):
    record = dict(BASE, **change)
    status, out, err = explain_cli(capsys, policy_file, "--record", json.dumps(record), "--as-of", "2026-11-01")
    with pytest.raises(DataError) as e:
        policy.decide(record, as_of=AS_OF, engine="kernel")
    assert (status, out, err) == (1, "", f"pol: error: {e.value}\n")


@pytest.mark.parametrize("record, message", [
    ("null", "a record is a mapping of field names to values (a JSON object), not null"),
    ("[1, 2]", "not a list"), ('"id"', "not a string"), ("7", "not an int"),
    ('{"id": 1, "m": 2, "f": NaN}', "field 'f' is float: expected a number, got NaN"),
    ('{"id": 1, "d": "2026/10/01"}', "field 'd' is date?: expected a date written YYYY-MM-DD, got \"2026/10/01\""),
    ('{"id": 1, "okk": true}', "did you mean 'ok'?"),
    ('{"id": ' + "9" * 5000 + "}", "--record is not valid JSON"),
    ("[" * 100_000, "--record is not valid JSON"),
])
def test_pol_explain_bad_records_are_one_line_data_errors(policy_file, capsys, record, message):
    status, out, err = explain_cli(capsys, policy_file, "--record", record)
    assert status == 1 and out == ""
    assert err.startswith("pol: error: ") and err.count("\n") == 1 and message in err


@pytest.mark.parametrize("args, message", [
    (["--record", '{"id": 1}', "--as-of", "2026-13-01"],
     "pol: error: --as-of must be a date written YYYY-MM-DD (e.g. 2026-11-01), got '2026-13-01'\n"),
    (["--record", '{"id": 1}', "--as-of", "tomorrow"], "got 'tomorrow'"),
    (["--as-of", "2026-11-01"], "pol: error: give --record JSON, or --input PATH with --key KEY\n"),
])
def test_pol_explain_usage_errors_exit_2(policy_file, capsys, args, message):
    status, out, err = explain_cli(capsys, policy_file, *args)
    assert status == 2 and out == "" and message in err and err.count("\n") == 1


def test_pol_explain_extra_and_json(policy_file, capsys):
    record = json.dumps(dict(BASE, ok=True, x=2.0, d="2026-10-01", crm_segment="gold"))
    status, out, err = explain_cli(capsys, policy_file, "--record", record, "--as-of", "2026-11-01")
    assert status == 1 and "does not declare: 'crm_segment'" in err
    status, out, err = explain_cli(capsys, policy_file, "--record", record, "--as-of", "2026-11-01",
                                   "--extra", "ignore", "--json")
    assert status == 0, err
    data = json.loads(out)
    assert data["as_of"] == "2026-11-01" and data["fields"]["d"] == "2026-10-01"
    assert [o["name"] for o in data["offers"] if o["given"]] == ["o"]
    assert data["decision"]["offers"][0]["priority"] == 2.0


def test_pol_explain_errors_are_never_tracebacks(policy_file):
    """As a user runs it: each refused input is one line on stderr."""
    import os
    import subprocess
    import sys
    env = dict(os.environ, POL_BACKGROUND_COMPILE="0")
    for args, status in [(["--record", "null"], 1), (["--record", "[1]"], 1), (["--record", '"x"'], 1),
                         (["--record", '{"id": 1}', "--as-of", "2026-13-01"], 2),
                         (["--record", '{"id": 1, "x": "9"}'], 1)]:
        r = subprocess.run([sys.executable, "-m", "pol", "explain", str(policy_file), *args],
                           capture_output=True, text=True, env=env, timeout=120)
        assert r.returncode == status and r.stdout == "", (args, r.stderr)
        assert r.stderr.startswith("pol: error: ") and r.stderr.count("\n") == 1, (args, r.stderr)


# ---------------------------------------------------------------- fork

FORK = r"""
import datetime as dt, json, multiprocessing as mp, sys
import pol
record = {"id": 1, "m": 2, "f": 0.5, "ok": True, "x": 2.0, "d": dt.date(2026, 10, 1)}
day = dt.date(2026, 11, 1)
ctx = mp.get_context("fork")

def child(policy, q):
    q.put([policy.decide(record, as_of=day, engine=e).model_dump_json(exclude={"run_id"})
           for e in ("auto", "kernel", "reference")])

# Each time a policy whose row kernel is new to the process (a new score),
# forked as soon as its first decide has started the build.
results = []
for k in range(6):
    policy = pol.loads(sys.argv[1] + f"score k = x + {k}", name="fork.pol")
    first = policy.decide(record, as_of=day)      # the reference; the row kernel starts building
    q = ctx.Queue()
    p = ctx.Process(target=child, args=(policy, q))
    p.start()
    try:
        got = q.get(timeout=120)
    except Exception:
        p.kill()
        print(f"child {k} did not decide")
        sys.exit(3)
    p.join(30)
    results.append({"same": got == [first.model_dump_json(exclude={"run_id"})] * 3, "exit": p.exitcode})
print(json.dumps(results))
"""


def test_a_child_forked_right_after_the_first_decide_decides(tmp_path):
    """The first decide starts building the row kernel on a thread; a fork
    while it is under way must not leave the child waiting on locks that
    thread held (a pre-forking server that warms up with one decision)."""
    import os
    import subprocess
    import sys
    env = dict(os.environ, POL_BACKGROUND_COMPILE="1", POL_CACHE_DIR=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-c", FORK, TEXT], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == [{"same": True, "exit": 0}] * 6
