"""`pol gen N OUT --policy POLICY`: customers for any policy's input block
(pol/cli/gen.py). For the bench policy and every file of the telecom
library the generated data runs through `pol run`, with every segment true
for some customers and false for others, no null in a field that may not be
null, and unique keys; values gather around the literals each field is
compared with."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pol.cli.gen import ARROW, GENERATORS, generate, hints
from pol.cli.gen_history import events_path
from pol.cli.main import main
from pol.compiler.frontend import compile_path, compile_text
from pol.compiler.types import Type

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks" / "data" / "retention_bench.pol"
POLICIES = sorted((ROOT / "policies" / "telecom").glob("*.pol")) + [BENCH]
AS_OF = dt.date(2026, 11, 1)


def run(capsys, *argv) -> tuple[int, str, str]:
    try:
        status = main([str(a) for a in argv])
    except SystemExit as e:
        status = e.code
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_generated_customers_run_and_split_every_segment(policy, tmp_path, capsys):
    data, out = tmp_path / "customers.parquet", tmp_path / "out"
    status, printed, err = run(capsys, "gen", 2000, data, "--policy", policy, "--seed", 3, "--as-of", AS_OF)
    program = compile_path(policy)
    # the events of each history (the library's contact log, contact.pol) are written beside the customers
    logs = {h.name: events_path(str(data), h.name) for h in program.histories}
    assert status == 0 and printed.startswith(f"wrote 2,000 customers to {data}\n"), err
    assert printed.count("\n") == 1 + len(logs) and all(f" of {n} to {p}\n" in printed for n, p in logs.items())
    table = pq.read_table(data)
    assert table.column_names == [f.name for f in program.input.fields]
    for f in program.input.fields:
        nulls = table[f.name].null_count
        assert nulls == 0 if not f.nullable else 0 < nulls < 200, (f.name, nulls)
    assert pc.count_distinct(table[program.input.key]).as_py() == 2000
    given = [a for name, path in logs.items() for a in ("--history", f"{name}={path}")]
    status, _, err = run(capsys, "run", policy, "--input", data, "--out", out, "--as-of", AS_OF, "--no-progress",
                         *given)
    assert status == 0, err
    customers = pq.read_table(out / "customers.parquet")
    assert customers.num_rows == 2000
    for s in program.segments:
        held = pc.sum(customers[s.name]).as_py() or 0
        assert 0 < held < 2000, (s.name, held)


def test_the_same_seed_gives_the_same_customers():
    program = compile_path(POLICIES[-1])
    a, b = generate(program, 500, seed=1, as_of=AS_OF), generate(program, 500, seed=1, as_of=AS_OF)
    assert a.equals(b) and not a.equals(generate(program, 500, seed=2, as_of=AS_OF))


POLICY = """input c key code {
    code: string
    n: int
    x: float?
    tier: string
    region: string
    last_active: date
    vip: bool
}
param floor_x: float = 2.5
let silent = days_since(last_active)
let ratio = x / 10
segment big "大" = n >= 80 and x between 1.5 and 3.5
segment quiet "静" = silent > 30 or last_active < 2026-01-01
segment gold "金" = tier in ("金卡", "钻石卡") and starts_with(region, "广")
segment over "超" = x > floor_x and ratio < -1
"""


def test_values_gather_around_what_the_policy_compares_them_with():
    program = compile_text(POLICY, "p.pol")
    found = hints(program, AS_OF)
    assert sorted(found["n"].values) == [80]
    assert sorted(found["x"].values) == [-10, 1.5, 2.5, 3.5]          # the param's default, ratio < -1 via the let
    assert sorted(found["last_active"].values) == [dt.date(2026, 1, 1), AS_OF - dt.timedelta(days=30)]
    assert sorted(found["tier"].values) == ["金卡", "钻石卡"] and found["region"].patterns == [("starts_with", "广")]
    t = generate(program, 4000, seed=5, as_of=AS_OF)
    n = t["n"].to_pylist()
    assert {79, 80, 81} <= set(n) and min(n) >= 0
    tiers = t["tier"].to_pylist()
    assert 0.7 < sum(v in ("金卡", "钻石卡") for v in tiers) / len(tiers) < 0.95
    assert any(v.startswith("广") for v in t["region"].to_pylist())
    days = [(AS_OF - d).days for d in t["last_active"].to_pylist()]
    assert {29, 30, 31} <= set(days)
    assert any(v is not None and v < 0 for v in t["x"].to_pylist())  # the policy compares with a negative
    assert t["code"].to_pylist()[:2] == ["K0000001", "K0000002"] and t.schema.field("code").type == pa.string()
    assert not t.schema.field("n").nullable and t.schema.field("x").nullable


def test_every_type_has_a_generator():
    # a list field's elements are drawn by its element type's generator
    field_types = {t for t in Type if t.element is None}
    assert set(GENERATORS) == field_types
    assert {t.element for t in Type if t.element is not None} <= set(GENERATORS)
    assert set(ARROW) == set(Type)


def test_csv_output_and_errors(tmp_path, capsys):
    policy = tmp_path / "p.pol"
    policy.write_text(POLICY, encoding="utf-8")
    status, _, _ = run(capsys, "gen", 10, tmp_path / "c.csv", "--policy", policy, "--as-of", AS_OF)
    lines = (tmp_path / "c.csv").read_text(encoding="utf-8").splitlines()
    assert status == 0 and lines[0] == '"code","n","x","tier","region","last_active","vip"' and len(lines) == 11
    status, _, err = run(capsys, "gen", 10, tmp_path / "d.parquet", "--policy", tmp_path / "nope.pol")
    assert status == 1 and err.startswith("pol: error: cannot read")
    (tmp_path / "bad.pol").write_text("input c key id { id: int }\nsegment s = nope\n", encoding="utf-8")
    status, _, err = run(capsys, "gen", 10, tmp_path / "d.parquet", "--policy", tmp_path / "bad.pol")
    assert status == 1 and "error[E-NAME-001]" in err and not (tmp_path / "d.parquet").exists()
    status, _, err = run(capsys, "gen", 10, tmp_path / "d.parquet", "--policy", policy, "--as-of", "2026-02-30")
    assert status == 2 and err.startswith("pol: error: --as-of")


def test_a_field_tested_against_a_list_param_gets_its_values():
    program = compile_text('input t key id { id: int  plan: string  code: int? }\n'
                           'param vip: list<string> = ["全球通", "动感地带"]\n'
                           'param codes: list<int> = [4711]\n'
                           'segment s "S" = plan in vip and code in codes\n', name="l.pol")
    t = generate(program, 400, seed=1, as_of=AS_OF)
    assert {"全球通", "动感地带"} <= set(t["plan"].to_pylist())
    assert 4711 in t["code"].to_pylist()
