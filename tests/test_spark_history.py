"""History tables on Spark (docs/SPARK.md, engine/spark/history.py), checked
against the same policy on one machine: the telecom library with the
generated contact log; every aggregate column at the window and null edges
of tests/test_history.py (an event exactly N days back, on the as-of date,
after it, without a date, same-date ties, a customer without events, keys
of no customer); the summary's counts; `pol run --engine spark --history`;
the errors, on the driver, before any kernel pass; and the contact rooms of
LANGUAGE.md 14.1 (the dispatch run, `max 2` with one SMS left), in the
executors' matching and in the driver's walk."""
import datetime as dt
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from test_history import CUSTOMERS, EVENTS, POLICY, table
from test_spark import assert_same, assert_same_run, spark  # noqa: F401  (the session's SparkSession fixture)

import pol
import pol.spark
from pol.cli.sample import generate
from pol.cli.sample_contacts import contacts

AS_OF = dt.date(2026, 11, 1)
ROOT = Path(__file__).resolve().parents[1]
RETENTION = ROOT / "policies" / "telecom" / "retention.pol"


@pytest.fixture(scope="module")
def telecom(tmp_path_factory):
    folder = tmp_path_factory.mktemp("telecom")
    customers = generate(3000, seed=3, as_of=AS_OF)
    events = contacts(customers, AS_OF, seed=3)
    pq.write_table(customers, folder / "customers.parquet")
    # the log as 3 files, so that its events come from several splits
    events_dir = folder / "contacts"
    events_dir.mkdir()
    step = -(-events.num_rows // 3)
    for k in range(3):
        pq.write_table(events.slice(k * step, step), events_dir / f"part-{k}.parquet")
    return folder, customers, events


def _edges(folder: Path, text: str, events: pa.Table):
    (folder / "p.pol").write_text(text, encoding="utf-8")
    customers = pa.table({"id": [c["id"] for c in CUSTOMERS], "limit": pa.array([None] * len(CUSTOMERS), pa.int64())})
    pq.write_table(customers, folder / "customers.parquet")
    # two files, cut between customer 5's two events of one date (`first` and
    # `last` take the one given first, last): Spark lists the larger file first
    (folder / "contacts").mkdir()
    pq.write_table(events.slice(0, 7), folder / "contacts" / "part-0.parquet")
    pq.write_table(events.slice(7), folder / "contacts" / "part-1.parquet")
    return folder, customers, events


@pytest.fixture(scope="module")
def edges(tmp_path_factory):
    return _edges(tmp_path_factory.mktemp("edges"), POLICY, table(EVENTS))


@pytest.fixture(scope="module")
def timestamp_edges(tmp_path_factory):
    """The edges with `at` a timestamp (Spark's TIMESTAMP_NTZ), late in the
    day: an event is placed on the date its wall clock reads."""
    text = POLICY.replace("sent_at: date?", "sent_at: timestamp?").replace(
        "let hi = max(contacts.sent_at within 90 days)\n", "")
    events = table(EVENTS)
    late = pc.add(events.column("sent_at").cast(pa.timestamp("us")), pa.scalar(dt.timedelta(hours=23, minutes=30)))
    events = events.set_column(events.schema.get_field_index("sent_at"), "sent_at", late)
    return _edges(tmp_path_factory.mktemp("timestamp_edges"), text, events)


def test_the_telecom_library_with_its_contact_log(spark, telecom):  # noqa: F811
    folder, customers, events = telecom
    policy = pol.load(RETENTION)
    df = spark.read.parquet(str(folder / "customers.parquet"))
    log = spark.read.parquet(str(folder / "contacts"))
    want = policy.evaluate(customers, as_of=AS_OF, history={"contacts": events}, engine="kernel")
    # the log takes offers away (else the test would not see the aggregates)
    without = policy.evaluate(customers, as_of=AS_OF, history={"contacts": events.schema.empty_table()},
                              engine="kernel")
    assert want.assignments.num_rows < without.assignments.num_rows
    assert_same(pol.spark.evaluate(policy, df, as_of=AS_OF, history={"contacts": log}), want)
    # at 21:30 the quiet hours close the call channel (LANGUAGE.md 14): the time travels too
    late = policy.evaluate(customers, as_of="2026-11-01T21:30", history={"contacts": events}, engine="kernel")
    assert not late.assignments.equals(want.assignments)
    assert_same(pol.spark.evaluate(policy, df, as_of="2026-11-01T21:30", history={"contacts": log}), late)


def assert_same_aggregates(spark, policy, customers_df, customers, events, log):  # noqa: F811
    """The aggregate columns the kernel reads on Spark equal the local run's,
    value by value and null by null, and the summary's counts; the latter."""
    from pol.evaluation.history import HistoryTables
    from pol.spark.dataframes import Prepared
    local = HistoryTables(policy.program, policy.lowered.columns, {"contacts": events}, AS_OF)
    names = [c.name for c in policy.lowered.columns]
    expected = pa.Table.from_batches([local.extend(customers.to_batches()[0])])
    run = Prepared(policy, customers_df, AS_OF, {}, {"contacts": log}, None)
    got = run.input.data.select("id", *[f"`{n}`" for n in names]).toArrow().sort_by("id")
    assert got.column("id").equals(expected.column("id"))
    for n in names:
        want = expected.column(n)
        if pa.types.is_dictionary(want.type):
            want = want.cast(pa.string())
        assert got.column(n).to_pylist() == want.to_pylist(), n
    counts = run.history_counts()
    assert counts == {"contacts": local.summary()["contacts"]}
    return counts


def test_every_aggregate_at_the_window_and_null_edges(spark, edges):  # noqa: F811
    """Aggregates, decisions and counts: the local run's, with the events
    read from files (their positions) or made by createDataFrame (Spark's
    order), and with no events at all."""
    folder, customers, events = edges
    policy = pol.load(folder / "p.pol")
    want = policy.evaluate(customers, as_of=AS_OF, history={"contacts": events}, engine="kernel")
    df = spark.read.parquet(str(folder / "customers.parquet"))
    for log in (spark.read.parquet(str(folder / "contacts")), spark.createDataFrame(events)):
        counts = assert_same_aggregates(spark, policy, df, customers, events, log)
        assert counts == want.summary["history"] == {"contacts": {
            "events": len(EVENTS), "matched": len(EVENTS) - 3, "unmatched": 3, "undated": 1, "future": 1}}
    assert_same(pol.spark.evaluate(policy, df, as_of=AS_OF, history={"contacts": log}), want)
    # no events at all: count and sum are 0, the others null, as in a local run
    empty = spark.createDataFrame(events.slice(0, 0))
    assert_same(pol.spark.evaluate(policy, df, as_of=AS_OF, history={"contacts": empty}),
                policy.evaluate(customers, as_of=AS_OF, history={"contacts": events.slice(0, 0)}, engine="kernel"))


def test_timestamps_and_null_timestamps(spark, timestamp_edges):  # noqa: F811
    folder, customers, events = timestamp_edges
    policy = pol.load(folder / "p.pol")
    log = spark.read.parquet(str(folder / "contacts"))
    counts = assert_same_aggregates(spark, policy, spark.read.parquet(str(folder / "customers.parquet")),
                                    customers, events, log)
    assert counts["contacts"]["undated"] == 1 and counts["contacts"]["future"] == 1


def test_pol_run_engine_spark_history_writes_what_pol_run_writes(spark, edges, tmp_path):  # noqa: F811
    from pol.cli.run import run_command
    folder, _, _ = edges
    policy, data, log = str(folder / "p.pol"), str(folder / "customers.parquet"), str(folder / "contacts")
    local, remote = tmp_path / "local", tmp_path / "spark"
    history = [f"contacts={log}"]
    assert run_command(policy, data, str(local), "2026-11-01", progress=False, history=history) == 0
    assert run_command(policy, data, str(remote), "2026-11-01", progress=False, history=history,
                       engine="spark") == 0
    sb = assert_same_run(local, remote)
    assert sb["history"]["contacts"] == {"events": len(EVENTS), "matched": len(EVENTS) - 3, "unmatched": 3,
                                         "undated": 1, "future": 1, "path": log}


def test_history_errors_on_the_driver(spark, edges, tmp_path, capsys):  # noqa: F811
    from pol.cli.run import run_command
    folder, customers, events = edges
    policy = pol.load(folder / "p.pol")
    df = spark.read.parquet(str(folder / "customers.parquet"))
    with pytest.raises(pol.ArgumentError, match="reads history 'contacts' but no events were given"):
        pol.spark.evaluate(policy, df, as_of=AS_OF)
    with pytest.raises(pol.ArgumentError, match="declares no history 'orders'"):
        pol.spark.evaluate(policy, df, as_of=AS_OF, history={"contacts": df, "orders": df})
    with pytest.raises(pol.ArgumentError, match="must be a Spark DataFrame"):
        pol.spark.evaluate(policy, df, as_of=AS_OF, history={"contacts": events})
    # the engine's own checks of the events: a missing column, a null key
    with pytest.raises(pol.DataError, match="column 'channel'"):
        pol.spark.evaluate(policy, df, as_of=AS_OF, history={"contacts": spark.createDataFrame(
            events.drop_columns(["channel"]))})
    nulls = events.set_column(0, "customer_id", pa.array([None] + events.column(0).to_pylist()[1:], pa.int64()))
    with pytest.raises(pol.DataError, match="customer_id"):
        pol.spark.evaluate(policy, df, as_of=AS_OF, history={"contacts": spark.createDataFrame(nulls)})
    # pol run: as a local run says it, nothing written
    p, data = str(folder / "p.pol"), str(folder / "customers.parquet")
    assert run_command(p, data, str(tmp_path / "o1"), engine="spark") == 2
    assert "give its events with --history contacts=PATH" in capsys.readouterr().err
    assert run_command(p, data, str(tmp_path / "o2"), engine="spark",
                       history=[f"contacts={folder / 'contacts'}", f"orders={folder / 'contacts'}"]) == 1
    assert "the policy declares no such history" in capsys.readouterr().err
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


def test_a_population_that_reads_the_history(spark, edges, tmp_path):  # noqa: F811
    """The aggregates are joined before the population is applied: a
    population over them leaves out the customers a local run leaves out."""
    folder, customers, events = edges
    (tmp_path / "p.pol").write_text(POLICY + "population when n_all > 0\n", encoding="utf-8")
    policy = pol.load(tmp_path / "p.pol")
    want = policy.evaluate(customers, as_of=AS_OF, history={"contacts": events}, engine="kernel")
    assert 0 < want.customers.num_rows < customers.num_rows
    df = spark.read.parquet(str(folder / "customers.parquet"))
    got = pol.spark.evaluate(policy, df, as_of=AS_OF, history={"contacts": spark.read.parquet(
        str(folder / "contacts"))})
    assert_same(got, want)
    # the summary: the history's counts (customers outside the population
    # match events too) and the rows left out, as the local run's
    summary = got.summary()
    assert summary["history"]["contacts"]["matched"] == len(EVENTS) - 3
    assert summary == want.summary


DISPATCH = ROOT / "policies" / "telecom" / "dispatch.pol"


def _lost_to_contact_cap(summary: dict) -> int:
    return sum(o.get("lost_to_contact_cap", 0) for o in summary["offers"].values())


def test_the_dispatch_run_walks_each_customers_room(spark, telecom, tmp_path):  # noqa: F811
    """`max 2 per customer` with the library's contact limits: the walk
    spends each customer's room on a channel (LANGUAGE.md 14.1), on the
    executors as on one machine, through the API and `pol run`."""
    folder, customers, events = telecom
    policy = pol.load(DISPATCH)
    want = policy.evaluate(customers, as_of=AS_OF, history={"contacts": events}, engine="kernel")
    # the sample reaches the rooms: some second offers find their channel full
    assert _lost_to_contact_cap(want.summary) > 0
    df = spark.read.parquet(str(folder / "customers.parquet"))
    log = spark.read.parquet(str(folder / "contacts"))
    assert_same(pol.spark.evaluate(policy, df, as_of=AS_OF, history={"contacts": log}), want)
    summary = _same_pol_run(tmp_path, DISPATCH, folder / "customers.parquet", folder / "contacts")
    assert summary["offers"] == want.summary["offers"]
    assert _lost_to_contact_cap(summary) == _lost_to_contact_cap(want.summary)


def test_rooms_in_the_global_walk_with_binding_capacities(spark, telecom, tmp_path):  # noqa: F811
    """The dispatch run with capacities that bind: the customers with a
    capacity-bound candidate go through the driver's walk, which spends their
    rooms as well; customers in 3 files; at 21:30 too (quiet hours)."""
    folder, customers, events = telecom
    shutil.copytree(DISPATCH.parent, tmp_path / "telecom")
    for name, was, now in (("lifecycle.pol", "capacity 20000", "capacity 60"),
                           ("risk.pol", "capacity 5000", "capacity 15")):
        text = (tmp_path / "telecom" / name).read_text(encoding="utf-8")
        assert was in text
        (tmp_path / "telecom" / name).write_text(text.replace(was, now), encoding="utf-8")
    policy = pol.load(tmp_path / "telecom" / "dispatch.pol")
    parts = tmp_path / "customers"
    parts.mkdir()
    for k in range(3):
        pq.write_table(customers.slice(k * 1000, 1000), parts / f"part-{k}.parquet")
    df = spark.read.parquet(str(parts))
    log = spark.read.parquet(str(folder / "contacts"))
    for as_of in (AS_OF, "2026-11-01T21:30"):
        want = policy.evaluate(customers, as_of=as_of, history={"contacts": events}, engine="kernel")
        lost = want.summary["offers"]
        assert lost["retention.retention_pack"]["lost_to_capacity"] > 0 and _lost_to_contact_cap(want.summary) > 0
        assert_same(pol.spark.evaluate(policy, df, as_of=as_of, history={"contacts": log}), want)
    # the funnel: the driver's walk counts the walked customers, the executors the others
    summary = _same_pol_run(tmp_path, tmp_path / "telecom" / "dispatch.pol", parts, folder / "contacts")
    assert summary["offers"]["retention.retention_pack"]["lost_to_capacity"] > 0 and _lost_to_contact_cap(summary) > 0


ROOMS = """
input customer key id { id: int }
history contacts key customer_id at sent_at { customer_id: int  sent_at: date  channel: string }
contact contacts { limit sms to 2 within 7 days }
channel sms
channel app
offer night_pack { eligible when true  channels sms, app  priority 60 }
offer roaming_pack { eligible when true  channels sms  priority 50 }
offer voice_pack { eligible when id == 3  channels app  priority 40 }
arbitrate { max 2 per customer }
"""


def test_one_sms_left_on_spark(spark, tmp_path):  # noqa: F811
    """Customer 1 has one SMS left this week: the night pack takes it and
    the roaming pack is lost to the contact cap; 2 has two left, 3 none (its
    night pack goes by app), 4's sends are out of the window."""
    policy, customers, events = _one_sms_left(tmp_path, ROOMS)
    want = policy.evaluate(customers, as_of=AS_OF, history={"contacts": events})
    assert [(a["id"], a["offer"], a["channel"]) for a in want.assignments.to_pylist()] == [
        (1, "night_pack", "sms"), (2, "night_pack", "sms"), (2, "roaming_pack", "sms"),
        (3, "night_pack", "app"), (3, "voice_pack", "app"), (4, "night_pack", "sms"), (4, "roaming_pack", "sms")]
    assert want.summary["offers"]["roaming_pack"]["lost_to_contact_cap"] == 1
    got = pol.spark.evaluate(policy, spark.createDataFrame(customers), as_of=AS_OF,
                             history={"contacts": spark.createDataFrame(events)})
    assert_same(got, want)
    summary = _same_pol_run(tmp_path, tmp_path / "p.pol", tmp_path / "customers.parquet",
                            tmp_path / "contacts.parquet")
    assert summary["offers"]["roaming_pack"]["lost_to_contact_cap"] == 1


def _one_sms_left(tmp_path, text: str):
    """The policy `text` (ROOMS or a variant), its four customers and their
    SMS (days back), also as files in tmp_path for `pol run`."""
    (tmp_path / "p.pol").write_text(text, encoding="utf-8")
    customers = pa.table({"id": pa.array([1, 2, 3, 4], pa.int64())})
    sms = [(1, 1), (3, 1), (3, 2), (4, 7), (4, 8)]
    events = pa.table({"customer_id": pa.array([c for c, _ in sms], pa.int64()),
                       "sent_at": pa.array([AS_OF - dt.timedelta(days=n) for _, n in sms], pa.date32()),
                       "channel": ["sms"] * len(sms)})
    pq.write_table(customers, tmp_path / "customers.parquet")
    pq.write_table(events, tmp_path / "contacts.parquet")
    return pol.load(tmp_path / "p.pol"), customers, events


def _same_pol_run(tmp_path, policy: Path, data: Path, log: Path) -> dict:
    """`pol run --history contacts=LOG` locally and on Spark (into
    tmp_path/local, tmp_path/spark) write the same: the summary."""
    from pol.cli.run import run_command
    args = (str(policy), str(data))
    history = [f"contacts={log}"]
    assert run_command(*args, str(tmp_path / "local"), "2026-11-01", progress=False, history=history) == 0
    assert run_command(*args, str(tmp_path / "spark"), "2026-11-01", progress=False, history=history,
                       engine="spark") == 0
    return assert_same_run(tmp_path / "local", tmp_path / "spark")


def test_maximize_priority_leaves_the_rooms_to_the_walk_on_spark(spark, tmp_path):  # noqa: F811
    """Under `maximize priority` (6.7) with a capacity, the allocation is
    searched without the rooms and the walk after it applies them, on the
    driver as on one machine."""
    text = ROOMS.replace("priority 60 }", "priority 60  capacity 3 }").replace(
        "max 2 per customer }", "max 2 per customer\n    maximize priority\n}")
    policy, customers, events = _one_sms_left(tmp_path, text)
    want = policy.evaluate(customers, as_of=AS_OF, history={"contacts": events})
    # the search mattered (it beats the greedy walk), and a room refused an offer after it
    assert want.summary["allocation"]["value"] > want.summary["allocation"]["greedy_value"]
    assert _lost_to_contact_cap(want.summary) == 1
    got = pol.spark.evaluate(policy, spark.createDataFrame(customers), as_of=AS_OF,
                             history={"contacts": spark.createDataFrame(events)})
    assert_same(got, want)
    summary = _same_pol_run(tmp_path, tmp_path / "p.pol", tmp_path / "customers.parquet",
                            tmp_path / "contacts.parquet")
    assert summary["offers"] == want.summary["offers"] and summary["allocation"] == want.summary["allocation"]
