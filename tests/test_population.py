"""The population statement (LANGUAGE.md 3.14) beyond the conformance cases:
pruning of hive partitions and row groups by `pol run` (counts, and outputs
equal to an unpruned run), the null and NaN edges of the pushed-down
filter, partition folders of the wrong type, imports, decide and explain.
Small data: three partitions of 1,000 rows in row groups of 100."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import clirun
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pol
from pol.cli import unused
from pol.cli.run import run_command
from pol.compiler.frontend import compile_text
from pol.io.pushdown import population_filter

AS_OF = "2026-11-01"
INPUT = """input c key id {
    id: int
    province: string?
    arpu: float?
    tenure: int
}
channel sms
"""
OFFER = "offer gift { eligible when tenure > 12  channels sms  priority arpu }\n"
GD_MID_HIGH = INPUT + 'param min_arpu: float = 100\nsegment high = arpu >= min_arpu\n' \
    'population when province == "广东" and high\n' + OFFER
PROVINCES = ["广东", "北京", "__HIVE_DEFAULT_PARTITION__"]


def _rows(start: int, n: int = 1000) -> pa.Table:
    # sorted by ARPU, so that row groups have narrow statistics; the last
    # rows hold a NaN and a null
    arpu = np.arange(n, dtype=np.float64) * 0.5
    arpu[-2] = np.nan
    return pa.table({"id": np.arange(start, start + n), "arpu": pa.array(arpu, mask=np.arange(n) == n - 1),
                     "tenure": np.where(np.arange(n) % 3 == 0, 6, 24)})


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """(hive folder, the same rows as one table with the province column)."""
    root = tmp_path_factory.mktemp("hive")
    parts = []
    for k, prov in enumerate(PROVINCES):
        t = _rows(k * 1000)
        (root / f"province={prov}").mkdir()
        pq.write_table(t, root / f"province={prov}" / "part-0.parquet", row_group_size=100)
        value = None if prov.startswith("__") else prov
        parts.append(t.append_column("province", pa.array([value] * t.num_rows, pa.string())))
    return root, pa.concat_tables(parts)


def _run(tmp_path, policy_text: str, input_path, name: str = "out", params=()) -> tuple[int, dict, pa.Table, pa.Table]:
    policy = tmp_path / f"{name}.pol"
    policy.write_text(policy_text, encoding="utf-8")
    out = tmp_path / name
    status = run_command(str(policy), str(input_path), str(out), as_of=AS_OF, params=params, progress=False)
    if status:
        return status, {}, pa.table({}), pa.table({})
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return status, summary, pq.read_table(out / "customers.parquet"), pq.read_table(out / "assignments.parquet")


def _same_as_unpruned(policy_text: str, table: pa.Table, customers: pa.Table, assignments: pa.Table,
                      params=None) -> None:
    """The pruned run gives what Policy.evaluate (which reads every row) gives."""
    ref = pol.loads(policy_text).evaluate(table, as_of=AS_OF, engine="vector", params=params)
    key = [("id", "ascending")]
    assert customers.sort_by(key).column("id").to_pylist() == ref.customers.sort_by(key).column("id").to_pylist()
    mine = assignments.select(["id", "offer", "priority"]).sort_by(key).to_pylist()
    assert mine == ref.assignments.select(["id", "offer", "priority"]).sort_by(key).to_pylist()


def test_a_hive_folder_is_pruned_to_the_population(tmp_path, data):
    root, table = data
    status, summary, customers, assignments = _run(tmp_path, GD_MID_HIGH, root)
    assert status == 0
    scan = summary["scan"]
    # 北京 and the null province are skipped whole, unopened; in 广东 the row
    # groups of ARPU 0-49.5 (rows 0-99) and 50-99.5 (rows 100-199) cannot reach 100
    assert (scan["files"], scan["files_skipped"], scan["partitions"], scan["partitions_skipped"]) == (3, 2, 3, 2)
    assert (scan["row_groups"], scan["row_groups_skipped"]) == (10, 2)
    assert scan["rows_skipped"] == 200
    assert summary["rows"] == 800 and summary["files"] == 3
    # of the rows read, the NaN and the null ARPU are outside (NaN is null, 5.4)
    assert summary["outside_population"] == 2
    assert summary["customers"] == customers.num_rows == 798
    assert pc.min(customers.column("id")).as_py() == 200
    _same_as_unpruned(GD_MID_HIGH, table, customers, assignments)


def test_a_param_moves_the_pruning(tmp_path, data):
    root, table = data
    status, summary, customers, assignments = _run(tmp_path, GD_MID_HIGH, root, params=["min_arpu=450"])
    assert status == 0
    assert summary["scan"]["row_groups_skipped"] == 9           # only ARPU 450-499.5 is read
    assert summary["customers"] == 98
    _same_as_unpruned(GD_MID_HIGH, table, customers, assignments, params={"min_arpu": 450.0})


def test_a_null_partition_and_not_equal(tmp_path, data):
    """`province != "北京"`: a null province is not in the population (null),
    and pyarrow drops its partition for the same reason; NaN ARPUs fail
    `!=` in pol (null) and nothing else is dropped."""
    root, table = data
    text = INPUT + 'population when province != "北京" and arpu != 10.0\n' + OFFER
    status, summary, customers, assignments = _run(tmp_path, text, root)
    assert status == 0
    assert summary["scan"]["files_skipped"] == 2        # 北京, and the null province
    assert summary["customers"] == 1000 - 3             # 广东 but ARPU 10, NaN and null
    _same_as_unpruned(text, table, customers, assignments)


def test_what_cannot_be_pushed_down_prunes_nothing_and_loses_nothing(tmp_path, data):
    root, table = data
    # `is null` of a float is not pushed down (pyarrow's NaN is not null), so the `or` is not
    text = INPUT + 'population when arpu is null or province == "广东" and arpu > 400.0\n' + OFFER
    status, summary, customers, assignments = _run(tmp_path, text, root)
    assert status == 0
    assert summary["scan"]["filter"] is None and summary["scan"]["row_groups_skipped"] == 0
    assert summary["customers"] == 3 * 2 + 197          # NaN and null in each file; 广东 above 400
    _same_as_unpruned(text, table, customers, assignments)


def test_a_partition_folder_of_the_wrong_type_names_the_column(tmp_path, capsys):
    root = tmp_path / "bad"
    (root / "tenure=long").mkdir(parents=True)
    pq.write_table(pa.table({"id": [1], "arpu": [1.0], "province": ["广东"]}), root / "tenure=long" / "a.parquet")
    status, *_ = _run(tmp_path, INPUT + OFFER, root)
    assert status == 1
    err = capsys.readouterr().err
    assert "column 'tenure'" in err and "'tenure=long'" in err and "not an int" in err


def test_a_numeric_partition_value_of_a_string_field_stays_a_string(tmp_path):
    root = tmp_path / "codes"
    (root / "province=11").mkdir(parents=True)
    pq.write_table(pa.table({"id": [1, 2], "arpu": [150.0, 50.0], "tenure": [24, 24]}),
                   root / "province=11" / "a.parquet")
    text = INPUT + 'population when province == "11" and arpu > 100.0\n' + OFFER
    status, summary, customers, _ = _run(tmp_path, text, root)
    assert status == 0 and customers.column("id").to_pylist() == [1]


def test_a_column_in_the_file_and_the_folder_is_refused(tmp_path, capsys):
    root = tmp_path / "twice"
    (root / "province=广东").mkdir(parents=True)
    pq.write_table(pa.table({"id": [1], "arpu": [1.0], "tenure": [1], "province": ["广东"]}),
                   root / "province=广东" / "a.parquet")
    status, *_ = _run(tmp_path, INPUT + OFFER, root)
    assert status == 1 and "column 'province' is both in the file" in capsys.readouterr().err


def test_without_a_population_every_row_is_read_and_in_the_output(tmp_path, data):
    root, table = data
    status, summary, customers, _ = _run(tmp_path, INPUT + OFFER, root)
    assert status == 0 and "scan" not in summary and "outside_population" not in summary
    assert customers.num_rows == table.num_rows == 3000


def test_the_filter_is_weaker_than_the_population():
    schema = pa.schema([("province", pa.string()), ("arpu", pa.float64()), ("tenure", pa.int32()),
                        ("joined", pa.timestamp("us"))])

    def pushed(cond: str, fields: str = "") -> str | None:
        program = compile_text(INPUT.replace("tenure: int", "tenure: int\n    joined: date?" + fields)
                               + "param names: list<string> = [\"a\", \"b\"]\npopulation when " + cond + "\n")
        params = {p.name: p.default for p in program.params}
        e = population_filter(program, params, schema)
        return None if e is None else str(e)

    assert pushed('province in names and tenure between 3 and 9') == \
        '(is_in(province, {value_set=string:[\n  "a",\n  "b"\n], null_matching_behavior=MATCH}) ' \
        'and ((tenure >= 3) and (tenure <= 9)))'
    # a part that cannot be pushed down is left out of an `and`, and spoils an `or`
    assert pushed('not (province == "x") and arpu > 1.5') == "(arpu > 1.5)"
    assert pushed('not (province == "x") or arpu > 1.5') is None
    # a date field held as a timestamp is left to the exact condition
    assert pushed('joined > 2026-01-01') is None
    assert pushed('province is not null and tenure != 3') == \
        "(invert(is_null(province, {nan_is_null=false})) and (tenure != 3))"


def test_imported_populations_combine_with_and(tmp_path):
    (tmp_path / "lib.pol").write_text(INPUT + "population when tenure > 12\n", encoding="utf-8")
    plain = compile_text('import "lib.pol"\npopulation when arpu > 1.0\n', base_dir=tmp_path)
    assert plain.population.cond.op == "and"
    assert [a.args[0].name for a in plain.population.cond.args] == ["tenure", "arpu"]
    named = compile_text('import "lib.pol" as lib\npopulation when arpu > 1.0\n', base_dir=tmp_path)
    assert named.population.cond.op == "gt" and named.population.cond.args[0].name == "arpu"


def test_decide_and_explain_outside_the_population():
    policy = pol.loads(GD_MID_HIGH)
    inside = {"id": 1, "province": "广东", "arpu": 300.0, "tenure": 24}
    outside = dict(inside, province=None)
    for engine in ("reference", "kernel"):
        assert policy.decide(inside, as_of=AS_OF, engine=engine).offer_names == ["gift"]
        d = policy.decide(outside, as_of=AS_OF, engine=engine)
        assert d.offers == [] and d.segments == {"high": True}
    assert policy.addresses(inside) and not policy.addresses(outside)
    x = policy.explain(outside, as_of=AS_OF)
    assert x.outside is not None and 'province == "广东" and high is null' in x.outside
    assert [o.reason for o in x.offers] == ["population"]
    assert "outside the population" in str(x) and "province = null" in str(x)
    assert "outside" not in policy.explain(inside, as_of=AS_OF).to_dict()


def test_a_ledger_gives_nothing_outside_the_population():
    policy = pol.loads(GD_MID_HIGH.replace("priority arpu", "priority arpu  capacity 1"))
    ledger = pol.Ledger()
    outside = {"id": 1, "province": "北京", "arpu": 300.0, "tenure": 24}
    assert policy.decide(outside, as_of=AS_OF, ledger=ledger).offers == []
    inside = dict(outside, province="广东")
    assert policy.decide(inside, as_of=AS_OF, ledger=ledger).offer_names == ["gift"]


# `pol run` as its own process, then what it imported.
CHILD = r"""
import json, sys
from pol.cli.main import main
sys.argv = ["pol", *sys.argv[1:]]
status = main()
print(json.dumps({"status": status, "imported": sorted(m for m in ("pandas", "scipy") if m in sys.modules)}))
"""


def test_a_run_of_its_own_imports_neither_pandas_nor_scipy(tmp_path, data):
    """pyarrow would import pandas and Numba SciPy, for nothing a run uses
    (engine/cli/unused.py): the process of a pruned run leaves them out and
    writes what the same run in a caller's process writes."""
    root, _ = data
    policy = tmp_path / "gd.pol"
    policy.write_text(GD_MID_HIGH, encoding="utf-8")
    child = subprocess.run([sys.executable, "-c", CHILD, "run", str(policy), "--input", str(root), "--out",
                            str(tmp_path / "own"), "--as-of", AS_OF, "--no-progress"],
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr
    got = json.loads(child.stdout.strip().splitlines()[-1])
    assert got == {"status": 0, "imported": []}
    # `pol run` in a caller's process (main given its arguments) leaves them importable
    caller = clirun.pol("run", policy, "--input", root, "--out", tmp_path / "caller", "--as-of", AS_OF,
                        "--no-progress")
    assert caller.returncode == 0, caller.stderr
    assert unused._Refuse not in sys.meta_path
    # run ids differ only in the schemas' metadata, which equals() leaves out
    for name in ("customers", "assignments"):
        own = pq.read_table(tmp_path / "own" / f"{name}.parquet")
        assert own.num_rows and own.equals(pq.read_table(tmp_path / "caller" / f"{name}.parquet"))


def test_a_pruned_partition_is_not_opened(tmp_path):
    """Its files are neither read nor checked: a broken file there stops only
    a run that needs it."""
    root = tmp_path / "broken"
    for prov in ("广东", "北京"):
        (root / f"province={prov}").mkdir(parents=True)
    pq.write_table(_rows(0), root / "province=广东" / "part-0.parquet", row_group_size=100)
    (root / "province=北京" / "part-0.parquet").write_bytes(b"not parquet at all")
    status, summary, customers, _ = _run(tmp_path, GD_MID_HIGH, root)
    assert status == 0 and summary["scan"]["files_skipped"] == 1 and customers.num_rows == 798
    status, *_ = _run(tmp_path, INPUT + OFFER, root, name="all")
    assert status == 1


def test_a_data_error_after_pruned_row_groups_names_the_files_own_row(tmp_path, capsys):
    root = tmp_path / "nullkey"
    (root / "province=广东").mkdir(parents=True)
    t = _rows(0)
    ids = pa.array(t.column("id").to_pylist()[:950] + [None] + t.column("id").to_pylist()[951:], pa.int64())
    pq.write_table(t.set_column(0, "id", ids), root / "province=广东" / "part-0.parquet", row_group_size=100)
    status, *_ = _run(tmp_path, GD_MID_HIGH, root)
    err = capsys.readouterr().err
    assert status == 1 and "column 'id'" in err and "951" in err, err


# ---------------------------------------------------------------- property: pruning never loses a row

_CONDITIONS = ["arpu >= {a}", "arpu != {a}", "arpu between {a} and {b}", 'province != "{p}"',
               'province in ("广东", "{p}")', "province is null", "tenure < {k} or province == \"{p}\"",
               "not (arpu > {a}) and tenure >= {k}", "province is not null and arpu < {b}",
               "arpu is null or tenure > {k}"]


@settings(max_examples=int(os.environ.get("POL_DIFF_EXAMPLES", "25")), deadline=None,
          suppress_health_check=list(HealthCheck), derandomize=True)
@given(arpu=st.lists(st.one_of(st.none(), st.sampled_from([float("nan"), float("inf"), -float("inf")]),
                               st.floats(-50, 50, allow_nan=False)), min_size=1, max_size=60),
       provinces=st.lists(st.one_of(st.none(), st.sampled_from(["广东", "北京", "x"])), min_size=60, max_size=60),
       template=st.sampled_from(_CONDITIONS), a=st.integers(-50, 50), b=st.integers(-50, 50),
       k=st.integers(0, 30), p=st.sampled_from(["广东", "北京", "x"]), group=st.integers(1, 8))
def test_no_row_group_skipped_holds_a_row_of_the_population(tmp_path_factory, arpu, provinces, template, a, b, k,
                                                              p, group):
    """Whatever the nulls, NaNs and infinities: every row group the scan
    skips holds no row the exact condition takes."""
    from pol.evaluation.population import Population
    from pol.io.input_files import Input
    from pol.io.scan import prune
    n = len(arpu)
    table = pa.table({"id": pa.array(range(n), pa.int64()), "province": pa.array(provinces[:n], pa.string()),
                      "arpu": pa.array(arpu, pa.float64()), "tenure": pa.array([j % 31 for j in range(n)], pa.int64())})
    path = tmp_path_factory.mktemp("prop") / "t.parquet"
    pq.write_table(table, path, row_group_size=group)
    cond = template.format(a=float(a), b=float(b), k=k, p=p)
    policy = pol.loads(INPUT + f"population when {cond}\n" + OFFER)
    params = {q.name: q.default for q in policy.program.params}
    inp = Input(policy.program, str(path), params)
    prune(policy.program, params, inp)
    kept = inp.files[0].row_groups
    if kept is None:
        return
    mask = Population(policy.program).mask(table.to_batches(max_chunksize=n)[0], params, 0)
    skipped = sorted(set(range(pq.ParquetFile(path).num_row_groups)) - set(kept))
    for g in skipped:
        assert not mask[g * group:(g + 1) * group].any(), (cond, g)


def test_fmt_and_lint_know_the_statement():
    from pol.compiler.frontend import check_text
    from pol.dsl.fmt import format_text
    text = INPUT + "segment gd = province == \"广东\"\npopulation   when gd and\n    arpu>1.5\n" \
        "population  from   offers\n" + OFFER
    out = format_text(text).text
    assert "population when gd and arpu > 1.5\n" in out and "population from offers\n" in out
    # a segment that only the population reads is used; `from offers` derives nothing to lint
    checked = check_text(INPUT + 'segment gd = province == "广东"\npopulation when gd\n' + OFFER)
    assert checked.ok and not [d for d in checked.diagnostics.warnings if d.code.startswith("W-UNUSED")]


def test_a_hive_folder_of_csv_files_is_pruned_by_partition(tmp_path):
    root = tmp_path / "csv"
    for prov, rows in (("广东", "1,150,24\n2,50,24\n"), ("北京", "3,500,24\n")):
        (root / f"province={prov}").mkdir(parents=True)
        (root / f"province={prov}" / "a.csv").write_text("id,arpu,tenure\n" + rows, encoding="utf-8")
    status, summary, customers, _ = _run(tmp_path, GD_MID_HIGH, root)
    assert status == 0 and customers.column("id").to_pylist() == [1]
    assert summary["outside_population"] == 1
    assert (summary["scan"]["files_skipped"], summary["scan"]["row_groups"]) == (1, 0)
    assert summary["scan"]["filter"] == '((province == "广东") and (arpu >= 100))'


def test_population_is_a_keyword_only_where_a_declaration_starts():
    from pol.compiler.frontend import check_text
    checked = check_text('input c key id { id: int  population: int }\nsegment s "s" = population > 3\n'
                         "population when population > 1\n")
    assert checked.ok and checked.program.population.cond.args[0].name == "population"
