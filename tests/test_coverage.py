"""`pol test --coverage`: which classification rules (and `else`s), segments
(true and false), channels (open and closed) and offers (given and not) the
tests of each file exercised, the lines they never reached, a percentage per
file, and the same as JSON with --coverage-json."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pol.cli.main import main
from pol.compiler.frontend import compile_path
from pol.testing.coverage import Coverage
from pol.testing.policytest import main as run_policy_tests

ROOT = Path(__file__).resolve().parents[1]

LIB = """input c key id {
    id: int
    arpu: float?
    app: bool?
}

classify tier "星级" {
    when arpu >= 200 => "金卡"
    when arpu >= 100 => "银卡"
    else => "普通"
}

segment big "大客户" = arpu >= 150
channel push "推送" when app
channel store "营业厅"
"""

MAIN = """import "lib.pol"

offer gift "礼包" {
    eligible when big
    channels push
}

test "a gold customer on the app gets the gift" {
    given { id: 1, arpu: 250, app: true }
    expect tier == "金卡"
    expect offer gift via push
}
test "a silver customer" {
    given { id: 2, arpu: 120, app: true }
    expect tier == "银卡"
}
"""


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("lib.pol").write_text(LIB, encoding="utf-8")
    Path("main.pol").write_text(MAIN, encoding="utf-8")
    return tmp_path


def run(capsys, *argv) -> tuple[int, str, str]:
    try:
        status = main(list(argv))
    except SystemExit as e:
        status = e.code
    out = capsys.readouterr()
    return status, out.out, out.err


def test_what_the_tests_reached_per_file(folder, capsys):
    status, out, _ = run(capsys, "test", "main.pol", "--coverage")
    assert status == 0
    assert out == """2 passed, 0 failed
coverage (classification rules, segments true and false, channels open and closed, offers given and not):
  lib.pol: 75% (6 of 8)
    10: classify tier: else => "普通": never matched
    14: channel push: never closed
  main.pol: 100% (2 of 2)
  total: 80% (8 of 10)
"""


def test_coverage_json(folder, capsys):
    status, out, _ = run(capsys, "test", "main.pol", "--coverage-json", "cov.json")
    assert status == 0 and "coverage" not in out            # JSON only: no text report
    data = json.loads(Path("cov.json").read_text(encoding="utf-8"))
    assert (data["covered"], data["total"], data["percent"]) == (8, 10, 80.0)
    lib = data["files"][0]
    assert (lib["file"], lib["covered"], lib["total"], lib["percent"]) == ("lib.pol", 6, 8, 75.0)
    assert lib["parts"][:3] == [
        {"line": 8, "kind": "when", "name": "tier", "case": 'when arpu >= 200.0 => "金卡"', "hit": True},
        {"line": 9, "kind": "when", "name": "tier", "case": 'when arpu >= 100.0 => "银卡"', "hit": True},
        {"line": 10, "kind": "else", "name": "tier", "case": 'else => "普通"', "hit": False}]
    assert {(p["name"], p["case"]): p["hit"] for p in lib["parts"][3:]} == {
        ("big", "true"): True, ("big", "false"): True, ("push", "open"): True, ("push", "closed"): False,
        ("store", "open"): True}


def test_several_programs_add_up_and_a_failing_test_still_counts(folder, capsys):
    Path("lib.pol").write_text(LIB + """
test "nobody on the app, no spend" {
    given { id: 3 }
    expect tier == "金卡"
}
""", encoding="utf-8")
    cov = Coverage()
    status = run_policy_tests(["main.pol", "lib.pol"], coverage=cov)
    assert status == 1                              # the lib test fails on purpose
    lib = {(p.name, p.case): p.hit for p in cov.files()["lib.pol"]}
    assert lib[("tier", 'else => "普通"')] and lib[("push", "closed")]
    assert all(p.hit for p in cov.files()["lib.pol"])


def test_a_test_whose_customer_cannot_be_read_counts_for_nothing(folder):
    from dataclasses import replace

    from pol.testing.policytest import run_test
    program = compile_path("main.pol")
    test = replace(program.tests[0], given=(("id", 1), ("arpu", "lots")))     # a value the engine refuses
    cov = Coverage()
    cov.add(program)
    outcome = run_test(program, test, observe=cov.observe)
    assert outcome.error and "arpu" in outcome.error
    assert not any(p.hit for p in cov.parts.values())
    assert run_test(program, program.tests[0], observe=cov.observe).passed
    assert any(p.hit for p in cov.parts.values())


def test_the_telecom_library(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    status, out, _ = run(capsys, "test", "policies", "--coverage")
    assert status == 0
    report = out[out.index("coverage"):]
    for name in ("customer", "contact", "tiers", "vad", "value", "lifecycle", "risk", "triggers"):
        assert f"  policies/telecom/{name}.pol: " in report, name
    assert "policies/telecom/retention.pol" not in report      # nothing of its own to cover
    assert report.splitlines()[-1].startswith("  total: ")


def test_an_unwritable_json_path_is_an_error(folder, capsys):
    status, _, err = run(capsys, "test", "main.pol", "--coverage-json", "no/such/folder/cov.json")
    assert status == 1 and err.startswith("pol: error: cannot write the coverage to 'no/such/folder/cov.json'")
