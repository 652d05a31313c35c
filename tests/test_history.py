"""History tables (LANGUAGE.md section 12): the checker's errors, the window
and null rules on every evaluator (the reference evaluator is the oracle),
random events through the grouped batch path against the reference, and
`pol run --history`."""
from __future__ import annotations

import datetime as dt
import json
import random

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pol
from pol.compiler.frontend.driver import check_text
from pol.errors import ArgumentError, DataError

AS_OF = dt.date(2026, 11, 1)

POLICY = """
input customer key id { id: int  limit: int? }
history contacts key customer_id at sent_at {
    customer_id: int
    sent_at: date?
    channel: string
    outcome: string?
    cost: float?
    units: int?
    done: bool?
}
let n_all = count(contacts)
let n_sms7 = count(contacts where channel == "sms" within 7 days)
let n_1 = count(contacts within 1 days)
let dsl = days_since_last(contacts where outcome == "refused")
let cost30 = sum(contacts.cost within 30 days)
let units = sum(contacts.units)
let avg_cost = avg(contacts.cost)
let avg_units = avg(contacts.units where channel != "app")
let lo = min(contacts.cost)
let hi = max(contacts.sent_at within 90 days)
let hi_units = max(contacts.units)
let lo_units = min(contacts.units where channel == "sms")
let hi_cost = max(contacts.cost within 60 days)
let first_cost = first(contacts.cost within 30 days)
let last_cost = last(contacts.cost)
let last_units = last(contacts.units where channel != "app")
let first_ch = first(contacts.channel)
let last_outcome = last(contacts.outcome)
let last_done = last(contacts.done)
segment capped "短信上限" = n_sms7 >= coalesce(limit, 2)
score spend = cost30 + 1
"""
NAMES = ["n_all", "n_sms7", "n_1", "dsl", "cost30", "units", "avg_cost", "avg_units", "lo", "hi",
         "hi_units", "lo_units", "hi_cost", "first_cost", "last_cost", "last_units", "first_ch", "last_outcome", "last_done"]
FIELDS = {"customer_id": pa.int64(), "sent_at": pa.date32(), "channel": pa.string(), "outcome": pa.string(),
          "cost": pa.float64(), "units": pa.int64(), "done": pa.bool_()}


def d(days_before: int) -> dt.date:
    return AS_OF - dt.timedelta(days=days_before)


def ev(cid, sent_at, channel="sms", outcome=None, cost=None, units=None, done=None):
    return {"customer_id": cid, "sent_at": sent_at, "channel": channel, "outcome": outcome, "cost": cost,
            "units": units, "done": done}


# The edges: each customer one case. Unsorted on purpose.
EVENTS = [
    ev(2, d(6)), ev(1, d(0), cost=1.5, units=3), ev(2, d(7)),            # 2: 6 days in, 7 days out
    ev(3, d(-1), outcome="refused", cost=9.0),                            # 3: future only
    ev(4, None, outcome="refused"),                                       # 4: undated only
    ev(1, d(3), channel="call", outcome="refused", cost=2.25, units=-1, done=True),
    ev(5, d(10), channel="app", outcome="refused", done=False), ev(5, d(10), channel="call", outcome="ok"),
    ev(6, d(0), cost=float("nan"), units=2 ** 62), ev(6, d(1), units=2 ** 62), ev(6, d(2), cost=3.0),
    ev(99, d(1)), ev(98, d(2)), ev(98, d(3)),                            # no such customers
    ev(1, d(29), cost=0.25), ev(1, d(30), cost=100.0),                    # 30 days: 29 in, 30 out
]
CUSTOMERS = [{"id": i, "limit": None} for i in (1, 2, 3, 4, 5, 6, 7)]


def events_of(cid):
    return [e for e in EVENTS if e["customer_id"] == cid]


def table(events):
    return pa.table({k: pa.array([e[k] for e in events], t) for k, t in FIELDS.items()})


@pytest.fixture(scope="module")
def policy():
    return pol.loads(POLICY)


def reference(policy, cid):
    row = {"id": cid}
    lets = pol_values(policy, row, events_of(cid))
    return lets


def pol_values(policy, record, events):
    from pol.reference.interp import evaluate_row
    r = evaluate_row(policy.program, record, AS_OF, history={"contacts": events})
    return r.values


def test_the_window_and_null_rules_on_the_reference(policy):
    v = {c["id"]: reference(policy, c["id"]) for c in CUSTOMERS}
    assert v[1]["n_all"] == 4 and v[1]["n_1"] == 1 and v[1]["dsl"] == 3
    assert v[1]["cost30"] == 1.5 + 2.25 + 0.25          # the event 30 days back is out of the window
    assert v[1]["units"] == 2 and v[1]["first_ch"] == "sms" and v[1]["last_outcome"] is None
    assert v[2]["n_sms7"] == 1                           # 6 days back in, 7 days back out
    assert v[3] == v[4] == v[7]                          # future and undated events: never counted
    assert v[7]["n_all"] == 0 and v[7]["cost30"] == 0.0 and v[7]["units"] == 0
    assert v[7]["dsl"] is None and v[7]["avg_cost"] is None and v[7]["lo"] is None and v[7]["first_ch"] is None
    assert v[5]["last_outcome"] == "ok" and v[5]["first_ch"] == "app"      # a tie: input order decides
    assert v[5]["last_done"] is None and v[5]["dsl"] == 10
    assert v[6]["units"] is None                         # beyond 64 bits
    assert v[6]["cost30"] == 3.0 and v[6]["lo"] == 3.0   # NaN reads as null
    assert v[1]["hi"] == AS_OF and v[1]["avg_units"] == 1.0


@pytest.mark.parametrize("engine", ["vector", "kernel"])
def test_every_evaluator_agrees_with_the_reference(policy, engine):
    customers = pa.table({"id": [c["id"] for c in CUSTOMERS], "limit": pa.array([None] * 7, pa.int64())})
    result = policy.evaluate(customers, as_of=AS_OF, history={"contacts": table(EVENTS)}, engine=engine)
    rows = result.customers.to_pylist()
    for row in rows:
        ref = reference(policy, row["id"])
        assert row["capped"] == ref["capped"] and row["spend"] == ref["spend"], row["id"]
    h = result.summary["history"]["contacts"]
    assert h == {"events": len(EVENTS), "matched": len(EVENTS) - 3, "unmatched": 3, "undated": 1, "future": 1}


def test_the_batch_columns_equal_the_reference_aggregates(policy):
    """Every aggregate column the kernels read, value by value and null by null."""
    from pol.evaluation.history import HistoryTables
    tables = HistoryTables(policy.program, policy.lowered.columns, {"contacts": table(EVENTS)}, AS_OF)
    batch = tables.extend(pa.record_batch({"id": [c["id"] for c in CUSTOMERS]}))
    for k, c in enumerate(CUSTOMERS):
        ref = reference(policy, c["id"])
        got = {col.name: batch.column(col.name)[k].as_py() for col in policy.lowered.columns}
        want = {col.name: _aggregate(policy, col.aggregate, c["id"]) for col in policy.lowered.columns}
        assert got == want, (c["id"], ref)


def _aggregate(policy, agg, cid):
    from pol.reference.expr import Env, eval_expr
    from pol.reference.interp import _events
    events, hists = _events(policy.program, {"contacts": events_of(cid)}, cid)
    return eval_expr(agg, Env({}, today=AS_OF, events=events, histories=hists))


def test_decide_on_the_row_kernel_and_the_reference(policy):
    for c in CUSTOMERS:
        events = [{k: v for k, v in e.items() if k != "customer_id"} for e in events_of(c["id"])]
        a = policy.decide(c, as_of=AS_OF, history={"contacts": events}, engine="reference")
        b = policy.decide(c, as_of=AS_OF, history={"contacts": events}, engine="kernel")
        assert a == b


@pytest.fixture(params=["generic", "specialized"])
def scan(request, monkeypatch):
    """The aggregation scan: the generic one, or the one specialized for the
    policy's aggregates (engine/evaluation/history_scan.py), which a
    history of SPECIALIZE_FROM events or more gets."""
    from pol.compiler.backend import cache
    from pol.evaluation import history_scan
    if request.param == "specialized":
        monkeypatch.setattr(history_scan, "SPECIALIZE_FROM", 0)
    else:       # not even the specialized scan another test compiled
        monkeypatch.setattr(history_scan, "SPECIALIZE_FROM", 1 << 62)
        monkeypatch.setattr(cache, "is_ready", lambda *a: False)
    return request.param


def test_random_events_agree_with_the_reference(policy, scan):
    """Random events, unsorted, with nulls and ties, for 300 customers."""
    rng = random.Random(14)
    events = []
    for _ in range(3000):
        events.append(ev(rng.randrange(1, 320), rng.choice([None, d(rng.randrange(-5, 120))]),
                         rng.choice(["sms", "app", "call"]), rng.choice([None, "refused", "ok"]),
                         rng.choice([None, rng.uniform(-5, 5), float("inf")]), rng.choice([None, rng.randrange(-9, 9)]),
                         rng.choice([None, True, False])))
    tables = assert_reference_columns(policy, table(events), events, list(range(1, 301)), AS_OF, approx=True)
    assert tables.summary()["contacts"]["unmatched"] == sum(1 for e in events if e["customer_id"] > 300)


def assert_reference_columns(policy, events_table, events, ids, as_of, approx=False):
    """Every aggregate column of the batch path for the customers `ids`
    equals the reference evaluator's over each one's `events` (floats
    approximately where `approx`); the HistoryTables, for their summary."""
    from pol.evaluation.history import HistoryTables
    from pol.reference.expr import Env, eval_expr
    from pol.reference.interp import _events
    tables = HistoryTables(policy.program, policy.lowered.columns, {"contacts": events_table}, as_of)
    batch = tables.extend(pa.record_batch({"id": ids}))
    by_id: dict = {}
    for e in events:
        by_id.setdefault(e["customer_id"], []).append(e)
    for k, cid in enumerate(ids):
        evs, hists = _events(policy.program, {"contacts": by_id.get(cid, [])}, cid)
        for col in policy.lowered.columns:
            want = eval_expr(col.aggregate, Env({}, today=as_of, events=evs, histories=hists))
            got = batch.column(col.name)[k].as_py()
            if approx and isinstance(want, float):
                assert got == pytest.approx(want), (cid, col)
            else:
                assert got == want, (cid, col.aggregate)
    return tables


@pytest.mark.parametrize("text, code", [
    ("let x = count(contact)", "E-FUNC-001"),
    ("let x = count(contact within 7 days)", "E-HIST-001"),
    ("let x = sum(contacts.channel)", "E-HIST-004"),
    ("let x = sum(contacts)", "E-HIST-004"),
    ("let x = count(contacts.cost)", "E-HIST-004"),
    ("let x = min(contacts.done)", "E-HIST-004"),
    ("let x = sum(contacts.cots)", "E-HIST-003"),
    ("let x = count(contacts within 0 days)", "E-HIST-006"),
    ("let x = count(contacts within 100001 days)", "E-HIST-006"),
    ("let x = count(contacts where id == 1)", "E-HIST-005"),
    ("let x = count(contacts where count(contacts) > 1)", "E-HIST-005"),
    ("let x = count(contacts where cost)", "E-TYPE-008"),
    ("let x = contacts", "E-NAME-004"),
    ("segment contacts = true", "E-NAME-002"),
    ('test "t" { given contacts { channel: "sms" } }', "E-HIST-007"),
    ('test "t" { given contact { sent_at: 2026-01-01 } }', "E-HIST-001"),
    ('test "t" { given contacts { sent_at: 2026-01-01, chanel: "sms" } }', "E-HIST-003"),
])
def test_errors(text, code):
    head = POLICY.split("let n_all")[0]
    diags = check_text(head + text + "\n").diagnostics
    assert [x.code for x in diags.errors] == [code], [(x.code, x.message) for x in diags.errors]
    assert all(x.hint for x in diags.errors)


@pytest.mark.parametrize("decl, code", [
    ("history h key cid at day { cid: string  day: date }", "E-HIST-002"),
    ("history h key cid at day { cid: int?  day: date }", "E-HIST-002"),
    ("history h key cid at day { cid: int  day: int }", "E-HIST-002"),
    ("history h key cid at day { day: date }", "E-HIST-002"),
    ("history h key cid at day { cid: int }", "E-HIST-002"),
])
def test_declaration_errors(decl, code):
    diags = check_text("input c key id { id: int }\n" + decl + "\n").diagnostics
    assert [x.code for x in diags.errors] == [code]


def test_wrong_inputs_are_refused_clearly(policy):
    customers = pa.table({"id": [1], "limit": pa.array([None], pa.int64())})
    with pytest.raises(ArgumentError, match="no events were given"):
        policy.evaluate(customers, as_of=AS_OF)
    with pytest.raises(ArgumentError, match="declares no history 'contact'"):
        policy.evaluate(customers, as_of=AS_OF, history={"contact": table(EVENTS)})
    with pytest.raises(DataError, match="'channel'"):
        policy.evaluate(customers, as_of=AS_OF, history={"contacts": table(EVENTS).drop(["channel"])})
    bad = table([ev(1, d(1), channel=None)])
    with pytest.raises(DataError, match="column 'channel'.*keys 1"):
        policy.evaluate(customers, as_of=AS_OF, history={"contacts": bad})
    with pytest.raises(DataError, match="event 1 of history 'contacts'.*cost"):
        policy.decide({"id": 1}, as_of=AS_OF, history={"contacts": [{"sent_at": "2026-10-01", "channel": "sms",
                                                                     "cost": "free"}]}, engine="reference")
    with pytest.raises(DataError, match="belongs to customer_id 2"):
        policy.decide({"id": 1}, as_of=AS_OF, history={"contacts": [ev(2, d(1))]}, engine="reference")


def test_an_empty_history_counts_nothing(policy):
    customers = pa.table({"id": [1, 2], "limit": pa.array([0, None], pa.int64())})
    r = policy.evaluate(customers, as_of=AS_OF, history={"contacts": table([])}, engine="vector")
    assert r.customers.column("capped").to_pylist() == [True, False]
    assert r.summary["history"]["contacts"]["events"] == 0


def test_explanations_show_the_aggregates_with_their_values(policy):
    """What explain and a failing test print behind a condition."""
    from pol.reference.interp import evaluate_row
    from pol.reference.trace import values_behind
    row = evaluate_row(policy.program, {"id": 2}, AS_OF, history={"contacts": events_of(2)})
    seg = next(s for s in policy.program.segments if s.name == "capped")
    shown = dict(values_behind(seg.expr, row.env))
    assert shown['count(contacts where channel == "sms" within 7 days)'] == 1


def test_pol_run_with_history(tmp_path, policy, capsys):
    from pol.cli.run import run_command
    (tmp_path / "p.pol").write_text(POLICY, encoding="utf-8")
    pacsv.write_csv(pa.table({"id": [1, 2, 7], "limit": pa.array([None, 1, None], pa.int64())}),
                    tmp_path / "c.csv")
    pacsv.write_csv(table(EVENTS), tmp_path / "contacts.csv")
    out = tmp_path / "out"
    rc = run_command(str(tmp_path / "p.pol"), str(tmp_path / "c.csv"), str(out), "2026-11-01", progress=False,
                     history=[f"contacts={tmp_path / 'contacts.csv'}"])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["history"]["contacts"]["unmatched"] == len(EVENTS) - len(events_of(1)) - len(events_of(2))
    assert summary["segments"]["capped"]["count"] == 1
    assert run_command(str(tmp_path / "p.pol"), str(tmp_path / "c.csv"), str(tmp_path / "o2"), "2026-11-01",
                       progress=False, history=["contacts"]) == 2
    assert run_command(str(tmp_path / "p.pol"), str(tmp_path / "c.csv"), str(tmp_path / "o3"), "2026-11-01",
                       progress=False) == 2
    from pol.cli.main import main
    policy_file, customers = str(tmp_path / "p.pol"), str(tmp_path / "c.csv")
    assert main(["explain", policy_file, "--input", customers, "--key", "2", "--as-of", "2026-11-01",
                 "--history", f"contacts={tmp_path / 'contacts.csv'}"]) == 0
    assert "capped (短信上限): yes" in capsys.readouterr().out      # 1 SMS this week, limit 1


@pytest.mark.parametrize("kind", ["sparse", "string"])
def test_every_kind_of_key_groups_the_same(policy, kind):
    """Dense int keys are their own group; sparse ints and strings are
    looked up (engine/evaluation/history.Groups): the columns are the same."""
    from pol.evaluation.history import HistoryTables
    ids = [c["id"] for c in CUSTOMERS] + [98, 99]
    dense = HistoryTables(policy.program, policy.lowered.columns, {"contacts": table(EVENTS)}, AS_OF)
    want = dense.extend(pa.record_batch({"id": ids}))
    def f(k):
        return k * 10 ** 15 - 7 if kind == "sparse" else f"客户{k}"
    other = policy if kind == "sparse" else \
        pol.loads(POLICY.replace("id: int", "id: string").replace("customer_id: int", "customer_id: string"))
    events = table(EVENTS)
    keyed = events.set_column(0, "customer_id", pa.array([f(k) for k in events.column(0).to_pylist()]))
    tables = HistoryTables(other.program, other.lowered.columns, {"contacts": keyed}, AS_OF)
    got = tables.extend(pa.record_batch({"id": [f(k) for k in ids[:-2]] + [f(10 ** 3), None]}))
    for col in policy.lowered.columns:
        assert got.column(col.name).to_pylist()[:-2] == want.column(col.name).to_pylist()[:-2], col
    assert tables.summary()["contacts"]["unmatched"] == 3


def test_pol_gen_makes_events_a_run_reads(tmp_path):
    from pol.cli.gen import generate
    from pol.cli.gen_history import generate_events
    p = pol.loads(POLICY)
    customers = generate(p.program, 400, seed=3, as_of=AS_OF)
    events = generate_events(p.program, customers, seed=3, as_of=AS_OF)["contacts"]
    assert events.num_rows == 1200
    assert generate_events(p.program, customers, seed=3, as_of=AS_OF)["contacts"].equals(events)
    assert "sms" in events.column("channel").to_pylist() and "refused" in events.column("outcome").to_pylist()
    r = p.evaluate(customers, as_of=AS_OF, history={"contacts": events}, engine="vector")
    h = r.summary["history"]["contacts"]
    assert 0 < h["unmatched"] < 150 and h["future"] > 0 and h["undated"] > 0
    assert 0 < sum(r.customers.column("capped").to_pylist()) < 400


_event = st.fixed_dictionaries({
    "customer_id": st.integers(1, 6),
    "sent_at": st.one_of(st.none(), st.integers(-3, 40).map(d)),
    "channel": st.sampled_from(["sms", "app", "call"]),
    "outcome": st.sampled_from([None, "refused", "ok"]),
    "cost": st.one_of(st.none(), st.floats(-1e3, 1e3), st.just(float("nan")), st.just(1e308)),
    "units": st.one_of(st.none(), st.integers(-2 ** 63, 2 ** 63 - 1), st.integers(-5, 5)),
    "done": st.one_of(st.none(), st.booleans()),
})


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.lists(_event, max_size=40))
def test_any_events_give_the_reference_aggregates(policy, scan, events):
    """Hypothesis: any events (unsorted, nulls, ties, NaN, huge values, keys of
    no customer) give every aggregate column the reference evaluator's value."""
    from pol.evaluation.history import HistoryTables
    from pol.reference.expr import Env, eval_expr
    from pol.reference.interp import _events
    tables = HistoryTables(policy.program, policy.lowered.columns, {"contacts": table(events)}, AS_OF)
    ids = [1, 2, 3, 4, 5]
    batch = tables.extend(pa.record_batch({"id": ids}))
    for k, cid in enumerate(ids):
        mine = [e for e in events if e["customer_id"] == cid]
        evs, hists = _events(policy.program, {"contacts": mine}, cid)
        for col in policy.lowered.columns:
            want = eval_expr(col.aggregate, Env({}, today=AS_OF, events=evs, histories=hists))
            assert batch.column(col.name)[k].as_py() == want, (cid, col.aggregate)
    assert tables.summary()["contacts"]["unmatched"] == sum(e["customer_id"] == 6 for e in events)
