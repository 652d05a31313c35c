"""The contact policy (LANGUAGE.md section 14): the checker's errors with
their places and hints, a contact block imported under a name, printing and
formatting, explain, and random contacts through every evaluator against
the reference evaluator (the oracle)."""
from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pol
from pol.compiler.frontend.driver import check_text
from pol.dsl.fmt import format_text
from pol.dsl.parser import parse
from pol.dsl.printer import print_file
from pol.dsl.source import Source

AS_OF = dt.date(2026, 11, 1)

HEAD = """input customer key id { id: int  app_on: bool? }
history contacts key cid at sent_at {
    cid: int
    sent_at: date?
    channel: string
    family: string?
    outcome: string?
}
channel sms "短信"
channel app when app_on
channel call
"""
POLICY = HEAD + """contact contacts {
    limit sms to 2 within 7 days
    limit call to 1 within 3 days
    suppress family after 2 refusals within 30 days
}
offer voice { eligible when true  channels call, sms  priority 3  attributes { family: "voice" } }
offer flow { eligible when true  channels sms, app  priority 2  attributes { family: "traffic" } }
offer plain { eligible when true  channels sms  priority 1 }
arbitrate { max 2 per customer }
"""
FIELDS = {"cid": pa.int64(), "sent_at": pa.date32(), "channel": pa.string(), "family": pa.string(),
          "outcome": pa.string()}


@pytest.fixture(scope="module")
def policy():
    return pol.loads(POLICY)


@pytest.mark.parametrize("rules, code, at, hint", [
    ("limit smss to 1 within 7 days", "E-NAME-005", (13, 11), "did you mean 'sms'"),
    ("limit fax to 1 within 7 days", "E-NAME-005", (13, 11), "the channels are sms, app, call"),
    ("limit sms to 2 within 0 days", "E-HIST-006", (13, 27), "1 is the as-of date alone"),
    ("limit sms to 2_000_000 within 7 days", "E-CONTACT-002", (13, 18), "from 0 to 1,000,000"),
    ("suppress family after 0 refusals within 9 days", "E-CONTACT-002", (13, 27), "capacity 0"),
    ("suppress tier after 1 refusals within 9 days", "E-CONTACT-001", (13, 5), "tier: string"),
])
def test_rule_errors(rules, code, at, hint):
    diags = check_text(HEAD + "contact contacts {\n    " + rules + "\n}\n").diagnostics
    assert [(x.code, x.line, x.span.col) for x in diags.errors] == [(code, *at)]
    assert hint in diags.errors[0].hint


def test_history_errors():
    wrong = check_text(HEAD + "contact contact { limit sms to 1 within 7 days }\n").diagnostics.errors
    assert [(x.code, x.line, x.span.col) for x in wrong] == [("E-HIST-001", 12, 9)]
    assert "did you mean 'contacts'" in wrong[0].hint
    no_channel = HEAD.replace("channel: string", "medium: string")
    errs = check_text(no_channel + "contact contacts { limit sms to 1 within 7 days }\n").diagnostics.errors
    assert [x.code for x in errs] == ["E-CONTACT-001"] and "channel: string" in errs[0].hint
    not_string = HEAD.replace("outcome: string?", "outcome: int?")
    errs = check_text(not_string + "contact contacts { suppress family after 1 refusals within 7 days }\n"
                      ).diagnostics.errors
    assert [x.code for x in errs] == ["E-CONTACT-001"] and "as an int, not a string" in errs[0].message
    attr = check_text(HEAD + "contact contacts { suppress family after 1 refusals within 7 days }\n"
                      "offer o { eligible when true  channels sms  attributes { family: 3 } }\n").diagnostics.errors
    assert [(x.code, x.line, x.span.col) for x in attr] == [("E-CONTACT-003", 12, 29)]


def test_the_rules_become_conditions_every_evaluator_shows(policy):
    sms = [{"sent_at": AS_OF, "channel": "sms"}, {"sent_at": AS_OF - dt.timedelta(days=6), "channel": "sms"}]
    why = str(policy.explain({"id": 1, "app_on": True}, as_of=AS_OF, history={"contacts": sms}))
    assert 'count(contacts where channel == "sms" within 7 days) < 2 is false' in why
    refused = [{"sent_at": AS_OF, "channel": "app", "family": "voice", "outcome": "refused"}] * 2
    why = str(policy.explain({"id": 1}, as_of=AS_OF, history={"contacts": refused}))
    assert 'count(contacts where family == "voice" and outcome == "refused" within 30 days) < 2' in why
    assert policy.decide({"id": 1}, as_of=AS_OF, history={"contacts": refused}).offer_names == ["flow", "plain"]


def test_a_contact_block_imported_under_a_name_applies_to_its_channels(tmp_path):
    (tmp_path / "contact.pol").write_text(HEAD + "contact contacts { limit sms to 1 within 7 days }\n",
                                          encoding="utf-8")
    (tmp_path / "camp.pol").write_text('import "contact.pol" as cp without offers\n'
                                       "offer o { eligible when true  channels cp.sms, cp.call }\n",
                                       encoding="utf-8")
    p = pol.load(tmp_path / "camp.pol")
    sent = [{"sent_at": AS_OF, "channel": "sms"}]
    assert p.decide({"id": 1}, as_of=AS_OF, history={"contacts": sent}).offers[0].channel == "cp.call"
    assert p.decide({"id": 1}, as_of=AS_OF, history={"contacts": []}).offers[0].channel == "cp.sms"


def test_print_and_format():
    text = HEAD + "contact contacts { limit sms to 2 within 7 days   suppress family after 1_0 refusals within 30 days }\n"
    tree, problems = parse(Source("c.pol", text))
    assert not problems
    printed = print_file(tree)
    assert "    limit sms to 2 within 7 days\n    suppress family after 1_0 refusals within 30 days\n" in printed
    again, _ = parse(Source("c.pol", printed))
    assert again == tree
    formatted = format_text(text).text
    assert "contact contacts {\n    limit sms to 2 within 7 days\n    suppress family" in formatted
    assert format_text(formatted).text == formatted


def _table(events):
    return pa.table({k: pa.array([e.get(k) for e in events], t) for k, t in FIELDS.items()})


def _event(draw_day, channel, family, outcome, cid):
    return {"cid": cid, "sent_at": None if draw_day is None else AS_OF - dt.timedelta(days=draw_day),
            "channel": channel, "family": family, "outcome": outcome}


EVENT = st.builds(_event, st.one_of(st.none(), st.integers(-2, 40)), st.sampled_from(["sms", "app", "call", "x"]),
                  st.sampled_from([None, "voice", "traffic"]), st.sampled_from([None, "refused", "accepted"]),
                  st.integers(1, 8))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(EVENT, max_size=60), st.lists(st.one_of(st.none(), st.booleans()), min_size=8, max_size=8))
def test_random_contacts_agree_with_the_reference(policy, events, apps):
    """Windows at their edges (events up to 2 days in the future, undated,
    exactly N days back), limits exactly reached: the vectorized evaluator,
    the fused kernel and decide's row kernel against the reference."""
    customers = pa.table({"id": list(range(1, 9)), "app_on": pa.array(apps, pa.bool_())})
    want = []
    for i, app in enumerate(apps, start=1):
        mine = [{k: v for k, v in e.items() if k != "cid"} for e in events if e["cid"] == i]
        d = policy.decide({"id": i, "app_on": app}, as_of=AS_OF, history={"contacts": mine}, engine="reference")
        assert d == policy.decide({"id": i, "app_on": app}, as_of=AS_OF, history={"contacts": mine},
                                  engine="kernel")
        want += [(i, o.offer, o.channel) for o in d.offers]
    for engine in ("vector", "kernel"):
        r = policy.evaluate(customers, as_of=AS_OF, history={"contacts": _table(events)}, engine=engine)
        got = [(a["id"], a["offer"], a["channel"]) for a in r.assignments.to_pylist()]
        assert got == want, engine


QUIET = HEAD + """contact contacts {
    quiet call from 21:00 to 08:00
    quiet app from 12:00 to 13:30
}
offer o { eligible when true  channels call, app, sms }
"""


@pytest.mark.parametrize("moment, channel", [
    (dt.datetime(2026, 11, 1, 20, 59, 59), "call"),     # the last second before 21:00
    (dt.datetime(2026, 11, 1, 21, 0), "app"),           # quiet from 21:00 on
    (dt.datetime(2026, 11, 1, 0, 0), "app"),            # over midnight
    (dt.datetime(2026, 11, 1, 7, 59), "app"),
    (dt.datetime(2026, 11, 1, 8, 0), "call"),           # open again at 08:00
    (dt.datetime(2026, 11, 1, 12, 0), "call"),
    (dt.date(2026, 11, 1), "call"),                     # no time of day: no quiet hours
])
def test_quiet_hours_at_their_edges_on_every_evaluator(moment, channel):
    p = pol.loads(QUIET)
    late = dt.datetime(2026, 11, 1, 22, 0)
    for record, want in [({"id": 1, "app_on": True}, channel),
                         ({"id": 2, "app_on": False}, "sms" if channel == "app" else channel)]:
        for engine in ("reference", "kernel"):
            d = p.decide(record, as_of=moment, history={"contacts": []}, engine=engine)
            assert [o.channel for o in d.offers] == [want], (engine, record)
        for engine in ("vector", "kernel"):
            r = p.evaluate(pa.table({"id": [record["id"]], "app_on": [record["app_on"]]}), as_of=moment,
                           history={"contacts": _table([])}, engine=engine)
            assert r.assignments.column("channel").to_pylist() == [want], (engine, record)
    lunch = p.decide({"id": 1, "app_on": True}, as_of=late.replace(hour=13, minute=29),
                     history={"contacts": []})
    assert lunch.offers[0].channel == "call"


def test_quiet_hours_in_explain_tests_and_pol_run(tmp_path, capsys):
    p = pol.loads(QUIET)
    why = str(p.explain({"id": 1, "app_on": False}, as_of="2026-11-01T23:00", history={"contacts": []}))
    assert "run:minute" in why and "call: closed" in why
    (tmp_path / "q.pol").write_text(QUIET + 'test "night" {\n    as of 2026-11-01T23:00\n    given { id: 1 }\n'
                                    "    expect offer o via sms\n}\n", encoding="utf-8")
    from pol.cli.main import main
    assert main(["test", str(tmp_path / "q.pol")]) == 0
    assert main(["check", str(tmp_path / "q.pol")]) == 0
    assert "0 params" in capsys.readouterr().out         # the time of day is the run's, not a param
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"id": [1, 2], "app_on": [True, None]}), tmp_path / "c.parquet")
    pq.write_table(_table([]), tmp_path / "h.parquet")
    for at, want in [("2026-11-01T21:30", ["app", "sms"]), ("2026-11-01", ["call", "call"])]:
        assert main(["run", str(tmp_path / "q.pol"), "--input", str(tmp_path / "c.parquet"), "--out",
                     str(tmp_path / "out"), "--overwrite", "--as-of", at,
                     "--history", f"contacts={tmp_path / 'h.parquet'}"]) == 0
        out = pq.read_table(tmp_path / "out" / "assignments.parquet")
        assert out.column("channel").to_pylist() == want, at
    assert main(["run", str(tmp_path / "q.pol"), "--input", str(tmp_path / "c.parquet"), "--out",
                 str(tmp_path / "out2"), "--as-of", "2026-11-01T25:00"]) == 2


@pytest.mark.parametrize("rule, at", [
    ("quiet call from 24:00 to 08:00", (13, 21)),
    ("quiet call from 21:60 to 08:00", (13, 21)),
    ("quiet call from 08:00 to 08:00", (13, 30)),
])
def test_quiet_hours_errors(rule, at):
    errs = check_text(HEAD + "contact contacts {\n    " + rule + "\n}\n").diagnostics.errors
    assert [(x.code, x.line, x.span.col) for x in errs] == [("E-CONTACT-004", *at)] and errs[0].hint


def test_quiet_hours_print_and_format():
    text = HEAD + "contact contacts {   quiet call  from 21:00 to 08:00 }\n"
    tree, _ = parse(Source("q.pol", text))
    assert "    quiet call from 21:00 to 08:00\n" in print_file(tree)
    assert "contact contacts {\n    quiet call from 21:00 to 08:00\n}" in format_text(text).text


def test_spark_asks_for_the_contact_log_before_any_work(policy, tmp_path, capsys):
    """A Spark run of a policy that reads the contact log without it is
    refused at once, in the local run's words, not on a worker (Spark runs
    with the log: tests/test_spark_history.py)."""
    pytest.importorskip("pyspark")
    with pytest.raises(pol.ArgumentError, match="reads history 'contacts' but no events were given"):
        pol.spark.evaluate(policy, None)
    (tmp_path / "p.pol").write_text(POLICY, encoding="utf-8")
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"id": [1], "app_on": [True]}), tmp_path / "c.parquet")
    from pol.cli.run import run_command
    assert run_command(str(tmp_path / "p.pol"), str(tmp_path / "c.parquet"), str(tmp_path / "o"),
                       engine="spark") == 2
    err = capsys.readouterr().err
    assert "give its events with --history contacts=PATH" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_pol_serve_decides_with_the_events_and_the_time_of_the_request(tmp_path):
    """A decision request carries the customer's events and its moment."""
    pytest.importorskip("uvicorn")
    from tests.serving import Served
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "contact.pol").write_text("policy contact\n" + POLICY.replace(
        "    suppress family", "    quiet call from 21:00 to 08:00\n    suppress family"), encoding="utf-8")
    here = pol.load(policies / "contact.pol")
    sms = [{"sent_at": "2026-11-01", "channel": "sms"}, {"sent_at": "2026-10-30", "channel": "sms"}]
    with Served(policies, tmp_path / "state") as server:
        for as_of, events in [("2026-11-01T22:00", []), ("2026-11-01T10:00", []), ("2026-11-01T22:00", sms),
                              ("2026-11-01", sms)]:
            r = server.post("/v1/decide", {"record": {"id": 7, "app_on": True}, "as_of": as_of,
                                           "history": {"contacts": events}})
            assert r.status_code == 200, r.text
            want = here.decide({"id": 7, "app_on": True}, as_of=as_of, history={"contacts": events},
                               engine="reference")
            assert [(o["offer"], o["channel"]) for o in r.json()["offers"]] == [
                (o.offer, o.channel) for o in want.offers], as_of
        assert r.json()["offers"][0]["channel"] == "call"       # a date alone: no quiet hours
        bad = server.post("/v1/decide", {"record": {"id": 7}, "history": {"contact": []}})
        assert bad.status_code == 400 and "contact" in bad.text
        bad = server.post("/v1/decide", {"record": {"id": 7}, "history": ["x"]})
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "history"


def test_pol_diff_reads_history(tmp_path, capsys):
    """A what-if of the contact policy: two SMS a week against one."""
    one = tmp_path / "one.pol"
    one.write_text(POLICY.replace("limit sms to 2 within 7 days", "limit sms to 1 within 7 days"), encoding="utf-8")
    two = tmp_path / "two.pol"
    two.write_text(POLICY, encoding="utf-8")
    customers = pa.table({"id": [1, 2, 3], "app_on": [False, False, True]})
    events = _table([_event(1, "sms", None, None, 1), _event(1, "sms", None, None, 3)])
    result = pol.diff([str(one), str(two)], customers, as_of=AS_OF, history={"contacts": events})
    changed = result.changes.column("id").to_pylist()
    assert changed == [1, 3]        # with a second SMS allowed, 1 gets offers by SMS, 3 its flow pack by SMS
    with pytest.raises(pol.ArgumentError, match="no events were given"):
        pol.diff([str(one), str(two)], customers, as_of=AS_OF)
    import pyarrow.parquet as pq
    pq.write_table(customers, tmp_path / "c.parquet")
    pq.write_table(events, tmp_path / "h.parquet")
    from pol.cli.main import main
    base = ["diff", str(one), str(two), "--input", str(tmp_path / "c.parquet"), "--as-of", "2026-11-01"]
    assert main([*base, "--out", str(tmp_path / "d0")]) == 2
    assert "--history contacts=PATH" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "d1"), "--history", f"contacts={tmp_path / 'h.parquet'}"]) == 0
    assert pq.read_table(tmp_path / "d1" / "changes.parquet").column("id").to_pylist() == [1, 3]
