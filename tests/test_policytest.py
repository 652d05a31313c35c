"""Policy tests (engine/testing/policytest.py): `test` blocks run on the reference
evaluator; failures report position, expectation as written, and values seen."""
import datetime as dt

import pytest

from pol.compiler.frontend import compile_text
from pol.testing.policytest import main, report, run_tests

POLICY = """input t key id { id: int  x: int?  f: float?  ok: bool?  d: date? }
param lim: int = 10
let half = f / 2
segment big "大" = x > lim and half > 1
classify size { when big => "big" else => "small" }
score sc = x
channel sms "短信" when ok
channel store
offer a "甲" { eligible when big  channels sms  priority 10 }
offer b { eligible when x > 0  channels sms, store  priority 5 }
offer c { eligible when d < today  channels store  priority 1 }
arbitrate { max 2 per customer }
"""


def run(tests: str, as_of=dt.date(2026, 11, 1)):
    return run_tests(compile_text(POLICY + tests, name="p.pol"), as_of)


def test_passing_expectations():
    (o,) = run("""
test "big customer" {
    given { id: 1, x: 20, f: 4.0, ok: true }
    expect offer a via sms rank 1
    expect offer b via sms rank 2
    expect not offer c
    expect size == "big"
    expect sc between 19.5 and 20.5
    expect half is not null and big
}""")
    assert o.passed and o.failures == () and o.error is None
    assert o.position == "p.pol:14:1" and o.name == "big customer"
    assert str(o) == "PASS p.pol:14:1: big customer"


def test_failures_report_position_expectation_and_values():
    (o,) = run("""
test "wrong on purpose" {
    given { id: 2, x: 5, f: 1.0, ok: true }
    expect offer a via sms
    expect no offer
    expect not offer b
    expect offer b via store
    expect offer b rank 2
    expect half between 1 and 2
    expect x + 1 == 7
}""")
    assert not o.passed
    f = {x.expectation: x for x in o.failures}
    assert list(f) == ["expect offer a via sms", "expect no offer", "expect not offer b",
                       "expect offer b via store", "expect offer b rank 2", "expect half between 1 and 2",
                       "expect x + 1 == 7"]
    assert f["expect offer a via sms"].position == "p.pol:16:5"
    assert "not eligible (big is false)" in f["expect offer a via sms"].seen
    assert "x > lim is false (x = 5, lim = 10)" in f["expect offer a via sms"].seen
    assert f["expect no offer"].seen == "got b (rank 1 via sms)"
    assert f["expect not offer b"].seen.startswith("it was given (rank 1 via sms)")
    assert f["expect offer b via store"].seen.startswith("it goes via sms")
    assert f["expect offer b rank 2"].seen.startswith("it has rank 1")
    assert f["expect half between 1 and 2"].seen == "it is false with half = 0.5, f = 1.0"
    assert f["expect x + 1 == 7"].seen == "it is false with x + 1 = 6, x = 5"
    text = str(o)
    assert text.startswith("FAIL p.pol:14:1: wrong on purpose (as of 2026-11-01)")
    assert "    p.pol:22:5: expect x + 1 == 7\n      but it is false with x + 1 = 6, x = 5" in text


def test_fields_left_out_are_null():
    (o,) = run("""
test "nothing given" {
    given { id: 3 }
    expect no offer
    expect size == "small"
    expect sc is null
    expect not big
}""")
    assert o.passed, str(o)
    (o,) = run("""
test "null is not true" {
    given { id: 3 }
    expect x > 1
}""")
    assert o.failures[0].seen == "it is null with x = null"


def test_as_of_from_the_test_else_the_run_else_today():
    tests = """
test "dated" {
    as of 2026-01-01
    given { id: 4, d: 2026-06-01 }
    expect not offer c
}
test "undated" {
    given { id: 5, d: 2026-06-01 }
    expect offer c
}"""
    dated, undated = run(tests, as_of=dt.date(2026, 11, 1))
    assert dated.passed and dated.as_of == dt.date(2026, 1, 1)
    assert undated.passed and undated.as_of == dt.date(2026, 11, 1)
    dated, undated = run(tests, as_of=dt.date(2026, 5, 1))
    assert dated.passed and not undated.passed
    assert "not eligible (d < today is false)" in undated.failures[0].seen
    _, undated = run(tests, as_of=None)
    assert undated.as_of == dt.date.today()


def test_with_overrides_params():
    (with_, without) = run("""
test "lower threshold" {
    with lim = 3
    given { id: 6, x: 5, f: 4.0, ok: true }
    expect offer a
}
test "default threshold" {
    given { id: 6, x: 5, f: 4.0, ok: true }
    expect offer a
}""")
    assert with_.passed and not without.passed


def test_report_counts():
    outcomes = run("""
test "p" { given { id: 1 } expect no offer }
test "f" { given { id: 1 } expect offer a }""")
    text = report(outcomes)
    assert text.endswith("1 passed, 1 failed")
    assert "PASS" not in text and "FAIL p.pol:15:1: f" in text
    assert "PASS p.pol:14:1: p" in report(outcomes, verbose=True)


def test_pol_test_command(tmp_path, capsys):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "base.pol").write_text(POLICY + """
test "from the imported file" { given { id: 1, x: 1 } expect offer b }
""", encoding="utf-8")
    (tmp_path / "main.pol").write_text("""import "lib/base.pol"
test "from the root file" { given { id: 2 } expect offer b }
""", encoding="utf-8")
    assert main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    # each test runs once, with its own file
    assert out.count("from the imported file") == 0 and out.count("from the root file") == 1
    assert out.strip().endswith("1 passed, 1 failed")
    assert main([str(tmp_path / "lib" / "base.pol")]) == 0
    assert capsys.readouterr().out.strip() == "1 passed, 0 failed"


def test_a_policy_that_does_not_check_fails_the_command(tmp_path, capsys):
    bad = tmp_path / "bad.pol"
    bad.write_text("input t key id { id: int }\nsegment s = nope > 1\n", encoding="utf-8")
    assert main([str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.pol:2:13" in err and "nope" in err


@pytest.mark.parametrize("expectation, text", [
    ("expect offer a", "expect offer a"),
    ("expect offer a via sms rank 1", "expect offer a via sms rank 1"),
    ("expect not offer a", "expect not offer a"),
    ("expect no offer", "expect no offer"),
    ("expect sc >= 3", "expect sc >= 3"),
])
def test_expectations_are_quoted_as_written(expectation, text):
    (o,) = run(f'\ntest "q" {{ given {{ id: 9, x: 2, ok: true }} {expectation} }}')
    quoted = [f.expectation for f in o.failures] or [text]
    assert quoted == [text]


def test_pytest_collects_the_test_blocks_of_policy_files(tmp_path):
    import subprocess
    import sys
    (tmp_path / "conftest.py").write_text("from pol.testing.pytest_plugin import pytest_collect_file  # noqa: F401\n")
    (tmp_path / "base.pol").write_text(
        'input c key id { id: int  spend: float? }\n'
        'segment big "大客户" = spend >= 100\n'
        'test "big spender" { given { id: 1, spend: 150 } expect big }\n')
    (tmp_path / "offers.pol").write_text(
        'import "base.pol"\nchannel sms\n'
        'offer gift { eligible when big channels sms }\n'
        'test "gift for the big" { given { id: 2, spend: 120 } expect offer gift via sms }\n'
        'test "no gift when small" { given { id: 3, spend: 120 } expect no offer }\n')
    (tmp_path / "broken.pol").write_text('input c key id { id: int }\nsegment s = spnd > 1\n')
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "--continue-on-collection-errors", str(tmp_path)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    text = out.stdout
    assert out.returncode == 1, text
    # base.pol's test runs once, with base.pol, not again with offers.pol which imports it
    assert "1 failed, 2 passed, 1 error" in text, text
    assert "FAIL offers.pol:5:1: no gift when small" in text
    assert "offers.pol:5:57: expect no offer" in text and "but got gift (rank 1 via sms)" in text
    assert "\nbroken.pol:2:13: error[E-NAME-001]: unknown name 'spnd'" in text and "^^^^" in text
