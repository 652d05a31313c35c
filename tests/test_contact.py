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
    for engine, size in (("vector", 8), ("kernel", 8), ("kernel", 3)):      # max 2: the walk uses rooms
        r = policy.evaluate(customers.to_batches(max_chunksize=size), as_of=AS_OF,
                            history={"contacts": _table(events)}, engine=engine)
        got = [(a["id"], a["offer"], a["channel"]) for a in r.assignments.to_pylist()]
        assert got == want, (engine, size)


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


# ------------------------------------------------- contact caps within a run (14.1)

# sms: the least of 2 a week and 3 a month; call: 1 in 3 days. Under max 3 the
# walk counts what it gives through each against the customer's room.
ROOMS = HEAD + """contact contacts {
    limit sms to 2 within 7 days
    limit sms to 3 within 30 days
    limit call to 1 within 3 days
}
offer a { eligible when true  channels sms  priority 5 }
offer b { eligible when true  channels sms, app  priority 4 }
offer c { eligible when true  channels call, sms  priority 3 }
offer d { eligible when true  channels sms  priority 2 }
offer e { eligible when app_on  channels app  priority 1 }
arbitrate { max 3 per customer }
"""


def _sent(*days, channel="sms"):
    return [{"sent_at": AS_OF - dt.timedelta(days=n), "channel": channel} for n in days]


# (customer's contacts, their app_on) -> the offers given, with channels
ROOM_CASES = [
    ([], True, [("a", "sms"), ("b", "sms"), ("c", "call")]),                # room 2 on sms: exactly used
    (_sent(1), True, [("a", "sms"), ("c", "call"), ("e", "app")]),            # room exactly 1: b lost, not to app
    (_sent(1, 2), True, [("b", "app"), ("c", "call"), ("e", "app")]),         # room 0: sms closed, b by app
    (_sent(10, 20), False, [("a", "sms"), ("c", "call")]),                    # the month's limit leaves 1
    (_sent(1) + _sent(1, channel="call"), None, [("a", "sms")]),              # call closed, c by sms: no room
    (_sent(1, channel="app") * 5, None, [("a", "sms"), ("b", "sms"), ("c", "call")]),   # other channels' contacts
]


def _run(policy, records, events, engine, size, params=None):
    r = policy.evaluate(pa.Table.from_pylist(records, schema=pa.schema([("id", pa.int64()), ("app_on", pa.bool_())]))
                        .to_batches(max_chunksize=size), as_of=AS_OF, history={"contacts": _table(events)},
                        engine=engine, params=params)
    return [(a["id"], a["offer"], a["channel"], a["control"]) for a in r.assignments.to_pylist()], r.summary


def _oracle(policy, records, events):
    """The reference evaluator's rows through the oracle's run-wide walk."""
    from pol.reference.interp import evaluate_row
    from pol.reference.matching import match_all
    rows = [evaluate_row(policy.program, r, AS_OF, trace=False, history={
        "contacts": [{k: v for k, v in e.items() if k != "cid"} for e in events if e["cid"] == r["id"]]})
        for r in records]
    run = match_all(policy.program, rows)
    return ([(k, o, ch, ctrl) for k, o, _, ch, _, ctrl in run.assignments([r["id"] for r in records])],
            run.funnel)


def _agree_everywhere(text: str, records: list[dict], events: list[dict]) -> tuple[list, dict]:
    """Every evaluator, every batch size, against the oracle: assignments and funnel."""
    policy = pol.loads(text)
    want, funnel = _oracle(policy, records, events)
    for engine in ("vector", "kernel"):
        for size in (1, 2, len(records)):
            got, summary = _run(policy, records, events, engine, size)
            assert got == want, (engine, size)
            assert {o: {f: c[f] for f in funnel[o]} for o, c in summary["offers"].items()} == funnel, (engine, size)
    return want, funnel


def test_offers_of_one_walk_use_the_customers_room_on_every_evaluator():
    policy = pol.loads(ROOMS)
    assert policy.program.arbitrate.rooms == (("sms", "contact:sms"), ("call", "contact:call"))
    records, events = [], []
    for i, (sent, app, want) in enumerate(ROOM_CASES, start=1):
        record = {"id": i, "app_on": app}
        records.append(record)
        events += [{"cid": i, **e, "family": None, "outcome": None} for e in sent]
        for engine in ("reference", "kernel"):
            d = policy.decide(record, as_of=AS_OF, history={"contacts": sent}, engine=engine)
            assert [(o.offer, o.channel) for o in d.offers] == want, (i, engine)
    want, funnel = _agree_everywhere(ROOMS, records, events)
    assert [(k, o, ch) for k, o, ch, _ in want] == [(i, o, ch) for i, (_, _, w) in enumerate(ROOM_CASES, start=1)
                                                    for o, ch in w]
    # b lost in cases 2, 4 and 5, c in case 5, d everywhere it was not lost to max
    assert (funnel["b"]["lost_to_contact_cap"], funnel["c"]["lost_to_contact_cap"]) == (3, 1)
    assert funnel["d"]["lost_to_contact_cap"] + funnel["d"]["lost_to_max"] == funnel["d"]["candidates"]


def test_explain_names_the_limit_that_refused_an_offer():
    policy = pol.loads(ROOMS)
    why = policy.explain({"id": 1, "app_on": False}, as_of=AS_OF, history={"contacts": _sent(10, 20)})
    b = next(o for o in why.offers if o.name == "b")
    assert (b.reason, b.to) == ("contact_cap", ("a",))
    # the month's limit has the least room: it is the one named, with its count
    assert "lost under the contact cap of sms (短信) (limit sms to 3 within 30 days: 2 in the history, 1 left" \
        in b.summary
    assert "contact:" not in str(why)           # the rooms are the compiler's, never shown


def test_the_rooms_are_hidden_from_every_output():
    policy = pol.loads(ROOMS.replace("offer a {", "score s = 1\noffer a {"))
    d = policy.decide({"id": 1, "app_on": True}, as_of=AS_OF, history={"contacts": []}, engine="kernel")
    assert d.scores == {"s": 1.0}
    assert policy.decide({"id": 1, "app_on": True}, as_of=AS_OF, history={"contacts": []},
                         engine="reference").scores == {"s": 1.0}
    r = policy.evaluate(pa.table({"id": [1], "app_on": [True]}), as_of=AS_OF, history={"contacts": _table([])})
    assert "contact:sms" not in r.customers.column_names and "s" in r.customers.column_names


def test_one_offer_a_customer_has_no_rooms_and_the_same_kernels():
    from pol.compiler.backend import codegen
    from pol.compiler.backend import layout as names
    one = pol.loads(ROOMS.replace("max 3 per customer", "max 1 per customer"))
    assert one.program.arbitrate.rooms == () and [s.name for s in one.program.scores] == []
    assert names.ROOM_OF not in codegen.batch_parameters(one.program, one.plan, True)
    many = pol.loads(ROOMS)
    assert names.ROOM_OF in codegen.batch_parameters(many.program, many.plan, True)
    d = one.decide({"id": 1, "app_on": True}, as_of=AS_OF, history={"contacts": _sent(1)}, engine="kernel")
    assert [(o.offer, o.channel) for o in d.offers] == [("a", "sms")]


def test_rooms_travel_with_the_customers_handed_to_the_run_wide_walk():
    """A capacity sends the customers of its offer through the run-wide walk
    (the fused kernel's hand-over, or take_constrained): their rooms go too;
    the others are walked per batch. A channel capacity counts customers."""
    capped = ROOMS.replace("offer a { eligible when true  channels sms  priority 5 }",
                           "offer a { eligible when app_on == true  channels sms  priority 5  capacity 2 }")
    records = [{"id": i, "app_on": i % 3 != 0} for i in range(1, 9)]
    events = [{"cid": i, **e, "family": None, "outcome": None} for i in (1, 2, 5, 6) for e in _sent(1)]
    want, funnel = _agree_everywhere(capped, records, events)
    assert funnel["a"]["lost_to_capacity"] > 0 and funnel["b"]["lost_to_contact_cap"] > 0
    _agree_everywhere(capped.replace("arbitrate { max 3 per customer }",
                                     "arbitrate { max 3 per customer  capacity call 2 }"), records, events)


def test_controls_are_refused_without_room_but_use_none():
    from pol.reference.matching import is_control
    held = ROOMS.replace("offer a { eligible when true  channels sms  priority 5 }",
                         "offer a { eligible when true  channels sms  priority 5  holdout 50% }")
    policy = pol.loads(held)
    offer_a = next(o for o in policy.program.offers if o.name == "a")
    control = next(k for k in range(1, 100) if is_control(offer_a, k))
    treated = next(k for k in range(1, 100) if not is_control(offer_a, k))
    for key, b_given in ((control, True), (treated, False)):
        d = policy.decide({"id": key, "app_on": False}, as_of=AS_OF, history={"contacts": _sent(1)})
        assert [(o.offer, o.control) for o in d.offers][:2] == ([("a", True), ("b", False)] if b_given
                                                                else [("a", False), ("c", False)])
    # no room at all: the channel is closed, to controls as to anyone
    d = policy.decide({"id": control, "app_on": False}, as_of=AS_OF, history={"contacts": _sent(1, 2)})
    assert [o.offer for o in d.offers] == ["c"]
    records = [{"id": k, "app_on": False} for k in (control, treated)]
    events = [{"cid": k, **e, "family": None, "outcome": None} for k in (control, treated) for e in _sent(1)]
    for text in (held, held.replace("holdout 50%", "holdout 50%  capacity 5")):     # per batch, run-wide
        want, _ = _agree_everywhere(text, records, events)
        assert (control, "a", "sms", True) in want and (control, "b", "sms", False) in want


@pytest.mark.parametrize("most", [2, 3])      # max 2: the search's thresholds in closed form
def test_maximize_priority_walks_within_the_rooms(most):
    """The allocation's search leaves the rooms out; the walk after it keeps
    every customer within theirs, the same on every evaluator."""
    text = ROOMS.replace("offer a { eligible when true  channels sms  priority 5 }",
                         "offer a { eligible when true  channels sms  priority 5  capacity 1 }"
                         ).replace("arbitrate { max 3 per customer }",
                                   f"arbitrate {{ max {most} per customer  maximize priority }}")
    records = [{"id": i, "app_on": False} for i in range(1, 5)]
    events = [{"cid": i, **e, "family": None, "outcome": None} for i in (1, 3) for e in _sent(1)]
    want, funnel = _agree_everywhere(text, records, events)
    for i in (1, 3):        # one SMS left: at most one offer by SMS
        assert sum(1 for k, _, ch, _ in want if k == i and ch == "sms") <= 1
    assert sum(f["lost_to_contact_cap"] for f in funnel.values()) > 0


def test_split_kernels_walk_with_the_rooms():
    """A kernel generated in stages (compiler/backend/split.py) reads the
    rooms its stages wrote, per batch and in the hand-over."""
    from pol.evaluation.executor import KernelExecutor
    records = [{"id": i, "app_on": app} for i, (_, app, _) in enumerate(ROOM_CASES, start=1)]
    events = [{"cid": i, **e, "family": None, "outcome": None}
              for i, (sent, _, _) in enumerate(ROOM_CASES, start=1) for e in sent]
    capped = ROOMS.replace("priority 5 }", "priority 5  capacity 3 }")
    for text in (ROOMS, capped):
        policy = pol.loads(text)
        want, _ = _oracle(policy, records, events)
        policy._kernel = KernelExecutor(policy.lowered.program, policy.plan, split_at=3, fused=True)
        assert "def stage1" in policy._kernel.source
        assert _run(policy, records, events, "kernel", 4)[0] == want


def test_pol_run_and_pol_test_count_the_rooms(tmp_path, capsys):
    """`pol run` prints and writes the funnel's lost_to_contact_cap; `pol
    check` counts no hidden score; a ledger's decisions walk with the rooms."""
    import json

    import pyarrow.parquet as pq

    from pol.cli.main import main
    (tmp_path / "r.pol").write_text(ROOMS + 'test "one SMS left" {\n    as of 2026-11-01\n    given { id: 1 }\n'
                                    '    given contacts { sent_at: 2026-10-31, channel: "sms" }\n'
                                    "    expect offer a via sms rank 1\n    expect not offer b\n}\n",
                                    encoding="utf-8")
    assert main(["test", str(tmp_path / "r.pol")]) == 0
    assert main(["check", str(tmp_path / "r.pol")]) == 0
    assert "0 scores" in capsys.readouterr().out
    records = [{"id": i, "app_on": app} for i, (_, app, _) in enumerate(ROOM_CASES, start=1)]
    events = [{"cid": i, **e, "family": None, "outcome": None}
              for i, (sent, _, _) in enumerate(ROOM_CASES, start=1) for e in sent]
    pq.write_table(pa.Table.from_pylist(records, schema=pa.schema([("id", pa.int64()), ("app_on", pa.bool_())])),
                   tmp_path / "c.parquet")
    pq.write_table(_table(events), tmp_path / "h.parquet")
    assert main(["run", str(tmp_path / "r.pol"), "--input", str(tmp_path / "c.parquet"), "--out",
                 str(tmp_path / "out"), "--as-of", "2026-11-01", "--history", f"contacts={tmp_path / 'h.parquet'}"]) == 0
    printed = capsys.readouterr().out
    assert "contact cap" in printed
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["offers"]["b"]["lost_to_contact_cap"] == 3
    policy = pol.load(tmp_path / "r.pol")
    ledger = pol.Ledger()
    for i, (sent, app, want) in enumerate(ROOM_CASES, start=1):
        d = policy.decide({"id": i, "app_on": app}, as_of=AS_OF, history={"contacts": sent}, ledger=ledger)
        assert [(o.offer, o.channel) for o in d.offers] == want, i


CAPPED_ROOMS = POLICY.replace("priority 2  attributes", "priority 2  capacity 3  attributes").replace(
    "max 2 per customer", "max 3 per customer  capacity call 4")


@pytest.fixture(scope="module")
def capped_rooms():
    return pol.loads(CAPPED_ROOMS)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(EVENT, max_size=60), st.lists(st.one_of(st.none(), st.booleans()), min_size=8, max_size=8))
def test_random_contacts_with_run_wide_constraints_agree_with_the_oracle(capped_rooms, events, apps):
    """Rooms and run-wide constraints together: the customers handed over
    (the fused kernel's hand-over, take_constrained) and those walked per
    batch, against the oracle's run-wide walk, whatever the batches."""
    policy = capped_rooms
    records = [{"id": i, "app_on": app} for i, app in enumerate(apps, start=1)]
    want, funnel = _oracle(policy, records, events)
    for engine, size in (("vector", 8), ("kernel", 8), ("kernel", 3)):
        got, summary = _run(policy, records, events, engine, size)
        assert got == want, (engine, size)
        assert {o: {f: c[f] for f in funnel[o]} for o, c in summary["offers"].items()} == funnel, (engine, size)
