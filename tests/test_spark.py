"""pol on Spark (local mode), checked against the same policy on one machine.

One SparkSession (local[2]) serves every test here; the kernels come from
the test run's cache. The bench policy, and the bench policy with capacities
on offers of constant priority (so ties between customers are broken by
input position, and only the global walk gets them right), run over the
same 20,000 customers split into 4 or 16 files, one file cut into many
partitions, and a shuffled DataFrame with a position column: each gives
Policy.evaluate's tables, row for row. `pol run --engine spark` writes the
files `pol run` writes. Bad input raises pol.DataError on the driver,
naming the column.
"""
import datetime as dt
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from conftest import BENCH_POLICY
from tables import decoded

import pol
import pol.spark

AS_OF = dt.date(2026, 11, 1)
CAPACITIES = {
    # offer: (capacity, holdout line)
    "welcome_gift": "capacity 300",            # priority 60 for everyone: position decides
    "biz_travel": "capacity 150\n    holdout 10%",
    "retention_pack": "capacity 200\n    holdout 5%",
}


def _java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and os.path.exists(os.path.join(home, "bin", "java")):
        return os.path.join(home, "bin", "java")
    return shutil.which("java")


@pytest.fixture(scope="session")
def spark():
    if _java() is None:
        pytest.skip("Java is not installed (PySpark needs a JVM: install Java 17 or set JAVA_HOME); "
                    "the Spark engine is not tested")
    pytest.importorskip("pyspark", reason="PySpark is not installed: pip install -e '.[spark]'")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    # The executors' Python workers inherit this environment. Without
    # POL_CACHE_DIR they would keep kernels in their own folder
    # (engine/spark/worker.py), apart from the driver's, and each of the two
    # would compile every policy the driver has just compiled.
    from pol import cachefolder
    unset = cachefolder.ENV not in os.environ
    os.environ.setdefault(cachefolder.ENV, str(cachefolder.location()))
    from pyspark.sql import SparkSession
    session = (SparkSession.builder.master("local[2]").appName("pol tests")
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "4").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    if unset:
        os.environ.pop(cachefolder.ENV, None)


@pytest.fixture(scope="session")
def capacity_policy(tmp_path_factory):
    text = BENCH_POLICY.read_text(encoding="utf-8")
    for offer, lines in CAPACITIES.items():
        head = text.index(f"offer {offer} ")
        end = text.index("\n}", head)
        text = text[:end] + f"\n    {lines}" + text[end:]
    path = tmp_path_factory.mktemp("capacity") / "bench_capacity.pol"
    path.write_text(text, encoding="utf-8")
    return pol.load(path)


@pytest.fixture(scope="session")
def split_files(tmp_path_factory, bench_table):
    """The bench table as 1, 4 and 16 Parquet files (names sort in row order),
    row groups of 1,000 rows."""
    folders = {}
    for parts in (1, 4, 16):
        folder = tmp_path_factory.mktemp(f"split{parts}")
        step = -(-bench_table.num_rows // parts)
        for k in range(parts):
            pq.write_table(bench_table.slice(k * step, step), folder / f"part-{k:02d}.parquet", row_group_size=1000)
        folders[parts] = folder
    return folders



def by_key(t: pa.Table) -> pa.Table:
    """In key order (the keys are unique), assignments by rank within a customer."""
    keys = [("id", "ascending")] + ([("rank", "ascending")] if "rank" in t.schema.names else [])
    return decoded(t).sort_by(keys)


def assert_same(spark_pair, result):
    customers, assignments = (df.toArrow() for df in spark_pair)
    want_c, want_a = by_key(result.customers), by_key(result.assignments)
    got_c, got_a = by_key(customers), by_key(assignments)
    assert got_c.schema.names == want_c.schema.names and got_a.schema.names == want_a.schema.names
    assert [f.type for f in got_c.schema] == [f.type for f in want_c.schema]
    assert [f.type for f in got_a.schema] == [f.type for f in want_a.schema]
    assert got_c.num_rows == want_c.num_rows
    assert got_a.equals(want_a)
    assert got_c.equals(want_c)


def test_bench_policy_any_partitioning(spark, bench_policy, bench_table, split_files):
    # Without capacities each customer's decision is its own: the most split
    # input, where a batch is a file's row group, stands for every other
    # split (test_capacities_exact_whatever_the_partitioning tries them all).
    want = bench_policy.evaluate(bench_table, as_of=AS_OF, engine="kernel")
    assert want.assignments.num_rows > 5000
    df = spark.read.parquet(str(split_files[16]))
    assert len(df.inputFiles()) == 16
    assert_same(pol.spark.evaluate(bench_policy, df, as_of=AS_OF), want)
    # params travel to the executors, resolved once on the driver
    want = bench_policy.evaluate(bench_table, as_of=AS_OF, params={"churn_days": 10}, engine="kernel")
    assert_same(pol.spark.evaluate(bench_policy, spark.read.parquet(str(split_files[4])), as_of="2026-11-01",
                                   params={"churn_days": "10"}), want)


def test_capacities_exact_whatever_the_partitioning(spark, capacity_policy, bench_table, split_files):
    want = capacity_policy.evaluate(bench_table, as_of=AS_OF, engine="kernel")
    offers = pc.value_counts(want.assignments.column("offer").cast(pa.string())).to_pylist()
    counts = {d["values"]: d["counts"] for d in offers}
    # the capacities bind, and the holdouts hold some back
    for offer, lines in CAPACITIES.items():
        assert counts[offer] == int(lines.split()[1])
    assert pc.sum(want.assignments.column("control")).as_py() > 0
    # 4 and 16 files; one file is tried cut into many partitions below
    for parts in (4, 16):
        df = spark.read.parquet(str(split_files[parts]))
        assert len(df.inputFiles()) == parts
        assert_same(pol.spark.evaluate(capacity_policy, df, as_of=AS_OF), want)
    # one file cut into many partitions (Spark orders its splits by size, not position)
    old = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(64 * 1024))
    try:
        df = spark.read.parquet(str(split_files[1]))
        assert df.rdd.getNumPartitions() >= 8
        assert_same(pol.spark.evaluate(capacity_policy, df, as_of=AS_OF), want)
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", old)


@pytest.fixture(scope="session")
def constraints_policy(tmp_path_factory):
    """The bench policy with the arbitrate block's run-wide constraints: a
    channel capacity and a quota. (No budget: a budget reads an offer
    attribute, and the Spark assignments do not carry attributes yet.)"""
    text = BENCH_POLICY.read_text(encoding="utf-8")
    text = text.replace("    one per category\n}", "    one per category\n    capacity call 250\n"
                        "    quota new_service 400\n}")
    path = tmp_path_factory.mktemp("constraints") / "bench_constraints.pol"
    path.write_text(text, encoding="utf-8")
    return pol.load(path)


def test_run_wide_constraints_exact_whatever_the_partitioning(spark, constraints_policy, bench_table, split_files):
    """Customers with a candidate a constraint may refuse are walked on the
    driver: the same as a local run, over the most split input (the walk is
    the capacities' walk, tried over every split above)."""
    want = constraints_policy.evaluate(bench_table, as_of=AS_OF, engine="kernel")
    funnel = want.summary["offers"]
    assert funnel["retention_pack"]["lost_to_channel_capacity"] > 0
    assert funnel["cloud_expand"]["lost_to_quota"] + funnel["migu_video"]["lost_to_quota"] > 0
    assert_same(pol.spark.evaluate(constraints_policy, spark.read.parquet(str(split_files[16])), as_of=AS_OF), want)


def test_capacities_dataframe_not_from_files(spark, capacity_policy, bench_table):
    want = capacity_policy.evaluate(bench_table, as_of=AS_OF, engine="kernel")
    table = decoded(bench_table).append_column("row", pa.array(np.arange(bench_table.num_rows)))
    # no files and no position column: Spark's own order, which createDataFrame keeps
    assert_same(pol.spark.evaluate(capacity_policy, spark.createDataFrame(table.drop_columns(["row"])),
                                   as_of=AS_OF), want)
    df = spark.createDataFrame(table).repartition(7)
    assert_same(pol.spark.evaluate(capacity_policy, df, as_of=AS_OF, position="row"), want)
    # the position is what decides ties: reversed, the walk gives other customers the last units
    flipped = df.withColumn("row", -df["row"])
    got = by_key(pol.spark.evaluate(capacity_policy, flipped, as_of=AS_OF, position="row")[1].toArrow())
    assert not got.equals(by_key(want.assignments))


def test_pol_run_engine_spark_writes_what_pol_run_writes(spark, capacity_policy, split_files, tmp_path):
    from pol.cli.run import run_command
    policy = capacity_policy.path
    local, remote = tmp_path / "local", tmp_path / "spark"
    assert run_command(policy, str(split_files[4]), str(local), "2026-11-01", ["churn_days=20"], progress=False) == 0
    assert run_command(policy, str(split_files[4]), str(remote), "2026-11-01", ["churn_days=20"], progress=False,
                       engine="spark") == 0
    sb = assert_same_run(local, remote)
    assert sb["offers"]["welcome_gift"]["lost_to_capacity"] > 0


def assert_same_run(local: Path, remote: Path) -> dict:
    """Two `pol run` output folders hold the same files, and summaries equal
    but for timings and ids; the second's summary."""
    assert sorted(os.listdir(local)) == sorted(os.listdir(remote))
    for name in ("customers.parquet", "assignments.parquet"):
        a, b = pq.read_table(local / name), pq.read_table(remote / name)
        assert a.schema.equals(b.schema) and a.equals(b), name
    sa, sb = (json.loads((d / "summary.json").read_text(encoding="utf-8")) for d in (local, remote))
    for timing in ("output", "started_at", "seconds", "rows_per_second", "run_id"):
        sa.pop(timing), sb.pop(timing)
    assert sa == sb
    return sb


def test_pol_run_engine_spark_usage(spark, bench_policy, tmp_path, capsys, bench_table):
    from pol.cli.run import run_command
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    (csv_dir / "a.csv").write_text("id\n1\n", encoding="utf-8")
    assert run_command(str(BENCH_POLICY), str(csv_dir), str(tmp_path / "o1"), engine="spark") == 2
    assert "--engine spark reads Parquet" in capsys.readouterr().err
    assert run_command(str(BENCH_POLICY), str(csv_dir), str(tmp_path / "o2"), master="local[2]") == 2
    assert "--master needs --engine spark" in capsys.readouterr().err
    # a data error: exit status 1, one line naming the column, nothing written
    bad = tmp_path / "bad.parquet"
    pq.write_table(bench_table.slice(0, 100).drop_columns(["tenure_months"]), bad)
    assert run_command(str(BENCH_POLICY), str(bad), str(tmp_path / "o3"), engine="spark") == 1
    err = capsys.readouterr().err
    assert "column 'tenure_months'" in err and "Traceback" not in err and "java" not in err.lower()
    assert not (tmp_path / "o3").exists()


def _bad(table: pa.Table, name: str, values) -> pa.Table:
    i = table.schema.get_field_index(name)
    return table.set_column(i, name, values)


def test_bad_input_is_a_data_error_on_the_driver(spark, bench_policy, bench_table, tmp_path):
    small = decoded(bench_table.slice(0, 200))
    cases = {
        "missing": (small.drop_columns(["arpu_m2"]), "arpu_m2", "is missing"),
        "wrong type": (_bad(small, "tenure_months", small.column("tenure_months").cast(pa.string())),
                       "tenure_months", "has type"),
        "null key": (_bad(small, "id", pa.array([None if i in (57, 120) else i for i in range(200)], pa.int64())),
                     "id", "rows 58, 121"),
        "NaN": (_bad(small, "arpu_m1", pa.array([float("nan") if i == 9 else 1.0 for i in range(200)])),
                "arpu_m1", "NaN"),
    }
    for what, (table, column, words) in cases.items():
        path = tmp_path / f"{what.replace(' ', '_')}.parquet"
        pq.write_table(table, path)
        with pytest.raises(pol.DataError) as e:
            pol.spark.evaluate(bench_policy, spark.read.parquet(str(path)), as_of=AS_OF)
        assert e.value.column == column, what
        assert f"'{column}'" in str(e.value) and words in str(e.value), (what, str(e.value))
    # the same message as a local run of that file, file and rows included
    with pytest.raises(pol.DataError) as local:
        from pol.cli.run import run
        run(str(BENCH_POLICY), str(tmp_path / "null_key.parquet"), str(tmp_path / "out"), progress=False)
    with pytest.raises(pol.DataError) as remote:
        pol.spark.evaluate(bench_policy, spark.read.parquet(str(tmp_path / "null_key.parquet")), as_of=AS_OF)
    assert str(local.value) == str(remote.value)
    with pytest.raises(pol.ArgumentError):
        pol.spark.evaluate(bench_policy, small, as_of=AS_OF)


def test_list_params_travel_to_the_executors(spark, bench_table, split_files, tmp_path):
    # the bench policy with its tiers read from a list param, overridden for the run
    text = BENCH_POLICY.read_text(encoding="utf-8")
    assert 'segment mid_high "中高端" = tier in ("全球通", "钻石卡", "金卡")' in text
    text = text.replace('segment mid_high "中高端" = tier in ("全球通", "钻石卡", "金卡")',
                        'param mid_tiers: list<string> = ["全球通", "钻石卡", "金卡"]\n'
                        'segment mid_high "中高端" = tier in mid_tiers')
    path = tmp_path / "bench_lists.pol"
    path.write_text(text, encoding="utf-8")
    policy = pol.load(path)
    params = {"mid_tiers": ["金卡", "银卡"]}
    want = policy.evaluate(bench_table, as_of=AS_OF, params=params, engine="kernel")
    default = policy.evaluate(bench_table, as_of=AS_OF, engine="kernel")
    assert want.customers.column("mid_high") != default.customers.column("mid_high")
    assert_same(pol.spark.evaluate(policy, spark.read.parquet(str(split_files[4])), as_of=AS_OF, params=params), want)


COSTED = """input t key id { id: int  i: int?  x: float? }
channel sms
offer a { eligible when i > 0  channels sms  priority i  attributes { rate: 0.5 } }
offer b { eligible when x > 0.5  channels sms  priority x  attributes { rate: 0.25 } }
offer c { eligible when true  channels sms  priority 0 }
arbitrate { max 2 per customer  budget 150.5 cost offer.rate * x }
"""


def test_a_budget_whose_costs_are_computed_per_customer(spark, tmp_path):
    # LANGUAGE.md 3.11: each pair's cost read on the workers from the batch's
    # hidden scores, walked on the driver; null and negative costs refused.
    path = tmp_path / "costed.pol"
    path.write_text(COSTED, encoding="utf-8")
    policy = pol.load(path)
    rng = np.random.default_rng(11)
    n = 400
    table = pa.table({
        "id": pa.array(np.arange(n), pa.int64()),
        "i": pa.array([None if k % 9 == 0 else int(v) for k, v in enumerate(rng.integers(-2, 10, n))], pa.int64()),
        "x": pa.array([None if k % 13 == 0 else round(float(v), 5) for k, v in enumerate(rng.uniform(-1, 2, n))]),
    })
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(3):
        pq.write_table(table.slice(k * 140, 140), folder / f"part-{k}.parquet")
    want = policy.evaluate(table, as_of=AS_OF, engine="kernel")
    funnel = want.summary["offers"]
    assert funnel["a"]["lost_to_budget"] > 0 and funnel["a"]["accepted"] > 0
    assert_same(pol.spark.evaluate(policy, spark.read.parquet(str(folder)), as_of=AS_OF), want)


EXTRA_LIB = """policy lib
channel sms
offer gift { eligible when i > 3  channels sms  attributes { code: "G", cost: 1.5, since: 2026-01-01 }
             priority 10 - offer.cost }
"""
EXTRA_ROOT = """policy root
input t key id { id: int  i: int?  s: string?  x: float?  d: date? }
import "lib.pol" as lib
carry s, x, d
channel app
offer a { eligible when i > 0  channels app  attributes { code: "A", cost: 4, n: 7 }  priority i }
offer b { eligible when x > 0.5  channels app  priority x }
arbitrate { max 2 per customer  ARBITRATE }
"""


@pytest.mark.parametrize("arbitrate", ["budget 300 cost offer.cost", ""], ids=["budget", "no-constraint"])
def test_campaign_attributes_and_carried_fields(spark, tmp_path, arbitrate):
    # The assignments' extra columns (LANGUAGE.md 8.3): the campaign (offers
    # of two campaigns), each attribute (null where an offer lacks it) and the
    # carried fields; with a budget the pairs go through the global walk, and
    # it runs out (a's cost 4, gift's 1.5, over 400 customers).
    (tmp_path / "lib.pol").write_text(EXTRA_LIB, encoding="utf-8")
    (tmp_path / "root.pol").write_text(EXTRA_ROOT.replace("ARBITRATE", arbitrate), encoding="utf-8")
    policy = pol.load(tmp_path / "root.pol")
    rng = np.random.default_rng(7)
    n = 400
    table = pa.table({
        "id": pa.array(np.arange(n), pa.int64()),
        "i": pa.array([None if k % 11 == 0 else int(v) for k, v in enumerate(rng.integers(-2, 10, n))], pa.int64()),
        "s": pa.array([None if k % 7 == 0 else ["甲", "", "a b"][k % 3] for k in range(n)], pa.string()),
        "x": pa.array([None if k % 13 == 0 else float(v) for k, v in enumerate(rng.uniform(-1, 2, n))]),
        "d": pa.array([None if k % 5 == 0 else dt.date(2026, 1, 1 + k % 28) for k in range(n)], pa.date32()),
    })
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(3):
        pq.write_table(table.slice(k * 140, 140), folder / f"part-{k}.parquet")
    want = policy.evaluate(table, as_of=AS_OF, engine="kernel")
    names = want.assignments.column_names
    assert names[6:] == ["campaign", "code", "cost", "since", "n", "s", "x", "d"]
    offers = set(want.assignments.column("offer").to_pylist())
    assert offers == {"a", "b", "lib.gift"}
    spent = sum(c for c in want.assignments.column("cost").to_pylist() if c is not None)
    if arbitrate:
        assert want.summary["offers"]["a"]["lost_to_budget"] > 0 and spent <= 300
    else:
        assert spent > 300
    assert_same(pol.spark.evaluate(policy, spark.read.parquet(str(folder)), as_of=AS_OF), want)

    from pol.cli.run import run_command
    local, remote = tmp_path / "local", tmp_path / "spark"
    assert run_command(str(tmp_path / "root.pol"), str(folder), str(local), "2026-11-01", [], progress=False) == 0
    assert run_command(str(tmp_path / "root.pol"), str(folder), str(remote), "2026-11-01", [], progress=False,
                       engine="spark") == 0
    for name in ("customers.parquet", "assignments.parquet"):
        a, b = pq.read_table(local / name), pq.read_table(remote / name)
        assert a.schema.equals(b.schema) and a.equals(b), name


def test_the_population_leaves_out_what_a_local_run_leaves_out(spark, capacity_policy, bench_table, split_files,
                                                                tmp_path):
    """LANGUAGE.md 3.14: the rows outside the population reach no output,
    with and without capacities (positions kept, so the walk's ties are the
    local run's)."""
    population = '\npopulation when region in ("广东", "浙江") and arpu_m1 >= 60\n'
    for base in (BENCH_POLICY.read_text(encoding="utf-8"), Path(capacity_policy.path).read_text(encoding="utf-8")):
        path = tmp_path / f"p{len(list(tmp_path.iterdir()))}.pol"
        path.write_text(base + population, encoding="utf-8")
        policy = pol.load(path)
        want = policy.evaluate(bench_table, as_of=AS_OF, engine="kernel")
        assert 0 < want.customers.num_rows < bench_table.num_rows / 10
        got = pol.spark.evaluate(policy, spark.read.parquet(str(split_files[4])), as_of=AS_OF)
        assert_same(got, want)
        # the summary counts the rows left out, as a local run's does
        summary = got.summary()
        assert summary["outside_population"] == bench_table.num_rows - want.customers.num_rows
        assert summary == want.summary


def test_list_fields_as_spark_arrays(spark, tmp_path):
    """A list field is a Spark ArrayType column, carried to the executors as
    an Arrow list (LANGUAGE.md 3.3): the same values as a local run."""
    path = tmp_path / "lists.pol"
    path.write_text("""input c key id { id: int  plan: string?  tags: list<string>?  codes: list<int> }
segment has = plan in tags
segment vip = any(tags, starts_with(it, "VIP"))
score n = count(codes)
segment small = all(codes, it < 10)
""", encoding="utf-8")
    policy = pol.load(path)
    table = pa.table({"id": pa.array([1, 2, 3, 4], pa.int64()), "plan": ["5G", "x", None, "a"],
                      "tags": pa.array([["5G", "VIP1"], ["y", None], None, []], pa.list_(pa.string())),
                      "codes": pa.array([[1, 2], [None, 20], [], [3, 3, 3]], pa.list_(pa.int64()))})
    want = policy.evaluate(table, as_of=AS_OF, engine="vector").customers
    got = pol.spark.evaluate(policy, spark.createDataFrame(table), as_of=AS_OF)[0].toArrow().sort_by("id")
    for name in ("has", "vip", "n", "small"):
        assert got.column(name).to_pylist() == want.column(name).to_pylist(), name


OPTIMAL_AB = """input customer key id { id: int  call_fit: float  sms_fit: float }
channel call "外呼"
channel sms "短信"
experiment care_ab salt "2026-11" {
    arm call_first 45%
    arm sms_first 45%
    control 10%
}
offer call_care { eligible when care_ab != "control"  channels call  priority call_fit  capacity 150 }
offer sms_care { eligible when care_ab != "control"  channels sms  priority sms_fit  attributes { cost: 1.5 } }
arbitrate {
    capacity call 120
    budget 600 cost offer.cost
    maximize priority
}
"""


def test_pol_run_engine_spark_reports_arms_and_the_allocation(spark, tmp_path):
    """An experiment and `maximize priority` with every kind of constraint:
    the Spark run's summary has the arm counts and the allocation's report,
    equal to the local run's, and the same outputs."""
    from pol.cli.run import run_command
    policy = tmp_path / "optimal_ab.pol"
    policy.write_text(OPTIMAL_AB, encoding="utf-8")
    rng = np.random.default_rng(4)
    n = 2000
    table = pa.table({"id": np.arange(1, n + 1), "call_fit": np.round(rng.gamma(2, 10, n), 2),
                      "sms_fit": np.round(rng.gamma(2, 8, n), 2)})
    data = tmp_path / "in"
    data.mkdir()
    pq.write_table(table.slice(0, 1100), data / "a.parquet")
    pq.write_table(table.slice(1100), data / "b.parquet")
    local, remote = tmp_path / "local", tmp_path / "spark"
    assert run_command(str(policy), str(data), str(local), "2026-11-01", progress=False) == 0
    assert run_command(str(policy), str(data), str(remote), "2026-11-01", progress=False, engine="spark") == 0
    for name in ("customers.parquet", "assignments.parquet"):
        assert pq.read_table(local / name).equals(pq.read_table(remote / name)), name
    sa, sb = (json.loads((d / "summary.json").read_text(encoding="utf-8")) for d in (local, remote))
    for timing in ("output", "started_at", "seconds", "rows_per_second", "run_id"):
        sa.pop(timing), sb.pop(timing)
    assert sa == sb
    assert sum(sb["experiments"]["care_ab"].values()) == n and sb["experiments"]["care_ab"]["control"] > 0
    alloc = sb["allocation"]
    assert alloc["value"] > alloc["greedy_value"]
    assert set(alloc["constraint_prices"]) == {"capacity call", "budget"}
    # pol.spark.evaluate's summary: the local Result.summary, arms and allocation included
    loaded = pol.load(policy)
    got = pol.spark.evaluate(loaded, spark.read.parquet(str(data)), as_of=AS_OF)
    customers, assignments = got
    assert customers is got.customers and assignments is got.assignments
    want = loaded.evaluate(table, as_of=AS_OF)
    summary = got.summary()
    assert summary == want.summary
    assert summary["offers"]["call_care"]["accepted"] == assignments.filter("offer = 'call_care'").count()


CHANNEL_ORDER = """input t key id { id: int  pref: string?  p: float  reach: bool }
channel call when reach
channel sms
channel app
param calls: int = 5
offer a { eligible when true  channels by pref then call, sms, app  priority p }
offer b { eligible when p > 50  channels by pref then app, sms  priority 1 }
arbitrate { max 2 per customer  capacity call calls }
"""


def test_channel_order_and_a_capacity_from_a_param_as_a_local_run(spark, tmp_path):
    """`channels by NAME` (each worker maps its batches' strings to channels)
    and a channel capacity a run's params size (walked on the driver)."""
    (tmp_path / "order.pol").write_text(CHANNEL_ORDER, encoding="utf-8")
    policy = pol.load(tmp_path / "order.pol")
    n = 400
    table = pa.table({"id": pa.array(range(n), pa.int64()),
                      "pref": [("call", "sms", "app", None, "fax")[i % 5] for i in range(n)],
                      "p": [float((i * 37) % 101) for i in range(n)], "reach": [i % 3 != 0 for i in range(n)]})
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(3):
        pq.write_table(table.slice(k * 150, 150), folder / f"part-{k}.parquet")
    want = policy.evaluate(table, as_of=AS_OF, params={"calls": 17}, engine="kernel")
    given = want.assignments.to_pylist()
    assert sum(a["channel"] == "call" for a in given) == 17
    assert {a["channel"] for a in given if a["offer"] == "b"} == {"app", "sms"}
    assert_same(pol.spark.evaluate(policy, spark.read.parquet(str(folder)), as_of=AS_OF, params={"calls": 17}),
                want)
